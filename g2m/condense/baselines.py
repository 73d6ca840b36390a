"""Baselines every condensation must beat at the same byte budget: a stratified random subset, a herding
coreset on a parameter-free graph embedding, and a size-only predictor (node and edge counts alone)."""

from __future__ import annotations

from typing import Any

import numpy as np

from g2m.datasets.graph_arrays import GraphArrays
from g2m.condense.distilled import compact_bytes


def per_graph_bytes(arrays: GraphArrays) -> np.ndarray:
    """Approximate per-graph share of `training_bytes` (for filling a byte budget)."""
    n, e = np.diff(arrays.node_ptr), np.diff(arrays.edge_ptr)
    xb = 0 if arrays.x is None else compact_bytes(arrays.x) / max(arrays.num_nodes, 1)
    eb = compact_bytes(arrays.edge_index - np.repeat(arrays.node_ptr[:-1], e)[None, :]) / max(e.sum(), 1)
    ab = 0 if arrays.edge_attr is None else compact_bytes(arrays.edge_attr) / max(e.sum(), 1)
    return np.ceil(n * xb + e * (eb + ab) + 3).astype(np.int64)


def stratified_order(y: np.ndarray, rank: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Positions ordered so that every prefix keeps the class proportions: graph ``i`` (the ``rank[i]``-th
    of its class) gets key ``(rank[i] + u) / class size``, ``u`` uniform, and positions sort by key."""
    sizes = np.bincount(y)
    key = (rank + rng.uniform(size=len(y))) / sizes[y]
    return np.argsort(key, kind="stable")


def fill_budget(order: np.ndarray, y: np.ndarray, nbytes: np.ndarray, limit: int) -> np.ndarray:
    """Take positions in ``order`` while they fit ``limit`` bytes (skipping those that do not), after first
    taking the earliest graph of every class. Returns sorted positions."""
    firsts = [order[np.flatnonzero(y[order] == c)[0]] for c in np.unique(y)]
    chosen, size = list(firsts), int(nbytes[firsts].sum())
    taken = set(chosen)
    for p in order:
        if p in taken or size + nbytes[p] > limit:
            continue
        chosen.append(p)
        size += int(nbytes[p])
    return np.sort(np.asarray(chosen, dtype=np.int64))


def random_subset(arrays: GraphArrays, limit: int, seed: int = 0) -> np.ndarray:
    """A stratified random subset of the graphs (positions) within ``limit`` bytes."""
    rng = np.random.RandomState(seed)
    y = arrays.y
    rank = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rank[members] = rng.permutation(len(members))
    return fill_budget(stratified_order(y, rank, rng), y, per_graph_bytes(arrays), limit)


def graph_embedding(arrays: GraphArrays) -> np.ndarray:
    """A parameter-free embedding per graph, standardised: mean node features (the first column one-hot when
    features are categorical), mean degree, log node count and log edge count."""
    n, e = np.diff(arrays.node_ptr), np.diff(arrays.edge_ptr)
    g = arrays.node_graph
    cols = [np.log1p(n), np.log1p(e), e / np.maximum(n, 1)]
    if arrays.x is not None:
        x = arrays.x.reshape(len(arrays.x), -1)
        if not np.issubdtype(x.dtype, np.floating):
            v = x[:, 0].astype(np.int64) - x[:, 0].min()
            x = np.eye(int(v.max()) + 1, dtype=np.float32)[v]
        sums = np.zeros((len(n), x.shape[1]))
        np.add.at(sums, g, x.astype(np.float64))
        cols += list((sums / np.maximum(n, 1)[:, None]).T)
    z = np.stack(cols, 1).astype(np.float64)
    return (z - z.mean(0)) / np.maximum(z.std(0), 1e-12)


def herding_rank(z: np.ndarray, picks: int | None = None) -> np.ndarray:
    """Welling's herding: the order in which greedily chosen rows keep their running mean closest to the mean
    of all rows. ``rank[i]`` is row ``i``'s position in that order; only the first ``picks`` are chosen by
    herding, the rest follow in row order."""
    mu = z.mean(0)
    chosen, total = [], np.zeros_like(mu)
    free = np.ones(len(z), dtype=bool)
    for k in range(1, min(len(z), picks or len(z)) + 1):
        cand = np.flatnonzero(free)
        dist = np.linalg.norm(mu - (total + z[cand]) / k, axis=1)
        pick = cand[int(np.argmin(dist))]
        chosen.append(pick)
        total += z[pick]
        free[pick] = False
    chosen += np.flatnonzero(free).tolist()
    rank = np.empty(len(z), dtype=np.int64)
    rank[np.asarray(chosen, dtype=np.int64)] = np.arange(len(z))
    return rank


def herding_subset(arrays: GraphArrays, limit: int, seed: int = 0) -> np.ndarray:
    """A herding coreset per class on `graph_embedding`, interleaved over classes in proportion, within
    ``limit`` bytes (positions)."""
    y = arrays.y
    z = graph_embedding(arrays)
    nbytes = per_graph_bytes(arrays)
    rank = np.zeros(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        fits = int(np.searchsorted(np.cumsum(np.sort(nbytes[members])), limit, side="right")) + 1
        rank[members] = herding_rank(z[members], fits)  # no more than this many can fit the budget
    rng = np.random.RandomState(seed)
    return fill_budget(stratified_order(y, rank, rng), y, nbytes, limit)


def size_features(arrays: GraphArrays) -> np.ndarray:
    """Per graph: log(1 + nodes), log(1 + edges)."""
    return np.stack([np.log1p(np.diff(arrays.node_ptr)), np.log1p(np.diff(arrays.edge_ptr))], 1)


def size_only_scores(train: GraphArrays, test: GraphArrays, metric: str) -> dict[str, Any]:
    """Logistic regression on node and edge counts: fit on ``train``, score ``test`` (percent)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from g2m.graphcls.trainer import score

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(size_features(train), train.y)
    proba = np.zeros((len(test.y), int(max(train.y.max(), test.y.max())) + 1))
    proba[:, model.classes_] = model.predict_proba(size_features(test))
    lr = model[-1]
    return {"test": score(test.y, proba, metric), "bytes": 4 * (lr.coef_.size + lr.intercept_.size + 4)}
