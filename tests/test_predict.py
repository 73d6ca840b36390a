"""The predict path (g2m/predict.py): sparse features kept sparse, the one-batch fast path, threads; and the
int8 ONNX export (g2m/quantize.py) that predicting reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from typer.testing import CliRunner

import g2m
from g2m.cli import app
from g2m.errors import ConfigError
from g2m.export import export_student
from g2m.graph_inputs import SPARSE_MIN_ROWS
from g2m.predict import load_student, read_features, sparse_features
from g2m.quantize import check_drop

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
runner = CliRunner()


@pytest.fixture(scope="module")
def run(cora_mlp_run) -> Path:
    return cora_mlp_run


@pytest.fixture(scope="module")
def cora_x() -> np.ndarray:
    return g2m.load_dataset("cora").data.x.numpy()


@pytest.fixture(scope="module")
def int8(run, tmp_path_factory) -> Path:
    return export_student(run, format="onnx", output=tmp_path_factory.mktemp("int8") / "student-int8.onnx",
                          quantize="int8")


@pytest.mark.parametrize("kind", ["checkpoint", "torchscript"])
def test_sparse_features_stay_sparse_and_predict_the_same(run, cora_x, tmp_path, kind):
    path = run if kind == "checkpoint" else export_student(run, format="torchscript", output=tmp_path / "s.pt")
    student = load_student(path, trust_torchscript=kind == "torchscript")
    assert student.takes_sparse
    dense = student.predict_proba(cora_x)
    seen = []
    inner = student.run
    def spy(batch):
        seen.append(batch.layout if isinstance(batch, torch.Tensor) else "numpy")
        return inner(batch)

    student.run = spy
    for x in (sp.csr_matrix(cora_x), torch.from_numpy(cora_x).to_sparse(), torch.from_numpy(cora_x).to_sparse_csr()):
        for batch_size in (8192, 1000):  # one batch, and three (CSR rows sliced)
            got = student.predict_proba(x, batch_size=batch_size)
            np.testing.assert_allclose(got, dense, atol=1e-5)
            assert (got.argmax(1) == dense.argmax(1)).all()
    assert set(seen) == {torch.sparse_csr}  # every batch went through the sparse first layer
    seen.clear()
    student.predict_proba(sp.csr_matrix(cora_x[:SPARSE_MIN_ROWS - 1]))
    assert seen == ["numpy"]  # few rows: dense


def test_onnx_takes_sparse_features_densified(run, cora_x):
    student = load_student(g2m.export_student(run, format="onnx", output=run.parent / "dense.onnx"))
    assert not student.takes_sparse
    np.testing.assert_allclose(student.predict_proba(sp.csr_matrix(cora_x)), student.predict_proba(cora_x),
                               atol=1e-6)


def test_sparse_features_are_checked():
    x = sp.random(200, 50, density=0.02, format="csr", dtype=np.float32, random_state=0)
    assert sparse_features(x).layout == torch.sparse_csr
    with pytest.raises(ConfigError, match="expects 60 features"):
        sparse_features(x, 60)
    assert sparse_features(sp.random(200, 50, density=0.5, format="csr", random_state=0)) is None  # dense enough
    assert sparse_features(np.zeros((200, 50))) is None
    bad = x.copy()
    bad.data[3] = np.inf
    row = int(np.searchsorted(bad.indptr, 3, side="right") - 1)
    with pytest.raises(ConfigError, match=rf"NaN or infinite values .* 1 row\(s\): {row} "):
        sparse_features(bad)


def test_a_sparse_pt_file_is_read_sparse(tmp_path, cora_x):
    torch.save(torch.from_numpy(cora_x).to_sparse(), tmp_path / "x.pt")
    x = read_features(tmp_path / "x.pt")
    assert x.layout == torch.sparse_csr and torch.equal(x.to_dense(), torch.from_numpy(cora_x))


def test_the_one_batch_fast_path_is_the_checked_path(run, cora_x):
    student = load_student(g2m.export_student(run, format="onnx", output=run.parent / "fast.onnx"))
    x = np.ascontiguousarray(cora_x[:100], dtype=np.float32)
    np.testing.assert_array_equal(student.predict_proba(x), student.predict_proba(x.astype(np.float64)))
    for value in (np.nan, np.inf):
        bad = x.copy()
        bad[7, 3] = value
        with pytest.raises(ConfigError, match=r"1 row\(s\): 7 \(0-based\)"):
            student.predict_proba(bad)
    big = np.full((2, x.shape[1]), 3e37, dtype=np.float32)  # finite values whose sum of squares overflows:
    assert student.predict_proba(big).shape == (2, 7)         # checked row by row, not refused
    with pytest.raises(ConfigError, match="expects 1433 features"):
        student.predict_proba(x[:, :10])


def test_threads(run, cora_x):
    before = torch.get_num_threads()
    student = load_student(run, threads=1)
    student.predict_proba(cora_x)
    assert torch.get_num_threads() == before  # set during the call only
    onnx = load_student(g2m.export_student(run, format="onnx", output=run.parent / "t.onnx"), threads=1)
    assert onnx.predict_proba(cora_x[:5]).shape == (5, 7)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ConfigError, match="threads must be a whole number"):
            load_student(run, threads=bad)


def test_int8_export_measures_and_records_its_accuracy(run, int8, cora_x):
    import onnx

    model = onnx.load(str(int8))
    ops = {node.op_type for node in model.graph.node}
    assert "MatMulInteger" in ops and "Gemm" not in ops
    fp32 = g2m.export_student(run, format="onnx", output=run.parent / "fp32.onnx")
    assert int8.stat().st_size < 0.4 * fp32.stat().st_size  # int8 weights: about a quarter of the bytes
    meta = json.loads({p.key: p.value for p in model.metadata_props}["g2m"])
    q = meta["quantization"]
    assert q["type"] == "int8" and q["max_drop"] == 0.5 and meta["source"] == "student-mlp-tran-seed0.pt"
    student = load_student(int8)
    fp32_student = load_student(fp32)
    agree = (student.predict(cora_x) == fp32_student.predict(cora_x)).mean()
    assert agree > 0.95
    # the recorded accuracies are those of the two models on the split's nodes
    from g2m.datasets import node_split

    dataset = g2m.load_dataset("cora")
    split = node_split(dataset, 0, "tran")
    y = dataset.data.y.numpy()
    for name, model_ in (("fp32", fp32_student), ("int8", student)):
        pred = model_.predict(cora_x)
        assert q["accuracy"][name]["val"] == pytest.approx(100 * (pred[split.val] == y[split.val]).mean(), abs=1e-3)
        assert q["accuracy"][name]["test"] == pytest.approx(100 * (pred[split.test] == y[split.test]).mean(), abs=1e-3)
    assert q["accuracy"]["drop"]["val"] == pytest.approx(q["accuracy"]["fp32"]["val"] - q["accuracy"]["int8"]["val"],
                                                         abs=1e-3)


def test_check_drop_refuses_only_past_the_threshold():
    change = {"fp32": {"val": 80.0}, "int8": {"val": 79.4}, "drop": {"val": 0.6}}
    check_drop(change, 0.6)
    check_drop(change, None)
    with pytest.raises(ConfigError, match=r"costs 0.60 points .* more than the 0.5 allowed: nothing was written"):
        check_drop(change, 0.5)


def test_int8_refusals(run, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="use --format onnx"):
        export_student(run, format="torchscript", output=tmp_path / "s.pt", quantize="int8")
    with pytest.raises(ConfigError, match="unknown quantization 'int4'"):
        export_student(run, output=tmp_path / "s.onnx", quantize="int4")
    with pytest.raises(ConfigError, match="at least 0"):
        export_student(run, output=tmp_path / "s.onnx", quantize="int8", max_drop=-1)
    loose = tmp_path / "loose.pt"
    loose.write_bytes((run / "checkpoints" / "student-mlp-tran-seed0.pt").read_bytes())
    with pytest.raises(ConfigError, match="not inside a run folder"):
        export_student(loose, output=tmp_path / "s.onnx", quantize="int8")
    loaded = g2m.Distiller.load(loose)
    with pytest.raises(ConfigError, match="fitted in this process"):
        export_student(loaded, output=tmp_path / "s.onnx", quantize="int8")
    # a validation drop past --max-drop writes nothing
    monkeypatch.setattr("g2m.export.accuracy_change", lambda *a, **k: {"fp32": {"val": 80.0}, "int8": {"val": 78.0},
                                                                         "drop": {"val": 2.0}})
    with pytest.raises(ConfigError, match="costs 2.00 points"):
        export_student(run, output=tmp_path / "refused.onnx", quantize="int8")
    assert not (tmp_path / "refused.onnx").exists()


def test_int8_from_a_fitted_distiller(tmp_path):
    distiller = g2m.Distiller(method="mlp", student_params={"max_epochs": 10, "patience": 5}).fit("cora")
    path = distiller.export(tmp_path / "d.onnx", quantize="int8")
    meta = load_student(path).metadata
    assert meta["quantization"]["accuracy"]["fp32"]["val"] == pytest.approx(distiller.metrics_["student"]["val"],
                                                                            abs=1e-3)


def test_cli_export_int8_and_predict_with_threads(run, tmp_path, cora_x):
    out = tmp_path / "q.onnx"
    res = runner.invoke(app, ["export", str(run), "--quantize", "int8", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "validation accuracy (%): float32" in res.output and "int8" in res.output and out.is_file()
    np.save(tmp_path / "x.npy", cora_x[:10])
    res = runner.invoke(app, ["predict", str(out), "-x", str(tmp_path / "x.npy"), "--threads", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["export", str(run), "--quantize", "int8", "--max-drop", "-1", "-o", str(out)])
    assert isinstance(res.exception, ConfigError)


def test_onnx_sessions_run_without_the_wrappers_checks_where_they_can():
    from g2m.predict import _direct_run

    class Inner:
        def run(self, names, feed, options):
            return ["compiled", names, feed, options]

    class Session:
        _sess = Inner()

        def run(self, names, feed, options=None):
            return ["public"]

    assert _direct_run(Session())(["p"], {"x": 1}, None) == ["compiled", ["p"], {"x": 1}, None]
    Session._sess = None  # onnxruntime's internals differ: the public run
    assert _direct_run(Session())(["p"], {"x": 1}, None) == ["public"]
