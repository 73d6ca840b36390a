"""Multi-seed node-classification experiments: teacher once per (seed, setting), then every student."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch_geometric
from torch_geometric import seed_everything

from g2m.datasets import load_dataset, node_split, split_fingerprints
from g2m.datasets.base import NodeDataset
from g2m.distill.methods import resolve_method
from g2m.distill.student import STUDENT_MODEL_KEYS, StudentRun, train_student
from g2m.errors import ConfigError, DatasetError
from g2m.evaluate import setting_metrics
from g2m.models import TEACHERS
from g2m.teacher import MODEL_KEYS, TEACHER_TRAINERS, TeacherRun
from g2m.utils import resolve_device, save_torch_atomic, write_json_atomic

SETTING_NAMES = {"tran": ("tran",), "ind": ("ind",), "both": ("tran", "ind")}


def parse_settings(setting: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(setting, str):
        if setting not in SETTING_NAMES:
            raise ConfigError(f"unknown setting {setting!r}; use tran, ind or both.")
        return SETTING_NAMES[setting]
    out = tuple(setting)
    for s in out:
        parse_settings(s)
    return out


def environment() -> dict[str, str]:
    from g2m import __version__

    return {"g2m": __version__, "torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
            "python": platform.python_version(), "command": " ".join(sys.argv)}


def checkpoint(model: torch.nn.Module, kind: str, name: str, kwargs: dict[str, Any], dataset: NodeDataset,
               seed: int, setting: str, trainer: str = "standard") -> dict[str, Any]:
    return {"format": "g2m-node-checkpoint", "version": 1, "kind": kind, "name": name, "kwargs": kwargs,
            "trainer": trainer,
            "in_channels": dataset.num_features, "out_channels": dataset.num_classes, "seed": seed,
            "setting": setting, "state_dict": model.state_dict()}


def run_node_experiment(dataset: str | NodeDataset, teacher: str = "sage", methods: Iterable[str] = ("glnn",),
                        seeds: Iterable[int] = (0,), setting: str | Iterable[str] = "both", device: str = "auto",
                        root: str | None = None, output: str | Path | None = None,
                        teacher_overrides: dict[str, Any] | None = None,
                        student_overrides: dict[str, Any] | None = None, batch_size: int | None = None,
                        save_checkpoints: bool = True, force_teacher: bool = False,
                        on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train ``teacher`` and a student per method for every seed and setting; return aggregated metrics.

    The result holds ``"teachers"`` (teacher trainer → metrics; ``"standard"`` for plain supervised
    training) and ``"students"`` (method → metrics), each with
    ``transductive``/``inductive``/``production`` entries ``{"mean", "std", "runs"}`` in percent.
    With ``output``, checkpoints are written there (``write_run`` writes the JSON files). With no
    method, ``force_teacher=True`` trains only the teacher.
    """
    started = time.perf_counter()
    ds = dataset if isinstance(dataset, NodeDataset) else load_dataset(dataset, root=root)
    load_seconds = time.perf_counter() - started
    if getattr(ds, "task", None) != "node":
        raise DatasetError(f"dataset {ds.name!r} is a graph-classification dataset; use `g2m condense` for it.")
    methods = [resolve_method(m) for m in methods]
    if teacher not in TEACHERS:
        TEACHERS.get(teacher)
    seeds, settings = list(seeds), parse_settings(setting)
    dev = resolve_device(device)
    teacher_overrides, student_overrides = dict(teacher_overrides or {}), dict(student_overrides or {})
    out_dir = Path(output) if output is not None else None

    trainers = (["standard"] if force_teacher else []) + sorted({m.teacher_trainer for m in methods if m.needs_teacher})
    per_teacher: dict[str, dict[str, list[dict]]] = {t: {s: [] for s in settings} for t in trainers}
    per_student: dict[str, dict[str, list[dict]]] = {m.name: {s: [] for s in settings} for m in methods}
    per_teacher_extra: dict[str, dict[str, list[dict]]] = {t: {s: [] for s in settings} for t in trainers}
    timings: dict[str, Any] = {"load_seconds": load_seconds, "teacher_seconds": {t: 0.0 for t in trainers},
                               "student_seconds": {m.name: 0.0 for m in methods}, "peak_memory_mb": {}}
    configs: dict[str, Any] = {"teachers": {}, "students": {}}
    for seed in seeds:
        for st in settings:
            split = node_split(ds, seed, st)
            t_runs: dict[str, TeacherRun] = {}
            for trainer in trainers:
                seed_everything(seed)
                t_run = TEACHER_TRAINERS.get(trainer)(ds, split, teacher, device=dev, **teacher_overrides)
                t_runs[trainer] = t_run
                per_teacher[trainer][st].append(t_run.metrics)
                if t_run.extra_metrics:
                    per_teacher_extra[trainer][st].append(t_run.extra_metrics)
                timings["teacher_seconds"][trainer] += t_run.seconds
                _record_peak(timings["peak_memory_mb"], f"teacher:{trainer}", dev)
                configs["teachers"][trainer] = t_run.config
                if out_dir is not None and save_checkpoints:
                    kw = {k: t_run.config[k] for k in MODEL_KEYS if k in t_run.config}
                    suffix = "" if trainer == "standard" else f"-{trainer}"
                    save_torch_atomic(out_dir / "checkpoints" / f"teacher{suffix}-{st}-seed{seed}.pt",
                                      checkpoint(t_run.model, "teacher", teacher, kw, ds, seed, st, trainer))
                if on_step:
                    on_step(f"teacher {teacher} ({trainer}) seed {seed} {st}")
            for method in methods:
                seed_everything(seed)
                t_run = t_runs.get(method.teacher_trainer) if method.needs_teacher else None
                s_run: StudentRun = train_student(ds, split, method, t_run, device=dev, batch_size=batch_size,
                                                  **student_overrides)
                per_student[method.name][st].append(s_run.metrics)
                timings["student_seconds"][method.name] += s_run.seconds
                _record_peak(timings["peak_memory_mb"], f"student:{method.name}", dev)
                configs["students"][method.name] = s_run.config
                if out_dir is not None and save_checkpoints:
                    kw = {k: s_run.config[k] for k in STUDENT_MODEL_KEYS if k in s_run.config}
                    save_torch_atomic(out_dir / "checkpoints" / f"student-{method.name}-{st}-seed{seed}.pt",
                                      checkpoint(s_run.model, "student", method.name, kw, ds, seed, st))
                if on_step:
                    on_step(f"student {method.name} seed {seed} {st}")
    timings["total_seconds"] = time.perf_counter() - started
    result = {
        "dataset": ds.name,
        "teacher_model": teacher if trainers else None,
        "methods": [m.name for m in methods],
        "teacher_trainers": {m.name: m.teacher_trainer if m.needs_teacher else None for m in methods},
        "seeds": seeds,
        "settings": list(settings),
        "teachers": {t: setting_metrics(runs) for t, runs in per_teacher.items()},
        "students": {name: setting_metrics(runs) for name, runs in per_student.items()},
        "timings": timings,
        "splits": {str(seed): split_fingerprints(ds, seed) for seed in seeds},
    }
    extra = {t: v for t, v in per_teacher_extra.items() if any(v.values())}
    if extra:  # e.g. codebook usage of VQ teachers: scalars aggregated, per-run values kept in "raw"
        result["teachers_extra"] = {t: aggregate_extra(v) for t, v in extra.items()}
        result["teachers_extra_raw"] = extra
    config = {
        "dataset": ds.name, "dataset_source": ds.source, "data_root": str(root) if root else None, "teacher": teacher,
        "methods": {m.name: m.terms for m in methods}, "seeds": seeds, "setting": list(settings),
        "device": str(dev), "batch_size": batch_size, "teacher_overrides": teacher_overrides,
        "student_overrides": student_overrides, "resolved": configs, "split_protocol": ds.split_protocol,
        "environment": environment(),
    }
    result["config"] = config
    return result


