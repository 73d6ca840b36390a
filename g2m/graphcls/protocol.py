"""The graph-classification evaluation protocols, and scoring one training set under them.

- ``cv10`` (TU datasets; Errica et al., ICLR 2020): stratified 10-fold CV; a stratified 10% holdout of each
  training fold selects the model; the test fold is scored once. Mean ± std over folds.
- ``scaffold`` (OGB molecules): the official scaffold split, one run per seed, ROC-AUC with
  ``ogb.graphproppred.Evaluator``'s definition. Mean ± std over seeds.

`run_protocol` scores any *training-set maker* — full data, a subset, a distilled set — the same way, so
graph classification without condensation and every condensation baseline share one code path. Folds run
in parallel processes with ``jobs > 1`` (one torch thread each: faster than two threads on one process for
these small graphs).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import torch

from g2m import progress
from g2m.datasets.graph_arrays import from_dataset
from g2m.errors import ConfigError, DatasetError
from g2m.graphcls.store import GraphStore
from g2m.graphcls.trainer import SELECTIONS, GraphTrainConfig, TrainingSet, evaluate, fit
from g2m.models.graph_classifier import FeatureSpec, GraphClassifier, dataset_specs

PROTOCOLS = ("cv10", "scaffold")


@dataclass(frozen=True)
class Fold:
    """One evaluation split: graph ids of each part, and the seed of the model trained on it."""

    index: int
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    seed: int


def default_protocol(graph_ds: Any) -> str:
    return "scaffold" if graph_ds.fixed_split is not None else "cv10"


def protocol_folds(graph_ds: Any, protocol: str | None = None, folds: Sequence[int] | None = None,
                   seeds: Sequence[int] = (0, 1, 2), cv_seed: int = 0) -> tuple[str, list[Fold]]:
    """The splits of ``protocol`` (default: ``scaffold`` for OGB, ``cv10`` otherwise); ``folds`` picks some
    of the 10 CV folds (all by default); ``seeds`` are the scaffold runs' seeds."""
    from g2m.datasets import cv_folds, graph_labels

    protocol = protocol or default_protocol(graph_ds)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}.")
    if protocol == "scaffold":
        if graph_ds.fixed_split is None:
            raise ConfigError(f"{graph_ds.name} has no official scaffold split; use protocol cv10.")
        split = {k: v.long() for k, v in graph_ds.fixed_split.items()}
        return protocol, [Fold(i, split["train"], split["val"], split["test"], int(s)) for i, s in enumerate(seeds)]
    all_folds = cv_folds(graph_labels(graph_ds), 10, cv_seed)
    chosen = range(10) if folds is None else list(folds)
    bad = [k for k in chosen if not 0 <= k < 10]
    if bad:
        raise ConfigError(f"folds must lie in 0..9, got {bad}.")
    return protocol, [Fold(k, all_folds[k]["train"], all_folds[k]["val"], all_folds[k]["test"], k) for k in chosen]


class GraphContext:
    """A dataset ready for training: feature specs from all its graphs, every graph in one `GraphStore`."""

    def __init__(self, graph_ds: Any, use_edge_features: bool = True, max_degree: int = 64) -> None:
        if getattr(graph_ds, "task", None) != "graph":
            raise DatasetError(f"{getattr(graph_ds, 'name', graph_ds)!r} is not a graph-classification dataset "
                               "(mutag, proteins, nci1, dd, imdb-binary, enzymes, ogbg-mol*).")
        self.graph_ds = graph_ds
        self.arrays = from_dataset(graph_ds.dataset)
        self.node_spec, self.edge_spec = dataset_specs(self.arrays.x, self.arrays.edge_attr, max_degree)
        if not use_edge_features:
            self.edge_spec = None
        self.store = GraphStore.from_arrays(self.arrays, self.node_spec, self.edge_spec)
        self.metric = graph_ds.metric
        self.num_classes = int(graph_ds.num_classes)

    def model(self, gnn: str, cfg: GraphTrainConfig, node_spec: FeatureSpec | None = None,
              edge_spec: FeatureSpec | None = None) -> GraphClassifier:
        return GraphClassifier(gnn, node_spec or self.node_spec, self.num_classes, edge_spec or self.edge_spec,
                               cfg.hidden_channels, cfg.num_layers, cfg.dropout, cfg.pool)


def full_training_set(ctx: GraphContext, fold: Fold) -> tuple[TrainingSet, dict[str, Any]]:
    """The training-set maker of full-data training: every training graph of the fold."""
    return TrainingSet(ctx.store, fold.train), {"graphs": int(len(fold.train))}


def train_and_test(ctx: GraphContext, fold: Fold, train_set: TrainingSet, gnn: str, cfg: GraphTrainConfig,
                   device: str = "cpu", score_test: bool = True) -> dict[str, Any]:
    """Train on ``train_set``, select on the fold's validation graphs, score its test graphs once per rule
    (``score_test=False``, for tuning: the test graphs are never touched)."""
    from torch_geometric import seed_everything

    seed_everything(fold.seed)
    model = ctx.model(gnn, cfg)
    val = ctx.store.batches(fold.val, cfg.eval_batch_size)
    res = fit(model, train_set, val, ctx.metric, cfg, device, seed=fold.seed, name=f"{gnn} (fold {fold.index})")
    test = ctx.store.batches(fold.test, cfg.eval_batch_size) if score_test else []
    out: dict[str, Any] = {"fold": fold.index, "seed": fold.seed, "metric": ctx.metric, "curve": res.curve}
    for rule in SELECTIONS:
        model.load_state_dict(res.states[rule])
        out[rule] = {"val": res.val[rule], "epoch": res.epochs[rule]}
        if score_test:
            out[rule]["test"] = evaluate(model, test, ctx.metric, torch.device(device))[0]
    return out


