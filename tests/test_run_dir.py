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
    with pytest.raises(ConfigError, match="is not valid JSON"):
        read_run_config(tmp_path / "m")


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
MANY_PARAMETERS = {"bench/speed.py:measure_speed", "condense/api.py:condense", "condense/mirage.py:mirage_distill",
                   "graphcls/protocol.py:run_protocol", "tune.py:tune"}


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
