"""The shared training loop: Adam, early stopping on validation accuracy, best-epoch restore."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_torch_csr_tensor

from g2m.errors import ConfigError


@dataclass
class FitResult:
    best_epoch: int
    best_val: float
    epochs_run: int
    val_history: list[float] = field(default_factory=list)


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Accuracy in percent."""
    if y.numel() == 0:
        return float("nan")
    return float((logits.argmax(-1) == y).float().mean().item() * 100.0)


def as_model_input(x: Tensor, max_density: float = 0.1) -> Tensor:
    """Sparse CSR when ``x`` is mostly zeros (bag-of-words features), else dense float."""
    x = x.float()
    if x.is_sparse or x.layout == torch.sparse_csr:
        return x
    if x.numel() and float((x != 0).float().mean()) < max_density:
        return x.to_sparse_csr()
    return x


def fit(model: nn.Module, step: Callable[[torch.optim.Optimizer], float], validate: Callable[[], float],
        lr: float, weight_decay: float, max_epochs: int, patience: int, ties: str = "latest") -> FitResult:
    """Train ``model`` with ``step(optimizer)`` once per epoch; keep the weights of the best ``validate()``.

    ``validate`` runs in eval mode without gradients; training stops after ``patience`` epochs without
    improvement. With ``ties="latest"`` (GLNN's rule) an epoch that equals the best validation score
    replaces it and restarts the patience count; with ``"earliest"`` only a strictly better one does.
    Model selection uses validation data only.
    """
    if ties not in ("latest", "earliest"):
        raise ConfigError(f"ties must be 'latest' or 'earliest', got {ties!r}.")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_val, best_epoch, best_state = -float("inf"), -1, None
    history: list[float] = []
    epoch = -1
    for epoch in range(max_epochs):
        model.train()
        step(optimizer)
        model.eval()
        with torch.no_grad():
            val = float(validate())
        history.append(val)
        if val > best_val or (ties == "latest" and val == best_val):
            best_val, best_epoch = val, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch=best_epoch, best_val=best_val, epochs_run=epoch + 1, val_history=history)


def select_rows(x: Tensor, idx: Tensor) -> Tensor:
    """``x[idx]`` for dense or sparse CSR ``x`` (torch has no row indexing for CSR)."""
    if x.layout != torch.sparse_csr:
        return x[idx]
    crow, col, val = x.crow_indices(), x.col_indices(), x.values()
    starts = crow[idx]
    counts = crow[idx + 1] - starts
    new_crow = torch.zeros(idx.numel() + 1, dtype=crow.dtype, device=x.device)
    new_crow[1:] = counts.cumsum(0)
    gather = torch.arange(int(new_crow[-1]), device=x.device) + torch.repeat_interleave(starts - new_crow[:-1], counts)
    return torch.sparse_csr_tensor(new_crow, col[gather], val[gather], size=(idx.numel(), x.size(1)))


def sample_fan_out(edge_index: Tensor, num_nodes: int, fan_out: int) -> Tensor:
    """Keep at most ``fan_out`` random incoming edges per target node (full-batch neighbour sampling).

    GraphSAGE's sampled training (GLNN's teachers use fan-out 5) without a sampler extension: random keys,
    one sort by (target, key), then each edge's rank within its target's group.
    """
    if fan_out <= 0:
        return edge_index
    target = edge_index[1]
    key = torch.rand(target.numel(), device=target.device)
    order = torch.argsort(target.double() + key.double() * 0.5)  # groups by target, random order inside
    sorted_target = target[order]
    counts = torch.bincount(sorted_target, minlength=num_nodes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(target.numel(), device=target.device) - starts[sorted_target]
    return edge_index[:, order[rank < fan_out]]


def graph_input(model: nn.Module, edge_index: Tensor, num_nodes: int) -> Tensor:
    """What ``model`` should receive as its graph: a sparse CSR adjacency (row = target) when it supports one.

    PyG layers aggregate a CSR adjacency with one sparse-dense matmul instead of a gather and a scatter over
    every edge: the same result, several times faster on CPU (a-computer's 0.5M edges: ~4x per epoch).
    """
    if getattr(model, "supports_sparse_adj", False):
        return to_torch_csr_tensor(edge_index.flip(0), size=(num_nodes, num_nodes))
    return edge_index


def neighbor_loader(data, input_nodes: Tensor, num_neighbors: list[int], batch_size: int, shuffle: bool = True):
    """PyG's ``NeighborLoader`` over ``data``, or a clear error when its sampler backend is missing."""
    from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

    if not (WITH_PYG_LIB or WITH_TORCH_SPARSE):
        raise ConfigError(
            "minibatch teacher training uses PyG's NeighborLoader, which needs pyg-lib or torch-sparse, and "
            "neither is installed. Install them with `pip install --no-build-isolation torch-scatter torch-sparse` "
            "(the `fast` extra; they build from source against your torch: several minutes), or leave "
            "--teacher-batch-size unset to train full-batch.")
    from torch_geometric.loader import NeighborLoader

    return NeighborLoader(data, input_nodes=input_nodes, num_neighbors=num_neighbors, batch_size=batch_size,
                          shuffle=shuffle)
