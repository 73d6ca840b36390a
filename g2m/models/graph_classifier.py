"""Graph classifiers (GIN, GCN, GAT from PyG) for real graphs and for distilled computation-tree sets.

Each layer is a PyG convolution followed by batch norm and ReLU; the readout pools every layer's node
embeddings (the input embedding included) with ``pool`` (sum, mean or max) and sums one linear prediction
per layer — the GIN paper's readout over all depths (no hidden head whose ReLUs could die under sum pooling). A distilled sample (a set of computation trees)
marks its trees' roots in ``data.root``; pooling then runs over the roots only, so one model trains on
trees and predicts on real graphs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import (GATConv, GCNConv, GINConv, GINEConv, global_add_pool, global_max_pool,
                                global_mean_pool)

from g2m.errors import ConfigError
from g2m.registry import Registry

GNNS: Registry = Registry("GNN")
POOLS: Registry = Registry("pooling")
POOLS.add("sum", global_add_pool)
POOLS.add("mean", global_mean_pool)
POOLS.add("max", global_max_pool)


@dataclass
class FeatureSpec:
    """How raw features enter the model: ``kind`` is ``categorical`` (integer columns, one embedding per
    column with ``dims[j]`` entries), ``dense`` (float vectors of size ``dim``) or ``degree`` (no node
    features: the clipped node degree as one categorical column)."""

    kind: str
    dims: list[int] | None = None
    dim: int | None = None
    max_degree: int = 64

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dims": self.dims, "dim": self.dim, "max_degree": self.max_degree}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "FeatureSpec | None":
        return None if d is None else cls(d["kind"], d.get("dims"), d.get("dim"), d.get("max_degree", 64))


def infer_spec(x: Tensor | np.ndarray | None, max_degree: int = 64) -> FeatureSpec | None:
    """Spec of a feature matrix of the *whole* dataset (so embedding tables cover val/test values)."""
    if x is None:
        return None
    x = torch.as_tensor(x)
    x = x.view(x.size(0), -1)
    if not torch.is_floating_point(x) and x.dtype != torch.bool:
        return FeatureSpec("categorical", dims=[int(v) + 1 for v in x.max(0).values.clamp(min=0).tolist()])
    return FeatureSpec("dense", dim=int(x.size(1)))


def dataset_specs(x: Tensor | np.ndarray | None, edge_attr: Tensor | np.ndarray | None,
                  max_degree: int = 64) -> tuple[FeatureSpec, FeatureSpec | None]:
    """Node and edge specs of a dataset from *all* its feature rows: the node features' spec, or the clipped
    degree when there are none; the edge features' spec, or ``None``."""
    node = infer_spec(x) if x is not None else FeatureSpec("degree", max_degree=max_degree)
    return node, infer_spec(edge_attr)


class Encoder(nn.Module):
    """Categorical columns → sum of embeddings; dense vectors → a linear layer."""

    def __init__(self, spec: FeatureSpec, hidden: int) -> None:
        super().__init__()
        self.kind = spec.kind
        if spec.kind in ("categorical", "degree"):
            dims = spec.dims if spec.kind == "categorical" else [spec.max_degree + 1]
            self.embs = nn.ModuleList(nn.Embedding(max(int(n), 1) + 1, hidden) for n in dims)
        else:
            self.lin = nn.Linear(int(spec.dim), hidden)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "dense":
            return self.lin(x.float().view(x.size(0), -1))
        x = x.long().view(x.size(0), -1)
        out = 0
        for j, emb in enumerate(self.embs):
            out = out + emb(x[:, j].clamp(min=0, max=emb.num_embeddings - 1))
        return out


class GraphClassifier(nn.Module):
    """``num_layers`` × (conv → batch norm → ReLU); logits = Σ over layers of a linear map of the pooled layer.

    ``gnn`` is ``gin`` (GINConv, or GINEConv with edge features), ``gcn`` or ``gat``; ``pool`` is ``sum``
    (the GIN default), ``mean`` or ``max``.
    """

    def __init__(self, gnn: str, node_spec: FeatureSpec, num_classes: int, edge_spec: FeatureSpec | None = None,
                 hidden_channels: int = 64, num_layers: int = 3, dropout: float = 0.5, pool: str = "sum",
                 heads: int = 4) -> None:
        super().__init__()
        gnn = gnn.lower()
        make_conv = GNNS.get(gnn)
        self.pool = POOLS.get(pool)
        if num_layers < 1:
            raise ConfigError(f"num_layers must be ≥ 1, got {num_layers}.")
        self.gnn, self.num_layers, self.dropout, self.pool_name = gnn, num_layers, dropout, pool
        self.encoder = Encoder(node_spec, hidden_channels)
        use_edges = edge_spec is not None and gnn in ("gin", "gat")
        self.edge_encoders = nn.ModuleList(Encoder(edge_spec, hidden_channels) for _ in range(num_layers)) \
            if use_edges else None
        self.convs = nn.ModuleList(make_conv(hidden_channels, use_edges, heads) for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden_channels) for _ in range(num_layers))
        self.heads = nn.ModuleList(nn.Linear(hidden_channels, num_classes) for _ in range(num_layers + 1))

    def forward(self, data: Data) -> Tensor:
        h = self.encoder(data.x)
        ea = getattr(data, "edge_attr", None)
        batch = data.batch if getattr(data, "batch", None) is not None else \
            torch.zeros(h.size(0), dtype=torch.long, device=h.device)
        root = getattr(data, "root", None)
        size = int(data.num_graphs) if getattr(data, "num_graphs", None) is not None else int(batch.max()) + 1
        readout_batch = batch if root is None else batch[root]
        pooled = [self._pool(h, root, readout_batch, size)]
        for i, conv in enumerate(self.convs):
            if self.edge_encoders is not None and ea is not None:
                h = conv(h, data.edge_index, self.edge_encoders[i](ea))
            else:
                h = conv(h, data.edge_index)
            h = F.relu(self.norms[i](h))
            pooled.append(self._pool(h, root, readout_batch, size))
        return sum(head(F.dropout(z, p=self.dropout, training=self.training))
                   for head, z in zip(self.heads, pooled))

    def _pool(self, h: Tensor, root: Tensor | None, batch: Tensor, size: int) -> Tensor:
        return self.pool(h if root is None else h[root], batch, size=size)


class _Conv(nn.Module):
    def __init__(self, conv: nn.Module, edges: bool) -> None:
        super().__init__()
        self.conv, self.edges = conv, edges

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        return self.conv(x, edge_index, edge_attr) if self.edges and edge_attr is not None else self.conv(x, edge_index)


@GNNS.register("gin")
def _gin(h: int, edges: bool, heads: int) -> nn.Module:
    mlp = nn.Sequential(nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, h))
    return _Conv(GINEConv(mlp, train_eps=True) if edges else GINConv(mlp, train_eps=True), edges)


@GNNS.register("gcn")
def _gcn(h: int, edges: bool, heads: int) -> nn.Module:
    return _Conv(GCNConv(h, h), False)


@GNNS.register("gat")
def _gat(h: int, edges: bool, heads: int) -> nn.Module:
    if h % heads:
        raise ConfigError(f"GAT needs hidden_channels divisible by heads ({h} % {heads} != 0).")
    return _Conv(GATConv(h, h // heads, heads=heads, edge_dim=h if edges else None), edges)
