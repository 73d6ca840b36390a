"""Graph classifiers (GCN, GIN, GAT from PyG) and their training on real graphs or on a distilled set.

Real graphs are pooled over all nodes; a distilled sample (a set of computation trees) is pooled over its
trees' roots only, so the same model trains on trees and predicts on real graphs. Training on a distilled
set draws samples with a ``WeightedRandomSampler`` whose weights are the sets' frequencies. Model selection
(the reported epoch) uses the validation graphs only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GATConv, GCNConv, GINConv, GINEConv, global_add_pool, global_mean_pool
from torch_geometric.utils import degree

from g2m.errors import ConfigError
from g2m.registry import Registry

GNNS: Registry = Registry("GNN")


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


def model_inputs(d: Data, spec: FeatureSpec, max_degree: int = 64) -> Data:
    """A copy of graph ``d`` with ``x`` (and ``edge_attr``) as the model expects them; ``y`` as one label."""
    out = Data(edge_index=d.edge_index, num_nodes=d.num_nodes)
    if spec.kind == "degree":
        deg = degree(d.edge_index[1], d.num_nodes, dtype=torch.long)
        out.x = deg.clamp(max=spec.max_degree).view(-1, 1)
    else:
        out.x = d.x
    if getattr(d, "edge_attr", None) is not None:
        out.edge_attr = d.edge_attr
    y = d.y.view(-1)[:1].long()
    out.y = y
    return out


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
    """``num_layers`` message-passing layers (``gnn`` = gcn, gin or gat), then mean pooling of the
    roots' (or all nodes') last-layer embeddings and a two-layer head."""

    def __init__(self, gnn: str, node_spec: FeatureSpec, num_classes: int, edge_spec: FeatureSpec | None = None,
                 hidden_channels: int = 64, num_layers: int = 2, dropout: float = 0.5, pool: str = "mean",
                 heads: int = 4) -> None:
        super().__init__()
        gnn = gnn.lower()
        GNNS.get(gnn)  # clear error for unknown names
        self.gnn, self.num_layers, self.dropout = gnn, num_layers, dropout
        self.encoder = Encoder(node_spec, hidden_channels)
        use_edges = edge_spec is not None and gnn in ("gin", "gat")
        self.edge_encoders = nn.ModuleList(Encoder(edge_spec, hidden_channels) for _ in range(num_layers)) \
            if use_edges else None
        self.convs = nn.ModuleList(GNNS.get(gnn)(hidden_channels, use_edges, heads) for _ in range(num_layers))
        self.pool = {"mean": global_mean_pool, "sum": global_add_pool}[pool]
        self.head = nn.Sequential(nn.Linear(hidden_channels, hidden_channels), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden_channels, num_classes))

    def forward(self, data: Data) -> Tensor:
        h = self.encoder(data.x)
        ea = getattr(data, "edge_attr", None)
        for i, conv in enumerate(self.convs):
            if self.edge_encoders is not None and ea is not None:
                h = conv(h, data.edge_index, self.edge_encoders[i](ea))
            else:
                h = conv(h, data.edge_index)
            h = F.dropout(F.relu(h), p=self.dropout, training=self.training)
        batch = data.batch if getattr(data, "batch", None) is not None else \
            torch.zeros(h.size(0), dtype=torch.long, device=h.device)
        root = getattr(data, "root", None)
        if root is not None:
            h, batch = h[root], batch[root]
        size = int(data.num_graphs) if hasattr(data, "num_graphs") else None
        return self.head(self.pool(h, batch, size=size))


def _mlp(h: int) -> nn.Module:
    return nn.Sequential(nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, h))


class _Conv(nn.Module):
    def __init__(self, conv: nn.Module, edges: bool) -> None:
        super().__init__()
        self.conv, self.edges = conv, edges

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None) -> Tensor:
        return self.conv(x, edge_index, edge_attr) if self.edges and edge_attr is not None else self.conv(x, edge_index)


@GNNS.register("gin")
def _gin(h: int, edges: bool, heads: int) -> nn.Module:
    mlp = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))
    return _Conv(GINEConv(mlp, train_eps=True) if edges else GINConv(mlp, train_eps=True), edges)


@GNNS.register("gcn")
def _gcn(h: int, edges: bool, heads: int) -> nn.Module:
    return _Conv(GCNConv(h, h), False)


@GNNS.register("gat")
def _gat(h: int, edges: bool, heads: int) -> nn.Module:
    if h % heads:
        raise ConfigError(f"GAT needs hidden_channels divisible by heads ({h} % {heads} != 0).")
    return _Conv(GATConv(h, h // heads, heads=heads, edge_dim=h if edges else None), edges)


# --- evaluation ------------------------------------------------------------------------------------
def score(y_true: np.ndarray, proba: np.ndarray, metric: str) -> float:
    """Accuracy or ROC-AUC (binary, positive class 1) in percent."""
    if metric == "accuracy":
        return float((proba.argmax(1) == y_true).mean() * 100.0)
    if metric == "roc_auc":
        from sklearn.metrics import roc_auc_score

        if len(np.unique(y_true)) < 2:
            return float("nan")
        return float(roc_auc_score(y_true, proba[:, 1]) * 100.0)
    raise ConfigError(f"unknown metric {metric!r}; use accuracy or roc_auc.")


@torch.no_grad()
def predict_proba(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    ys, ps = [], []
    for batch in loader:
        batch = batch.to(device)
        ps.append(F.softmax(model(batch), dim=-1).cpu())
        ys.append(batch.y.view(-1).cpu())
    return torch.cat(ys).numpy(), torch.cat(ps).numpy()


@dataclass
class TrainResult:
    """Scores at the epoch with the best validation score."""

    val: float
    test: float
    best_epoch: int
    model: nn.Module | None = None


def fit(model: nn.Module, train: Sequence[Data], val: Sequence[Data], test: Sequence[Data], metric: str,
        device: torch.device, weights: Tensor | None = None, epochs: int = 100, batch_size: int = 64,
        lr: float = 1e-3, samples_per_epoch: int | None = None, eval_every: int = 1, patience: int | None = None,
        eval_batch_size: int = 512, seed: int = 0, keep_model: bool = False) -> TrainResult:
    """Train ``model`` on ``train`` (sampled ∝ ``weights`` with replacement when given, else shuffled) and
    return val/test scores at the best validation epoch."""
    from torch.utils.data import WeightedRandomSampler

    gen = torch.Generator().manual_seed(seed)
    if weights is not None:
        n = samples_per_epoch or max(len(train), 256)
        sampler = WeightedRandomSampler(weights.double(), num_samples=n, replacement=True, generator=gen)
        loader = DataLoader(list(train), batch_size=batch_size, sampler=sampler)
    else:
        loader = DataLoader(list(train), batch_size=batch_size, shuffle=True, generator=gen)
    val_loader = DataLoader(list(val), batch_size=eval_batch_size)
    test_loader = DataLoader(list(test), batch_size=eval_batch_size)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best = TrainResult(-float("inf"), float("nan"), -1)
    best_state, since = None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in loader:
            batch = batch.to(device)
            opt.zero_grad()
            loss = F.cross_entropy(model(batch), batch.y.view(-1))
            loss.backward()
            opt.step()
        if epoch % eval_every and epoch != epochs:
            continue
        v = score(*predict_proba(model, val_loader, device), metric)
        if v > best.val or best.best_epoch < 0:
            t = score(*predict_proba(model, test_loader, device), metric)
            best, since = TrainResult(v, t, epoch), 0
            if keep_model:
                best_state = copy.deepcopy(model.state_dict())
        else:
            since += eval_every
            if patience is not None and since >= patience:
                break
    if keep_model and best_state is not None:
        model.load_state_dict(best_state)
        best.model = model
    return best
