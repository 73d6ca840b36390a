"""Deployable students: export to ONNX / TorchScript, predict from features alone, CLI export + predict."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import g2m
from g2m.checkpoints import load_model, student_checkpoint
from g2m.cli import app
from g2m.errors import ConfigError
from g2m.export import export_student, plain_student, quiet_deprecations
from g2m.models import StudentMLP, build_teacher
from g2m.predict import load_student, read_features
from g2m.graph_inputs import as_model_input

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[1]
ATOL = 1e-5  # probabilities of an exported model vs the torch student (documented in docs/deploy.md)
runner = CliRunner()


@pytest.fixture(scope="module")
def run(cora_mlp_run) -> Path:
    return cora_mlp_run


@pytest.fixture(scope="module")
def cora_x() -> torch.Tensor:
    return g2m.load_dataset("cora").data.x


@pytest.fixture(scope="module")
def reference(run, cora_x) -> np.ndarray:
    """The torch student's probabilities on every cora node, as g2m computes them (sparse input)."""
    model, _ = load_model(run / "checkpoints" / "student-mlp-tran-seed0.pt")
    with torch.no_grad():
        return model(as_model_input(cora_x)).softmax(-1).numpy()


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exported")
    return {"onnx": export_student(run, format="onnx", output=out / "student.onnx"),
            "torchscript": export_student(run, format="torchscript", output=out / "student.pt")}


def _raw_proba(path: Path, x: np.ndarray) -> np.ndarray:
    """Run an exported file with its own runtime only (no g2m code)."""
    if path.suffix == ".onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        logits, proba = session.run(["logits", "probabilities"], {"x": x})
    else:
        with quiet_deprecations():  # torch 2.13 marks TorchScript deprecated
            logits, proba = torch.jit.load(str(path))(torch.from_numpy(x))
        logits, proba = logits.numpy(), proba.numpy()
    np.testing.assert_allclose(proba, torch.from_numpy(logits).softmax(-1).numpy(), atol=1e-6)
    return proba


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_round_trip_on_all_nodes(exported, cora_x, reference, fmt):
    x = cora_x.numpy().astype(np.float32)
    for proba in (_raw_proba(exported[fmt], x),
                  load_student(exported[fmt], trust_torchscript=fmt == "torchscript").predict_proba(x)):
        assert proba.shape == reference.shape == (2485, 7)
        np.testing.assert_allclose(proba, reference, atol=ATOL)
        assert np.array_equal(proba.argmax(-1), reference.argmax(-1))


