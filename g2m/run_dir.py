"""A run folder on disk: never overwritten by accident, one record per finished seed, resumable.

Layout: ``run.json`` (what the run is: dataset, models, settings, overrides), ``seeds/seed<N>.json``
(one record per finished seed, written atomically as the seed ends), ``checkpoints/``, then
``metrics.json`` and ``config.json`` when every seed is done. An interrupted run keeps every finished
seed; resuming it with the same settings runs only the missing seeds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from g2m.errors import ConfigError
from g2m.utils import write_json_atomic

RUN_FILES = ("run.json", "metrics.json", "config.json", "evaluation.json", "codebook_usage.png")
RUN_DIRS = ("seeds", "checkpoints", "export")  # export/: models `g2m export` made from the checkpoints


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
    if holds_run(out):
        if resume:
            _check_same_run(out, identity)
            return
        if not overwrite:
            raise ConfigError(f"the output folder {out} already holds a run; pass --overwrite to replace it, "
                              "--resume to continue it, or choose another --output.")
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        for name in RUN_DIRS:
            shutil.rmtree(out / name, ignore_errors=True)
    write_json_atomic(out / "run.json", identity)  # resuming a folder that holds nothing starts afresh


def _check_same_run(out: Path, identity: dict[str, Any]) -> None:
    path = out / "run.json"
    if not path.exists():
        raise ConfigError(f"{out} holds no run.json, so it cannot be resumed; pass --overwrite to start over.")
    old = json.loads(path.read_text())
    canon = json.loads(json.dumps(identity))  # tuples → lists, as on disk
    diff = sorted(k for k in set(old) | set(canon) if old.get(k) != canon.get(k))
    if diff:
        raise ConfigError(f"cannot resume {out}: the run differs in {', '.join(diff)} (was "
                          + "; ".join(f"{k}={old.get(k)!r}" for k in diff)
                          + "). Rerun with the same options, or pass --overwrite to start over.")


def seed_record_path(out: Path, seed: int) -> Path:
    return out / "seeds" / f"seed{seed}.json"


def save_seed_record(out: Path, record: dict[str, Any]) -> None:
    write_json_atomic(seed_record_path(out, int(record["seed"])), record)


def load_seed_records(out: Path, seeds: list[int]) -> dict[int, dict[str, Any]]:
    """The finished seeds' records under ``out`` (unreadable ones are ignored and rerun)."""
    done = {}
    for seed in seeds:
        path = seed_record_path(out, seed)
        try:
            done[seed] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return done
