"""The run folder owns its files: metrics.json / config.json and checkpoints each have one writer."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import g2m
from g2m.errors import ConfigError
from g2m.run_dir import read_metrics, read_run_config, run_metrics, write_run

PACKAGE = Path(g2m.__file__).parent
WRITERS = {"write_json_atomic", "write_text_atomic", "_atomic", "open", "write_text", "dump", "save"}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            yield node, func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _writes(filename: str) -> dict[str, list[str]]:
    """``{module: [call lines]}`` of write calls whose arguments name ``filename``."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for call, name in _calls(tree):
            if name in WRITERS and any(isinstance(n, ast.Constant) and n.value == filename
                                       for arg in call.args for n in ast.walk(arg)):
                found.setdefault(str(path.relative_to(PACKAGE)), []).append(ast.unparse(call))
    return found


@pytest.mark.parametrize("filename", ["metrics.json", "config.json"])
def test_metrics_and_config_are_written_in_one_place(filename):
    assert list(_writes(filename)) == ["run_dir.py"]


def test_the_grep_finds_a_second_writer(tmp_path, monkeypatch):
    """The check above can fail: a module that writes metrics.json itself is found."""
    rogue = PACKAGE / "_rogue_writer_for_test.py"
    rogue.write_text('from g2m.utils import write_json_atomic\nwrite_json_atomic(OUT / "metrics.json", {})\n')
    try:
        assert "_rogue_writer_for_test.py" in _writes("metrics.json")
    finally:
        rogue.unlink()


def test_checkpoints_are_saved_in_one_place():
    """``torch.save`` runs only in the atomic writer; node checkpoints go through `save_checkpoint` alone (the
    other caller writes Mirage's distilled datasets, another format)."""
    callers: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for _, name in _calls(ast.parse(path.read_text())):
            if name in ("save_torch_atomic", "save"):
                callers.setdefault(name, set()).add(str(path.relative_to(PACKAGE)))
    assert callers["save_torch_atomic"] == {"checkpoints.py", "condense/distilled.py"}
    assert "torch.save" not in "".join(p.read_text() for p in PACKAGE.rglob("*.py") if p.name != "io.py"
                                      ).replace("``torch.save``", "").replace("(torch.save(x, path))", "")


