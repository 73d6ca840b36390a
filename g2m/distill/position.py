"""Position features for students (NOSMOG's first idea): DeepWalk embeddings of the observed graph.

A plain MLP sees a node's features only; two nodes with the same features get the same prediction
wherever they sit in the graph. `deepwalk` embeds every node of the *observed* graph from uniform random
walks (skip-gram with negative sampling, as DeepWalk), and the student reads ``[features, positions]``.

Unseen nodes (the inductive test nodes, or new nodes at deployment) have no embedding: their position is
the mean position of their observed neighbours (`unseen_positions`), zeros when they have none. So a
position-aware student is *not* graph-free at inference for new nodes: it needs each new node's edges to
known nodes, and one gather-mean over them (measured in the speed benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter, sort_edge_index, to_undirected

from g2m.config import Settings, setting
from g2m.errors import ConfigError


@dataclass(frozen=True)
class PositionSettings(Settings):
    """DeepWalk settings of method ``pos`` (NOSMOG's cora configuration: walk length 50, 5 walks per node,
    window 5, 64 dimensions, one pass): the keys `deepwalk` takes besides the graph."""

    what: ClassVar[str] = "pos"
    position_dim: int = setting(64, "dimensions of the position features")
    walk_length: int = setting(50, "nodes per random walk")
    walks_per_node: int = setting(5, "random walks started at every node")
    window: int = setting(5, "skip-gram context window")
    position_epochs: int = setting(1, "passes over the walks")
    position_lr: float = setting(0.01, "skip-gram learning rate")
    position_batch_walks: int = setting(512, "walks per skip-gram step")


POSITION_DEFAULTS: dict[str, Any] = PositionSettings().to_dict()


def random_walks(edge_index: Tensor, num_nodes: int, walk_length: int, walks_per_node: int,
                 generator: torch.Generator | None = None) -> Tensor:
    """``walks_per_node`` uniform random walks of ``walk_length`` nodes from every node, ``[n * w, L]``.

    Row ``r`` starts at node ``r % num_nodes``. A walk at a node without neighbours stays there.
    """
    row, col = sort_edge_index(edge_index, num_nodes=num_nodes)
    deg = torch.bincount(row, minlength=num_nodes)
    ptr = torch.cat([deg.new_zeros(1), deg.cumsum(0)])
    current = torch.arange(num_nodes, device=edge_index.device).repeat(walks_per_node)
    steps = [current]
    for _ in range(walk_length - 1):
        d = deg[current]
        pick = (torch.rand(current.numel(), generator=generator, device=current.device) * d).long()
        nxt = col[(ptr[current] + pick).clamp(max=max(col.numel() - 1, 0))] if col.numel() else current
        current = torch.where(d > 0, nxt, current)
        steps.append(current)
    return torch.stack(steps, dim=1)


def skipgram_pairs(walks: Tensor, window: int) -> tuple[Tensor, Tensor]:
    """Every (centre, context) pair of nodes at most ``window`` steps apart on the same walk, both orders."""
    centres, contexts = [], []
    for offset in range(1, min(window, walks.size(1) - 1) + 1):
        a, b = walks[:, :-offset].reshape(-1), walks[:, offset:].reshape(-1)
        centres += [a, b]
        contexts += [b, a]
    if not centres:
        return walks.new_empty(0), walks.new_empty(0)
    return torch.cat(centres), torch.cat(contexts)


def skipgram_loss(centre: Tensor, context: Tensor, negative: Tensor) -> Tensor:
    """Negative-sampling skip-gram: ``-log σ(u·v) - log σ(-u·v')`` averaged over pairs (rows of embeddings)."""
    pos = (centre * context).sum(-1)
    neg = (centre * negative).sum(-1)
    return -(nn.functional.logsigmoid(pos) + nn.functional.logsigmoid(-neg)).mean()


def deepwalk(edge_index: Tensor, num_nodes: int, position_dim: int = 64, walk_length: int = 50,
             walks_per_node: int = 5, window: int = 5, position_epochs: int = 1, position_lr: float = 0.01,
             position_batch_walks: int = 512, seed: int | None = None) -> Tensor:
    """DeepWalk embeddings ``[num_nodes, position_dim]`` of the (undirected) graph, standardized per column.

    Uniform random walks, skip-gram over a ``window`` with one uniformly drawn negative per pair, trained
    with sparse Adam for ``position_epochs`` passes over the walks (``position_batch_walks`` walks per step).
    The columns are standardized (mean 0, std 1) so that their scale does not depend on training length.
    """
    for name, value in dict(position_dim=position_dim, walk_length=walk_length, walks_per_node=walks_per_node,
                            window=window, position_epochs=position_epochs,
                            position_batch_walks=position_batch_walks).items():
        if int(value) < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}.")
    if walk_length < 2:
        raise ConfigError(f"walk_length must be at least 2 (a walk needs a step), got {walk_length}.")
    gen = torch.Generator(device=edge_index.device)
    gen.manual_seed(int(torch.initial_seed() if seed is None else seed) % (1 << 63))
    edge_index = to_undirected(edge_index, num_nodes=num_nodes)
    walks = random_walks(edge_index, num_nodes, walk_length, walks_per_node, gen)
    out = train_skipgram(walks, num_nodes, position_dim, window, position_epochs, position_lr, position_batch_walks,
                         gen)
    return (out - out.mean(0)) / out.std(0).clamp_min(1e-12)


