"""A run folder on disk: never overwritten by accident, one record per finished seed, resumable.

Layout: ``run.json`` (what the run is: dataset, models, settings, overrides), ``seeds/seed<N>.json``
(one record per finished seed, written atomically as the seed ends), ``checkpoints/`` (their format:
`g2m.checkpoints`), then ``metrics.json`` and ``config.json`` when every seed is done. An interrupted run keeps
every finished seed; resuming it with the same settings runs only the missing seeds.

This module is the one place that writes ``metrics.json`` and ``config.json`` (`write_run`, for node and
graph runs alike) and that reads them back (`read_run_config`, `read_metrics`); `run_metrics` turns a
node-classification runner result into the ``metrics.json`` schema.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from g2m.errors import ConfigError, OutputError, describe_os_error
from g2m.utils import write_json_atomic
from g2m.utils.io import file_sha256, refuse_links

RUN_FILES = ("run.json", "metrics.json", "config.json", "evaluation.json", "codebook_usage.png")
# export/: models `g2m export` made from the checkpoints; teacher-outputs/: memory-mapped teacher outputs
RUN_DIRS = ("seeds", "checkpoints", "export", "teacher-outputs")


def holds_run(out: Path) -> bool:
    """Whether ``out`` already holds (part of) a g2m run."""
    return any((out / f).exists() for f in RUN_FILES + RUN_DIRS)


def prepare_output(out: Path, identity: dict[str, Any], overwrite: bool = False, resume: bool = False) -> None:
    """Make ``out`` ready for a run described by ``identity`` (JSON-able).

    An existing run is an error unless ``overwrite`` (its run files are removed first; other files in
    the folder are left alone) or ``resume`` (its ``run.json`` must describe the same run).
    """
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other: replace the run, or continue it.")
    refuse_links(out, RUN_FILES + RUN_DIRS)  # before anything is deleted or written there
    if holds_run(out):
        if resume:
            check_same_run(out, identity)
            return
        if not overwrite:
            raise ConfigError(f"the output folder {out} already holds a run; pass --overwrite to replace it, "
                              "--resume to continue it, or choose another --output.")
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        for name in RUN_DIRS:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
            else:
                (out / name).unlink(missing_ok=True)  # a file where a folder should be
    write_json_atomic(out / "run.json", identity)  # resuming a folder that holds nothing starts afresh


LOCK_FILE = ".g2m.lock"


@contextlib.contextmanager
def run_lock(out: Path):
    """Hold an exclusive lock on the run folder ``out`` (``out/.g2m.lock``, with the owner's pid) while a run
    writes there: a second g2m process writing to the same folder is refused, instead of deleting or mixing the
    first one's files. The lock is the operating system's (``flock``): it ends with the process, even a killed one.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no lock
        yield
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise OutputError(describe_os_error(exc, "lock the run folder", out / LOCK_FILE)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise OutputError(f"another g2m process (pid {owner}) is writing to {out}: wait for it to finish, or "
                              "choose another --output.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _read_run_json(path: Path, fix: str) -> dict[str, Any]:
    """A ``run.json`` (what a run is), or a `ConfigError` ending with ``fix`` (what to do)."""
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}); {fix}") from None
    if not isinstance(run, dict):
        raise ConfigError(f"{path} is not a g2m run description; {fix}")
    return run


def check_same_run(out: Path, identity: dict[str, Any]) -> None:
    """Resuming the run in ``out`` (a run folder, or condense's ``folds/``) is allowed only when its ``run.json``
    records ``identity`` (JSON-able); otherwise a `ConfigError` names what differs."""
    path = out / "run.json"
    if not path.exists():
        raise ConfigError(f"{out} holds no run.json, so it cannot be resumed; pass --overwrite to start over.")
    old = _read_run_json(path, "the run cannot be resumed; pass --overwrite to start over.")
    canon = json.loads(json.dumps(identity))  # tuples → lists, as on disk
    diff = sorted(k for k in set(old) | set(canon) if old.get(k) != canon.get(k))
    if diff:
        raise ConfigError(f"cannot resume {out}: the run differs in {', '.join(diff)} (was "
                          + "; ".join(f"{k}={old.get(k)!r}" for k in diff)
                          + "). Rerun with the same options, or pass --overwrite to start over.")


def seed_record_path(out: Path, seed: int) -> Path:
    return out / "seeds" / f"seed{seed}.json"


def save_seed_record(out: Path, record: dict[str, Any]) -> None:
    """Write a finished seed's record, tied to its run and files: ``run_sha256`` (of ``run.json``) and
    ``files`` (the sha256 of every checkpoint it lists in ``record["checkpoints"]``, paths relative to ``out``)."""
    record = {**record, "run_sha256": file_sha256(out / "run.json"),
              "files": {rel: file_sha256(out / rel) for rel in record.get("checkpoints", [])}}
    write_json_atomic(seed_record_path(out, int(record["seed"])), record)


SEED_RECORD_KEYS = ("seed", "teachers", "students", "peak_memory_mb", "run_sha256", "files")


def load_seed_records(out: Path, seeds: list[int]) -> dict[int, dict[str, Any]]:
    """The finished seeds' records under ``out``. A record that cannot be read (cut short) is ignored and its seed
    runs again; one that reads but does not belong to this run (another ``run.json``, edited, or its checkpoints
    changed or missing) is refused, naming the file."""
    done = {}
    run_sha = file_sha256(out / "run.json") if (out / "run.json").is_file() else None
    for seed in seeds:
        path = seed_record_path(out, seed)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        missing = [k for k in SEED_RECORD_KEYS if not isinstance(record, dict) or k not in record]
        if missing or record["seed"] != seed:
            raise ConfigError(f"{path} is not a g2m seed record of seed {seed} (missing {', '.join(missing) or 'none'}"
                              "): it was edited or comes from another g2m version. Delete it to run that seed "
                              "again, or pass --overwrite to start over.")
        if record["run_sha256"] != run_sha:
            raise ConfigError(f"{path} belongs to another run than {out / 'run.json'} describes: delete it to run "
                              "that seed again, or pass --overwrite to start over.")
        for rel, sha in record["files"].items():
            file = out / rel
            if not file.is_file() or file_sha256(file) != sha:
                raise ConfigError(f"{file} is {'missing' if not file.is_file() else 'not the file'} that {path} "
                                  "recorded (its sha256 differs): the seed's numbers cannot be trusted. Delete the "
                                  "record to run that seed again, or pass --overwrite to start over.")
        done[seed] = record
    return done


def recorded_files(out: Path, seeds: list[int]) -> dict[str, str] | None:
    """``{checkpoint path relative to out: sha256}`` over the seed records of ``seeds``; ``None`` when a record is
    missing or predates the record of files (nothing to verify against)."""
    files: dict[str, str] = {}
    for seed in seeds:
        try:
            record = json.loads(seed_record_path(out, seed).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
            return None
        files.update(record["files"])
    return files


def software_environment() -> dict[str, str]:
    """What a run's numbers depend on besides its settings: g2m, torch, PyG and Python versions, and the command
    (``config.json``'s ``"environment"``)."""
    import platform
    import sys

    import torch
    import torch_geometric

    from g2m import __version__

    return {"g2m": __version__, "torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
            "python": platform.python_version(), "command": " ".join(sys.argv)}


def write_run(out: str | Path, metrics: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write a finished run's ``config.json`` (when given) and ``metrics.json`` atomically into ``out``.

    Returns the paths written, by kind (``"config"``, ``"metrics"``)."""
    out = Path(out)
    written = {}
    if config is not None:
        written["config"] = write_json_atomic(out / "config.json", config)
    written["metrics"] = write_json_atomic(out / "metrics.json", metrics)
    return written


def read_run_config(run_dir: str | Path, required: tuple[str, ...] = ("dataset",)) -> dict[str, Any]:
    """A run folder's ``config.json`` holding at least the ``required`` keys, or a clear error."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise ConfigError(f"{run_dir} has no config.json: pass a folder written by `g2m distill` or `g2m teacher`.")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read as JSON ({exc}); it was not written by g2m or was edited.") from None
    missing = [k for k in required if not isinstance(config, dict) or k not in config]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}: it was not written by g2m or was edited. Run the "
                          "command that made the run again (with --overwrite).")
    return config


def check_config_of_run(run_dir: str | Path, config: dict[str, Any]) -> None:
    """Refuse a ``config.json`` that does not describe the run its folder's ``run.json`` records (it was edited,
    or copied from another run): every key of ``run.json`` but ``trainers`` must have the same value in it. A
    folder without ``run.json`` (written by another command) is not checked."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return
    run = _read_run_json(path, "the run folder is damaged.")
    differ = sorted(k for k in run if k != "trainers" and config.get(k) != run[k])
    if differ:
        raise ConfigError(f"{Path(run_dir) / 'config.json'} differs from the run its folder records ({path}) in "
                          f"{', '.join(differ)}: it was edited or copied from another run. Rerun from a folder g2m "
                          "wrote, or start a new run with the options you want.")


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """A run folder's ``metrics.json`` (empty when there is none or it cannot be read)."""
    try:
        value = json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def run_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """The ``metrics.json`` of a node-classification run (the schema in docs/cli.md), from a
    `g2m.pipeline.run_node_experiment` result of one method, or of a teacher alone."""
    if not result["methods"]:
        return {"dataset": result["dataset"], "teacher_model": result["teacher_model"], "seeds": result["seeds"],
                "settings": result["settings"], "teacher": next(iter(result["teachers"].values())),
                "timings": result["timings"], "splits": result["splits"]}
    (method,) = result["methods"]
    trainer = result["teacher_trainers"][method]
    return {
        "dataset": result["dataset"], "method": method, "teacher_model": result["teacher_model"],
        "seeds": result["seeds"], "settings": result["settings"],
        "teacher": result["teachers"][trainer] if trainer else None,
        "student": result["students"][method], "timings": result["timings"], "splits": result["splits"],
        **({extra_key(trainer): result["teachers_extra"][trainer]} if trainer in result.get("teachers_extra", {})
           else {}),
    }


def extra_key(trainer: str) -> str:
    """Where ``metrics.json`` keeps a teacher trainer's extra metrics: a committee's candidates, a VQ teacher's
    codebook usage."""
    from g2m.teacher_committee import COMMITTEE

    return "teacher_candidates" if trainer == COMMITTEE else "codebook"
