"""Validation-only hyper-parameter search with Optuna (`g2m tune`).

A study maximises the mean **validation** accuracy over a few seeds (test accuracy is never computed). It
is stored on disk in an Optuna journal file (``OUTPUT/study.journal``: file-locked, so several processes
may run trials of the same study at once), resumes where it stopped when called again with the same
settings (``trials`` is the total wanted, not the number to add), and prunes a trial after any seed whose
running mean is below the median of earlier trials at that point. ``OUTPUT/best.json`` holds the chosen
settings with the study that chose them; `g2m distill --params OUTPUT/best.json` trains with them.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Iterable

from torch_geometric import seed_everything

from g2m import progress
from g2m.datasets import load_dataset, node_split
from g2m.datasets.splits import canonical_setting
from g2m.datasets.base import NodeDataset
from g2m.errors import ConfigError, G2MWarning, OutputError, RunInterrupted, TrainingError, describe_os_error
from g2m.utils import resolve_device, write_json_atomic
from g2m.utils.io import write_bytes_atomic

# (kind, low, high) for "float"/"log"/"int", ("choice", [options]).
TEACHER_SPACE: dict[str, tuple] = {
    "lr": ("log", 1e-3, 3e-2), "weight_decay": ("log", 1e-6, 1e-2), "dropout": ("float", 0.0, 0.8),
    "hidden_channels": ("choice", [64, 128, 256]),
}
STUDENT_SPACE: dict[str, tuple] = {
    "lr": ("log", 1e-3, 3e-2), "weight_decay": ("log", 1e-6, 1e-2), "dropout": ("float", 0.0, 0.7),
}
DISTILL_SPACE: dict[str, tuple] = {"lam": ("float", 0.0, 0.9), "temperature": ("float", 0.5, 3.0)}
# Each method part's own knobs, added when the method spec contains it (``glnn+pos+adv``: pos and adv).
METHOD_SPACE: dict[str, dict[str, tuple]] = {
    "pos": {"position_dim": ("choice", [16, 32, 64, 128]), "walks_per_node": ("choice", [1, 3, 5, 10])},
    "rsd": {"w_rsd": ("log", 1e-3, 1.0)},
    "adv": {"w_adversarial_kl": ("log", 1e-2, 1.0), "adv_eps": ("log", 1e-3, 0.2)},
    "ffg2m": {"w_lfd": ("log", 0.1, 10.0), "w_hfd": ("log", 0.1, 10.0)},
    "vqgraph": {"code_temperature": ("log", 0.5, 10.0), "w_soft_code_kl": ("log", 0.1, 10.0)},
}
TARGETS = ("student", "teacher")


def search_space(target: str, method: str = "glnn") -> dict[str, tuple]:
    """The parameters `tune` searches for ``target`` ("student" or "teacher") and ``method``."""
    from g2m.distill.methods import resolve_method

    if target not in TARGETS:
        raise ConfigError(f"unknown tuning target {target!r}; use {' or '.join(TARGETS)}.")
    if target == "teacher":
        return dict(TEACHER_SPACE)
    m = resolve_method(method)
    space = dict(STUDENT_SPACE)
    if m.terms:  # lam and temperature mean nothing without a distillation term
        space.update(DISTILL_SPACE)
    for part in m.name.split("+"):
        space.update(METHOD_SPACE.get(part, {}))
    return space


def suggest(trial, space: dict[str, tuple]) -> dict[str, Any]:
    """One value per parameter of ``space`` from an Optuna ``trial``."""
    params = {}
    for name, (kind, *args) in space.items():
        if kind == "choice":
            params[name] = trial.suggest_categorical(name, args[0])
        elif kind == "int":
            params[name] = trial.suggest_int(name, args[0], args[1])
        else:
            params[name] = trial.suggest_float(name, args[0], args[1], log=kind == "log")
    return params


def validation_score(ds: NodeDataset, target: str, method: str, teacher: str, seed: int, setting: str,
                     params: dict[str, Any], device: str, teachers: dict) -> float:
    """Validation accuracy of one seed with ``params``; ``teachers`` caches a student target's teachers."""
    from g2m.distill.methods import resolve_method
    from g2m.distill.student import train_student
    from g2m.teacher import TEACHER_TRAINERS, train_teacher
    from g2m.teacher_outputs import as_teacher, trainer_for

    split = node_split(ds, seed, setting)
    if target == "teacher":
        seed_everything(seed)
        return train_teacher(ds, split, teacher, device=device, **params).metrics["val"]
    m = resolve_method(method)
    t_run = None
    if m.needs_teacher:
        named = as_teacher(teacher)  # a family, or a committee of them (auto, sage+appnp)
        trainer = trainer_for(named, m)
        key = (trainer, seed)
        if key not in teachers:  # the teacher does not depend on the student's parameters: train it once
            seed_everything(seed)
            teachers[key] = TEACHER_TRAINERS.get(trainer)(ds, split, named, device=device)
        t_run = teachers[key]
    seed_everything(seed)
    return train_student(ds, split, m, t_run, device=device, **params).metrics["val"]


