"""``condense`` and ``evaluate_distilled``: condensation measured under the graph-classification protocol.

Per fold (``cv10``) or seed (``scaffold``): condense the fold's training graphs, train the GNN on the
condensed set, select on the fold's validation graphs and score its test graphs once; the baselines —
full data, a stratified random subset and a herding coreset at the condensed set's bytes, and a size-only
logistic regression — are trained and selected the same way on the same fold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from g2m import progress
from g2m.datasets.graph_arrays import from_dataset
from g2m.condense.baselines import size_only_scores
from g2m.condense.condensers import CONDENSERS, Condensed, distilled_training_set
from g2m.condense.distilled import DistilledDataset, training_bytes
from g2m.condense.mirage import _check_graph_dataset, check_options
from g2m.condense.fold_records import FOLDER, RecordedFold, finished_folds
from g2m.errors import ConfigError, DatasetError, RunInterrupted
from g2m.graphcls import (Fold, GraphContext, GraphTrainConfig, TrainingSet, map_folds, protocol_folds, summary,
                          train_and_test, train_config)
from g2m.run_dir import run_lock, write_run
from g2m.utils.io import refuse_links
from g2m.utils import parse_seeds, resolve_device

BASELINES = ("full", "random", "herding", "size_only")
CONDENSE_FILES = ("distilled.pt", "metrics.json", "config.json")


@dataclass
class CondenseResult:
    """What `condense` returns: the distilled set (fold 0's, or the scaffold split's), the metrics dict and
    where files were written."""

    distilled: DistilledDataset
    metrics: dict[str, Any]
    output: Path | None = None
    files: dict[str, str] = field(default_factory=dict)


def _scored(ctx: GraphContext, fold: Fold, train_set: TrainingSet, gnn: str, cfg: GraphTrainConfig,
            device: str, name: str, **sizes: Any) -> dict[str, Any]:
    with progress.task(f"{name} fold {fold.index}"):
        r = train_and_test(ctx, fold, train_set, gnn, cfg, device)
    return {"test": r["converged"]["test"], "reference_test": r["reference"]["test"],
            "val": r["converged"]["val"], "epoch": r["converged"]["epoch"],
            "reference_epoch": r["reference"]["epoch"], "curve": r["curve"], **sizes}


@dataclass(frozen=True)
class CondenseFold:
    """The fold task of `condense` (picklable, so folds can run in worker processes)."""

    method: str
    options: dict
    gnn: str
    cfg: GraphTrainConfig
    baselines: tuple[str, ...]
    device: str = "cpu"
    full_cfg: GraphTrainConfig | None = None

    def __call__(self, ctx: GraphContext, fold: Fold) -> dict[str, Any]:
        train_arrays = from_dataset(ctx.graph_ds.dataset, fold.train)
        train_bytes = training_bytes(train_arrays)
        with progress.task(f"condensing fold {fold.index} ({self.method})"):
            cond: Condensed = CONDENSERS.get(self.method)(ctx, fold.train, None, 0,
                                                          class_balance=self.cfg.class_balance, **dict(self.options))
        out: dict[str, Any] = {"fold": fold.index, "seed": fold.seed, "train_bytes": train_bytes,
                               "train_graphs": int(len(fold.train)), "distilled": cond.distilled}
        out[self.method] = _scored(ctx, fold, cond.train_set, self.gnn, self.cfg, self.device, self.method,
                                   bytes=cond.bytes, graphs=cond.graphs, seconds=cond.seconds)
        for name in self.baselines:
            if name == "full":
                out[name] = _scored(ctx, fold, TrainingSet(ctx.store, fold.train), self.gnn,
                                    self.full_cfg or self.cfg, self.device, "full data",
                                    bytes=train_bytes, graphs=int(len(fold.train)), seconds=0.0)
            elif name == "size_only":
                test = from_dataset(ctx.graph_ds.dataset, fold.test)
                out[name] = {**size_only_scores(train_arrays, test, ctx.metric), "graphs": int(len(fold.train)),
                             "seconds": 0.0}
            else:
                base = CONDENSERS.get(name)(ctx, fold.train, cond.bytes, fold.seed)
                out[name] = _scored(ctx, fold, base.train_set, self.gnn, self.cfg, self.device, name,
                                    bytes=base.bytes, graphs=base.graphs, seconds=base.seconds)
        return out


def _aggregate(name: str, runs: list[dict[str, Any]], train_bytes: float) -> dict[str, Any]:
    out: dict[str, Any] = {"test": summary([r["test"] for r in runs])}
    if "val" in runs[0]:
        out["val"] = summary([r["val"] for r in runs])
    if "reference_test" in runs[0]:
        out["reference_test"] = summary([r["reference_test"] for r in runs])
        out["epochs"] = [r["epoch"] for r in runs]
        out["reference_epochs"] = [r["reference_epoch"] for r in runs]
    out["bytes"] = float(np.mean([r["bytes"] for r in runs]))
    out["graphs"] = float(np.mean([r["graphs"] for r in runs]))
    out["fraction"] = out["bytes"] / train_bytes
    out["seconds"] = float(np.mean([r["seconds"] for r in runs]))
    return out


def _parse_baselines(baselines: Sequence[str]) -> tuple[str, ...]:
    names = tuple(str(b).strip().lower().replace("-", "_") for b in baselines if str(b).strip())
    unknown = [b for b in names if b not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}.")
    return names


def condense(dataset: str | Any, method: str = "mirage", gnn: str = "gin", depth: int = 2,
             support: float | None = 0.1, budget: str | None = None, protocol: str | None = None,
             folds: Sequence[int] | None = None, seeds: Sequence[int] | str = (0, 1, 2), jobs: int = 1,
             device: str = "auto", root: str | os.PathLike | None = None, output: str | os.PathLike | None = None,
             baselines: Sequence[str] = BASELINES, train: GraphTrainConfig | None = None, overwrite: bool = False,
             resume: bool = False, verbose: bool = False, **options: Any) -> CondenseResult:
    """Condense a graph-classification dataset and score GNNs trained on it against the baselines.

    ``protocol`` is ``cv10`` (TU default; ``folds`` picks some of the 10) or ``scaffold`` (OGB default; one
    run per seed in ``seeds``). ``gnn`` (gin, gcn, gat) has ``depth`` layers for every training set;
    ``train`` holds the other training settings (default: the dataset's, `g2m.graphcls.train_config`); the
    full-data baseline keeps its own ``num_layers`` (the strongest full-data model, not one cut to ``depth``).
    ``options`` go to the condenser (Mirage: ``support_mode``, ``itemsets``, ``exclusive``,
    ``max_sets_per_class``, …). With ``output`` it writes ``distilled.pt`` (fold 0's, or the scaffold
    split's), ``metrics.json`` and ``config.json``; a folder holding them is refused unless ``overwrite``. Each
    fold is kept in ``output/folds/`` as it finishes (`g2m.condense.fold_records`, one progress line each):
    after an interruption, ``resume=True`` runs only the folds that had not finished. ``verbose=True`` prints
    progress lines on stderr (every training set's epochs every 10 s, each finished fold).
    """
    with progress.lines_if(verbose):
        from g2m.datasets import load_dataset

        CONDENSERS.get(method)
        base = _parse_baselines(baselines)
        if method == "mirage":
            check_options(depth, support, options.get("support_mode", "relative"), options.get("itemsets", "maximal"))
        held = output is not None and any((Path(output) / f).exists() for f in CONDENSE_FILES)
        if held and not (overwrite or resume):
            raise ConfigError(f"the output folder {output} already holds a condensation run; pass --overwrite "
                              "(overwrite=True) to replace it, or choose another --output.")
        if overwrite and resume:
            raise ConfigError("--overwrite and --resume exclude each other: replace the run, or continue it.")
        seeds = parse_seeds(seeds) if not isinstance(seeds, (list, tuple)) else list(seeds)
        name = dataset if isinstance(dataset, str) else None
        graph_ds = load_dataset(dataset, root) if name else dataset
        _check_graph_dataset(graph_ds)
        full_cfg = train or train_config(graph_ds.name)
        cfg = full_cfg.replace(num_layers=depth)
        opts = ({"depth": depth, "support": support, "budget": budget, **options} if method == "mirage"
                else dict(options))
        task = CondenseFold(method, opts, gnn, cfg, base, str(resolve_device(device)), full_cfg)
        ctx = None if (name and jobs > 1) else GraphContext(graph_ds)
        protocol, fold_list = protocol_folds(graph_ds, protocol, folds, seeds)
        keys = [f.seed for f in fold_list]  # a CV fold's index is its seed; a scaffold run is its seed
        out = None if output is None else Path(output)
        with run_lock(out) if out is not None else contextlib.nullcontext():  # one writer per output folder
            done: dict[int, dict[str, Any]] = {}
            if out is not None:
                refuse_links(out, CONDENSE_FILES + (FOLDER,))
                identity = {"dataset": graph_ds.name, "method": method, "gnn": gnn, "protocol": protocol, "folds": keys,
                            "options": opts, "baselines": list(base), "train": cfg.to_dict(),
                            "full_train": full_cfg.to_dict()}
                done = finished_folds(out, identity, keys, resume, overwrite)
                task = RecordedFold(task, str(out / FOLDER))
            todo = [k for k in keys if k not in done]
            try:
                new = map_folds(name or graph_ds, task, protocol, todo if protocol == "cv10" else folds,
                                todo if protocol != "cv10" else seeds, jobs, root, ctx)[1] if todo else []
            except KeyboardInterrupt:
                kept = sorted(k for k in keys if out is not None and (out / FOLDER / f"fold{k}.json").is_file())
                saved = (f" Finished folds {kept} are saved in {out / FOLDER}; run the same command with --resume "
                         "(resume=True) to continue." if kept else " No fold had finished.")
                raise RunInterrupted("interrupted." + saved) from None
            by_key = {**done, **{r["seed"]: r for r in new}}
            results = [by_key[k] for k in keys]
            train_bytes = float(np.mean([r["train_bytes"] for r in results]))
            metrics: dict[str, Any] = {
                "dataset": graph_ds.name, "method": method, "gnn": gnn, "metric": graph_ds.metric, "protocol": protocol,
                "folds": [r["fold"] for r in results], "seeds": [r["seed"] for r in results], "depth": depth,
                "support": support, "budget": budget, "train_bytes": train_bytes,
                "train_graphs": float(np.mean([r["train_graphs"] for r in results])),
                "condense_seconds": float(np.mean([r[method]["seconds"] for r in results])),
            }
            for key in (method,) + base:
                metrics[key] = _aggregate(key, [r[key] for r in results], train_bytes)
            metrics["train_config"] = cfg.to_dict()
            metrics["full_train_config"] = full_cfg.to_dict()
            metrics["options"] = {k: v for k, v in opts.items()}
            metrics["curves"] = {key: [r[key].get("curve") for r in results] for key in (method,) + base
                                 if key != "size_only"}
            distilled = results[0]["distilled"]
            distilled.meta.update({"protocol": protocol, "fold": results[0]["fold"], "dataset": graph_ds.name})
            result = CondenseResult(distilled, metrics)
            if out is not None:
                for stale in ("metrics.json", "config.json"):  # never an old run's numbers beside a new distilled.pt
                    (out / stale).unlink(missing_ok=True)
                result.files["distilled"] = str(distilled.save(out / "distilled.pt"))
                config = {"dataset": graph_ds.name, "method": method, "gnn": gnn, "protocol": protocol,
                          "folds": metrics["folds"], "seeds": seeds, "device": str(device),
                          "root": None if root is None else str(root), "baselines": list(base), "train": cfg.to_dict(),
                          "options": metrics["options"]}
                result.files.update({k: str(v) for k, v in write_run(out, metrics, config).items()})
                result.output = out
            return result


def evaluate_distilled(path: str | os.PathLike, gnn: str = "gin", seeds: Sequence[int] | str = (0,),
                       device: str = "auto", root: str | os.PathLike | None = None,
                       output: str | os.PathLike | None = None, train: GraphTrainConfig | None = None
                       ) -> dict[str, Any]:
    """Train ``gnn`` on a distilled file and score it on the real validation/test graphs of the fold it was
    made from, once per model seed. Returns the metrics dict; writes ``output/metrics.json`` when given."""
    from g2m.datasets import load_dataset

    distilled = DistilledDataset.load(path)
    meta = distilled.meta
    name = meta.get("dataset")
    if not name:
        raise DatasetError(f"{path}: the distilled file does not name its dataset (meta['dataset']); "
                           "recreate it with `g2m condense`.")
    seeds = parse_seeds(seeds) if not isinstance(seeds, (list, tuple)) else list(seeds)
    graph_ds = load_dataset(name, root)
    _check_graph_dataset(graph_ds)
    protocol, fold_list = protocol_folds(graph_ds, meta.get("protocol"), folds=[int(meta.get("fold", 0))]
                                         if meta.get("protocol", "cv10") == "cv10" else None, seeds=[0])
    fold = fold_list[0]
    depth = int(meta.get("depth", 2))
    cfg = (train or train_config(name)).replace(num_layers=depth)
    ctx = GraphContext(graph_ds)
    train_set = distilled_training_set(distilled, cfg.class_balance)
    dev = str(resolve_device(device))
    runs = [_scored(ctx, dataclasses.replace(fold, seed=s), train_set, gnn, cfg, dev, f"distilled (seed {s})")
            for s in seeds]
    train_bytes = int(meta.get("train_bytes") or training_bytes(from_dataset(graph_ds.dataset, fold.train)))
    nbytes = distilled.nbytes()
    metrics = {"dataset": name, "method": meta.get("method", "mirage"), "gnn": gnn, "metric": graph_ds.metric,
               "protocol": protocol, "fold": fold.index, "seeds": seeds, "depth": depth,
               "distilled_file": str(path), "train_bytes": train_bytes,
               "condense_seconds": meta.get("condense_seconds"),
               "mirage": {"test": summary([r["test"] for r in runs]),
                          "reference_test": summary([r["reference_test"] for r in runs]),
                          "bytes": nbytes, "graphs": distilled.num_sets, "trees": distilled.num_trees,
                          "fraction": nbytes / train_bytes}}
    if output is not None:
        write_run(output, metrics)
    return metrics
