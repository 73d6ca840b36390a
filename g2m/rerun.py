"""Rerun a finished node-classification run from its ``config.json`` and compare the numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from g2m.checkpoints import dataset_of_run
from g2m.errors import ConfigError
from g2m.run_dir import check_config_of_run, read_metrics, read_run_config


def rerun(run_dir: str | Path, output: str | Path, root: str | Path | None = None, jobs: int = 1,
          overwrite: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run again what ``run_dir/config.json`` describes (same dataset, models, seeds, settings, overrides,
    device) into ``output``. Returns ``(result, config)`` of the new run, as `run_node_experiment` does.

    On the same machine, software and thread count the numbers are identical (the test suite checks it);
    ``config["environment"]`` records the g2m, torch and PyG versions a run needs to be reproduced.
    """
    from g2m.pipeline import run_node_experiment
    from g2m.spec import NodeRunSpec

    config = read_run_config(Path(run_dir), required=("dataset", "teacher", "seeds", "setting"))
    check_config_of_run(run_dir, config)
    methods = tuple(config.get("methods") or {})
    spec = NodeRunSpec(
        dataset_of_run(config, root), teacher=teacher_of_run(config), methods=methods, seeds=config["seeds"],
        setting=config["setting"], device=config.get("device", "auto"), root=root or config.get("data_root"),
        output=output, teacher_overrides=config.get("teacher_overrides"),
        student_overrides=config.get("student_overrides"), batch_size=config.get("batch_size"),
        force_teacher=not methods, jobs=jobs, overwrite=overwrite,
        split=config.get("split_source") or config.get("split_protocol"),
        outputs_are=(config.get("teacher_source") or {}).get("outputs_are", "auto"))  # checks every setting
    if not read_metrics(run_dir):  # before any training: there would be nothing to compare the new numbers with
        raise ConfigError(f"{run_dir} has no readable metrics.json: the run did not finish (or the file was "
                          "removed), so a rerun has nothing to compare with. Finish it first: run its command "
                          f"again with --resume -o {run_dir}.")
    return run_node_experiment(spec), config


def teacher_of_run(config: dict[str, Any]) -> Any:
    """The teacher a run's ``config.json`` names: a family name, or the user's saved outputs (read again from
    their recorded path, which must still hold the same bytes). A run distilled from a model in memory cannot be
    rerun from its folder."""
    source = config.get("teacher_source")
    if not source:
        return config["teacher"]
    if source.get("kind") != "outputs" or not source.get("path"):
        raise ConfigError("this run distilled a teacher passed in memory (a model or tensors), which its folder "
                          "does not hold: rerun it from your code, or save the outputs and pass their path.")
    from g2m.teacher_outputs import TeacherOutputs

    outputs = TeacherOutputs.load(source["path"], source.get("outputs_are", "auto"))
    if outputs.source["sha256"] != source.get("sha256"):
        raise ConfigError(f"the teacher outputs at {source['path']} changed since the run (their sha256 differs): "
                          "the rerun would distill another teacher. Restore the files, or start a new run.")
    return outputs


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, float | None, float | None]]:
    """``(model, setting, old mean, new mean)`` for every entry of two ``metrics.json`` dicts."""
    rows = []
    for who in ("teacher", "student"):
        for setting in ("transductive", "inductive", "production"):
            a = ((old.get(who) or {}).get(setting) or {}).get("mean")
            b = ((new.get(who) or {}).get(setting) or {}).get("mean")
            if a is not None or b is not None:
                rows.append((who, setting, a, b))
    return rows