def tune(dataset: str | NodeDataset, output: str | Path, target: str = "student", method: str = "glnn",
         teacher: str = "sage", trials: int = 20, seeds: Iterable[int] = (0, 1), setting: str = "tran",
         device: str = "auto", root: str | None = None, timeout: float | None = None,
         sampler_seed: int = 0) -> dict[str, Any]:
    """Search ``target``'s hyper-parameters on validation accuracy until the study in ``output`` has ``trials``
    finished trials; write and return ``best.json`` (see the module docstring)."""
    try:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
    except ImportError:
        raise ConfigError('g2m tune needs Optuna: pip install "g2m[tune]" (or pip install optuna).') from None
    if trials < 1:
        raise ConfigError(f"trials must be at least 1, got {trials}.")
    if setting == "both":
        raise ConfigError("tune on one setting, tran or ind (validation nodes of that split); got 'both'.")
    setting = canonical_setting(setting)
    device = str(resolve_device(device))
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("tune needs at least one seed.")
    ds = dataset if isinstance(dataset, NodeDataset) else load_dataset(dataset, root=root)
    if getattr(ds, "task", None) != "node":
        raise ConfigError(f"{ds.name!r} is a graph-classification dataset: g2m tune searches node-classification runs.")
    space = search_space(target, method)
    identity = {"dataset": ds.name, "target": target, "method": method if target == "student" else None,
                "teacher": teacher, "seeds": seeds, "setting": setting}
    out = Path(output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(describe_os_error(exc, "create the study folder", out)) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    repair_journal(out / "study.journal")
    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    study = optuna.create_study(study_name="g2m-tune", storage=storage, load_if_exists=True, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=sampler_seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0))
    recorded = study.user_attrs.get("identity")
    if recorded is None:
        study.set_user_attr("identity", identity)
        study.set_user_attr("search_space", {k: list(v) for k, v in space.items()})
    elif recorded != identity:
        raise ConfigError(f"{out} holds a study of {recorded}; this call asks for {identity}. Use another --output "
                          "folder (or delete that one) to start a new study.")
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    teachers: dict = {}

    def objective(trial) -> float:
        check_appendable(out / "study.journal")  # a trial whose result cannot be recorded is not started
        params = suggest(trial, space)
        scores = []
        label = f"trial {trial.number + 1} of {trials}"
        for step, seed in enumerate(seeds):
            with progress.task(f"{label}, seed {seed}"):
                scores.append(validation_score(ds, target, method, teacher, seed, setting, params, device, teachers))
            trial.report(statistics.fmean(scores), step)
            if step < len(seeds) - 1 and trial.should_prune():
                progress.note(f"{label}: pruned after {step + 1} seed(s) (validation {statistics.fmean(scores):.2f})")
                raise optuna.TrialPruned()
        progress.note(f"{label}: validation {statistics.fmean(scores):.2f} with {params}")
        return statistics.fmean(scores)

    start = time.perf_counter()
    remaining = trials - len(study.get_trials(deepcopy=False, states=finished))
    if remaining > 0:
        try:
            study.optimize(objective, n_trials=remaining, timeout=timeout, catch=(TrainingError,))
        except KeyboardInterrupt:  # Optuna has marked the running trial failed; finished trials are in the journal
            kept = len(study.get_trials(deepcopy=False, states=finished))
            raise RunInterrupted(f"interrupted. The study in {out} keeps its {kept} finished trial(s) (the one "
                                 "that was running is marked failed); run the same command to continue it.") from None
    done = study.get_trials(deepcopy=False, states=finished)
    complete = [t for t in done if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TrainingError(f"no trial of the study in {out} finished (all failed or were pruned).")
    best = study.best_trial
    result = {
        **identity, "best_params": best.params, "best_validation": best.value, "best_trial": best.number,
        "trials_complete": len(complete), "trials_pruned": len(done) - len(complete),
        "search_space": {k: list(v) for k, v in space.items()},
        "study": "study.journal",  # beside this file
        "trial_seconds_total": sum(t.duration.total_seconds() for t in done if t.duration is not None),
        "objective": f"mean validation accuracy (%) over seeds {seeds}, setting {setting}; test never computed",
        "seconds_this_call": time.perf_counter() - start,
        "trials": [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params} for t in done],
    }
    write_json_atomic(out / "best.json", result)
    return result