def test_onnx_has_a_dynamic_batch_and_metadata(exported, cora_x, reference):
    import onnx

    model = onnx.load(str(exported["onnx"]))
    onnx.checker.check_model(model)
    meta = json.loads({p.key: p.value for p in model.metadata_props}["g2m"])
    assert meta["method"] == "mlp" and meta["in_features"] == 1433 and meta["num_classes"] == 7
    session = ort.InferenceSession(str(exported["onnx"]), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", 1433]
    x = cora_x.numpy()
    for n in (1, 7):
        proba = session.run(["probabilities"], {"x": x[:n]})[0]
        assert proba.shape == (n, 7)
        np.testing.assert_allclose(proba, reference[:n], atol=ATOL)


def test_exported_files_run_without_g2m_or_pyg(exported, cora_x, reference, tmp_path):
    np.save(tmp_path / "x.npy", cora_x[:5].numpy())
    code = f"""
import sys
sys.modules["g2m"] = sys.modules["torch_geometric"] = None   # importing either now fails
import numpy as np, onnxruntime, torch
x = np.load({str(tmp_path / "x.npy")!r})
onnx = onnxruntime.InferenceSession({str(exported["onnx"])!r}).run(["probabilities"], {{"x": x}})[0]
ts = torch.jit.load({str(exported["torchscript"])!r})(torch.from_numpy(x))[1].numpy()
np.save({str(tmp_path / "out.npy")!r}, np.stack([onnx, ts]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(out[0], reference[:5], atol=ATOL)
    np.testing.assert_allclose(out[1], reference[:5], atol=ATOL)


def test_plain_student_copies_batch_norm():
    torch.manual_seed(0)
    student = StudentMLP(12, hidden_channels=16, out_channels=3, num_layers=3, norm="batch_norm")
    student.train()
    student(torch.randn(64, 12) * 3 + 1)  # non-trivial running statistics
    student.eval()
    x = torch.randn(9, 12)
    logits, proba = plain_student(student)(x)
    assert torch.allclose(logits, student(x), atol=1e-6) and torch.allclose(proba.sum(-1), torch.ones(9))


def test_run_folder_choice_and_ambiguity(run, tmp_path):
    assert student_checkpoint(run).name == "student-mlp-tran-seed0.pt"
    assert student_checkpoint(run, "student-mlp-ind-seed0").name == "student-mlp-ind-seed0.pt"
    with pytest.raises(ConfigError, match="choose one of: student-mlp-ind-seed0, student-mlp-tran-seed0"):
        student_checkpoint(run, "student-glnn-tran-seed0")
    two = tmp_path / "two"
    shutil.copytree(run / "checkpoints", two / "checkpoints")
    shutil.copy(run / "checkpoints" / "student-mlp-tran-seed0.pt", two / "checkpoints" / "student-glnn-tran-seed0.pt")
    with pytest.raises(ConfigError, match=r"several methods.*\(student-glnn-tran-seed0, .*--checkpoint"):
        export_student(two, format="torchscript")
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no student checkpoints"):
        export_student(tmp_path / "empty")
    with pytest.raises(ConfigError, match="has no checkpoints/ folder"):
        load_student(tmp_path)


def test_teacher_checkpoints_are_refused(tmp_path):
    from g2m.checkpoints import save_checkpoint

    cora = g2m.load_dataset("cora")
    teacher = build_teacher("gcn", cora.num_features, cora.num_classes, hidden_channels=8)
    path = save_checkpoint(tmp_path / "teacher-tran-seed0.pt", teacher, "teacher", "gcn", {"hidden_channels": 8},
                           cora, 0, "tran")
    with pytest.raises(ConfigError, match="teacher checkpoint: only graph-free students"):
        export_student(path, format="torchscript")
    with pytest.raises(ConfigError, match="teacher checkpoint"):
        load_student(path)


def test_export_output_names_are_checked(run, tmp_path):
    with pytest.raises(ConfigError, match=r"\*\.onnx"):
        export_student(run, format="onnx", output=tmp_path / "student.pt")
    with pytest.raises(ConfigError, match="unknown export format"):
        export_student(run, format="tflite")
    with pytest.raises(ConfigError, match="checkpoints/ folder"):
        export_student(run, format="torchscript", output=run / "checkpoints" / "x.pt")


def test_predict_reads_npy_pt_csv(exported, run, cora_x, reference, tmp_path):
    x = cora_x[:40].numpy()
    np.save(tmp_path / "x.npy", x)
    torch.save(cora_x[:40].to_sparse(), tmp_path / "x.pt")  # sparse tensors are made dense
    header = ",".join(f"f{i}" for i in range(x.shape[1]))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", header=header, comments="", fmt="%g")
    np.savetxt(tmp_path / "nohead.csv", x, delimiter=",", fmt="%g")
    student = load_student(exported["onnx"])
    want = reference[:40].argmax(-1)
    for name in ("x.npy", "x.pt", "x.csv", "nohead.csv"):
        feats = read_features(tmp_path / name)
        assert feats.dtype == np.float32 and feats.shape == (40, 1433)
        assert np.array_equal(student.predict(feats), want)
    for model, trusted in ((run, False), (exported["torchscript"], True)):  # run folder (torch student), TorchScript
        proba = load_student(model, trust_torchscript=trusted).predict_proba(torch.from_numpy(x))
        np.testing.assert_allclose(proba, reference[:40], atol=ATOL)
    # batched prediction equals one pass, and a single node may be given as a vector
    np.testing.assert_allclose(student.predict_proba(x, batch_size=3), student.predict_proba(x), atol=1e-7)
    assert student.predict(x[5]).shape == (1,)


def test_predict_input_errors(exported, tmp_path):
    student = load_student(exported["onnx"])
    with pytest.raises(ConfigError, match="expects 1433 features per node, got 10"):
        student.predict(np.zeros((4, 10)))
    bad = np.zeros((6, 1433), dtype=np.float32)
    bad[2, 0], bad[5, 7] = np.nan, np.inf
    with pytest.raises(ConfigError, match=r"NaN or infinite .* 2 row\(s\): 2, 5"):
        student.predict(bad)
    with pytest.raises(ConfigError, match="batch_size"):
        student.predict(bad, batch_size=0)
    torch.save({"x": torch.zeros(2, 3)}, tmp_path / "dict.pt")
    with pytest.raises(ConfigError, match="holds a dict, not a tensor"):
        read_features(tmp_path / "dict.pt")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(ConfigError, match="no rows"):
        read_features(tmp_path / "empty.csv")
    (tmp_path / "words.csv").write_text("a,b\n1,x\n")
    with pytest.raises(ConfigError, match="not a numeric CSV"):
        read_features(tmp_path / "words.csv")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ConfigError, match="cannot read .* numeric .npy"):
        read_features(tmp_path / "obj.npy")
    with pytest.raises(ConfigError, match="no such features file"):
        read_features(tmp_path / "missing.npy")
    with pytest.raises(ConfigError, match="use one of .npy, .pt, .csv"):
        read_features(exported["onnx"])


def test_missing_onnx_packages_are_a_clear_error(run, exported, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ConfigError, match=r'pip install "g2m\[onnx\]"'):
        export_student(run, format="onnx", output=tmp_path / "s.onnx")
    with pytest.raises(ConfigError, match=r'pip install "g2m\[onnx\]"'):
        load_student(exported["onnx"])
    assert not (tmp_path / "s.onnx").exists()


def test_corrupt_or_missing_model_files(tmp_path):
    noise = np.random.default_rng(0).bytes(4096)
    (tmp_path / "noise.onnx").write_bytes(noise)
    (tmp_path / "noise.pt").write_bytes(noise)
    with pytest.raises(ConfigError, match="cannot read .*noise.onnx as an ONNX model"):
        load_student(tmp_path / "noise.onnx")
    with pytest.raises(ConfigError, match="truncated, corrupt"):
        load_student(tmp_path / "noise.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(ConfigError, match="not a g2m node checkpoint"):
        load_student(tmp_path / "foreign.pt")
    with pytest.raises(ConfigError, match="no such model file"):
        load_student(tmp_path / "missing.onnx")


def test_cli_export_and_predict(run, cora_x, reference, tmp_path):
    x = cora_x[:30].numpy()
    np.save(tmp_path / "x.npy", x)
    result = runner.invoke(app, ["export", str(run), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    onnx_file = run / "export" / "student-mlp-tran-seed0.onnx"
    assert onnx_file.is_file() and f"wrote {onnx_file}" in result.output
    ts_file = tmp_path / "ind.pt"
    result = runner.invoke(app, ["export", str(run), "-f", "torchscript", "--checkpoint", "student-mlp-ind-seed0",
                                 "-o", str(ts_file)])
    assert result.exit_code == 0 and ts_file.is_file(), result.output

    result = runner.invoke(app, ["predict", str(onnx_file), "--features", str(tmp_path / "x.npy"), "--show", "5"])
    assert result.exit_code == 0, result.output
    assert "showing 5 of 30 nodes" in result.output
    result = runner.invoke(app, ["predict", str(onnx_file), "--features", str(tmp_path / "x.npy"),
                                 "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "node,class,p0,p1,p2,p3,p4,p5,p6" and len(lines) == 31
    table = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert np.array_equal(table[:, 0], np.arange(30)) and np.array_equal(table[:, 1], reference[:30].argmax(-1))
    np.testing.assert_allclose(table[:, 2:], reference[:30], atol=ATOL)
    result = runner.invoke(app, ["predict", str(ts_file), "-x", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy"),
                                 "--batch-size", "7", "--trust-torchscript"])
    assert result.exit_code == 0, result.output
    ind = load_student(run, checkpoint="student-mlp-ind-seed0").predict_proba(x)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), ind, atol=ATOL)

    result = runner.invoke(app, ["predict", str(onnx_file), "-x", str(tmp_path / "x.npy"),
                                 "-o", str(tmp_path / "p.txt")])
    assert isinstance(result.exception, ConfigError) and ".csv or .npy" in str(result.exception)


def test_cli_errors_are_one_line(exported, tmp_path):
    np.save(tmp_path / "narrow.npy", np.zeros((3, 5), dtype=np.float32))
    proc = subprocess.run([sys.executable, "-c", "from g2m.cli import main; main()", "predict", str(exported["onnx"]),
                           "--features", str(tmp_path / "narrow.npy")], capture_output=True, text=True, timeout=600,
                          cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("error: the model expects 1433 features per node, got 5")
    assert "Traceback" not in proc.stderr


def test_export_into_a_run_folder_never_writes_through_a_link(tmp_path):
    import g2m
    from g2m.errors import OutputError

    run = tmp_path / "run"
    g2m.distill("cora", method="mlp", seeds=1, setting="tran", output=run, student_params={"max_epochs": 2})
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / "export").symlink_to(outside)
    with pytest.raises(OutputError, match="export is a symbolic link inside the run folder"):
        g2m.export_student(run, format="torchscript")
    assert not list(outside.iterdir())
