"""Multi-seed node-classification experiments: teacher once per (seed, setting), then every student."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch_geometric import seed_everything

from g2m import progress
from g2m.checkpoints import save_checkpoint
from g2m.datasets import node_split, split_fingerprints
from g2m.datasets.base import NodeDataset
from g2m.distill.methods import Method
from g2m.distill.student import STUDENT_MODEL_KEYS, StudentRun, train_student
from g2m.errors import RunInterrupted, TrainingError
from g2m.evaluate import setting_metrics
from g2m.spec import NodeRunSpec
from g2m.run_dir import (load_seed_records, prepare_output, run_lock, run_metrics, save_seed_record,
                         software_environment, write_run)
from g2m.teacher import TEACHER_TRAINERS, TeacherRun
from g2m.teacher_committee import COMMITTEE
from g2m.teacher_outputs import EXTERNAL, accepted_teacher_keys, teacher_name, trainer_for
from g2m.utils import flush_denormals, resolve_device

@dataclass(frozen=True)
class SeedJob:
    """Everything one seed's runs need besides the dataset (picklable, for worker processes)."""

    teacher: Any  # a family name, or the user's `ModelTeacher` / `TeacherOutputs`
    methods: tuple[Method, ...]
    trainers: tuple[str, ...]
    settings: tuple[str, ...]
    device: str
    teacher_overrides: dict[str, Any]
    student_overrides: dict[str, Any]
    batch_size: int | None
    out_dir: Path | None
    save_checkpoints: bool


def step_names(job: SeedJob, seed: int) -> list[str]:
    """The progress steps of one seed, in the order `run_seed` finishes them."""
    names = []
    for st in job.settings:
        names += [f"teacher {teacher_name(job.teacher)} ({t}) seed {seed} {st}" for t in job.trainers]
        names += [f"student {m.name} seed {seed} {st}" for m in job.methods]
    return names


