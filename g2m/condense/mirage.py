"""Mirage: model-agnostic distillation of a graph-classification training set into frequent
computation-tree sets.

Pipeline (no GNN is trained to condense): discretise features → label every training node's depth-``L``
computation tree (vectorised WL refinement, `g2m.condense.trees`) → per class, mine the tree sets
frequent among that class's graphs (`g2m.condense.mining`) or rank trees by frequency under a budget →
store the chosen trees as small graphs with their sets' labels and frequencies
(`g2m.condense.distilled.DistilledDataset`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from g2m.datasets.graph_arrays import from_dataset
from g2m.condense.budget import Budget, parse_budget
from g2m.condense.discretize import Discretizer
from g2m.condense.distilled import DistilledDataset, training_bytes
from g2m.condense.mining import (TreeSet, drop_shared_sets, graph_items, mine_frequent_tree_sets,
                                 ranked_single_trees, tree_frequencies)
from g2m.condense.trees import TreeIndex
from g2m.errors import ConfigError, DatasetError
from g2m.models.graph_classifier import FeatureSpec, dataset_specs

SUPPORT_MODES = ("relative", "absolute")

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
    data = getattr(graph_ds.dataset, "_data", None)
    if data is None:
        arrays = from_dataset(graph_ds.dataset)
        x, ea = arrays.x, arrays.edge_attr
    else:
        x, ea = getattr(data, "x", None), getattr(data, "edge_attr", None)
    return dataset_specs(x, ea, max_degree)


def check_options(depth: int, support: float | None, support_mode: str, itemsets: str) -> None:
    """Clear errors for Mirage options out of range."""
    if not isinstance(depth, (int, np.integer)) or not 1 <= depth <= 3:
        raise ConfigError(f"depth must be 1, 2 or 3 (the GNN's number of layers), got {depth}.")
    if support_mode not in SUPPORT_MODES:
        raise ConfigError(f"support_mode must be one of {', '.join(SUPPORT_MODES)}, got {support_mode!r}.")
    if itemsets not in ("maximal", "all"):
        raise ConfigError(f"itemsets must be 'maximal' or 'all', got {itemsets!r}.")
    if support is None:
        return
    if support_mode == "relative" and not 0.0 < support <= 1.0:
        raise ConfigError(f"a relative support is a share of each class's training graphs in (0, 1], got "
                          f"{support}; for a number of graphs use support_mode='absolute' (--support-mode absolute).")
    if support_mode == "absolute" and (support < 1 or float(support) != int(support)):
        raise ConfigError(f"an absolute support is a whole number of graphs ≥ 1, got {support}.")


def class_min_supports(support: float, support_mode: str, class_sizes: np.ndarray) -> np.ndarray:
    """Each class's relative support threshold (an absolute count becomes count / class size)."""
    sizes = np.maximum(class_sizes.astype(float), 1.0)
    if support_mode == "absolute":
        return np.minimum(float(support) / sizes, 1.0 + 1e-9)
    return np.full(len(class_sizes), float(support))


def mirage_distill(graph_ds: Any, train_idx: Any, depth: int = 2, support: float | None = 0.1,
                   budget: str | Budget | None = None, itemsets: str = "maximal", max_len: int | None = None,
                   max_sets_per_class: int | None = 50, support_mode: str = "relative", exclusive: bool = False,
                   discretization: str = "auto", n_bins: int = 8, max_degree: int = 64,
                   use_edge_features: bool = True, compress: bool = True, seed: int = 0,
                   specs: tuple[FeatureSpec, FeatureSpec | None] | None = None) -> DistilledDataset:
    """Condense the training graphs ``train_idx`` of ``graph_ds`` (a `g2m.datasets.GraphDataset`).

    With ``support`` the candidates are each class's frequent tree sets — sets held by at least ``support``
    of the class's training graphs (``support_mode="relative"``, a share) or by at least ``support`` graphs
    (``"absolute"``) — all of them (``itemsets="all"``) or only maximal ones (``"maximal"``), at most
    ``max_sets_per_class`` per class, most frequent first. ``exclusive`` drops sets that are also frequent
    in another class (they cannot tell the classes apart). With ``support=None`` the candidates are single
    trees ranked by frequency. A ``budget`` then keeps candidates, round-robin over classes in rank order,
    while the distilled set fits it.
    """
    _check_graph_dataset(graph_ds)
    check_options(depth, support, support_mode, itemsets)
    t0 = time.perf_counter()
    budget = parse_budget(budget)
    arrays = from_dataset(graph_ds.dataset, train_idx)
    num_classes = int(graph_ds.num_classes)
    if arrays.y.min() < 0 or arrays.y.max() >= num_classes:
        raise DatasetError(f"graph labels must lie in 0..{num_classes - 1}; found {arrays.y.min()}..{arrays.y.max()}.")
    node_spec, edge_spec = specs if specs is not None else feature_specs(graph_ds, max_degree)
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
    sizes = np.bincount(arrays.y, minlength=num_classes)
    if support is not None:
        mins = class_min_supports(support, support_mode, sizes)
        per_class = mine_frequent_tree_sets(ptr, items, arrays.y, num_classes, mins, itemsets, max_len)
        if exclusive:
            per_class = drop_shared_sets(per_class, ptr, items, arrays.y, num_classes, mins)
        if max_sets_per_class:
            per_class = {c: s[:max_sets_per_class] for c, s in per_class.items()}
    else:
        per_class = ranked_single_trees(ptr, items, arrays.y, num_classes)
        cap = max_sets_per_class if budget is None else None
        per_class = {c: (s[:cap] if cap else s) for c, s in per_class.items()}
    if not any(per_class.values()):
        raise ConfigError(_nothing_mined_message(support, support_mode, exclusive, ptr, items, arrays.y, sizes))
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
        "support_mode": support_mode, "exclusive": exclusive,
        "budget": None if budget is None else budget.__dict__, "itemsets": itemsets,
        "max_sets_per_class": max_sets_per_class, "num_classes": num_classes,
        "classes_without_sets": missing, "class_graphs": sizes.tolist(),
        "node_spec": node_spec.to_dict(), "edge_spec": None if edge_spec is None else edge_spec.to_dict(),
        "discretization": {"nodes": node_disc.kind_, "edges": None if edge_disc is None else edge_disc.kind_,
                           "n_bins": n_bins, "max_degree": max_degree, "node_labels": int(node_disc.num_labels_)},
        "compressed_trees": compress, "train_graphs": arrays.num_graphs, "train_bytes": train_bytes,
        "bytes": distilled.nbytes(), "condense_seconds": time.perf_counter() - t0,
        "distinct_trees": int(index.root_labels.max()) + 1,
    })
    return distilled


def _nothing_mined_message(support: float | None, mode: str, exclusive: bool, ptr: np.ndarray, items: np.ndarray,
                           y: np.ndarray, sizes: np.ndarray) -> str:
    """Which support would leave something: each class's most frequent single tree."""
    freq = tree_frequencies(ptr, items, y, len(sizes))
    top = freq.max(1)
    what = "graphs" if mode == "absolute" else "share of its graphs"
    best = [(int(top[c]) if mode == "absolute" else round(float(top[c] / max(sizes[c], 1)), 3))
            for c in range(len(sizes))]
    hint = (f"lower --support to at most {max(best)} (the most frequent tree of each class is held by "
            f"{best} {what})")
    if exclusive:
        hint += ", or drop --exclusive (every frequent set is frequent in another class too)"
    return (f"support {support} ({mode}) leaves no frequent tree set in any class (training graphs per class: "
            f"{sizes.tolist()}); {hint}, or use a smaller --depth.")


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