JOURNAL_MIN_FREE = 1 << 20  # bytes a study folder must have free before a trial starts


def repair_journal(path: Path) -> None:
    """Make a study journal Optuna can read: a truncated last record (a write cut short by a full disk or a kill)
    is removed, with a warning, after the whole file is copied to ``study.journal.damaged``; damage anywhere else
    is a `ConfigError` (move the file away to start a new study)."""
    import json
    import shutil
    import warnings

    if not path.is_file():
        return
    data = path.read_bytes()
    lines = data.split(b"\n")
    ends_cleanly = data.endswith(b"\n") or not data
    records = lines[:-1] if ends_cleanly else lines  # split leaves "" after a final newline
    for number, line in enumerate(records, start=1):
        try:
            json.loads(line)
        except ValueError:
            if number < len(records):
                raise ConfigError(f"{path} is damaged at record {number} of {len(records)} (not JSON): the study "
                                  "cannot be read. Move the file away to start a new study.") from None
            shutil.copyfile(path, path.with_name(path.name + ".damaged"))
            good = b"".join(r + b"\n" for r in records[:-1])
            write_bytes_atomic(path, good)
            warnings.warn(f"{path}: its last record was cut short ({len(line)} bytes, e.g. by a full disk) and is "
                          f"ignored; the file as it was is kept in {path.name}.damaged. The trial it recorded "
                          "runs again.", G2MWarning, stacklevel=3)
            return


def check_appendable(path: Path) -> None:
    """Refuse to start a trial whose result could not be recorded: the journal is not writable, or its folder
    has less than `JOURNAL_MIN_FREE` bytes free."""
    import os
    import shutil

    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"cannot append to {path} (not writable): the trial would be lost; fix its permissions.")
    free = shutil.disk_usage(path.parent).free
    if free < JOURNAL_MIN_FREE:
        raise OutputError(f"only {free} bytes are free where {path} is: the trial's result could not be recorded. "
                          "Free some space, then run the same command again to continue the study.")


def read_params(path: str | Path, method: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(target, params)`` from a `tune` ``best.json``, with a clear error for anything else (also when
    student settings tuned for one method are applied to another ``method``)."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path} as a g2m tune result ({exc}).") from None
    if not isinstance(data, dict) or data.get("target") not in TARGETS or not isinstance(data.get("best_params"), dict):
        raise ConfigError(f"{path} is not a `g2m tune` best.json (it needs 'target' and 'best_params').")
    if method is not None and data["target"] == "student" and data.get("method") != method:
        raise ConfigError(f"{path} holds student settings tuned for method {data.get('method')!r}, not {method!r}: "
                          "tune this method, or pass the method they were tuned for.")
    return data["target"], data["best_params"]
