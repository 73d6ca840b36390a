"""Layer variants that keep sparse bag-of-words inputs cheap."""

from __future__ import annotations

from torch import Tensor
from torch_geometric.nn import SAGEConv


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
