"""Composed methods: ``glnn+ffg2m``'s loss is λ·CE + (1−λ)(KL + LFD + HFD), and runs record the composition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from g2m.config import METHOD_DATASET_DEFAULTS, distill_config
from g2m.distill.ffg2m import FFG2MSettings
from g2m.distill import student as student_mod
from g2m.distill.methods import resolve_method
from g2m.errors import ConfigError
from g2m.graph_inputs import as_model_input
from g2m.training import FitResult

LAM, TAU = 0.3, 1.2


def np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_kl_mean(t, s):
    """Mean over rows of KL(softmax(t/τ) ‖ softmax(s/τ)) · τ² (float64 NumPy)."""
    lt, ls = np_log_softmax(t / TAU), np_log_softmax(s / TAU)
    return float((np.exp(lt) * (lt - ls)).sum(-1).mean()) * TAU ** 2


@pytest.fixture(scope="module")
def setup(cora_with_fake_teacher):
    return cora_with_fake_teacher("tran")


def first_step_loss(monkeypatch, ds, split, teacher, method, **overrides):
    """The full-batch loss ``train_student`` optimises, evaluated once (eval mode, no parameter change)."""
    recorded = {}

    def one_step(model, step, validate, **kw):
        model.eval()
        recorded["loss"] = step(torch.optim.SGD(model.parameters(), lr=0.0))
        return FitResult(best_epoch=0, best_val=0.0, epochs_run=1)

    monkeypatch.setattr(student_mod, "fit", one_step)
    torch.manual_seed(0)
    run = student_mod.train_student(ds, split, method, teacher, lam=LAM, temperature=TAU, batch_size=0, **overrides)
    return recorded["loss"], run


def test_glnn_plus_ffg2m_is_the_sum_of_its_terms(monkeypatch, setup):
    ds, split, teacher = setup
    total, run = first_step_loss(monkeypatch, ds, split, teacher, "glnn+ffg2m")
    assert run.config["terms"] == {"soft_label_kl": 1.0, "lfd": 1.0, "hfd": 1.0}
    with torch.no_grad():
        s = run.model(as_model_input(ds.data.x)).double().numpy()
    t = teacher.logits.double().numpy()
    y = ds.data.y
    train = split.train
    ce = float(F.cross_entropy(torch.from_numpy(s[train.numpy()]), y[train]))
    kl = np_kl_mean(t, s)
    src, dst = ds.data.edge_index.numpy()
    keep = src != dst
    src, dst = src[keep], dst[keep]
    nodes = np.arange(len(s))
    lfd = np_kl_mean(t[np.concatenate([dst, nodes])], s[np.concatenate([src, nodes])])
    hfd = np_kl_mean(np.abs(t[src] - t[dst]), np.abs(s[src] - s[dst]))
    expected = LAM * ce + (1 - LAM) * (kl + lfd + hfd)
    assert total == pytest.approx(expected, rel=1e-4)

    # The same number from the two methods' own losses: glnn + ffg2m − the label term counted twice.
    glnn, _ = first_step_loss(monkeypatch, ds, split, teacher, "glnn")
    ff, _ = first_step_loss(monkeypatch, ds, split, teacher, "ffg2m")
    assert glnn == pytest.approx(LAM * ce + (1 - LAM) * kl, rel=1e-4)
    assert ff == pytest.approx(LAM * ce + (1 - LAM) * (lfd + hfd), rel=1e-4)
    assert total == pytest.approx(glnn + ff - LAM * ce, rel=1e-4)

    # Term weights are configurable per call.
    weighted, run = first_step_loss(monkeypatch, ds, split, teacher, "glnn+ffg2m", w_lfd=0.5, w_hfd=2.0)
    assert run.config["terms"] == {"soft_label_kl": 1.0, "lfd": 0.5, "hfd": 2.0}
    assert weighted == pytest.approx(LAM * ce + (1 - LAM) * (kl + 0.5 * lfd + 2.0 * hfd), rel=1e-4)


def test_composition_registry_and_config_resolution():
    assert resolve_method("glnn+ffg2m").terms == {"soft_label_kl": 1.0, "lfd": 1.0, "hfd": 1.0}
    assert resolve_method("ffg2m").terms == {"lfd": 1.0, "hfd": 1.0}
    with pytest.raises(ConfigError, match="repeats"):
        resolve_method("ffg2m+ffg2m")
    with pytest.raises(ConfigError, match="unknown method"):
        resolve_method("glnn+fff")
    ff = {**FFG2MSettings().to_dict(), **METHOD_DATASET_DEFAULTS["ffg2m"].get("citeseer", {})}
    cfg = distill_config("citeseer", "glnn+ffg2m")
    assert (cfg["lam"], cfg["temperature"]) == (ff["lam"], ff["temperature"])
    assert distill_config("citeseer", "glnn")["lam"] == 0.0  # GLNN's defaults are untouched
    assert distill_config("citeseer", "glnn+ffg2m", lam=0.7)["lam"] == 0.7


def test_weight_for_a_term_the_method_lacks_is_a_config_error(setup):
    ds, split, teacher = setup
    with pytest.raises(ConfigError, match="w_lfd"):
        student_mod.train_student(ds, split, "glnn", teacher, w_lfd=0.5, max_epochs=1)


def test_run_config_records_the_composition():
    from g2m.pipeline import run_node_experiment
    from g2m.spec import NodeRunSpec

    result = run_node_experiment(NodeRunSpec("cora", methods=["glnn+ffg2m"], seeds=[0], setting="tran",
                                             device="cpu", teacher_overrides={"max_epochs": 2},
                                             student_overrides={"max_epochs": 2}, save_checkpoints=False))
    config = result["config"]
    assert config["methods"] == {"glnn+ffg2m": {"soft_label_kl": 1.0, "lfd": 1.0, "hfd": 1.0}}
    resolved = config["resolved"]["students"]["glnn+ffg2m"]
    assert resolved["terms"] == {"soft_label_kl": 1.0, "lfd": 1.0, "hfd": 1.0}
    expected = distill_config("cora", "glnn+ffg2m")
    assert (resolved["lam"], resolved["temperature"]) == (expected["lam"], expected["temperature"])


def test_cli_term_weight_flags(tmp_path):
    from typer.testing import CliRunner

    from g2m.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["distill", "--method", "glnn", "--w-lfd", "0.5", "--output", str(tmp_path / "a")])
    assert bad.exit_code != 0
    assert isinstance(bad.exception, ConfigError) and "--w-lfd" in str(bad.exception)


def test_register_loss_makes_a_term_available_under_its_name():
    from g2m.distill.losses import LOSSES, LossTerm, register_loss

    @register_loss("test_only_zero_term")
    class Zero(LossTerm):
        def forward(self, inp):
            return inp.student_logits.sum() * 0.0

    try:
        assert isinstance(Zero, type) and LOSSES.get("test_only_zero_term") is Zero  # the class itself, kept
        term = Zero.build(torch.nn.Linear(2, 2), {}, {})  # a term without settings: the default build
        assert isinstance(term, Zero) and list(term.parameters()) == []
        with pytest.raises(NotImplementedError):
            LossTerm()(None)
        with pytest.raises(TypeError, match="register a LossTerm subclass"):
            register_loss("test_only_function")(lambda inp: inp.student_logits.sum())
        assert "test_only_function" not in LOSSES
    finally:
        LOSSES._items.pop("test_only_zero_term", None)


def test_label_ce_on_the_batch_s_labelled_nodes_by_hand_and_zero_without_any():
    from g2m.distill.losses import LossInput, label_ce

    train = torch.tensor([False, True, False, True, True])
    labels = torch.tensor([0, 0, 1, 1, 0])
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    # batch = local ids 2, 3, 1 (rows 0, 1, 2); labelled: id 3 (row [2, 0], label 1) and id 1 (row [0, 1], label 0)
    inp = LossInput(nodes=torch.tensor([2, 3, 1]), student_logits=logits, student_hidden=None, teacher={},
                    labels=labels, train_mask=train)
    assert float(label_ce(inp)) == pytest.approx((np.log(1 + np.e ** 2) + np.log(1 + np.e)) / 2, rel=1e-6)
    # no labelled node in the batch: exactly 0, still connected to the student (zero gradient, not an error)
    unlabelled = torch.tensor([[3.0, -1.0], [0.5, 2.0]], requires_grad=True)
    loss = label_ce(LossInput(nodes=torch.tensor([0, 2]), student_logits=unlabelled, student_hidden=None,
                              teacher={}, labels=labels, train_mask=train))
    assert float(loss) == 0.0
    loss.backward()
    assert torch.equal(unlabelled.grad, torch.zeros(2, 2))
