"""Whole-dataset arrays: the graphs of a PyG in-memory dataset as flat numpy arrays, selected without
one Python object per graph."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from g2m.errors import DatasetError


@dataclass
class GraphArrays:
    """Graphs concatenated: ``node_ptr``/``edge_ptr`` (CSR offsets per graph), ``x`` (nodes × features or
    ``None``), ``edge_index`` (2 × edges, *global* node ids), ``edge_attr`` (or ``None``) and ``y``."""

    node_ptr: np.ndarray
    edge_ptr: np.ndarray
    x: np.ndarray | None
    edge_index: np.ndarray
    edge_attr: np.ndarray | None
    y: np.ndarray

    @property
    def num_graphs(self) -> int:
        return len(self.node_ptr) - 1

    @property
    def num_nodes(self) -> int:
        return int(self.node_ptr[-1])

    @property
    def node_graph(self) -> np.ndarray:
        """Graph id of each node."""
        return np.repeat(np.arange(self.num_graphs), np.diff(self.node_ptr))


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for each pair, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return np.arange(total, dtype=np.int64) + offsets


def _labels(y: torch.Tensor) -> np.ndarray:
    y = y.view(y.size(0), -1) if y.dim() > 1 else y.view(-1, 1)
    if y.size(1) != 1:
        raise DatasetError(f"graph labels have {y.size(1)} columns; graph classification needs one class label per graph.")
    y = y.view(-1)
    if torch.is_floating_point(y):
        if torch.isnan(y).any():
            raise DatasetError("some graph labels are NaN; drop unlabelled graphs before condensing.")
        y = y.long()
    return y.numpy().astype(np.int64)


def from_dataset(dataset, index=None) -> GraphArrays:
    """Flat arrays of ``dataset[index]`` (a PyG ``InMemoryDataset`` or a list of ``Data``)."""
    if isinstance(dataset, (list, tuple)):
        graphs = list(dataset) if index is None else [dataset[int(i)] for i in index]
        return from_data_list(graphs)
    data, slices = dataset._data, dataset.slices
    n_graphs = len(slices["y"]) - 1
    idx = np.arange(n_graphs) if index is None else np.asarray(torch.as_tensor(index).view(-1).cpu().numpy(),
                                                                 dtype=np.int64)
    e_sl = slices["edge_index"].numpy()
    if "x" in slices:
        n_sl = slices["x"].numpy()
    else:  # featureless graphs: node counts are kept aside by PyG
        counts = getattr(data, "_num_nodes", None)
        if counts is None:
            counts = [dataset.get(i).num_nodes for i in range(n_graphs)]
        n_sl = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])
    n_cnt, e_cnt = np.diff(n_sl)[idx], np.diff(e_sl)[idx]
    nodes, edges = _ranges(n_sl[idx], n_cnt), _ranges(e_sl[idx], e_cnt)
    node_ptr = np.concatenate([[0], np.cumsum(n_cnt)]).astype(np.int64)
    edge_ptr = np.concatenate([[0], np.cumsum(e_cnt)]).astype(np.int64)
    ei = data.edge_index.numpy()[:, edges] + np.repeat(node_ptr[:-1], e_cnt)[None, :]
    x = data.x.numpy()[nodes] if getattr(data, "x", None) is not None else None
    ea = data.edge_attr.numpy()[edges] if getattr(data, "edge_attr", None) is not None else None
    y = _labels(data.y)[idx] if data.y.size(0) == n_graphs else _labels(data.y.view(n_graphs, -1))[idx]
    return GraphArrays(node_ptr, edge_ptr, x, ei.astype(np.int64), ea, y)


def from_data_list(graphs) -> GraphArrays:
    """Flat arrays of a list of PyG ``Data`` graphs."""
    if not graphs:
        raise DatasetError("no graphs: the training set is empty.")
    n_cnt = np.array([int(g.num_nodes) for g in graphs], dtype=np.int64)
    e_cnt = np.array([int(g.edge_index.size(1)) for g in graphs], dtype=np.int64)
    node_ptr = np.concatenate([[0], np.cumsum(n_cnt)])
    edge_ptr = np.concatenate([[0], np.cumsum(e_cnt)])
    ei = np.concatenate([g.edge_index.numpy() + off for g, off in zip(graphs, node_ptr[:-1])], axis=1) \
        if e_cnt.sum() else np.zeros((2, 0), dtype=np.int64)
    has_x = graphs[0].x is not None
    x = np.concatenate([g.x.numpy() for g in graphs]) if has_x else None
    has_e = getattr(graphs[0], "edge_attr", None) is not None
    ea = np.concatenate([g.edge_attr.view(g.edge_index.size(1), -1).numpy() for g in graphs]) if has_e else None
    y = np.concatenate([_labels(g.y.view(1, -1)) for g in graphs])
    return GraphArrays(node_ptr, edge_ptr, x, ei.astype(np.int64), ea, y)
