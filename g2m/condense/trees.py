"""Computation trees, hashed vectorised over a whole dataset.

A node's depth-``L`` computation tree (the tree an ``L``-layer message-passing GNN unrolls from it) is
identified, up to isomorphism, by ``L`` rounds of WL refinement: each node's new label is a canonical id
of (own label, sorted multiset of (edge label, neighbour label)) — the AHU canonical form of rooted
unordered trees. Here a round is a handful of ``np.unique``/``lexsort`` calls over all nodes and edges of
the dataset at once; ids are exact (no hash collisions), dense (``0..K-1``) and canonical within one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from g2m.datasets.graph_arrays import _ranges


def pair_ids(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense canonical ids of the pairs ``(a[i], b[i])`` (equal pairs get equal ids, ordered lexicographically)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo_a, lo_b = a.min(), b.min()
    span_b = int(b.max() - lo_b) + 1
    if int(a.max() - lo_a) < (2**62) // span_b:
        key = (a - lo_a) * span_b + (b - lo_b)
        return np.unique(key, return_inverse=True)[1].reshape(-1)
    return np.unique(np.stack([a, b], 1), axis=0, return_inverse=True)[1].reshape(-1)


def wl_refine(labels: np.ndarray, edge_index: np.ndarray, edge_labels: np.ndarray | None = None) -> np.ndarray:
    """One WL round: new label of ``v`` = id of (``labels[v]``, sorted multiset of ``(edge label, labels[u])``
    over edges ``u → v``). Returns dense ids ``0..K-1``."""
    n = len(labels)
    src, dst = edge_index
    code = labels[src] if edge_labels is None else pair_ids(edge_labels, labels[src])
    order = np.lexsort((code, dst))  # by target, then by code: each node's sorted child multiset
    d, c = dst[order], code[order]
    deg = np.bincount(dst, minlength=n)
    ptr = np.concatenate([[0], np.cumsum(deg)])
    cur = pair_ids(labels, deg)  # (own label, number of children) first
    nxt = int(cur.max()) + 1 if n else 0
    if len(d):
        pos = np.arange(len(d)) - ptr[d]  # position of each edge in its node's sorted multiset
        by_pos = np.argsort(pos, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(pos))])
        for k in range(len(bounds) - 1):  # extend every node's prefix id by its k-th child code
            sel = by_pos[bounds[k]:bounds[k + 1]]
            nodes = d[sel]
            ids = pair_ids(cur[nodes], c[sel]) + nxt  # fresh id range per position: prefixes stay distinct
            cur[nodes] = ids
            nxt = int(ids.max()) + 1
    return np.unique(cur, return_inverse=True)[1].reshape(-1)


def tree_labels(labels0: np.ndarray, edge_index: np.ndarray, depth: int,
                edge_labels: np.ndarray | None = None) -> list[np.ndarray]:
    """Labels of every node's computation tree of depth ``0..depth`` (``[labels0, round1, …]``)."""
    out = [np.unique(np.asarray(labels0, dtype=np.int64), return_inverse=True)[1].reshape(-1)]
    for _ in range(depth):
        out.append(wl_refine(out[-1], edge_index, edge_labels))
    return out


@dataclass
class TreeGraph:
    """One computation tree as a small graph: node 0 is the root, edges point child → parent.

    ``node_label`` holds each tree node's depth-0 (discretised feature) label, ``edge_label`` each edge's
    discretised edge label (or ``None``)."""

    node_label: np.ndarray
    edge_index: np.ndarray
    edge_label: np.ndarray | None


class TreeIndex:
    """Computation-tree labels of all nodes of a set of graphs, and the trees themselves on demand."""

    def __init__(self, labels0: np.ndarray, edge_index: np.ndarray, depth: int,
                 edge_labels: np.ndarray | None = None) -> None:
        self.depth = depth
        self.labels = tree_labels(labels0, edge_index, depth, edge_labels)
        self.reps = [np.unique(lab, return_index=True)[1] for lab in self.labels]  # a node per label
        n = len(labels0)
        order = np.argsort(edge_index[1], kind="stable")
        self.in_src = edge_index[0][order]  # incoming neighbours, grouped by target
        self.in_elab = None if edge_labels is None else np.asarray(edge_labels)[order]
        self.in_ptr = np.concatenate([[0], np.cumsum(np.bincount(edge_index[1], minlength=n))])

    @property
    def root_labels(self) -> np.ndarray:
        """Depth-``L`` tree label of every node."""
        return self.labels[-1]

    def tree(self, label: int, compress: bool = True) -> TreeGraph:
        """The depth-``L`` computation tree with the given label.

        With ``compress`` (the default) children with identical sub-trees at the same level share one
        node, and the edges keep their multiplicity (duplicate edges), so every message-passing GNN
        computes exactly the root embedding of the fully unfolded tree from far fewer nodes.
        """
        L = self.depth
        level = np.array([self.reps[L][label]], dtype=np.int64)  # a graph node standing for each tree node
        first = 0
        node_label = [self.labels[0][level]]
        rows, cols, elabs = [], [], []
        count = 1
        for r in range(L, 0, -1):
            starts, cnt = self.in_ptr[level], np.diff(self.in_ptr)[level]
            e = _ranges(starts, cnt)
            parent = np.repeat(np.arange(len(level)) + first, cnt)
            child_nodes = self.in_src[e]
            child_lab = self.labels[r - 1][child_nodes]
            if compress:
                uniq, idx, inv = np.unique(child_lab, return_index=True, return_inverse=True)
                next_level, next_lab, local = child_nodes[idx], uniq, inv.reshape(-1)
            else:
                next_level, next_lab, local = child_nodes, child_lab, np.arange(len(child_nodes))
            rows.append(local + count)
            cols.append(parent)
            if self.in_elab is not None:
                elabs.append(self.in_elab[e])
            first, count = count, count + len(next_level)
            level = self.reps[r - 1][next_lab]
            node_label.append(self.labels[0][level])
        ei = np.stack([np.concatenate(rows), np.concatenate(cols)]) if rows else np.zeros((2, 0), dtype=np.int64)
        el = np.concatenate(elabs) if elabs else (None if self.in_elab is None else np.zeros(0, dtype=np.int64))
        return TreeGraph(np.concatenate(node_label), ei.astype(np.int64), el)
