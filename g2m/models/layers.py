"""Layer variants that keep sparse bag-of-words inputs cheap."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import Linear, SAGEConv
from torch_geometric.utils import degree, scatter

from g2m.utils.rows import take_rows


class ProjectFirstSAGEConv(SAGEConv):
    """PyG's mean-aggregation ``SAGEConv``, computed as ``mean_j(W_l x_j) + b + W_r x_i``.

    A linear map commutes with mean aggregation, so this is the same function with the same parameters
    (state dicts are interchangeable with ``SAGEConv``); projecting before aggregating lets ``x`` be a
    sparse CSR matrix and moves ``out_channels`` instead of ``in_channels`` numbers per edge.
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__(in_channels, out_channels, aggr="mean", **kwargs)

    def forward(self, x: Tensor, edge_index: Tensor, size=None) -> Tensor:  # type: ignore[override]
        h = x @ self.lin_l.weight.t()
        out = self.propagate(edge_index, x=(h, h), size=size)
        if self.lin_l.bias is not None:
            out = out + self.lin_l.bias
        if self.root_weight:
            out = out + self.lin_r(x)
        return out


class GCNAggrSAGEConv(nn.Module):
    """GraphSAGE with the ``"gcn"`` aggregator as GLNN trains it (DGL ``SAGEConv(..., "gcn")``).

    GLNN builds its graph from ``A + I``, so every node is its own neighbour once and the aggregator adds
    it once more: ``out_i = W · (2 x_i + Σ_{j∈N(i)} x_j) / (deg_i + 2) + b`` with one weight matrix and no
    separate root weight. ``N(i)`` excludes ``i`` (g2m's graphs have no self-loops). ``adj`` is an
    ``edge_index`` or a sparse CSR adjacency (row = target); ``x`` may be sparse CSR.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin = Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        h = x @ self.lin.weight.t()  # project first: x may be sparse, and fewer numbers move per edge
        n = h.size(0)
        if adj.layout == torch.sparse_csr:
            neigh = adj @ h
            deg = (adj.crow_indices()[1:] - adj.crow_indices()[:-1]).to(h.dtype)
        else:
            neigh = scatter(take_rows(h, adj[0]), adj[1], dim=0, dim_size=n, reduce="sum")
            deg = degree(adj[1], n, dtype=h.dtype)
        out = (neigh + 2.0 * h) / (deg + 2.0).unsqueeze(-1)
        return out + self.bias if self.bias is not None else out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr='gcn')"