def train_skipgram(walks: Tensor, num_nodes: int, dim: int, window: int, epochs: int, lr: float, batch_walks: int,
                   generator: torch.Generator) -> Tensor:
    """Skip-gram embeddings ``[num_nodes, dim]`` from ``walks``: every walk once per epoch, in a random order,
    ``batch_walks`` walks per sparse-Adam step, one uniformly drawn negative per (centre, context) pair;
    rows start as N(0, 1/dim) entries (unit expected norm)."""
    device = walks.device
    emb = nn.Embedding(num_nodes, dim, sparse=True, device=device)
    with torch.no_grad():
        emb.weight.copy_(torch.randn(num_nodes, dim, generator=generator, device=device) / dim ** 0.5)
    opt = torch.optim.SparseAdam(emb.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(walks.size(0), generator=generator, device=device)
        for rows in order.split(batch_walks):
            centre, context = skipgram_pairs(walks[rows], window)
            negative = torch.randint(0, num_nodes, centre.shape, generator=generator, device=device)
            opt.zero_grad()
            skipgram_loss(emb(centre), emb(context), emb(negative)).backward()
            opt.step()
    return emb.weight.detach()


_CACHE: dict[tuple, Tensor] = {}
CACHE_SIZE = 8


def cached_deepwalk(edge_index: Tensor, num_nodes: int, seed: int, **settings: Any) -> Tensor:
    """`deepwalk`, remembered for the last `CACHE_SIZE` (graph, settings, seed): several students of one seed
    (an ablation, a tuning study) share their positions instead of recomputing them. The graph is keyed by
    its contents' hash, so an edited graph is never served stale positions."""
    graph = (edge_index.device.type, num_nodes, edge_index.shape, hash(edge_index.cpu().numpy().tobytes()))
    key = (graph, int(seed), tuple(sorted(settings.items())))
    if key not in _CACHE:
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = deepwalk(edge_index, num_nodes, seed=seed, **settings)
    return _CACHE[key]


def unseen_positions(known: Tensor, is_known: Tensor, edge_index: Tensor, nodes: Tensor) -> Tensor:
    """Positions of ``nodes`` (global ids) from their known neighbours: the mean of ``known`` over them.

    ``known`` is ``[num_nodes, d]`` (rows of unknown nodes are ignored), ``is_known`` a boolean mask over
    nodes. An edge ``(j, i)`` with ``j`` known and ``i`` in ``nodes`` lends ``known[j]`` to ``i`` (both
    directions of an undirected edge are in ``edge_index``). A node with no known neighbour gets zeros:
    the mean position (columns are standardized).
    """
    src, dst = edge_index
    want = torch.zeros(is_known.numel(), dtype=torch.bool, device=is_known.device)
    want[nodes] = True
    keep = is_known[src] & want[dst]
    summed = scatter(known[src[keep]], dst[keep], dim=0, dim_size=is_known.numel(), reduce="mean")
    return summed[nodes]


def position_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The DeepWalk settings among ``cfg``'s keys (defaults for the rest)."""
    return {k: cfg.get(k, v) for k, v in POSITION_DEFAULTS.items()}


def all_positions(observed: Tensor, local: Tensor, edge_index: Tensor) -> Tensor:
    """Positions of every node of the full graph: observed nodes (``local >= 0``, row ``local[i]`` of
    ``observed``) keep theirs, the others get `unseen_positions` from their observed neighbours."""
    n = local.numel()
    is_known = local >= 0
    full = torch.zeros(n, observed.size(1), dtype=observed.dtype, device=observed.device)
    full[is_known] = observed[local[is_known]]
    unseen = (~is_known).nonzero().view(-1)
    if unseen.numel():
        full[unseen] = unseen_positions(full, is_known, edge_index, unseen)
    return full
