"""A synthetic node-classification graph of any size: a degree-corrected stochastic block model.

For scale tests and benchmarks where ogbn-products is not available: classes of equal expected size,
power-law degree propensities (Pareto), a chosen fraction of same-class edges (homophily), and features
drawn around a class mean, so that both the graph and the features carry the label.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from g2m.datasets.base import NodeDataset
from g2m.errors import ConfigError


def synthetic_graph(num_nodes: int, avg_degree: float = 25.0, num_classes: int = 10, num_features: int = 64,
                    homophily: float = 0.8, power: float = 2.5, signal: float = 0.5, seed: int = 0) -> NodeDataset:
    """A seeded degree-corrected SBM with ``num_nodes`` nodes and about ``num_nodes * avg_degree`` directed
    edges (both directions of each undirected edge; duplicates and self-loops removed).

    Each edge picks its first end with probability ∝ the node's propensity θ (Pareto with exponent
    ``power``: power-law degrees), and its second end, with probability ``homophily``, among the first end's
    class (∝ θ), else among all nodes (∝ θ). Features: ``signal`` × a random class mean + standard normal
    noise. Split protocol: CPF (20 training and 30 validation nodes per class).
    """
    if num_nodes < 2 * num_classes or num_classes < 2:
        raise ConfigError(f"a synthetic graph needs at least 2 classes and 2 nodes per class, got {num_nodes} "
                          f"nodes and {num_classes} classes.")
    if not 0.0 <= homophily <= 1.0 or power <= 1.0 or avg_degree <= 0:
        raise ConfigError("homophily must be in [0, 1], power above 1 and avg_degree positive.")
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, num_classes, (num_nodes,), generator=g)
    theta = (1.0 - torch.rand(num_nodes, generator=g)) ** (-1.0 / (power - 1.0))
    num_pairs = int(num_nodes * avg_degree / 2)
    src = torch.multinomial(theta, num_pairs, replacement=True, generator=g)
    same = torch.rand(num_pairs, generator=g) < homophily
    dst = torch.multinomial(theta, num_pairs, replacement=True, generator=g)  # the "any node" ends
    for c in range(num_classes):
        members = (y == c).nonzero().view(-1)
        rows = (same & (y[src] == c)).nonzero().view(-1)
        if rows.numel() and members.numel():
            dst[rows] = members[torch.multinomial(theta[members], rows.numel(), replacement=True, generator=g)]
    edge_index, _ = remove_self_loops(torch.stack([src, dst]))
    del src, dst, same
    edge_index = coalesce(to_undirected(edge_index, num_nodes=num_nodes), num_nodes=num_nodes)
    means = torch.randn(num_classes, num_features, generator=g) * signal
    x = means[y] + torch.randn(num_nodes, num_features, generator=g)
    data = Data(x=x, edge_index=edge_index, y=y, num_nodes=num_nodes)
    return NodeDataset(name=f"synthetic-{num_nodes}", data=data, num_classes=num_classes, split_protocol="cpf",
                       source="synthetic")