# --- running folds, possibly in parallel ------------------------------------------------------------
Maker = Callable[[GraphContext, Fold], "tuple[TrainingSet, dict[str, Any]]"]
FoldTask = Callable[[GraphContext, Fold], "dict[str, Any]"]


@dataclass(frozen=True)
class _Job:
    dataset: str
    root: str | None
    fold: Fold
    task: Any


@lru_cache(maxsize=2)
def _context(dataset: str, root: str | None) -> GraphContext:
    from g2m.datasets import load_dataset

    return GraphContext(load_dataset(dataset, root))


def _run_job(job: _Job, ctx: GraphContext | None = None) -> dict[str, Any]:
    return job.task(ctx or _context(job.dataset, job.root), job.fold)


def _worker_init(reports: Any = None) -> None:
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    progress.forward_to(reports)


def map_folds(graph_ds: Any, task: FoldTask, protocol: str | None = None, folds: Sequence[int] | None = None,
              seeds: Sequence[int] = (0, 1, 2), jobs: int = 1, root: str | os.PathLike | None = None,
              ctx: GraphContext | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Run ``task(ctx, fold)`` on every fold of ``protocol``; ``jobs > 1`` runs folds in worker processes
    (``graph_ds`` must then be a registered dataset name, ``task`` picklable). Returns the protocol's name
    and the tasks' results in fold order."""
    name = graph_ds if isinstance(graph_ds, str) else None
    root_s = None if root is None else str(root)
    parallel = jobs > 1 and name is not None
    if ctx is None and not parallel:
        from g2m.datasets import load_dataset

        ctx = GraphContext(load_dataset(graph_ds, root) if name else graph_ds)
    ds = ctx.graph_ds if ctx is not None else _context(name, root_s).graph_ds
    protocol, fold_list = protocol_folds(ds, protocol, folds, seeds)
    job_list = [_Job(name or "", root_s, f, task) for f in fold_list]
    if parallel and len(job_list) > 1:
        import multiprocessing as mp

        context = mp.get_context("spawn")
        with progress.forwarding(context) as reports, ProcessPoolExecutor(
                min(jobs, len(job_list)), mp_context=context, initializer=_worker_init, initargs=(reports,)) as pool:
            return protocol, list(pool.map(_run_job, job_list))
    ctx = ctx or _context(name, root_s)
    return protocol, [_run_job(j, ctx) for j in job_list]


@dataclass(frozen=True)
class ScoreMaker:
    """A fold task: build the training set with ``maker``, then `train_and_test` it."""

    maker: Any
    gnn: str
    cfg: GraphTrainConfig
    device: str = "cpu"
    score_test: bool = True

    def __call__(self, ctx: GraphContext, fold: Fold) -> dict[str, Any]:
        t0 = time.perf_counter()
        with progress.task(f"{maker_name(self.maker)} fold {fold.index}"):
            train_set, info = self.maker(ctx, fold)
            make_seconds = time.perf_counter() - t0
            out = train_and_test(ctx, fold, train_set, self.gnn, self.cfg, self.device, self.score_test)
        out.update(info)
        out["make_seconds"], out["train_seconds"] = make_seconds, time.perf_counter() - t0 - make_seconds
        return out


def maker_name(maker: Any) -> str:
    """What a training-set maker is called in progress lines (``full_training_set``: "full data")."""
    if maker is full_training_set:
        return "full data"
    name = getattr(maker, "name", None) or getattr(maker, "__name__", None) or type(maker).__name__
    return str(name).removesuffix("_subset")


def collect(protocol: str, gnn: str, metric: str, results: list[dict[str, Any]], score_test: bool = True
            ) -> dict[str, Any]:
    """Per-fold `train_and_test` results → ``{"protocol", "folds", "val", "test", "reference_test"}``."""
    out = {"protocol": protocol, "gnn": gnn, "metric": metric, "folds": results,
           "val": summary([r["converged"]["val"] for r in results])}
    if score_test:
        out["test"] = summary([r["converged"]["test"] for r in results])
        out["reference_test"] = summary([r["reference"]["test"] for r in results])
        out["epochs"] = [r["converged"]["epoch"] for r in results]
        out["reference_epochs"] = [r["reference"]["epoch"] for r in results]
    return out


def run_protocol(graph_ds: Any, maker: Maker, gnn: str = "gin", cfg: GraphTrainConfig | None = None,
                 protocol: str | None = None, folds: Sequence[int] | None = None, seeds: Sequence[int] = (0, 1, 2),
                 jobs: int = 1, device: str = "cpu", root: str | os.PathLike | None = None,
                 ctx: GraphContext | None = None, score_test: bool = True) -> dict[str, Any]:
    """Score the training sets ``maker(ctx, fold)`` builds, fold by fold, under ``protocol``.

    Returns ``{"protocol", "folds": [per-fold dict], "test": summary, "reference_test": summary, ...}``
    where a summary is ``{"mean", "std", "runs"}`` in percent. ``score_test=False`` (tuning) reports
    validation only and never scores the test graphs."""
    t0 = time.perf_counter()
    task = ScoreMaker(maker, gnn, cfg or GraphTrainConfig(), device, score_test)
    protocol, results = map_folds(graph_ds, task, protocol, folds, seeds, jobs, root, ctx)
    out = collect(protocol, gnn, results[0]["metric"], results, score_test)
    out["seconds"] = time.perf_counter() - t0
    return out


def summary(runs: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std", "runs"}`` of per-fold (or per-seed) scores."""
    a = np.asarray(runs, dtype=float)
    return {"mean": float(np.nanmean(a)) if a.size else float("nan"),
            "std": float(np.nanstd(a)) if a.size else float("nan"), "runs": [float(r) for r in runs]}
