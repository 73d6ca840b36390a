"""Discretisation: node (and edge) features become categorical labels for tree hashing.

* **categorical** features (integer columns such as OGB atom features, or one-hot / integer-valued
  floats such as TU node labels): the label is the exact feature tuple;
* **no features** (e.g. IMDB-BINARY): the label is the node degree, clipped at ``max_degree``;
* **continuous** features: each column is cut into ``n_bins`` quantile bins (``method="quantile"``,
  bin edges from the training nodes) and the label is the tuple of bin ids; or the rows are clustered
  with k-means (``method="kmeans"``, ``n_bins`` clusters) and the label is the cluster id.

Each label also gets a *representative* feature vector in the model's input space (the exact tuple,
the degree, or the mean of the training rows with that label), which is what a distilled tree node
carries.
"""

from __future__ import annotations

import numpy as np

from g2m.errors import ConfigError

METHODS = ("auto", "exact", "quantile", "kmeans")


def is_integer_valued(x: np.ndarray) -> bool:
    """True when every entry of ``x`` is a whole number (integer dtype or integral floats)."""
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        return True
    return bool(np.isfinite(x).all() and np.all(x == np.round(x)))


class Discretizer:
    """Map feature rows to integer labels (``fit`` on training nodes, then ``transform``).

    ``method``: ``auto`` (exact tuples for integer-valued features with at most ``max_categories``
    distinct rows, quantile bins otherwise), ``exact``, ``quantile`` or ``kmeans``.
    """

    def __init__(self, method: str = "auto", n_bins: int = 8, max_degree: int = 64,
                 max_categories: int = 4096, seed: int = 0) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown discretisation {method!r}; use one of {', '.join(METHODS)}.")
        if n_bins < 2:
            raise ConfigError(f"n_bins must be at least 2, got {n_bins}.")
        self.method, self.n_bins, self.max_degree = method, n_bins, max_degree
        self.max_categories, self.seed = max_categories, seed

    # --- fitting -------------------------------------------------------------------------------
    def fit(self, x: np.ndarray | None, degree: np.ndarray | None = None) -> "Discretizer":
        """Learn the labelling from training rows ``x`` (or ``degree`` when ``x`` is ``None``)."""
        if x is None:
            if degree is None:
                raise ConfigError("featureless graphs need node degrees to discretise.")
            self.kind_ = "degree"
            self.num_labels_ = self.max_degree + 1
            self.representatives_ = np.arange(self.num_labels_, dtype=np.int64)[:, None]
            return self
        x = np.asarray(x).reshape(len(x), -1)
        method = self.method
        if method == "auto":
            method = "exact"
            if not is_integer_valued(x) or int(row_ids(x)[0].max()) + 1 > self.max_categories:
                method = "quantile"
        self.kind_ = method
        if method == "exact":
            inverse, first = row_ids(x)
            self.rows_, self.train_labels_ = x[first], inverse
            self.representatives_ = self.rows_
        elif method == "quantile":
            qs = np.linspace(0, 1, self.n_bins + 1)[1:-1]
            self.edges_ = [np.unique(np.quantile(x[:, j].astype(np.float64), qs)) for j in range(x.shape[1])]
            codes = self._bin(x)
            inverse, first = row_ids(codes)
            self.rows_, self.train_labels_ = codes[first], inverse
            self.representatives_ = self._means(x, inverse, len(self.rows_))
        else:  # kmeans
            from sklearn.cluster import KMeans

            k = min(self.n_bins, int(row_ids(x)[0].max()) + 1)
            self.kmeans_ = KMeans(n_clusters=k, n_init=3, random_state=self.seed).fit(x.astype(np.float64))
            inverse = self.kmeans_.labels_
            self.representatives_ = self.kmeans_.cluster_centers_.astype(np.float32)
        self.num_labels_ = len(self.representatives_)
        return self

    def _bin(self, x: np.ndarray) -> np.ndarray:
        return np.stack([np.searchsorted(e, x[:, j], side="right") for j, e in enumerate(self.edges_)], axis=1)

    @staticmethod
    def _means(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
        sums = np.zeros((k, x.shape[1]), dtype=np.float64)
        np.add.at(sums, labels, x.astype(np.float64))
        return (sums / np.bincount(labels, minlength=k)[:, None]).astype(np.float32)

    # --- applying ------------------------------------------------------------------------------
    def transform(self, x: np.ndarray | None, degree: np.ndarray | None = None) -> np.ndarray:
        """Integer labels of the rows (``-1`` for an exact tuple never seen in ``fit``)."""
        if not hasattr(self, "kind_"):
            raise ConfigError("Discretizer.transform called before fit.")
        if self.kind_ == "degree":
            return np.minimum(np.asarray(degree, dtype=np.int64), self.max_degree)
        x = np.asarray(x).reshape(len(x), -1)
        if self.kind_ == "kmeans":
            return self.kmeans_.predict(x.astype(np.float64)).astype(np.int64)
        codes = x if self.kind_ == "exact" else self._bin(x)
        return _lookup_rows(self.rows_, codes)

    def fit_transform(self, x: np.ndarray | None, degree: np.ndarray | None = None) -> np.ndarray:
        """``fit`` then the labels of the same rows (without a second lookup)."""
        self.fit(x, degree)
        if self.kind_ in ("exact", "quantile"):
            return self.train_labels_
        return self.transform(x, degree)


def row_ids(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense canonical ids of the rows of ``x`` (equal rows, equal ids; ids follow the rows' lexicographic
    order) and the index of one row per id. Vectorised: integer rows are packed into one int64 key when their
    ranges allow it, otherwise columns are folded in pairwise with 1-D ``np.unique`` calls."""
    from g2m.condense.trees import pair_ids

    x = np.asarray(x).reshape(len(x), -1)
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if is_integer_valued(x):
        cols = x.astype(np.int64)
        lo = cols.min(0)
        span = cols.max(0) - lo + 1
        if np.sum(np.log2(span.astype(np.float64))) < 62:
            key = np.zeros(len(x), dtype=np.int64)
            for j in range(cols.shape[1]):
                key = key * int(span[j]) + (cols[:, j] - lo[j])
            _, first, inv = np.unique(key, return_index=True, return_inverse=True)
            return inv.reshape(-1), first
    else:
        cols = np.stack([np.unique(x[:, j], return_inverse=True)[1].reshape(-1) for j in range(x.shape[1])], 1)
    ids = cols[:, 0]
    for j in range(1, cols.shape[1]):
        ids = pair_ids(ids, cols[:, j])
    _, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    return inv.reshape(-1), first


def _lookup_rows(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index of each row of ``rows`` in the unique-row ``table`` (``-1`` when absent)."""
    both = np.concatenate([table, rows.astype(table.dtype, copy=False)])
    inv, _ = row_ids(both)
    pos = np.full(int(inv.max()) + 1, -1, dtype=np.int64)
    pos[inv[: len(table)]] = np.arange(len(table))
    return pos[inv[len(table):]]
