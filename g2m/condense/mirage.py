"""Mirage: model-agnostic distillation of a graph-classification training set into frequent
computation-tree sets, plus the ``condense`` / ``evaluate_distilled`` library API.

Pipeline (no GNN is trained to condense): discretise features → label every training node's depth-``L``
computation tree (vectorised WL refinement, `g2m.condense.trees`) → per class, mine the tree sets
frequent among that class's graphs (`g2m.condense.mining`) or rank trees by frequency under a budget →
store the chosen trees as small graphs with their sets' labels and frequencies
(`g2m.condense.distilled.DistilledDataset`).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from g2m.condense.arrays import GraphArrays, from_dataset
from g2m.condense.discretize import Discretizer
from g2m.condense.distilled import DistilledDataset, compact_bytes, training_bytes
from g2m.condense.mining import TreeSet, graph_items, mine_frequent_tree_sets, ranked_single_trees
from g2m.condense.train import FeatureSpec, GraphClassifier, fit, infer_spec, model_inputs
from g2m.condense.trees import TreeIndex
from g2m.errors import ConfigError, DatasetError
from g2m.registry import Registry
from g2m.utils import parse_seeds, resolve_device, write_json_atomic

METHODS: Registry = Registry("condensation method")
METHODS.add("mirage", "mirage")


# --- budgets -------------------------------------------------------------------------------------------
@dataclass
class Budget:
    """A size limit: ``bytes`` (absolute), ``fraction`` (of the full training set's bytes) or ``graphs``
    (number of tree sets)."""

    bytes: int | None = None
    fraction: float | None = None
    graphs: int | None = None

    def byte_limit(self, train_bytes: int) -> int | None:
        if self.bytes is not None:
            return self.bytes
        if self.fraction is not None:
            return int(self.fraction * train_bytes)
        return None


_UNITS = {"": 1, "b": 1, "kb": 1000, "k": 1000, "mb": 10**6, "m": 10**6, "kib": 1024, "mib": 1024**2}


def parse_budget(spec: str | int | float | Budget | None) -> Budget | None:
    """``"20000"``/``"20KB"``/``"1.5MiB"`` (bytes), ``"1%"`` (of the training bytes), ``"50g"`` (tree sets)."""
    if spec is None or isinstance(spec, Budget):
        return spec
    if isinstance(spec, (int, float)):
        return Budget(bytes=int(spec))
    text = str(spec).strip().lower().replace(" ", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)(%|g|graphs|sets|[kmg]?i?b|k|m)?", text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"--budget {spec!r} is not a budget: give bytes (20000, 20KB, 1.5MiB), a share of the "
                          "training set's bytes (1%), or a number of tree sets (50g).")
    value, unit = float(m.group(1)), m.group(2) or ""
    if unit == "%":
        return Budget(fraction=value / 100.0)
    if unit in ("g", "graphs", "sets"):
        return Budget(graphs=int(value))
    if unit not in _UNITS:
        raise ConfigError(f"--budget {spec!r}: unknown unit {unit!r}; use B, KB, MB, KiB, MiB, % or g.")
    return Budget(bytes=int(value * _UNITS[unit]))


# --- condensation ------------------------------------------------------------------------------------
def _check_graph_dataset(ds: Any) -> None:
    if getattr(ds, "task", None) == "node":
        raise DatasetError(f"dataset {getattr(ds, 'name', '?')!r} is a node-classification dataset; Mirage condenses "
                           "graph-classification datasets (mutag, proteins, nci1, dd, imdb-binary, enzymes, ogbg-mol*). "
                           "For node datasets use `g2m distill`.")
    if getattr(ds, "task", None) != "graph":
        raise DatasetError(f"expected a graph-classification dataset from g2m.load_dataset, got {type(ds).__name__}.")


def feature_specs(graph_ds: Any, max_degree: int = 64) -> tuple[FeatureSpec, FeatureSpec | None]:
    """Model input specs of a dataset, from all its graphs (so val/test values have embeddings)."""
    data = graph_ds.dataset._data if hasattr(graph_ds.dataset, "_data") else None
    if data is None:
        arrays = from_dataset(graph_ds.dataset)
        x, ea = arrays.x, arrays.edge_attr
    else:
        x, ea = getattr(data, "x", None), getattr(data, "edge_attr", None)
    node = infer_spec(x) if x is not None else FeatureSpec("degree", max_degree=max_degree)
    return node, infer_spec(ea)


def mirage_distill(graph_ds: Any, train_idx: Any, depth: int = 2, support: float | None = 0.1,
                   budget: str | Budget | None = None, itemsets: str = "maximal", max_len: int | None = None,
                   max_sets_per_class: int | None = 50, discretization: str = "auto", n_bins: int = 8,
                   max_degree: int = 64, use_edge_features: bool = True, compress: bool = True,
                   seed: int = 0) -> DistilledDataset:
    """Condense the training graphs ``train_idx`` of ``graph_ds`` (a `g2m.datasets.GraphDataset`).

    With ``support`` the candidates are each class's frequent tree sets (relative support ≥ ``support``,
    at most ``max_sets_per_class`` per class, most frequent first); with ``support=None`` they are single
    trees ranked by frequency. A ``budget`` then keeps candidates, round-robin over classes in rank order,
    while the distilled set fits it.
    """
    _check_graph_dataset(graph_ds)
    if not 1 <= depth <= 3:
        raise ConfigError(f"depth must be 1, 2 or 3 (the GNN's number of layers), got {depth}.")
    t0 = time.perf_counter()
    budget = parse_budget(budget)
    arrays = from_dataset(graph_ds.dataset, train_idx)
    num_classes = int(graph_ds.num_classes)
    if arrays.y.min() < 0 or arrays.y.max() >= num_classes:
        raise DatasetError(f"graph labels must lie in 0..{num_classes - 1}; found {arrays.y.min()}..{arrays.y.max()}.")
    node_spec, edge_spec = feature_specs(graph_ds, max_degree)
    if not use_edge_features:
        edge_spec = None
    ei = arrays.edge_index
    deg = np.bincount(ei[1], minlength=arrays.num_nodes)
    node_disc = Discretizer(discretization, n_bins, max_degree, seed=seed)
    labels0 = node_disc.fit_transform(arrays.x, deg)
    edge_disc, elabels = None, None
    if edge_spec is not None and arrays.edge_attr is not None:
        edge_disc = Discretizer(discretization, n_bins, seed=seed)
        elabels = edge_disc.fit_transform(arrays.edge_attr)
    index = TreeIndex(labels0, ei, depth, elabels)
    ptr, items = graph_items(arrays.node_graph, index.root_labels, arrays.num_graphs)
    if support is not None:
        per_class = mine_frequent_tree_sets(ptr, items, arrays.y, num_classes, support, itemsets, max_len)
        if max_sets_per_class:
            per_class = {c: s[:max_sets_per_class] for c, s in per_class.items()}
    else:
        per_class = ranked_single_trees(ptr, items, arrays.y, num_classes)
        cap = max_sets_per_class if budget is None else None
        per_class = {c: (s[:cap] if cap else s) for c, s in per_class.items()}
    if not any(per_class.values()):
        sizes = np.bincount(arrays.y, minlength=num_classes).tolist()
        raise ConfigError(
            f"support {support} leaves no frequent tree set in any class (training graphs per class: {sizes}); "
            "lower --support (e.g. 0.05) or use a smaller --depth.")
    train_bytes = training_bytes(arrays)
    chosen = _select(per_class, index, budget, train_bytes, compress)
    if not chosen:
        raise ConfigError(f"--budget {budget} is too small to hold even one tree set; raise it.")
    edisc = edge_disc if edge_spec is not None else None
    distilled = _assemble(chosen, index, node_disc, edisc, compress)
    limit = budget.byte_limit(train_bytes) if budget is not None else None
    while limit is not None and distilled.nbytes() > limit and len(chosen) > 1:  # the estimate was low: trim
        chosen = chosen[:-1]
        distilled = _assemble(chosen, index, node_disc, edisc, compress)
    if limit is not None and distilled.nbytes() > limit:
        raise ConfigError(f"--budget {limit} bytes is too small to hold even one tree set "
                          f"({distilled.nbytes()} bytes); raise it.")
    missing = [c for c in range(num_classes) if not (distilled.set_y == c).any()]
    distilled.meta.update({
        "dataset": getattr(graph_ds, "name", ""), "method": "mirage", "depth": depth, "support": support,
        "budget": None if budget is None else budget.__dict__, "itemsets": itemsets,
        "max_sets_per_class": max_sets_per_class, "num_classes": num_classes,
        "classes_without_sets": missing,
        "class_graphs": np.bincount(arrays.y, minlength=num_classes).tolist(),
        "node_spec": node_spec.to_dict(), "edge_spec": None if edge_spec is None else edge_spec.to_dict(),
        "discretization": {"nodes": node_disc.kind_, "edges": None if edge_disc is None else edge_disc.kind_,
                           "n_bins": n_bins, "max_degree": max_degree, "node_labels": int(node_disc.num_labels_)},
        "compressed_trees": compress, "train_graphs": arrays.num_graphs, "train_bytes": train_bytes,
        "bytes": distilled.nbytes(), "condense_seconds": time.perf_counter() - t0,
        "distinct_trees": int(index.root_labels.max()) + 1,
    })
    return distilled


def _tree_bytes(index: TreeIndex, t: int, compress: bool, cache: dict) -> int:
    if t not in cache:
        g = index.tree(t, compress)
        n = len(g.node_label)
        cache[t] = (g, 2 * g.edge_index.shape[1] * (1 if n < 256 else 2) + n * 4)  # rough; exact after assembly
    return cache[t][1]


def _select(per_class: dict[int, list[TreeSet]], index: TreeIndex, budget: Budget | None, train_bytes: int,
            compress: bool) -> list[TreeSet]:
    """Round-robin over classes in rank order, keeping sets while the (estimated) size fits the budget."""
    queues = {c: list(s) for c, s in per_class.items() if s}
    if budget is None:
        return [s for c in sorted(queues) for s in queues[c]]
    limit = budget.byte_limit(train_bytes)
    chosen, used_trees, size, cache = [], set(), 0, {}
    while any(queues.values()):
        for c in sorted(queues):
            if not queues[c]:
                continue
            s = queues[c].pop(0)
            if budget.graphs is not None and len(chosen) >= budget.graphs:
                return chosen
            extra = sum(_tree_bytes(index, t, compress, cache) for t in s.trees if t not in used_trees)
            extra += 4 * len(s.trees) + 8
            if limit is not None and size + extra > limit:
                continue  # skip this set; smaller ones further down may still fit
            chosen.append(s)
            used_trees.update(s.trees)
            size += extra
    return chosen


def _assemble(chosen: list[TreeSet], index: TreeIndex, node_disc: Discretizer, edge_disc: Discretizer | None,
              compress: bool) -> DistilledDataset:
    tree_ids = sorted({t for s in chosen for t in s.trees})
    pos = {t: i for i, t in enumerate(tree_ids)}
    xs, eis, eas, n_cnt, e_cnt = [], [], [], [], []
    for t in tree_ids:
        g = index.tree(t, compress)
        xs.append(node_disc.representatives_[g.node_label])
        eis.append(g.edge_index)
        if edge_disc is not None:
            eas.append(edge_disc.representatives_[g.edge_label])
        n_cnt.append(len(g.node_label))
        e_cnt.append(g.edge_index.shape[1])
    cum = lambda c: torch.tensor(np.concatenate([[0], np.cumsum(c)]), dtype=torch.long)  # noqa: E731
    set_trees = [pos[t] for s in chosen for t in s.trees]
    return DistilledDataset(
        tree_x=_compact(np.concatenate(xs)), tree_edge_index=_compact(np.concatenate(eis, axis=1)),
        tree_edge_attr=_compact(np.concatenate(eas)) if edge_disc is not None else None,
        tree_node_ptr=cum(n_cnt), tree_edge_ptr=cum(e_cnt),
        set_ptr=cum([len(s.trees) for s in chosen]), set_trees=torch.tensor(set_trees, dtype=torch.long),
        set_y=torch.tensor([s.label for s in chosen], dtype=torch.long),
        set_weight=torch.tensor([s.support for s in chosen], dtype=torch.float32),
        set_count=torch.tensor([s.count for s in chosen], dtype=torch.long),
        meta={"tree_labels": tree_ids},
    )


def _compact(a: np.ndarray) -> torch.Tensor:
    """Store integer-valued arrays in the smallest integer dtype (the file is then as small as measured)."""
    from g2m.condense.distilled import compact_itemsize

    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating) and compact_itemsize(a) == 4:
        return torch.from_numpy(a.astype(np.float32))
    size, lo = compact_itemsize(a), (a.min() if a.size else 0)
    dtype = {1: torch.uint8 if lo >= 0 else torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[size]
    if dtype == torch.int16 and lo >= 0 and a.max() >= 2**15:
        dtype = torch.int32
    if dtype == torch.int32 and lo >= 0 and a.max() >= 2**31:
        dtype = torch.int64
    return torch.from_numpy(np.ascontiguousarray(a).astype(np.int64)).to(dtype)


# --- training and evaluation -----------------------------------------------------------------------
def _graphs(graph_ds: Any, idx: Any, spec: FeatureSpec, use_edges: bool) -> list[Data]:
    out = []
    ds = graph_ds.dataset
    for i in torch.as_tensor(idx).view(-1).tolist():
        d = model_inputs(ds[i], spec)
        if not use_edges and "edge_attr" in d:
            del d.edge_attr
        out.append(d)
    return out


def _random_subset(y: np.ndarray, per_graph_bytes: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """A random subset of training graphs (positions) within ``limit`` bytes, at least one graph per class."""
    rng = np.random.RandomState(seed)
    perm = rng.permutation(len(y))
    firsts = [perm[np.flatnonzero(y[perm] == c)[0]] for c in np.unique(y)]
    chosen, size = list(firsts), int(per_graph_bytes[firsts].sum())
    taken = set(chosen)
    for p in perm:
        if p in taken:
            continue
        if size + per_graph_bytes[p] > limit:
            continue
        chosen.append(p)
        size += int(per_graph_bytes[p])
    return np.sort(np.array(chosen))


def _subset_bytes(graph_ds: Any, idx: np.ndarray) -> int:
    return training_bytes(from_dataset(graph_ds.dataset, idx))


def _per_graph_bytes(arrays: GraphArrays) -> np.ndarray:
    """Approximate per-graph share of `training_bytes` (for filling a byte budget)."""
    n, e = np.diff(arrays.node_ptr), np.diff(arrays.edge_ptr)
    xb = 0 if arrays.x is None else compact_bytes(arrays.x) / max(arrays.num_nodes, 1)
    eb = compact_bytes(arrays.edge_index - np.repeat(arrays.node_ptr[:-1], e)[None, :]) / max(e.sum(), 1)
    ab = 0 if arrays.edge_attr is None else compact_bytes(arrays.edge_attr) / max(e.sum(), 1)
    return np.ceil(n * xb + e * (eb + ab) + 3).astype(np.int64)


def _summary(runs: list[float]) -> dict[str, Any]:
    a = np.array(runs, dtype=float)
    return {"mean": float(np.nanmean(a)), "std": float(np.nanstd(a)), "runs": [float(r) for r in runs]}


@dataclass
class TrainConfig:
    """Training hyper-parameters shared by the full, random and Mirage runs."""

    hidden_channels: int = 64
    dropout: float = 0.5
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 100
    distilled_epochs: int = 100
    samples_per_epoch: int = 512
    eval_every: int = 5
    patience: int | None = None
    class_balance: bool = False
    num_threads: int | None = None  # torch intra-op threads while training (1 is fastest for small graphs)


def evaluate_on(distilled: DistilledDataset | None, graph_ds: Any, split: dict, gnn: str, seeds: Sequence[int],
                device: torch.device, cfg: TrainConfig, train_subset: np.ndarray | None = None,
                depth: int = 2) -> list[float]:
    """Test scores (one per seed) of ``gnn`` trained on ``distilled`` (or on the real training graphs
    ``train_subset``, positions into ``split["train"]``), selected on validation."""
    from torch_geometric import seed_everything

    meta = distilled.meta if distilled is not None else {}
    node_spec, edge_spec = feature_specs(graph_ds)
    if distilled is not None:
        node_spec = FeatureSpec.from_dict(meta["node_spec"])
        edge_spec = FeatureSpec.from_dict(meta.get("edge_spec"))
    use_edges = edge_spec is not None
    val = _graphs(graph_ds, split["val"], node_spec, use_edges)
    test = _graphs(graph_ds, split["test"], node_spec, use_edges)
    if distilled is not None:
        train, weights = distilled.to_data_list(), distilled.sampling_weights(cfg.class_balance)
        epochs, spe = cfg.distilled_epochs, cfg.samples_per_epoch
    else:
        idx = split["train"] if train_subset is None else split["train"][torch.as_tensor(train_subset)]
        train, weights, epochs, spe = _graphs(graph_ds, idx, node_spec, use_edges), None, cfg.epochs, None
    if distilled is not None:
        depth = int(meta.get("depth", depth))
    threads = torch.get_num_threads()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    try:
        return _train_seeds(train, weights, val, test, graph_ds, gnn, seeds, device, cfg, node_spec, edge_spec,
                            depth, epochs, spe)
    finally:
        torch.set_num_threads(threads)


def _train_seeds(train, weights, val, test, graph_ds, gnn, seeds, device, cfg, node_spec, edge_spec, depth,
                 epochs, spe) -> list[float]:
    from torch_geometric import seed_everything

    scores = []
    for seed in seeds:
        seed_everything(seed)
        model = GraphClassifier(gnn, node_spec, int(graph_ds.num_classes), edge_spec, cfg.hidden_channels,
                                depth, cfg.dropout)
        res = fit(model, train, val, test, graph_ds.metric, device, weights=weights, epochs=epochs,
                  batch_size=cfg.batch_size, lr=cfg.lr, samples_per_epoch=spe, eval_every=cfg.eval_every,
                  patience=cfg.patience, seed=seed)
        scores.append(res.test)
    return scores


@dataclass
class CondenseResult:
    """What `condense` returns: the distilled set, the metrics dict and where files were written."""

    distilled: DistilledDataset
    metrics: dict[str, Any]
    output: Path | None = None
    files: dict[str, str] = field(default_factory=dict)


CONDENSE_FILES = ("distilled.pt", "metrics.json", "config.json")


def condense(dataset: str | Any, method: str = "mirage", gnn: str = "gin", depth: int = 2,
             support: float | None = 0.1, budget: str | Budget | None = None, seeds: Sequence[int] | str = (0,),
             device: str = "auto", root: str | os.PathLike | None = None, output: str | os.PathLike | None = None,
             split_seed: int = 0, baselines: Sequence[str] = ("full", "random"), train: TrainConfig | None = None,
             overwrite: bool = False, **mirage_kwargs: Any) -> CondenseResult:
    """Condense a graph-classification dataset with Mirage and score GNNs trained on it.

    Trains ``gnn`` (gcn, gin, gat) with ``depth`` layers on the distilled set and on each baseline
    (``"full"``: all training graphs; ``"random"``: random training graphs within the distilled set's
    bytes), over ``seeds``, selecting epochs on validation; scores are on the test graphs. With ``output``
    it writes ``distilled.pt``, ``metrics.json`` and ``config.json`` there; a folder that already holds
    them is refused unless ``overwrite``.
    """
    from g2m.datasets import graph_split, load_dataset

    METHODS.get(method)
    if output is not None and not overwrite and any((Path(output) / f).exists() for f in CONDENSE_FILES):
        raise ConfigError(f"the output folder {output} already holds a condensation run; pass --overwrite "
                          "(overwrite=True) to replace it, or choose another --output.")
    seeds = parse_seeds(seeds) if not isinstance(seeds, (list, tuple)) else list(seeds)
    cfg = train or TrainConfig()
    graph_ds = load_dataset(dataset, root) if isinstance(dataset, (str, os.PathLike)) else dataset
    _check_graph_dataset(graph_ds)
    dev = resolve_device(device)
    split = graph_split(graph_ds, split_seed)
    t0 = time.perf_counter()
    distilled = mirage_distill(graph_ds, split["train"], depth=depth, support=support, budget=budget,
                               seed=split_seed, **mirage_kwargs)
    condense_seconds = time.perf_counter() - t0
    distilled.meta.update({"split_seed": split_seed, "split": graph_ds.split_protocol,
                           "condense_seconds": condense_seconds})
    train_arrays = from_dataset(graph_ds.dataset, split["train"])
    train_bytes = training_bytes(train_arrays)
    mirage_bytes = distilled.nbytes()
    metrics: dict[str, Any] = {
        "dataset": graph_ds.name, "method": method, "gnn": gnn, "metric": graph_ds.metric, "seeds": seeds,
        "depth": depth, "support": support, "budget": distilled.meta.get("budget"), "split_seed": split_seed,
        "split": graph_ds.split_protocol, "train_bytes": train_bytes, "train_graphs": train_arrays.num_graphs,
        "condense_seconds": condense_seconds,
    }
    metrics["mirage"] = {"test": _summary(evaluate_on(distilled, graph_ds, split, gnn, seeds, dev, cfg)),
                         "bytes": mirage_bytes, "graphs": distilled.num_sets, "trees": distilled.num_trees,
                         "fraction": mirage_bytes / train_bytes}
    if "random" in baselines:
        runs, sizes, counts = [], [], []
        pgb = _per_graph_bytes(train_arrays)
        for seed in seeds:
            sub = _random_subset(train_arrays.y, pgb, mirage_bytes, seed)
            runs += evaluate_on(None, graph_ds, split, gnn, [seed], dev, cfg, train_subset=sub, depth=depth)
            sizes.append(_subset_bytes(graph_ds, split["train"][torch.as_tensor(sub)]))
            counts.append(len(sub))
        metrics["random"] = {"test": _summary(runs), "bytes": int(np.mean(sizes)), "graphs": float(np.mean(counts)),
                             "fraction": float(np.mean(sizes)) / train_bytes}
    if "full" in baselines:
        metrics["full"] = {"test": _summary(evaluate_on(None, graph_ds, split, gnn, seeds, dev, cfg, depth=depth)),
                           "bytes": train_bytes, "graphs": train_arrays.num_graphs, "fraction": 1.0}
    metrics["train_config"] = {k: v for k, v in cfg.__dict__.items()}
    result = CondenseResult(distilled, metrics)
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        result.files["distilled"] = str(distilled.save(out / "distilled.pt"))
        result.files["metrics"] = str(write_json_atomic(out / "metrics.json", metrics))
        config = {"dataset": graph_ds.name, "method": method, "gnn": gnn, "depth": depth, "support": support,
                  "budget": None if budget is None else str(budget), "seeds": seeds, "device": str(device),
                  "root": None if root is None else str(root), "split_seed": split_seed,
                  "baselines": list(baselines), "train": metrics["train_config"], "mirage": mirage_kwargs}
        result.files["config"] = str(write_json_atomic(out / "config.json", config))
        result.output = out
    return result


def evaluate_distilled(path: str | os.PathLike, gnn: str = "gin", seeds: Sequence[int] | str = (0,),
                       device: str = "auto", root: str | os.PathLike | None = None,
                       output: str | os.PathLike | None = None, train: TrainConfig | None = None) -> dict[str, Any]:
    """Train ``gnn`` on a distilled file and score it on the real validation/test graphs of the dataset it
    was made from (same split). Returns the metrics dict; writes ``output/metrics.json`` when given.
    ``train`` overrides the training hyper-parameters (default `TrainConfig`)."""
    from g2m.datasets import graph_split, load_dataset

    distilled = DistilledDataset.load(path)
    meta = distilled.meta
    name = meta.get("dataset")
    if not name:
        raise DatasetError(f"{path}: the distilled file does not name its dataset (meta['dataset']); "
                           "recreate it with `g2m condense`.")
    seeds = parse_seeds(seeds) if not isinstance(seeds, (list, tuple)) else list(seeds)
    graph_ds = load_dataset(name, root)
    _check_graph_dataset(graph_ds)
    split = graph_split(graph_ds, int(meta.get("split_seed", 0)))
    train_bytes = int(meta.get("train_bytes") or training_bytes(from_dataset(graph_ds.dataset, split["train"])))
    runs = evaluate_on(distilled, graph_ds, split, gnn, seeds, resolve_device(device), train or TrainConfig())
    nbytes = distilled.nbytes()
    metrics = {"dataset": name, "method": meta.get("method", "mirage"), "gnn": gnn, "metric": graph_ds.metric,
               "seeds": seeds, "depth": meta.get("depth"), "split_seed": meta.get("split_seed", 0),
               "distilled_file": str(path), "train_bytes": train_bytes,
               "condense_seconds": meta.get("condense_seconds"),
               "mirage": {"test": _summary(runs), "bytes": nbytes, "graphs": distilled.num_sets,
                          "trees": distilled.num_trees, "fraction": nbytes / train_bytes}}
    if output is not None:
        write_json_atomic(Path(output) / "metrics.json", metrics)
    return metrics
