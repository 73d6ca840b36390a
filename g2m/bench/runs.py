"""Which checkpoints of a run folder are timed: the teacher and student of one seed, inductive preferred."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from g2m.errors import ConfigError

CHECKPOINT = re.compile(r"(?P<kind>teacher|student)-(?:(?P<name>.+)-)?(?P<setting>tran|ind)-seed(?P<seed>\d+)\.pt")


@dataclass
class RunModels:
    """A run's teacher and student of one seed and setting, and what they were trained on."""

    run_dir: Path
    config: dict[str, Any]
    dataset: Any  # NodeDataset
    seed: int
    setting: str
    student: nn.Module
    student_ckpt: dict[str, Any]
    student_path: Path
    teacher: nn.Module | None
    teacher_ckpt: dict[str, Any] | None
    teacher_path: Path | None
    fan_out: int


def load_run(run_dir: str | Path, seed: int = 0, method: str | None = None, fan_out: int | None = None,
             root: str | Path | None = None) -> RunModels:
    """The teacher and student checkpoints of one seed of a run folder (inductive preferred), loaded on CPU."""
    from g2m.checkpoints import check_fits, dataset_of_run, load_model
    from g2m.run_dir import read_run_config

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    files = {f: CHECKPOINT.fullmatch(f.name) for f in sorted((run_dir / "checkpoints").glob("*.pt"))}
    students = {f: m for f, m in files.items() if m and m["kind"] == "student"}
    if not students:
        raise ConfigError(f"{run_dir} holds no student checkpoints: pass a run folder written by `g2m distill`.")
    methods = sorted({m["name"] for m in students.values()})
    if method is None and len(methods) > 1:
        raise ConfigError(f"{run_dir} holds students of several methods ({', '.join(methods)}): choose one "
                          "(--method, or method= in Python).")
    method = method or methods[0]
    mine = {f: m for f, m in students.items() if m["name"] == method}
    if not mine:
        raise ConfigError(f"{run_dir} holds no {method!r} student; it has: {', '.join(methods)}.")
    setting = "ind" if any(m["setting"] == "ind" for m in mine.values()) else "tran"
    seeds = sorted(int(m["seed"]) for m in mine.values() if m["setting"] == setting)
    run_seed = seed if seed in seeds else seeds[0]
    student_path = run_dir / "checkpoints" / f"student-{method}-{setting}-seed{run_seed}.pt"
    dataset = dataset_of_run(config, root)
    student, student_ckpt = load_model(student_path)
    check_fits(student_path, student_ckpt, dataset, config)

    teacher = teacher_ckpt = teacher_path = None
    trainer = _teacher_trainer(method)
    if trainer is not None:
        suffix = "" if trainer == "standard" else f"-{trainer}"
        candidate = run_dir / "checkpoints" / f"teacher{suffix}-{setting}-seed{run_seed}.pt"
        if candidate.is_file():
            teacher_path = candidate
            teacher, teacher_ckpt = load_model(candidate)
            check_fits(candidate, teacher_ckpt, dataset, config)
            if getattr(teacher, "receptive_field", None) is None:
                raise ConfigError(f"{candidate}: a {teacher_ckpt['name']!r} teacher has no fixed receptive field "
                                  "(APPNP propagates K hops), so its neighbourhood cannot be gathered per request.")
    if fan_out is None:
        fan_out = _training_fan_out(config, trainer or "standard", dataset.name)
    if fan_out < 0:
        raise ConfigError(f"fan_out must be 0 (exact only) or more, got {fan_out}.")
    return RunModels(run_dir, config, dataset, run_seed, setting, student, student_ckpt, student_path,
                     teacher, teacher_ckpt, teacher_path, int(fan_out))


def _teacher_trainer(method: str) -> str | None:
    from g2m.distill.methods import resolve_method

    try:
        resolved = resolve_method(method)
    except ConfigError:
        return "standard"
    return resolved.teacher_trainer if resolved.needs_teacher else None


def _training_fan_out(config: dict[str, Any], trainer: str, dataset: str) -> int:
    """The fan-out the run's teacher was trained with (its resolved config, else g2m's defaults)."""
    from g2m.config import TEACHER_DEFAULTS, teacher_config, teacher_setting_keys

    resolved = (config.get("resolved") or {}).get("teachers", {}).get(trainer)
    if resolved is None:
        teacher = config.get("teacher") or "sage"
        if teacher not in TEACHER_DEFAULTS:
            return 0
        keys = teacher_setting_keys(teacher)
        resolved = teacher_config(dataset, teacher, **{k: v for k, v in (config.get("teacher_overrides") or {}).items()
                                                       if k in keys})
    return int(resolved.get("fan_out") or 0)