def _record_peak(peaks: dict[str, float], stage: str, device: torch.device) -> None:
    """Peak memory (MB) seen by the end of ``stage``: the process's peak resident set on CPU (a high-water
    mark, so later stages include earlier ones), the peak allocated CUDA memory on a GPU."""
    if device.type == "cuda":
        value = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        import resource

        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    peaks[stage] = round(max(peaks.get(stage, 0.0), value), 1)


def aggregate_extra(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per setting, ``{"mean", "std", "runs"}`` of every numeric scalar in the teachers' ``extra_metrics``."""
    out: dict[str, dict[str, Any]] = {}
    for st, rows in runs.items():
        keys = [k for k in (rows[0] if rows else {}) if all(isinstance(r.get(k), (int, float)) for r in rows)]
        vals = {k: [float(r[k]) for r in rows] for k in keys}
        out[st] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v} for k, v in vals.items()}
    return out


def single_method_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """The ``metrics.json`` of one distillation run (DESIGN.md's schema), from a runner result."""
    (method,) = result["methods"]
    trainer = result["teacher_trainers"][method]
    return {
        "dataset": result["dataset"], "method": method, "teacher_model": result["teacher_model"],
        "seeds": result["seeds"], "settings": result["settings"],
        "teacher": result["teachers"][trainer] if trainer else None,
        "student": result["students"][method], "timings": result["timings"], "splits": result["splits"],
        **({"codebook": result["teachers_extra"][trainer]} if trainer in result.get("teachers_extra", {}) else {}),
    }


def write_run(output: str | Path, metrics: dict[str, Any], config: dict[str, Any]) -> None:
    """Write ``metrics.json`` and ``config.json`` atomically."""
    out = Path(output)
    write_json_atomic(out / "config.json", config)
    write_json_atomic(out / "metrics.json", metrics)
