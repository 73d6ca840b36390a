"""VQGraph's student side (g2m/distill/vqgraph.py): the soft-code KL, its targets and projection, the method."""

from __future__ import annotations

import pytest
import torch
from torch_geometric import seed_everything

from g2m.datasets import load_dataset, node_split
from g2m.distill import LossInput, train_student
from g2m.distill.vq_teacher import train_vq_teacher
from g2m.distill.vqgraph import soft_code_kl
from g2m.errors import ConfigError
from g2m.models import StudentMLP
from g2m.models.vq import soft_code_assignment
from g2m.teacher import train_teacher


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")  # bundled


def test_soft_code_targets_follow_node_ids_under_shuffling():
    torch.manual_seed(0)
    n, k, d = 50, 6, 4
    codebook = torch.randn(k, d)
    code_z = torch.randn(n, d)
    teacher = {"code_z": code_z, "codebook": codebook, "logits": torch.randn(n, 3)}
    perm = torch.randperm(n)[:20]
    inp = LossInput(nodes=perm, student_logits=torch.randn(20, 3), student_hidden=code_z[perm], teacher=teacher,
                    labels=torch.zeros(n, dtype=torch.long), train_mask=torch.zeros(n, dtype=torch.bool),
                    )
    assert float(soft_code_kl(inp, code_temperature=0.5)) < 1e-5  # student == teacher for the same node ids
    wrong = LossInput(**{**inp.__dict__, "student_hidden": code_z[:20]})  # rows by batch position
    assert float(soft_code_kl(wrong, code_temperature=0.5)) > 1e-2
    targets = soft_code_assignment(code_z[perm], codebook, 0.5)
    assert torch.allclose(targets.sum(-1), torch.ones(20))


