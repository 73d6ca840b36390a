"""Finished folds of a condensation run, kept on disk as they finish, so an interrupted run resumes.

``OUTPUT/folds/`` holds ``run.json`` (what the run is), and per finished fold ``fold<K>-distilled.pt`` (its
distilled set) then ``fold<K>.json`` (its scores; written last, so a fold counts only when both are whole). ``K`` is
the fold's CV index, or the scaffold run's seed. A resumed run loads them instead of running those folds again.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from g2m import progress
from g2m.condense.distilled import DistilledDataset
from g2m.errors import ConfigError
from g2m.run_dir import check_same_run
from g2m.utils import write_text_atomic

FOLDER = "folds"


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy and torch scalars
        return value.item()
    raise TypeError(f"a fold result holds a {type(value).__name__}, which a fold record cannot store")


def save_fold(folder: Path, key: int, result: dict[str, Any]) -> None:
    """Write one finished fold's distilled set, then its scores."""
    result["distilled"].save(folder / f"fold{key}-distilled.pt")
    scores = {k: v for k, v in result.items() if k != "distilled"}
    write_text_atomic(folder / f"fold{key}.json", json.dumps(scores, default=_plain) + "\n")


def load_fold(folder: Path, key: int) -> dict[str, Any]:
    """A finished fold's result as the run uses it (scores and its `DistilledDataset`)."""
    try:
        scores = json.loads((folder / f"fold{key}.json").read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{folder / f'fold{key}.json'} cannot be read ({exc}): delete it to run that fold "
                          "again.") from None
    return {**scores, "distilled": DistilledDataset.load(folder / f"fold{key}-distilled.pt")}


def finished_folds(out: Path, identity: dict[str, Any], keys: list[int], resume: bool,
                   overwrite: bool) -> dict[int, dict[str, Any]]:
    """The results of the folds among ``keys`` that a run with ``identity`` already finished in ``out``.

    Folds of an unfinished run are refused unless ``resume`` (its ``run.json`` must describe the same run) or
    ``overwrite`` (they are deleted); a fresh ``run.json`` is written for a run that starts afresh."""
    folder = out / FOLDER
    canon = json.loads(json.dumps(identity, default=_plain))
    if folder.exists() and not overwrite:
        if not resume:
            raise ConfigError(f"{out} holds the finished folds of an interrupted condensation ({folder}): pass "
                              "--resume to continue it, --overwrite to start over, or choose another --output.")
        check_same_run(folder, canon)
        return {k: load_fold(folder, k) for k in keys if (folder / f"fold{k}.json").is_file()}
    if folder.exists():
        shutil.rmtree(folder)
    write_text_atomic(folder / "run.json", json.dumps(canon) + "\n")
    return {}


@dataclass(frozen=True)
class RecordedFold:
    """A fold task whose result is saved in ``folder`` as soon as it finishes, then read back (so a fresh and a
    resumed fold are the same data); one progress line per fold on stderr. Picklable, for worker processes."""

    task: Any
    folder: str

    def __call__(self, ctx: Any, fold: Any) -> dict[str, Any]:
        started = time.perf_counter()
        result = self.task(ctx, fold)
        save_fold(Path(self.folder), fold.seed, result)
        line = f"condense: fold {fold.seed} finished in {time.perf_counter() - started:.0f} s, kept in {self.folder}"
        if progress.is_listened():  # the command line's progress display (or the parent process's)
            progress.note(line)
        else:
            print(line, file=sys.stderr, flush=True)
        return load_fold(Path(self.folder), fold.seed)
