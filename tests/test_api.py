"""Library API: Distiller (estimator contract), train_teacher, distill; models and sparse inputs."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.nn import SAGEConv

import g2m
from g2m.distill.methods import resolve_method
from g2m.errors import ConfigError
from g2m.models import build_teacher
from g2m.models.layers import ProjectFirstSAGEConv
from g2m.graph_inputs import select_rows


def test_project_first_sage_equals_pyg_sage():
    torch.manual_seed(0)
    x, ei = torch.rand(40, 12), torch.randint(0, 40, (2, 90))
    ours, pyg = ProjectFirstSAGEConv(12, 5), SAGEConv(12, 5)
    pyg.load_state_dict(ours.state_dict())
    assert torch.allclose(ours(x, ei), pyg(x, ei), atol=1e-5)
    assert torch.allclose(ours(x.to_sparse_csr(), ei), pyg(x, ei), atol=1e-5)


@pytest.mark.parametrize("name", ["sage", "gcn", "gat", "appnp"])
def test_teachers_accept_sparse_features(name):
    x, ei = (torch.rand(30, 10) > 0.8).float(), torch.randint(0, 30, (2, 60))
    model = build_teacher(name, 10, 3, hidden_channels=16)
    out, hidden = model(x.to_sparse_csr(), ei, return_hidden=True)
    assert out.shape == (30, 3) and hidden.shape == (30, 16)


def test_select_rows_matches_dense():
    x = (torch.rand(20, 7) > 0.6).float()
    idx = torch.tensor([5, 0, 19, 5])
    assert torch.equal(select_rows(x.to_sparse_csr(), idx).to_dense(), x[idx])


def test_distiller_fit_predict():
    d = g2m.Distiller(teacher="sage", method="glnn", seed=0).fit("cora")
    x = d.dataset_.data.x
    test = d.split_.test
    pred = d.predict(x[test])
    acc = (pred == d.dataset_.data.y[test]).float().mean().item() * 100
    assert acc == pytest.approx(d.metrics_["student"]["test"], abs=1e-3)
    assert acc > 70
    assert d.predict_proba(x[:3]).sum(-1).allclose(torch.ones(3))
    with pytest.raises(ConfigError, match="shape"):
        d.predict(torch.zeros(2, 5))
    with pytest.raises(ConfigError, match="not fitted"):
        g2m.Distiller().predict(x[:2])


def test_train_teacher_seeded_is_deterministic():
    a = g2m.train_teacher("cora", model="gcn", seed=1)
    b = g2m.train_teacher("cora", model="gcn", seed=1)
    assert a.metrics == b.metrics and a.metrics["test"] > 60


def test_method_composition_and_errors():
    m = resolve_method("glnn")
    assert m.terms == {"soft_label_kl": 1.0} and m.needs_teacher
    with pytest.raises(ConfigError, match="unknown method"):
        resolve_method("glnn+nothing")
    with pytest.raises(ConfigError, match="repeats"):
        resolve_method("glnn+glnn")
    with pytest.raises(ConfigError, match="cannot be composed"):
        resolve_method("mlp+glnn")


def test_seed_specs():
    from g2m.utils import parse_seeds

    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("3", start=5) == [5, 6, 7]
    assert parse_seeds("0,4") == [0, 4] and parse_seeds("2-4") == [2, 3, 4]
    for bad in ("0", "-1", "a", "1,1", "4-2"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_top_level_distill_and_condense_are_callable_subpackages():
    metrics = g2m.distill("cora", method="mlp", seeds=1, setting="tran")
    assert metrics["method"] == "mlp" and metrics["student"]["transductive"]["mean"] > 40.0
    with pytest.raises(g2m.DatasetError, match="node-classification dataset"):
        g2m.condense("cora")
    from g2m.condense import DistilledDataset  # the subpackage stays importable
    assert g2m.condense.DistilledDataset is DistilledDataset


def test_distiller_trains_the_teacher_its_method_needs():
    """VQGraph's student learns from a VQ tokenizer teacher: the Distiller trains that one (it trained a plain
    teacher, and the soft-code term refused it)."""
    d = g2m.Distiller(method="vqgraph", teacher_params={"max_epochs": 2, "vq_epochs": 2, "codebook_size": 16,
                                                        "code_dim": 4}, student_params={"max_epochs": 2}).fit("cora")
    assert d.teacher_.extra_knowledge["codebook"].shape == (16, 4) and d.student_.config["terms"]["soft_code_kl"] == 1