@pytest.mark.slow
def test_vqgraph_minibatch_student_and_errors(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", codebook_size=32, code_dim=16, max_epochs=5, patience=5, vq_epochs=5)
    assert bool(t.model.quantizer.initialised)
    assert t.extra_knowledge["code_z"].shape == (split.observed.numel(), 16)
    assert t.extra_knowledge["codebook"].shape == (32, 16)
    codes = t.extra_knowledge["codes"]  # usage is reported for exactly these codes
    assert t.extra_metrics["used_codes"] == codes.unique().numel()
    assert t.extra_metrics["code_counts"] == torch.bincount(codes, minlength=32).tolist()
    s = train_student(cora, split, "vqgraph", t, batch_size=512, max_epochs=3, patience=3)
    assert set(s.config["terms"]) == {"soft_label_kl", "soft_code_kl"} and "code_temperature" in s.config
    assert isinstance(s.model, StudentMLP)  # the code projection is trained alongside, not saved with it
    assert set(s.model.state_dict()) == set(StudentMLP(cora.num_features, 128, cora.num_classes).state_dict())
    with pytest.raises(ConfigError):
        train_vq_teacher(cora, split, "sage", codebook_size=0)
    std = train_teacher(cora, split, "sage", max_epochs=2, patience=2)
    with pytest.raises(ConfigError, match="VQ teacher"):
        train_student(cora, split, "vqgraph", std, max_epochs=2)


@pytest.mark.slow
def test_short_cora_run_vqgraph_beats_plain_mlp(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", max_epochs=60, patience=20, vq_epochs=30, vq_patience=15)
    seed_everything(0)
    vq = train_student(cora, split, "vqgraph", t, max_epochs=150, patience=30)
    seed_everything(0)
    mlp = train_student(cora, split, "mlp", max_epochs=150, patience=30)
    assert vq.metrics["test"] > mlp.metrics["test"] + 10.0, (vq.metrics, mlp.metrics)


def _reference_soft_code_kl(h, code_z, codebook, tau):
    """The paper's formula written plainly: KL(p_t ‖ p_s), p = softmax(−‖z − c‖² / τ)."""
    log_s = torch.log_softmax(-torch.cdist(h, codebook) ** 2 / tau, -1)
    log_t = torch.log_softmax(-torch.cdist(code_z, codebook) ** 2 / tau, -1).detach()
    return (log_t.exp() * (log_t - log_s)).sum(-1).mean()


@pytest.mark.parametrize("cached", [False, True])
def test_fast_soft_code_kl_equals_the_reference_formula(cached):
    from g2m.distill.losses import LossInput
    from g2m.distill.vqgraph import soft_code_kl

    gen = torch.Generator().manual_seed(1)
    n, k, d, tau = 50, 40, 8, 0.7
    code_z, codebook = torch.randn(n, d, generator=gen), torch.randn(k, d, generator=gen)
    nodes = torch.tensor([3, 17, 4, 42, 0])
    h1 = torch.randn(len(nodes), d, generator=gen, requires_grad=True)
    h2 = h1.detach().clone().requires_grad_(True)
    cache = {} if cached else None
    inp = LossInput(nodes=nodes, student_logits=torch.zeros(len(nodes), 3), student_hidden=h1,
                    teacher={"codebook": codebook, "code_z": code_z}, labels=torch.zeros(n, dtype=torch.long),
                    train_mask=torch.zeros(n, dtype=torch.bool),
                    cache=cache)
    fast = soft_code_kl(inp, code_temperature=tau)
    ref = _reference_soft_code_kl(h2, code_z[nodes], codebook, tau)
    assert fast.item() == pytest.approx(ref.item(), rel=1e-4, abs=1e-5)
    fast.backward()
    ref.backward()
    assert torch.allclose(h1.grad, h2.grad, atol=1e-5)
    if cached:
        assert len(cache) == 1  # teacher targets computed once for all nodes
        again = soft_code_kl(inp, code_temperature=tau)
        assert again.item() == pytest.approx(fast.item(), rel=1e-6)
    # the loss is KL(teacher ‖ student), not the reverse
    rev = (torch.log_softmax(-torch.cdist(h2, codebook) ** 2 / tau, -1).exp()
           * (torch.log_softmax(-torch.cdist(h2, codebook) ** 2 / tau, -1)
              - torch.log_softmax(-torch.cdist(code_z[nodes], codebook) ** 2 / tau, -1))).sum(-1).mean()
    assert abs(rev.item() - fast.item()) > 1e-3


@pytest.mark.slow
def test_cosine_vqgraph_teacher_and_student_use_unit_vectors(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", codebook_size=16, code_dim=8, code_metric="cosine", max_epochs=3,
                         patience=3, vq_epochs=3)
    assert bool(t.extra_knowledge["code_unit_norm"])
    assert torch.allclose(t.extra_knowledge["code_z"].norm(dim=-1), torch.ones(split.observed.numel()), atol=1e-4)
    s = train_student(cora, split, "vqgraph", t, batch_size=512, max_epochs=2, patience=2)
    assert s.config["terms"]["soft_code_kl"] > 0
    with pytest.raises(ConfigError, match="code_metric"):
        train_vq_teacher(cora, split, "sage", code_metric="l1", max_epochs=1)


def test_soft_code_kl_normalises_the_student_for_a_cosine_codebook():
    from g2m.distill.losses import LossInput
    from g2m.distill.vqgraph import soft_code_kl

    gen = torch.Generator().manual_seed(2)
    code_z = torch.nn.functional.normalize(torch.randn(30, 6, generator=gen), dim=-1)
    codebook = torch.nn.functional.normalize(torch.randn(12, 6, generator=gen), dim=-1)
    h = torch.randn(5, 6, generator=gen)

    def loss(hidden, unit):
        teacher = {"code_z": code_z, "codebook": codebook, "code_unit_norm": torch.tensor(unit)}
        return float(soft_code_kl(LossInput(nodes=torch.arange(5), student_logits=torch.zeros(5, 2),
                                            student_hidden=hidden, teacher=teacher, labels=torch.zeros(30).long(),
                                            train_mask=torch.zeros(30, dtype=torch.bool)),
                                   code_temperature=0.5))

    assert loss(h, True) == pytest.approx(loss(4.0 * h, True), rel=1e-5)  # only the direction counts
    assert loss(h, False) != pytest.approx(loss(4.0 * h, False), rel=1e-3)


def test_teacher_targets_are_cached_by_size_temperature_and_tensors(monkeypatch):
    from g2m.distill import vqgraph

    monkeypatch.setattr(vqgraph, "TEACHER_TARGET_CACHE_FLOATS", 12)
    g = torch.Generator().manual_seed(0)
    codebook = torch.randn(3, 5, generator=g)  # K = 3 codes of dimension 5
    nodes = torch.tensor([1, 0])
    for n, cached in ((4, True), (5, False)):  # N·K = 12 (at the limit: cached) and 15 (above: not)
        code_z = torch.randn(n, 5, generator=g)
        cache = {}
        p, neg = vqgraph.teacher_code_targets(code_z, codebook, 0.5, nodes, cache)
        assert bool(cache) is cached
        assert torch.allclose(p, soft_code_assignment(code_z[nodes], codebook, 0.5))
        assert torch.allclose(neg, (p * p.log()).sum(-1))
    cache = {}
    code_z = torch.randn(4, 5, generator=g)
    first = vqgraph.teacher_code_targets(code_z, codebook, 0.5, nodes, cache)[0]
    other = vqgraph.teacher_code_targets(code_z, codebook, 2.0, nodes, cache)[0]  # another temperature
    assert len(cache) == 2 and torch.allclose(other, soft_code_assignment(code_z[nodes], codebook, 2.0))
    assert not torch.allclose(first, other)


def test_code_projection_maps_student_hidden_to_the_code_dimension():
    from g2m.distill.vqgraph import _code_projection

    proj = _code_projection(StudentMLP(4, 7, 3), {"codebook": torch.zeros(5, 3)})
    assert isinstance(proj, torch.nn.Linear) and (proj.in_features, proj.out_features) == (7, 3)
    with pytest.raises(ConfigError) as err:
        _code_projection(StudentMLP(4, 7, 3), {"code_z": torch.zeros(2, 3)})
    assert str(err.value) == "soft_code_kl needs a VQ teacher (trainer 'vq'); use method 'vqgraph'."


def test_soft_code_kl_projection_default_temperature_unit_rows_and_errors():
    """The student's code vectors: its hidden layer through the term's projection (when it has one), unit
    rows for a cosine codebook; code temperature 3 by default; each missing input named."""
    from g2m.distill.losses import LOSSES
    from g2m.distill.vqgraph import SoftCodeKL

    gen = torch.Generator().manual_seed(3)
    code_z, codebook = torch.randn(8, 3, generator=gen), torch.randn(5, 3, generator=gen)
    nodes, hidden = torch.tensor([6, 1, 3, 0]), torch.randn(4, 5, generator=gen)
    proj = torch.nn.Linear(5, 3)

    def inp(teacher=None, student_hidden=hidden):
        return LossInput(nodes=nodes, student_logits=torch.zeros(4, 2), student_hidden=student_hidden,
                         teacher={"code_z": code_z, "codebook": codebook} if teacher is None else teacher,
                         labels=torch.zeros(8, dtype=torch.long), train_mask=torch.zeros(8, dtype=torch.bool))

    with torch.no_grad():
        h = proj(hidden)
        assert float(soft_code_kl(inp(), proj)) == pytest.approx(  # τ = 3 by default
            float(_reference_soft_code_kl(h, code_z[nodes], codebook, 3.0)), rel=1e-5)
        assert float(SoftCodeKL(proj)(inp())) == pytest.approx(
            float(_reference_soft_code_kl(h, code_z[nodes], codebook, 3.0)), rel=1e-5)
        assert float(SoftCodeKL(proj, 0.5)(inp())) == pytest.approx(  # the term's own temperature
            float(_reference_soft_code_kl(h, code_z[nodes], codebook, 0.5)), rel=1e-5)
        cosine = {"code_z": code_z, "codebook": codebook, "code_unit_norm": torch.tensor(True)}
        unit = torch.nn.functional.normalize(h, dim=-1)  # rows, not columns, of the projected student
        assert float(soft_code_kl(inp(cosine), proj, 0.5)) == pytest.approx(
            float(_reference_soft_code_kl(unit, code_z[nodes], codebook, 0.5)), rel=1e-5)
    # built for a run: a projection from the student's hidden width to the code width, the run's temperature
    student = type("S", (), {"hidden_channels": 5})()
    term = LOSSES.get("soft_code_kl").build(student, {"codebook": codebook}, {"code_temperature": 0.5})
    assert (term.projection.in_features, term.projection.out_features, term.code_temperature) == (5, 3, 0.5)
    assert LOSSES.get("soft_code_kl").build(student, {"codebook": codebook}, {}).code_temperature == 3.0
    with pytest.raises(ConfigError, match="soft_code_kl needs a VQ teacher"):
        LOSSES.get("soft_code_kl").build(student, {"logits": code_z}, {})
    # without the projection the student's own width must match the codebook's
    with pytest.raises(ConfigError, match=r"^student code dim 5 != codebook dim 3\.$"):
        soft_code_kl(inp())
    for teacher in ({"code_z": code_z}, {"codebook": codebook}, {}):
        with pytest.raises(ConfigError, match=r"^soft_code_kl needs a VQ teacher \(trainer 'vq'\); use method "
                                              r"'vqgraph'\.$"):
            soft_code_kl(inp(teacher))
    with pytest.raises(ConfigError, match=r"^soft_code_kl needs the student's hidden representation\.$"):
        soft_code_kl(inp(student_hidden=None))
    for bad in (0.0, -1.0):
        with pytest.raises(ConfigError, match=rf"^code_temperature must be positive, got {bad}\.$"):
            soft_code_kl(inp(), proj, bad)
