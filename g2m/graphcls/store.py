"""Vectorised mini-batches of graphs: a whole dataset as flat tensors, a batch as one gather.

PyG's ``DataLoader`` collates a Python list of ``Data`` objects per batch; for thousands of small graphs
that collation costs more than the GNN itself on a CPU. A `GraphStore` keeps every graph concatenated
(CSR offsets per graph) and builds the batch of any graph ids with a few index operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data

from g2m.models.graph_classifier import FeatureSpec


def _ranges(starts: Tensor, counts: Tensor) -> Tensor:
    """Concatenation of ``arange(s, s + c)`` for each pair."""
    total = int(counts.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.long)
    offsets = torch.repeat_interleave(starts - (torch.cumsum(counts, 0) - counts), counts)
    return torch.arange(total, dtype=torch.long) + offsets


@dataclass
class GraphStore:
    """Graphs concatenated: ``x`` (model inputs), ``edge_index`` (global ids), optional ``edge_attr``,
    ``node_ptr``/``edge_ptr`` (offsets per graph), ``y`` (one class per graph) and, for distilled tree sets,
    ``root`` (which nodes the readout pools)."""

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor | None
    node_ptr: Tensor
    edge_ptr: Tensor
    y: Tensor
    root: Tensor | None = None

    def __len__(self) -> int:
        return int(self.y.numel())

    def batch(self, ids: Tensor | Sequence[int]) -> Data:
        """The disjoint union of graphs ``ids`` with ``batch``/``ptr`` as PyG's collation makes them."""
        ids = torch.as_tensor(ids, dtype=torch.long).view(-1)
        n_cnt = self.node_ptr[ids + 1] - self.node_ptr[ids]
        e_cnt = self.edge_ptr[ids + 1] - self.edge_ptr[ids]
        nodes = _ranges(self.node_ptr[ids], n_cnt)
        edges = _ranges(self.edge_ptr[ids], e_cnt)
        new_start = torch.cumsum(n_cnt, 0) - n_cnt
        shift = torch.repeat_interleave(new_start - self.node_ptr[ids], e_cnt)
        out = Data(x=self.x[nodes], edge_index=self.edge_index[:, edges] + shift, y=self.y[ids],
                   batch=torch.repeat_interleave(torch.arange(len(ids)), n_cnt),
                   ptr=torch.cat([new_start, n_cnt.sum().view(1)]))
        out.num_graphs = len(ids)
        if self.edge_attr is not None:
            out.edge_attr = self.edge_attr[edges]
        if self.root is not None:
            out.root = self.root[nodes]
        return out

    def batches(self, ids: Tensor, batch_size: int) -> list[Data]:
        """``ids`` cut into consecutive batches (for evaluation)."""
        return [self.batch(ids[i:i + batch_size]) for i in range(0, len(ids), batch_size)]

    def node_counts(self) -> Tensor:
        return self.node_ptr.diff()

    def edge_counts(self) -> Tensor:
        return self.edge_ptr.diff()

    # --- builders --------------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, arrays: Any, node_spec: FeatureSpec, edge_spec: FeatureSpec | None) -> "GraphStore":
        """From `g2m.datasets.graph_arrays.GraphArrays`, with features as ``node_spec``/``edge_spec`` describe."""
        ei = torch.from_numpy(np.ascontiguousarray(arrays.edge_index)).long()
        num_nodes = int(arrays.node_ptr[-1])
        if node_spec.kind == "degree":
            deg = torch.bincount(ei[1], minlength=num_nodes) if ei.numel() else torch.zeros(num_nodes, dtype=torch.long)
            x = deg.clamp(max=node_spec.max_degree).view(-1, 1)
        else:
            x = torch.from_numpy(np.ascontiguousarray(arrays.x))
            x = x.view(x.size(0), -1)
        ea = None
        if edge_spec is not None and arrays.edge_attr is not None:
            ea = torch.from_numpy(np.ascontiguousarray(arrays.edge_attr))
            ea = ea.view(ea.size(0), -1)
        return cls(x=x, edge_index=ei, edge_attr=ea, node_ptr=torch.from_numpy(arrays.node_ptr).long(),
                   edge_ptr=torch.from_numpy(arrays.edge_ptr).long(), y=torch.from_numpy(arrays.y).long())

    @classmethod
    def from_data_list(cls, graphs: list[Data]) -> "GraphStore":
        """From PyG graphs carrying model inputs (``x``, optional ``edge_attr``/``root``) and ``y``."""
        b = Batch.from_data_list(graphs)
        n_cnt = b.ptr.diff()
        e_cnt = torch.tensor([g.edge_index.size(1) for g in graphs], dtype=torch.long)
        edge_ptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(e_cnt, 0)])
        return cls(x=b.x, edge_index=b.edge_index, edge_attr=getattr(b, "edge_attr", None),
                   node_ptr=torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(n_cnt, 0)]),
                   edge_ptr=edge_ptr, y=b.y.view(-1).long(), root=getattr(b, "root", None))
