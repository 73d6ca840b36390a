"""What a model reads of a graph: features (dense or sparse CSR), adjacency inputs, computation subgraphs,
sampled neighbourhoods and PyG's NeighborLoader."""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_torch_csr_tensor

from g2m.errors import ConfigError


@contextlib.contextmanager
def quiet_sparse_csr() -> Iterator[None]:
    """Silence, here only, torch's warnings about sparse CSR tensors, which g2m builds on purpose (bag-of-words
    features, adjacency matrices); ``import g2m`` changes no warning filter of the process."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        yield


# Features go through a first linear layer as sparse CSR (one CSR x dense product) rather than dense when fewer than
# SPARSE_MAX_DENSITY of their values are non-zero; a batch of requests also needs at least SPARSE_MIN_ROWS rows (a
# CSR product has a fixed set-up cost that a few dense rows do not pay). Measured by `benchmarks/speed.py`
# (docs/results/speed-cora.md#sparse-or-dense-features).
SPARSE_MAX_DENSITY = 0.1
SPARSE_MIN_ROWS = 64


def sparse_enough(nonzeros: int, values: int, max_density: float = SPARSE_MAX_DENSITY) -> bool:
    """Whether fewer than ``max_density`` of ``values`` are non-zero (the density half of `prefer_sparse`)."""
    return nonzeros < max_density * values


def prefer_sparse(rows: int, columns: int, nonzeros: int) -> bool:
    """Whether a batch of ``rows x columns`` features with ``nonzeros`` non-zero values is faster as sparse CSR."""
    return rows >= SPARSE_MIN_ROWS and sparse_enough(nonzeros, rows * columns)


def as_model_input(x: Tensor, max_density: float = SPARSE_MAX_DENSITY) -> Tensor:
    """A graph's features as models read them: sparse CSR when fewer than ``max_density`` of the values are
    non-zero (bag-of-words features), else dense float; features already sparse are kept as they are."""
    x = x.float()
    if x.is_sparse or x.layout == torch.sparse_csr:
        return x
    if sparse_enough(int(torch.count_nonzero(x)), x.numel(), max_density):
        with quiet_sparse_csr():
            return x.to_sparse_csr()
    return x


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
    with quiet_sparse_csr():
        return torch.sparse_csr_tensor(new_crow, col[gather], val[gather], size=(idx.numel(), x.size(1)))


def sample_fan_out(edge_index: Tensor, num_nodes: int, fan_out: int) -> Tensor:
    """Keep at most ``fan_out`` random incoming edges per target node (full-batch neighbour sampling).

    GraphSAGE's sampled training (GLNN's teachers use fan-out 5) without a sampler extension: one integer
    sort by (target, random key), then each edge's rank within its target's group.
    """
    if fan_out <= 0:
        return edge_index
    target = edge_index[1]
    key = torch.randint(0, 1 << 31, (target.numel(),), device=target.device)
    order = torch.sort((target << 31) | key).indices  # grouped by target, random order inside a group
    sorted_target = target[order]
    counts = torch.bincount(sorted_target, minlength=num_nodes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(target.numel(), device=target.device) - starts[sorted_target]
    return edge_index[:, order[rank < fan_out]]


def sample_around(edge_index: Tensor, nodes: Tensor, num_hops: int, num_nodes: int, fan_out: int) -> Tensor:
    """The edges of `sample_fan_out` that ``nodes``' ``num_hops``-hop outputs read, drawing only those.

    Hop by hop from ``nodes``, each node reached gets one draw of at most ``fan_out`` incoming edges (the
    same draw in every hop, as in a whole-graph sample), so the outputs at ``nodes`` are distributed
    exactly as with `sample_fan_out` over the whole graph, at the cost of the few nodes involved.
    """
    drawn = torch.zeros(num_nodes, dtype=torch.bool, device=edge_index.device)
    frontier, parts = nodes, []
    for _ in range(num_hops):
        need = frontier[~drawn[frontier]]
        if need.numel() == 0:
            break
        drawn[need] = True
        keep = torch.zeros(num_nodes, dtype=torch.bool, device=edge_index.device)
        keep[need] = True
        part = sample_fan_out(edge_index[:, keep[edge_index[1]]], num_nodes, fan_out)
        parts.append(part)
        frontier = part[0].unique()
    return torch.cat(parts, dim=1) if parts else edge_index[:, :0]


def computation_subgraph(edge_index: Tensor, nodes: Tensor, num_hops: int, num_nodes: int):
    """What a ``num_hops``-layer GNN needs to compute its outputs at ``nodes``: PyG's ``k_hop_subgraph``.

    Returns ``(subset, sub_edge_index, position)``: the nodes within ``num_hops`` (global ids), the edges
    among them relabelled to ``0..len(subset)-1``, and where ``nodes`` sit in ``subset``. A GNN run on the
    subgraph gives, at ``position``, exactly its outputs on the whole graph at ``nodes`` (every in-edge of
    a node within ``num_hops - 1`` hops is kept), at a fraction of the cost when ``nodes`` are few.
    """
    from torch_geometric.utils import k_hop_subgraph

    subset, sub_edge_index, position, _ = k_hop_subgraph(nodes, num_hops, edge_index, relabel_nodes=True,
                                                         num_nodes=num_nodes)
    return subset, sub_edge_index, position


def subgraph_inputs(model: nn.Module, x: Tensor, edge_index: Tensor, nodes: Tensor, fan_out: int = 0):
    """What ``model`` needs for its outputs at ``nodes``: ``(x, graph, edge_index, position)`` of their
    computation subgraph (``position``: where ``nodes`` sit in it), its edges first re-sampled to at most
    ``fan_out`` per node and hop when ``fan_out > 0``. Models without a finite receptive field (APPNP) get
    the whole graph (sampled the same way) and ``position = nodes``."""
    n = x.size(0)
    hops = getattr(model, "receptive_field", None)
    if hops is None:
        ei = sample_fan_out(edge_index, n, fan_out) if fan_out else edge_index
        return x, graph_input(model, ei, n), ei, nodes
    ei = sample_around(edge_index, nodes, hops, n, fan_out) if fan_out else edge_index
    subset, sub_ei, position = computation_subgraph(ei, nodes, hops, n)
    return select_rows(x, subset), graph_input(model, sub_ei, subset.numel()), sub_ei, position


def graph_input(model: nn.Module, edge_index: Tensor, num_nodes: int) -> Tensor:
    """What ``model`` should receive as its graph: a sparse CSR adjacency (row = target) when it supports one.

    PyG layers aggregate a CSR adjacency with one sparse-dense matmul instead of a gather and a scatter over
    every edge: the same result, several times faster on CPU (a-computer's 0.5M edges: ~4x per epoch).
    """
    if getattr(model, "supports_sparse_adj", False):
        with quiet_sparse_csr():
            return to_torch_csr_tensor(edge_index.flip(0), size=(num_nodes, num_nodes))
    return edge_index


def neighbor_loader(data, input_nodes: Tensor, num_neighbors: list[int], batch_size: int, shuffle: bool = True,
                    sampler=None):
    """PyG's ``NeighborLoader`` over ``data``, or a clear error when its sampler backend is missing.

    ``sampler`` (e.g. a ``DistributedSampler`` over ``range(len(input_nodes))``) replaces ``shuffle``."""
    from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

    if not (WITH_PYG_LIB or WITH_TORCH_SPARSE):
        raise ConfigError(
            "minibatch teacher training uses PyG's NeighborLoader, which needs pyg-lib or torch-sparse, and "
            "neither is installed. Install them with `pip install --no-build-isolation torch-scatter torch-sparse` "
            "(the `fast` extra; they build from source against your torch: several minutes), or leave "
            "--teacher-batch-size unset to train full-batch.")
    from torch_geometric.loader import NeighborLoader

    return NeighborLoader(data, input_nodes=input_nodes, num_neighbors=num_neighbors, batch_size=batch_size,
                          shuffle=shuffle and sampler is None, sampler=sampler)