def run_seed(ds: NodeDataset, seed: int, job: SeedJob,
             on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the teacher(s) and every student of one seed in every setting; a plain, picklable record.

    ``{"seed", "teachers": {trainer: {setting: run}}, "students": {method: {setting: run}},
    "peak_memory_mb": {stage: MB}}``, each run ``{"metrics", "extra", "seconds", "config"}``.
    Checkpoints are written to ``job.out_dir`` as each model finishes.
    """
    dev = resolve_device(job.device)
    record: dict[str, Any] = {"seed": seed, "teachers": {t: {} for t in job.trainers},
                              "students": {m.name: {} for m in job.methods}, "peak_memory_mb": {}, "checkpoints": []}
    names = iter(step_names(job, seed))
    for st in job.settings:
        split = node_split(ds, seed, st)
        t_runs: dict[str, TeacherRun] = {}
        for trainer in job.trainers:
            seed_everything(seed)
            where = {}  # a plain teacher's chunked outputs go to the run folder, memory-mapped (g2m.teacher)
            if trainer == "standard" and job.out_dir is not None:
                where["outputs_dir"] = job.out_dir / "teacher-outputs" / f"{st}-seed{seed}"
            # a plain teacher ignores the tokenizer's settings; a user's teacher takes none
            accepted = accepted_teacher_keys(job.teacher, [trainer])
            overrides = {k: v for k, v in job.teacher_overrides.items() if k in accepted}
            with progress.task(f"seed {seed} {st}"):
                t_run = TEACHER_TRAINERS.get(trainer)(ds, split, job.teacher, device=dev, **where, **overrides)
            t_runs[trainer] = t_run
            record["teachers"][trainer][st] = {"metrics": t_run.metrics, "extra": t_run.extra_metrics,
                                               "seconds": t_run.seconds, "config": t_run.config}
            _record_peak(record["peak_memory_mb"], f"teacher:{trainer}", dev)
            # a user's model stays theirs; a committee's average is no one network (`auto` saves the chosen one)
            if job.out_dir is not None and job.save_checkpoints and trainer != EXTERNAL and t_run.model is not None:
                suffix = "" if trainer in ("standard", COMMITTEE) else f"-{trainer}"
                rel = f"checkpoints/teacher{suffix}-{st}-seed{seed}.pt"
                save_checkpoint(job.out_dir / rel, t_run.model, "teacher", t_run.name, t_run.model_kwargs, ds, seed,
                                st, "standard" if trainer == COMMITTEE else trainer)
                record["checkpoints"].append(rel)
            if on_step:
                on_step(next(names))
        for method in job.methods:
            seed_everything(seed)
            t_run = t_runs.get(trainer_for(job.teacher, method)) if method.needs_teacher else None
            with progress.task(f"seed {seed} {st}"):
                s_run: StudentRun = train_student(ds, split, method, t_run, device=dev, batch_size=job.batch_size,
                                                  **job.student_overrides)
            record["students"][method.name][st] = {"metrics": s_run.metrics, "seconds": s_run.seconds,
                                                   "config": s_run.config}
            _record_peak(record["peak_memory_mb"], f"student:{method.name}", dev)
            if job.out_dir is not None and job.save_checkpoints:
                kw = {k: s_run.config[k] for k in STUDENT_MODEL_KEYS if k in s_run.config}
                rel = f"checkpoints/student-{method.name}-{st}-seed{seed}.pt"
                save_checkpoint(job.out_dir / rel, s_run.model, "student", method.name, kw, ds, seed, st,
                                positions=None if s_run.positions is None else (s_run.positions, s_run.observed))
                record["checkpoints"].append(rel)
            if on_step:
                on_step(next(names))
    record = json.loads(json.dumps(record))  # exactly what a resumed run reads back from disk
    if job.out_dir is not None:
        save_seed_record(job.out_dir, record)
    return record


def _worker_init(threads: int, reports: Any = None) -> None:
    flush_denormals()
    torch.set_num_threads(threads)
    progress.forward_to(reports)


def run_seeds(ds: NodeDataset, seeds: list[int], job: SeedJob, jobs: int = 1,
              on_step: Callable[[str], None] | None = None,
              done: dict[int, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """`run_seed` for every seed not in ``done``, in this process or in ``jobs`` worker processes.

    Returns the records in seed order (``done``'s included). Workers split the CPU threads between them
    (``torch.get_num_threads() // jobs`` each, at least 1): on a small graph two one-thread processes do
    about twice the work of one two-thread process.
    """
    records: dict[int, dict[str, Any]] = dict(done or {})
    for seed in records:
        for name in step_names(job, seed) if on_step else ():
            on_step(name)
    todo = [seed for seed in seeds if seed not in records]
    if jobs <= 1 or len(todo) <= 1:
        records.update({seed: run_seed(ds, seed, job, on_step) for seed in todo})
        return [records[seed] for seed in seeds]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, torch.get_num_threads() // jobs)
    context = multiprocessing.get_context("spawn")  # fork after torch's thread pool started can hang
    with progress.forwarding(context) as reports, ProcessPoolExecutor(
            max_workers=min(jobs, len(todo)), mp_context=context, initializer=_worker_init,
            initargs=(threads, reports)) as pool:
        futures = {pool.submit(run_seed, ds, seed, job): seed for seed in todo}
        try:
            for future in as_completed(futures):
                seed = futures[future]
                records[seed] = future.result()
                for name in step_names(job, seed) if on_step else ():
                    on_step(name)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: no queued seed starts, running ones stop now
            for future in futures:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            raise
    return [records[seed] for seed in seeds]


def run_node_experiment(spec: NodeRunSpec, on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the spec's teacher and a student per method for every seed and setting; return aggregated metrics.

    The result holds ``"teachers"`` (teacher trainer → metrics; ``"standard"`` for plain supervised
    training) and ``"students"`` (method → metrics), each with
    ``transductive``/``inductive``/``production`` entries ``{"mean", "std", "runs"}`` in percent.
    With ``spec.output``, checkpoints are written there as each model finishes, and, for one method or a
    teacher alone, ``metrics.json`` and ``config.json`` (`g2m.run_dir.write_run`; ``result["files"]`` lists
    them). ``spec.jobs > 1`` runs seeds in that many worker processes (see `run_seeds`). An output folder that
    holds a run is refused unless ``spec.overwrite`` (replace it) or ``spec.resume`` (run only the seeds it has
    not finished; `g2m.run_dir`). ``on_step`` is called with a label as each teacher and student finishes.
    """
    started = time.perf_counter() - spec.load_seconds
    ds, methods, seeds, settings, trainers = (spec.dataset, list(spec.methods), list(spec.seeds), spec.setting,
                                              spec.trainers)
    out_dir = spec.output
    job = SeedJob(spec.teacher, tuple(methods), tuple(trainers), tuple(settings), spec.device,
                  spec.teacher_overrides, spec.student_overrides, spec.batch_size, out_dir, spec.save_checkpoints)
    config = {
        "dataset": ds.name, "dataset_source": ds.source, "data_root": str(spec.root) if spec.root else None,
        "teacher": spec.teacher_name, "methods": {m.name: m.terms for m in methods}, "seeds": seeds,
        "setting": list(settings), "device": spec.device, "batch_size": spec.batch_size,
        "teacher_overrides": spec.teacher_overrides, "student_overrides": spec.student_overrides,
        "split_protocol": ds.split_protocol,
    }
    if spec.teacher_source is not None:  # the user's model or outputs: where they came from
        config["teacher_source"] = spec.teacher_source
    if spec.split_source is not None:  # a split file (or one passed in memory)
        config["split_source"] = spec.split_source
    with run_lock(out_dir) if out_dir is not None else contextlib.nullcontext():  # one writer per run folder
        return _run_locked(spec, job, config, on_step, started)


def _run_locked(spec: NodeRunSpec, job: SeedJob, config: dict[str, Any], on_step, started: float) -> dict[str, Any]:
    """`run_node_experiment` once its run folder (if any) is locked."""
    ds, methods, seeds, settings, trainers = (spec.dataset, list(spec.methods), list(spec.seeds), spec.setting,
                                              spec.trainers)
    out_dir = spec.output
    done: dict[int, dict[str, Any]] = {}
    if out_dir is not None:  # what the run is: resuming must not change it (seeds, device and root may differ)
        identity = {k: v for k, v in config.items() if k not in ("data_root", "seeds", "device")}
        prepare_output(out_dir, {**identity, "trainers": trainers}, overwrite=spec.overwrite, resume=spec.resume)
        done = load_seed_records(out_dir, seeds) if spec.resume else {}
    try:
        records = run_seeds(ds, seeds, job, spec.jobs, on_step, done)
    except (TrainingError, KeyboardInterrupt) as exc:
        kept = ""
        if out_dir is not None:
            finished = sorted(load_seed_records(out_dir, seeds))
            kept = (f" Finished seeds {finished} are saved in {out_dir / 'seeds'}; run the same command with "
                    "--resume (resume=True) to continue." if finished else " No seed had finished.")
        if isinstance(exc, KeyboardInterrupt):
            raise RunInterrupted("interrupted." + kept) from None
        raise TrainingError(str(exc).rstrip(".") + "." + kept) from None

    def runs(kind: str, name: str, key: str = "metrics") -> dict[str, list]:
        return {st: [r[kind][name][st][key] for r in records] for st in settings}

    per_teacher_extra = {t: {st: [e for e in v if e] for st, v in runs("teachers", t, "extra").items()}
                         for t in trainers}
    last = records[-1] if records else None
    timings: dict[str, Any] = {
        "load_seconds": spec.load_seconds,
        "teacher_seconds": {t: sum(sum(v) for v in runs("teachers", t, "seconds").values()) for t in trainers},
        "student_seconds": {m.name: sum(sum(v) for v in runs("students", m.name, "seconds").values())
                            for m in methods},
        "peak_memory_mb": {k: max(r["peak_memory_mb"][k] for r in records) for k in (last or {}).get(
            "peak_memory_mb", {})},
        "jobs": spec.jobs,
        "total_seconds": time.perf_counter() - started,
    }
    configs = {"teachers": {t: last["teachers"][t][settings[-1]]["config"] for t in trainers} if last else {},
               "students": {m.name: last["students"][m.name][settings[-1]]["config"] for m in methods} if last else {}}
    result = {
        "dataset": ds.name,
        "teacher_model": spec.teacher_name if trainers else None,
        "methods": [m.name for m in methods],
        "teacher_trainers": {m.name: trainer_for(spec.teacher, m) if m.needs_teacher else None for m in methods},
        "seeds": seeds,
        "settings": list(settings),
        "teachers": {t: setting_metrics(runs("teachers", t)) for t in trainers},
        "students": {m.name: setting_metrics(runs("students", m.name)) for m in methods},
        "timings": timings,
        "splits": {str(seed): split_fingerprints(ds, seed) for seed in seeds},
    }
    extra = {t: v for t, v in per_teacher_extra.items() if any(v.values())}
    if extra:  # e.g. codebook usage of VQ teachers: scalars aggregated, per-run values kept in "raw"
        result["teachers_extra"] = {t: aggregate_extra(v) for t, v in extra.items()}
        result["teachers_extra_raw"] = extra
    result["config"] = {**config, "resolved": configs, "environment": software_environment()}
    if out_dir is not None and len(methods) <= 1:  # the run's files, written here only
        result["files"] = {k: str(v) for k, v in write_run(out_dir, run_metrics(result), result["config"]).items()}
        if "vq" in result.get("teachers_extra_raw", {}):
            from g2m.distill.vq_plot import plot_code_usage

            result["files"]["codebook_usage"] = str(plot_code_usage(result["teachers_extra_raw"]["vq"],
                                                                    out_dir / "codebook_usage.png"))
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
