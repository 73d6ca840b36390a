"""The synthetic degree-corrected SBM used by scale tests and the scale benchmark."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.utils import degree, homophily, is_undirected

from g2m.datasets import node_split
from g2m.datasets.synthetic import synthetic_graph
from g2m.errors import ConfigError


def test_synthetic_graph_has_the_asked_structure():
    ds = synthetic_graph(5000, avg_degree=20, num_classes=5, num_features=8, homophily=0.7, seed=1)
    d = ds.data
    assert (d.num_nodes, d.x.shape, ds.num_classes) == (5000, (5000, 8), 5)
    assert is_undirected(d.edge_index) and not (d.edge_index[0] == d.edge_index[1]).any()
    assert torch.unique(d.edge_index[0] * 5000 + d.edge_index[1]).numel() == d.edge_index.size(1)  # no duplicates
    assert 15 < d.edge_index.size(1) / 5000 <= 20
    # 70% same-class by construction, plus the chance share of the other 30% (1/5)
    assert abs(homophily(d.edge_index, d.y) - (0.7 + 0.3 / 5)) < 0.03
    deg = degree(d.edge_index[1], 5000)
    assert deg.max() > 10 * deg.median()  # a heavy tail (power-law propensities)
    means = torch.stack([d.x[d.y == c].mean(0) for c in range(5)])
    assert torch.cdist(means, means).masked_fill(torch.eye(5, dtype=torch.bool), 1e9).min() > 0.5
    split = node_split(ds, 0, "tran")
    assert split.train.numel() == 5 * 20 and split.val.numel() == 5 * 30


def test_synthetic_graph_is_seeded_and_checks_its_arguments():
    a, b, c = (synthetic_graph(500, seed=s, num_classes=3) for s in (0, 0, 1))
    assert torch.equal(a.data.edge_index, b.data.edge_index) and torch.equal(a.data.x, b.data.x)
    assert not torch.equal(a.data.y, c.data.y)
    with pytest.raises(ConfigError, match="homophily"):
        synthetic_graph(100, homophily=1.5)
    with pytest.raises(ConfigError, match="2 nodes per class"):
        synthetic_graph(10, num_classes=10)
