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


def test_distiller_is_a_scikit_learn_estimator():
    sklearn_base = pytest.importorskip("sklearn.base")
    d = g2m.Distiller(method="glnn+ffg2m", seed=3, teacher_params={"max_epochs": 2})
    copy = sklearn_base.clone(d)
    assert copy is not d and copy.get_params() == d.get_params()
    assert copy.get_params()["method"] == "glnn+ffg2m" and copy.get_params()["seed"] == 3
    assert copy.set_params(seed=5, method="glnn") is copy and (copy.seed, copy.method) == (5, "glnn")
    with pytest.raises(ConfigError, match="batch_sise"):
        copy.set_params(batch_sise=64)
    assert repr(copy) == "Distiller(seed=5, teacher_params={'max_epochs': 2})"
    assert repr(g2m.Distiller(teacher=torch.zeros(4, 3))) == "Distiller(teacher=<Tensor [4, 3]>)"  # not its values
    with pytest.raises(ConfigError, match="not fitted"):
        g2m.export_student(g2m.Distiller(), output="never.onnx")


@pytest.fixture(scope="module")
def relabelled_distiller():
    """A Distiller fitted on Cora whose labels are 3, 13, …, 63 (a user's graph with its own label values)."""
    from torch_geometric.data import Data

    cora = g2m.load_dataset("cora")
    data = Data(x=cora.data.x, edge_index=cora.data.edge_index, y=cora.data.y * 10 + 3)
    d = g2m.Distiller(teacher_params={"max_epochs": 5}, student_params={"max_epochs": 5}).fit(data)
    return d, cora.data.x[:50]


def test_predictions_are_in_the_users_own_labels(relabelled_distiller):
    d, x = relabelled_distiller
    assert d.classes_.tolist() == [3, 13, 23, 33, 43, 53, 63] and d.n_features_in_ == x.size(1)
    ids = d.predict_proba(x).argmax(-1)
    assert torch.equal(d.predict(x), ids * 10 + 3)


def test_save_load_and_export_a_fitted_distiller(relabelled_distiller, tmp_path):
    pytest.importorskip("onnxruntime")
    d, x = relabelled_distiller
    expected = d.predict(x).numpy()
    saved = d.save(tmp_path / "student.pt")
    loaded = g2m.Distiller.load(saved)
    assert loaded.method == "glnn" and loaded.metrics_ is None
    assert torch.allclose(loaded.predict_proba(x), d.predict_proba(x)) and (loaded.predict(x).numpy() == expected).all()
    assert (g2m.load_student(saved).predict(x.numpy()) == expected).all()
    for source in (d, loaded):  # in memory, and from the file
        onnx = source.export(tmp_path / f"student-{id(source)}.onnx")
        deployed = g2m.load_student(onnx)
        assert deployed.metadata["class_labels"] == [3, 13, 23, 33, 43, 53, 63]
        assert (deployed.predict(x.numpy()) == expected).all()
    teacher = tmp_path / "teacher.pt"
    from g2m.checkpoints import save_checkpoint

    save_checkpoint(teacher, d.teacher_.model, "teacher", "sage", d.teacher_.model_kwargs, d.dataset_, 0, "tran")
    with pytest.raises(ConfigError, match="teacher checkpoint"):
        g2m.Distiller.load(teacher)


def test_g2m_predict_writes_the_users_labels(relabelled_distiller, tmp_path):
    import numpy as np
    from typer.testing import CliRunner

    from g2m.cli import app

    d, x = relabelled_distiller
    saved = d.save(tmp_path / "student.pt")
    np.save(tmp_path / "x.npy", x.numpy())
    result = CliRunner().invoke(app, ["predict", str(saved), "--features", str(tmp_path / "x.npy"),
                                      "-o", str(tmp_path / "pred.csv")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "pred.csv").read_text().splitlines()
    assert lines[0] == "node,class,p3,p13,p23,p33,p43,p53,p63"
    assert [int(line.split(",")[1]) for line in lines[1:]] == d.predict(x).tolist()
