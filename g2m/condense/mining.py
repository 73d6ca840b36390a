"""Per-class mining of frequent computation-tree sets.

Each training graph is a *transaction* whose items are the labels of its nodes' depth-``L`` computation
trees. Per class, the tree sets contained in at least ``support`` (a fraction) of that class's graphs are
mined with mlxtend's FP-growth (``itemsets="all"``) or FP-max (``itemsets="maximal"``, only the frequent
sets with no frequent superset). Items below the support are dropped first (a frequent set only holds
frequent items), so the one-hot table stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from g2m.errors import ConfigError


@dataclass
class TreeSet:
    """A frequent set of trees of one class: ``support`` is the fraction of that class's training graphs
    containing every tree of the set, ``count`` the number of such graphs."""

    label: int
    trees: tuple[int, ...]
    support: float
    count: int


def graph_items(node_graph: np.ndarray, tree_label: np.ndarray, num_graphs: int) -> tuple[np.ndarray, np.ndarray]:
    """Each graph's sorted set of tree labels as CSR ``(ptr, items)``."""
    k = int(tree_label.max()) + 1 if len(tree_label) else 1
    key = np.unique(node_graph.astype(np.int64) * k + tree_label)
    g, items = key // k, key % k
    ptr = np.concatenate([[0], np.cumsum(np.bincount(g, minlength=num_graphs))])
    return ptr, items


def tree_frequencies(ptr: np.ndarray, items: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """``counts[c, t]``: number of class-``c`` graphs that contain tree ``t``."""
    k = int(items.max()) + 1 if len(items) else 1
    cls = np.repeat(y, np.diff(ptr))
    return np.bincount(cls * k + items, minlength=num_classes * k).reshape(num_classes, k)


def mine_class(ptr: np.ndarray, items: np.ndarray, graphs: np.ndarray, support: float, label: int,
               itemsets: str = "maximal", max_len: int | None = None) -> list[TreeSet]:
    """Frequent tree sets among ``graphs`` (ids into the CSR) with relative support ≥ ``support``."""
    import pandas as pd
    from mlxtend.frequent_patterns import fpgrowth, fpmax

    if not 0.0 < support <= 1.0:
        raise ConfigError(f"support must be a fraction in (0, 1], got {support}.")
    if itemsets not in ("maximal", "all"):
        raise ConfigError(f"itemsets must be 'maximal' or 'all', got {itemsets!r}.")
    n = len(graphs)
    if n == 0:
        return []
    counts = np.diff(ptr)[graphs]
    rows = np.repeat(np.arange(n), counts)
    cols = items[_gather(ptr, graphs)]
    uniq, inv = np.unique(cols, return_inverse=True)
    freq = np.bincount(inv, minlength=len(uniq))
    keep = freq >= np.ceil(support * n - 1e-9)
    if not keep.any():
        return []
    kept = uniq[keep]
    col_of = np.full(len(uniq), -1)
    col_of[keep] = np.arange(keep.sum())
    c = col_of[inv.reshape(-1)]
    table = np.zeros((n, len(kept)), dtype=bool)
    table[rows[c >= 0], c[c >= 0]] = True
    df = pd.DataFrame(table, columns=[int(t) for t in kept])
    miner = fpmax if itemsets == "maximal" else fpgrowth
    found = miner(df, min_support=support, use_colnames=True, max_len=max_len)
    out = [TreeSet(label, tuple(sorted(int(t) for t in s)), float(sup), int(round(sup * n)))
           for sup, s in zip(found["support"], found["itemsets"])]
    out.sort(key=lambda s: (-s.support, -len(s.trees), s.trees))
    return out


def _gather(ptr: np.ndarray, graphs: np.ndarray) -> np.ndarray:
    from g2m.datasets.graph_arrays import _ranges

    return _ranges(ptr[graphs], np.diff(ptr)[graphs])


def mine_frequent_tree_sets(ptr: np.ndarray, items: np.ndarray, y: np.ndarray, num_classes: int,
                            support: float | np.ndarray, itemsets: str = "maximal", max_len: int | None = None,
                            ) -> dict[int, list[TreeSet]]:
    """Per class ``c``: its frequent tree sets, most frequent first (``support``: one relative threshold, or
    one per class)."""
    mins = np.broadcast_to(np.asarray(support, dtype=float), (num_classes,))
    out = {}
    for c in range(num_classes):
        graphs = np.flatnonzero(y == c)
        if mins[c] > 1.0 + 1e-12:  # an absolute support above the class size: nothing is frequent
            out[c] = []
            continue
        out[c] = mine_class(ptr, items, graphs, min(float(mins[c]), 1.0), c, itemsets, max_len)
    return out


def set_class_support(tree_sets: list[TreeSet], ptr: np.ndarray, items: np.ndarray, y: np.ndarray,
                      num_classes: int) -> np.ndarray:
    """``out[i, c]``: the share of class-``c`` graphs that hold every tree of ``tree_sets[i]``."""
    trees = sorted({t for s in tree_sets for t in s.trees})
    if not trees:
        return np.zeros((len(tree_sets), num_classes))
    col = {t: j for j, t in enumerate(trees)}
    g = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    sel = np.isin(items, trees)
    holds = np.zeros((len(ptr) - 1, len(trees)), dtype=bool)
    holds[g[sel], np.vectorize(col.get, otypes=[np.int64])(items[sel]) if sel.any() else []] = True
    sizes = np.maximum(np.bincount(y, minlength=num_classes), 1)
    out = np.zeros((len(tree_sets), num_classes))
    for i, s in enumerate(tree_sets):
        has = holds[:, [col[t] for t in s.trees]].all(1)
        out[i] = np.bincount(y[has], minlength=num_classes) / sizes
    return out


def drop_shared_sets(per_class: dict[int, list[TreeSet]], ptr: np.ndarray, items: np.ndarray, y: np.ndarray,
                     num_classes: int, support: float | np.ndarray) -> dict[int, list[TreeSet]]:
    """Keep only the sets that are frequent in their own class alone: a set whose share of another class's
    graphs also reaches that class's threshold cannot tell the classes apart."""
    mins = np.broadcast_to(np.asarray(support, dtype=float), (num_classes,))
    out = {}
    for c, sets in per_class.items():
        if not sets:
            out[c] = []
            continue
        share = set_class_support(sets, ptr, items, y, num_classes)
        other = np.delete(share, c, axis=1) >= np.delete(mins, c)[None, :] - 1e-12
        out[c] = [s for s, shared in zip(sets, other.any(1)) if not shared]
    return out


def ranked_single_trees(ptr: np.ndarray, items: np.ndarray, y: np.ndarray, num_classes: int,
                        ) -> dict[int, list[TreeSet]]:
    """Per class: every tree as a one-tree set, ranked by the fraction of the class's graphs holding it."""
    freq = tree_frequencies(ptr, items, y, num_classes)
    sizes = np.bincount(y, minlength=num_classes)
    out = {}
    for c in range(num_classes):
        order = np.argsort(-freq[c], kind="stable")
        order = order[freq[c][order] > 0]
        out[c] = [TreeSet(c, (int(t),), float(freq[c][t] / sizes[c]), int(freq[c][t])) for t in order]
    return out
