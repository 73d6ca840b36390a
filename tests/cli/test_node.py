"""End-to-end CLI runs on bundled Cora, the metrics.json schema, and clear errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from g2m.cli import app, main

runner = CliRunner()
SETTINGS = ("transductive", "inductive", "production")


def _stat_ok(entry: dict, n: int) -> None:
    assert set(entry) >= {"mean", "std", "runs"}
    assert len(entry["runs"]) == n and all(0.0 <= r <= 100.0 for r in entry["runs"])
    assert entry["mean"] == pytest.approx(sum(entry["runs"]) / n, abs=1e-3)


@pytest.fixture(scope="module")
def glnn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = runner.invoke(app, ["distill", "--teacher", "sage", "--method", "glnn", "--seeds", "2",
                                 "--setting", "both", "--device", "cpu", "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out, result


def test_distill_learns_and_writes_schema(glnn_run):
    out, result = glnn_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "cora" and metrics["method"] == "glnn" and metrics["teacher_model"] == "sage"
    assert metrics["seeds"] == [0, 1]
    for who in ("teacher", "student"):
        for key in SETTINGS:
            _stat_ok(metrics[who][key], 2)
    # 7 classes: chance is ~14%; a learning student is far above it.
    assert metrics["student"]["transductive"]["mean"] > 70
    assert metrics["teacher"]["transductive"]["mean"] > 70
    prod = metrics["student"]["production"]["runs"]
    obs, ind = metrics["student"]["observed"]["runs"], metrics["student"]["inductive"]["runs"]
    assert prod == pytest.approx([0.8 * o + 0.2 * i for o, i in zip(obs, ind)], abs=1e-3)
    assert metrics["timings"]["total_seconds"] > 0
    assert set(metrics["timings"]["peak_memory_mb"]) == {"teacher:standard", "student:glnn"}
    from g2m import load_dataset
    from g2m.datasets import split_fingerprints

    cora = load_dataset("cora")
    assert metrics["splits"] == {str(s): split_fingerprints(cora, s) for s in (0, 1)}
    assert set(metrics["splits"]["0"]) == {"train_sha256", "val_sha256", "test_sha256", "ind_test_sha256"}
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == "cora" and config["methods"] == {"glnn": {"soft_label_kl": 1.0}}
    assert len(list((out / "checkpoints").glob("*.pt"))) == 8  # teacher + student × 2 seeds × 2 settings
    assert "student (glnn)" in result.output


def test_evaluate_reproduces_metrics(glnn_run):
    """The checkpoint round trip: models rebuilt from disk score what training reported. (Both sides use
    `evaluate_student`; that function itself is checked by hand in tests/test_evaluate.py.)"""
    out, _ = glnn_run
    result = runner.invoke(app, ["evaluate", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    evaluation = json.loads((out / "evaluation.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    for key in SETTINGS:
        assert evaluation["models"]["student (glnn)"][key]["runs"] == pytest.approx(
            metrics["student"][key]["runs"], abs=1e-3)
        assert evaluation["models"]["teacher (sage)"][key]["runs"] == pytest.approx(
            metrics["teacher"][key]["runs"], abs=1e-3)


def test_a_run_folder_with_a_lost_file_is_refused_before_any_work(glnn_run, tmp_path):
    """A missing checkpoint is an error (not numbers over fewer seeds); a rerun of a run without metrics.json
    stops at once (it would train, then have nothing to compare with)."""
    import shutil

    out, _ = glnn_run
    broken = tmp_path / "broken"
    shutil.copytree(out, broken, ignore=shutil.ignore_patterns("evaluation.json"))
    (broken / "checkpoints" / "student-glnn-ind-seed1.pt").unlink()
    result = runner.invoke(app, ["evaluate", str(broken), "--device", "cpu"])
    assert result.exit_code != 0 and "checkpoints/student-glnn-ind-seed1.pt" in str(result.exception)
    assert not (broken / "evaluation.json").exists()
    unfinished = tmp_path / "unfinished"
    shutil.copytree(out, unfinished)
    (unfinished / "metrics.json").unlink()
    result = runner.invoke(app, ["rerun", str(unfinished)])
    assert result.exit_code != 0 and "no readable metrics.json" in str(result.exception)
    assert "--resume" in str(result.exception) and not (unfinished / "rerun").exists()


def test_evaluate_writes_to_output_folder(glnn_run, tmp_path):
    out, _ = glnn_run
    result = runner.invoke(app, ["evaluate", str(out), "--device", "cpu", "--output", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    assert "student (glnn)" in json.loads((tmp_path / "ev" / "evaluation.json").read_text())["models"]


def test_user_folder_run_evaluates_from_anywhere(tmp_path, monkeypatch):
    import numpy as np

    import g2m

    cora = g2m.load_dataset("cora").data
    folder = tmp_path / "mygraph"
    folder.mkdir()
    np.savetxt(folder / "edges.txt", cora.edge_index.t().numpy(), fmt="%d")
    np.save(folder / "features.npy", cora.x.numpy())
    np.savetxt(folder / "labels.txt", cora.y.numpy(), fmt="%d")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["distill", "-d", "mygraph", "-m", "mlp", "--setting", "tran", "-o", "run"])
    assert result.exit_code == 0, result.output
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    runs = json.loads((tmp_path / "run" / "evaluation.json").read_text())["models"]["student (mlp)"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["student"]
    assert runs["transductive"]["runs"] == pytest.approx(saved["transductive"]["runs"], abs=1e-3)


def test_mlp_method_needs_no_teacher(tmp_path):
    result = runner.invoke(app, ["distill", "--method", "mlp", "--setting", "tran", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["teacher"] is None and metrics["student"]["transductive"]["mean"] > 40


def test_teacher_command(tmp_path):
    result = runner.invoke(app, ["teacher", "--teacher", "gcn", "--setting", "tran", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["teacher_model"] == "gcn" and metrics["teacher"]["transductive"]["mean"] > 60


def test_datasets_command_lists_registry():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0
    for name in ("cora", "a-computer", "ogbg-molhiv", "mutag"):
        assert name in result.output


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from g2m.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("args,message", [
    (["distill", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["distill", "--method", "magic"], "unknown method 'magic'"),
    (["distill", "--teacher", "transformer"], "unknown teacher 'transformer'"),
    (["distill", "--seeds", "abc"], "--seeds 'abc' is not a seed spec"),
    (["distill", "--seeds", "0"], "at least 1"),
    (["distill", "--setting", "sometimes"], "--setting 'sometimes'"),
    (["distill", "--dataset", "mutag"], "graph-classification dataset"),
])
def test_bad_input_is_one_clear_line(args, message):
    proc = _cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_data_root_files(tmp_path):
    proc = _cli("distill", "--dataset", "citeseer", "--data-root", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "raw files missing" in proc.stderr and "citeseer.npz" in proc.stderr


def test_main_is_console_entry_point():
    assert callable(main)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [
    ["--teacher-chunk-size", "500"],  # memory-mapped teacher-outputs/ in the run folder
    ["--teacher-batch-size", "256", "--fan-out", "3"],  # NeighborLoader minibatches
    ["--split", "random", "--batch-size", "0"],
])
def test_rerun_reproduces_runs_whose_options_change_the_run_folder(tmp_path, extra):
    if "--teacher-batch-size" in extra:
        pytest.importorskip("torch_sparse", reason="NeighborLoader needs torch-sparse or pyg-lib (the fast extra)")
    args = ["distill", "--seeds", "1", "--setting", "both", "-p", "teacher.max_epochs=10",
            "-p", "student.max_epochs=10", "-o", str(tmp_path / "run"), *extra]
    if "-m" not in extra:
        args += ["-m", "glnn"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["rerun", str(tmp_path / "run"), "-o", str(tmp_path / "again")])
    assert again.exit_code == 0 and "every number identical" in again.output, (again.output, again.exception)


def test_help_and_version_import_neither_torch_nor_pyg():
    """What makes `g2m --help` start in well under a second: the CLI and `import g2m` load torch only in the
    commands (and names) that use it. benchmarks/startup.py times it."""
    script = ("import sys\n"
              "sys.argv = ['g2m', '{flag}']\n"
              "from g2m.cli import main\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "import g2m\n"
              "heavy = sorted(m for m in ('torch', 'torch_geometric', 'scipy', 'sklearn') if m in sys.modules)\n"
              "print('heavy:', heavy)\n")
    for flag in ("--help", "--version"):
        proc = subprocess.run([sys.executable, "-c", script.format(flag=flag)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "heavy: []" in proc.stdout, proc.stdout[-500:]
    version = subprocess.run([sys.executable, "-m", "g2m", "--version"], capture_output=True, text=True, timeout=120)
    from g2m import __version__

    assert version.returncode == 0 and version.stdout.startswith(f"g2m {__version__} (torch "), version.stdout
    import g2m  # the names still work, imported on first use

    assert g2m.Distiller.__module__ == "g2m.api" and callable(g2m.distill) and callable(g2m.condense)
    with pytest.raises(AttributeError, match="no attribute 'Distillr'"):
        g2m.Distillr