def test_write_and_read_a_run(tmp_path):
    written = write_run(tmp_path / "run", {"a": 1.5}, {"dataset": "cora"})
    assert written == {"config": tmp_path / "run" / "config.json", "metrics": tmp_path / "run" / "metrics.json"}
    assert read_run_config(tmp_path / "run") == {"dataset": "cora"} and read_metrics(tmp_path / "run") == {"a": 1.5}
    assert write_run(tmp_path / "m", {"b": 2}) == {"metrics": tmp_path / "m" / "metrics.json"}
    assert not (tmp_path / "m" / "config.json").exists()
    assert read_metrics(tmp_path / "nothing") == {}
    (tmp_path / "m" / "metrics.json").write_text("[1, 2]")
    assert read_metrics(tmp_path / "m") == {}  # not a dict: nothing
    with pytest.raises(ConfigError, match="has no config.json"):
        read_run_config(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{broken")
    with pytest.raises(ConfigError, match="cannot be read as JSON"):
        read_run_config(tmp_path / "m")
    for text in ("{}", "[1]"):
        (tmp_path / "m" / "config.json").write_text(text)
        with pytest.raises(ConfigError, match="config.json lacks dataset: it was not written by g2m or was edited"):
            read_run_config(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"dataset": "cora"}')
    with pytest.raises(ConfigError, match="lacks teacher, seeds"):
        read_run_config(tmp_path / "m", required=("dataset", "teacher", "seeds"))


def _result(methods, trainers=None, extra=None):
    return {"dataset": "cora", "teacher_model": "sage", "methods": methods, "seeds": [0], "settings": ["tran"],
            "teacher_trainers": trainers or {}, "teachers": {"standard": "T", "vq": "VQ"},
            "students": {m: f"S-{m}" for m in methods}, "timings": {"t": 1}, "splits": {"0": {}},
            **({"teachers_extra": extra} if extra else {})}


def test_run_metrics_schema():
    assert run_metrics(_result([])) == {"dataset": "cora", "teacher_model": "sage", "seeds": [0],
                                        "settings": ["tran"], "teacher": "T", "timings": {"t": 1}, "splits": {"0": {}}}
    glnn = run_metrics(_result(["glnn"], {"glnn": "standard"}))
    assert glnn["method"] == "glnn" and glnn["teacher"] == "T" and glnn["student"] == "S-glnn" and "codebook" not in glnn
    assert run_metrics(_result(["mlp"], {"mlp": None}))["teacher"] is None
    vq = run_metrics(_result(["vqgraph"], {"vqgraph": "vq"}, {"vq": "usage"}))
    assert vq["teacher"] == "VQ" and vq["codebook"] == "usage"


def test_a_cli_run_writes_its_files_through_the_pipeline(tmp_path):
    from typer.testing import CliRunner

    from g2m.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", "-m", "mlp", "--setting", "tran", "-o", str(out),
                                      "--student-layers", "1"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "mlp" and read_run_config(out)["student_overrides"] == {"num_layers": 1}


# Functions outside the CLI take at most 10 parameters; these still take more (graph classification, the speed
# benchmark, tuning) and are to be given typed specs like NodeRunSpec. The list may only shrink.
# api.py:__init__ is Distiller's: a scikit-learn estimator takes every setting in its constructor
MANY_PARAMETERS = {"api.py:__init__", "bench/speed.py:measure_speed", "condense/api.py:condense",
                   "condense/mirage.py:mirage_distill", "graphcls/protocol.py:run_protocol", "tune.py:tune"}


def _parameter_counts():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if rel.startswith("cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs] + [x.arg for x in (a.vararg, a.kwarg) if x]
                yield f"{rel}:{node.name}", len([n for n in names if n not in ("self", "cls")])


def test_no_function_outside_the_cli_takes_more_than_ten_parameters():
    many = {name for name, count in _parameter_counts() if count > 10}
    assert many <= MANY_PARAMETERS, f"new functions with more than 10 parameters: {sorted(many - MANY_PARAMETERS)}"
    assert many == MANY_PARAMETERS, f"fixed, remove from the list: {sorted(MANY_PARAMETERS - many)}"
    counts = dict(_parameter_counts())
    assert counts["pipeline.py:run_node_experiment"] == 2 and counts["checkpoints.py:save_checkpoint"] == 10


# --- run folders that are what they claim, and never written through links ---

FAST_RUN = dict(seeds=2, setting="tran", teacher_params={"max_epochs": 5}, student_params={"max_epochs": 5})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-seed glnn run on cora (few epochs), copied fresh for each test by `fresh_run`."""
    out = tmp_path_factory.mktemp("run") / "glnn"
    g2m.distill("cora", output=out, **FAST_RUN)
    return out


@pytest.fixture
def fresh_run(finished_run, tmp_path):
    import shutil

    out = tmp_path / "glnn"
    shutil.copytree(finished_run, out)
    return out


def test_seed_records_tie_the_run_and_its_checkpoints(fresh_run):
    from g2m.run_dir import load_seed_records
    from g2m.utils.io import file_sha256

    record = json.loads((fresh_run / "seeds" / "seed0.json").read_text())
    assert record["run_sha256"] == file_sha256(fresh_run / "run.json")
    assert record["files"] == {rel: file_sha256(fresh_run / rel) for rel in
                               ("checkpoints/teacher-tran-seed0.pt", "checkpoints/student-glnn-tran-seed0.pt")}
    assert set(load_seed_records(fresh_run, [0, 1])) == {0, 1}


def test_resume_refuses_a_fabricated_or_mismatched_seed_record(fresh_run):
    (fresh_run / "metrics.json").unlink()
    path = fresh_run / "seeds" / "seed1.json"
    record = json.loads(path.read_text())
    fabricated = {"seed": 1, "teachers": {}, "students": {"glnn": {"tran": {"metrics": {"test": 99.9}}}},
                  "peak_memory_mb": {}}
    path.write_text(json.dumps(fabricated))
    with pytest.raises(ConfigError, match="seed1.json is not a g2m seed record of seed 1 .*missing run_sha256, files"):
        g2m.distill("cora", output=fresh_run, resume=True, **FAST_RUN)
    path.write_text(json.dumps({**record, "run_sha256": "0" * 64}))
    with pytest.raises(ConfigError, match="belongs to another run"):
        g2m.distill("cora", output=fresh_run, resume=True, **FAST_RUN)
    path.write_text(json.dumps(record))
    (fresh_run / "checkpoints" / "student-glnn-tran-seed1.pt").write_bytes(b"other weights")
    with pytest.raises(ConfigError, match="student-glnn-tran-seed1.pt is not the file that .*seed1.json recorded"):
        g2m.distill("cora", output=fresh_run, resume=True, **FAST_RUN)
    (fresh_run / "checkpoints" / "student-glnn-tran-seed1.pt").unlink()
    with pytest.raises(ConfigError, match="student-glnn-tran-seed1.pt is missing"):
        g2m.distill("cora", output=fresh_run, resume=True, **FAST_RUN)
    path.write_text('{"seed": 1, "teach')  # cut short: unreadable, so the seed simply runs again
    result = g2m.distill("cora", output=fresh_run, resume=True, **FAST_RUN)
    assert len(result["student"]["transductive"]["runs"]) == 2


def test_evaluate_refuses_a_checkpoint_the_run_did_not_write(fresh_run):
    import shutil

    from g2m.checkpoints import evaluate_run

    assert evaluate_run(fresh_run)["models"]  # as written: fine
    shutil.copy(fresh_run / "checkpoints" / "student-glnn-tran-seed0.pt",
                fresh_run / "checkpoints" / "student-glnn-tran-seed7.pt")
    with pytest.raises(ConfigError, match="student-glnn-tran-seed7.pt is not a checkpoint this run wrote"):
        evaluate_run(fresh_run)
    (fresh_run / "checkpoints" / "student-glnn-tran-seed7.pt").unlink()
    shutil.copy(fresh_run / "checkpoints" / "student-glnn-tran-seed1.pt",
                fresh_run / "checkpoints" / "student-glnn-tran-seed0.pt")
    with pytest.raises(ConfigError, match="seed0.pt is not the file this run wrote"):
        evaluate_run(fresh_run)


@pytest.mark.parametrize("planted", ["checkpoints", "seeds/seed0.json", "checkpoints/student-glnn-tran-seed0.pt",
                                     "metrics.json", "teacher-outputs", "export"])
def test_no_write_or_delete_goes_through_a_link_planted_in_the_run_folder(fresh_run, tmp_path, planted):
    import shutil

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    target = fresh_run / planted
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    target.symlink_to(outside if planted in ("checkpoints", "teacher-outputs", "export") else outside / "precious.txt")
    for how in ({"overwrite": True}, {"resume": True}):
        with pytest.raises(g2m.G2MError, match=f"{planted} is a symbolic link inside the run folder"):
            g2m.distill("cora", output=fresh_run, **how, **FAST_RUN)
    assert (outside / "precious.txt").read_text() == "keep me" and len(list(outside.iterdir())) == 1


def test_a_file_where_a_run_folder_should_be_is_replaced_by_overwrite(fresh_run):
    import shutil

    shutil.rmtree(fresh_run / "checkpoints")
    (fresh_run / "checkpoints").write_text("not a folder")
    g2m.distill("cora", output=fresh_run, overwrite=True, **FAST_RUN)
    assert (fresh_run / "checkpoints" / "student-glnn-tran-seed1.pt").is_file()


def test_a_second_writer_of_a_run_folder_is_refused_and_the_first_ones_files_stay(fresh_run):
    import os

    from g2m.errors import OutputError
    from g2m.run_dir import run_lock

    before = sorted(p.name for p in (fresh_run / "checkpoints").iterdir())
    with run_lock(fresh_run):  # a first process writing there
        assert (fresh_run / ".g2m.lock").read_text() == str(os.getpid())
        with pytest.raises(OutputError, match=f"another g2m process \\(pid {os.getpid()}\\) is writing to"):
            g2m.distill("cora", output=fresh_run, overwrite=True, **FAST_RUN)
        assert sorted(p.name for p in (fresh_run / "checkpoints").iterdir()) == before  # nothing deleted
    g2m.distill("cora", output=fresh_run, overwrite=True, **FAST_RUN)  # released: the next writer may go


def test_rerun_refuses_a_config_that_is_not_the_runs(fresh_run, tmp_path):
    from g2m.rerun import rerun

    config = json.loads((fresh_run / "config.json").read_text())
    (fresh_run / "config.json").write_text(json.dumps({**config, "student_overrides": {"max_epochs": 50}}))
    with pytest.raises(ConfigError, match="config.json differs from the run its folder records .* in "
                                          "student_overrides: it was edited"):
        rerun(fresh_run, tmp_path / "again")
    (fresh_run / "config.json").write_text(json.dumps(config))
    result, _ = rerun(fresh_run, tmp_path / "again")  # as written: fine
    assert result["students"]["glnn"]["transductive"]["runs"]
