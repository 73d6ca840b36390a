"""Teacher graph inputs: CSR adjacency equals edge_index; full-batch fan-out sampling."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.utils import coalesce, to_undirected

from g2m.models import build_teacher
from g2m.graph_inputs import computation_subgraph, graph_input, sample_fan_out, select_rows


def _graph(n: int = 60, m: int = 400):
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = coalesce(to_undirected(ei[:, ei[0] != ei[1]]))
    return ei, torch.randn(n, 12, generator=g)


@pytest.mark.parametrize("name,kwargs", [("sage", {}), ("sage", {"aggr": "gcn"}), ("gcn", {}), ("appnp", {})])
def test_csr_adjacency_gives_same_outputs_and_gradients(name, kwargs):
    ei, x = _graph()
    torch.manual_seed(0)
    net = build_teacher(name, 12, 3, hidden_channels=16, **kwargs).eval()
    adj = graph_input(net, ei, x.size(0))
    assert adj.layout == torch.sparse_csr
    results = []
    for graph in (ei, adj):
        net.zero_grad()
        out = net(x, graph)
        out.pow(2).sum().backward()
        results.append((out.detach(), torch.cat([p.grad.flatten() for p in net.parameters()])))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-5)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-4)


def test_gat_keeps_edge_index():
    ei, x = _graph()
    net = build_teacher("gat", 12, 3, hidden_channels=16)
    assert graph_input(net, ei, x.size(0)) is ei


def test_fan_out_sampling_caps_in_degree_and_keeps_real_edges():
    ei, _ = _graph(n=60, m=1500)
    torch.manual_seed(1)
    sampled = sample_fan_out(ei, 60, 3)
    in_deg = torch.bincount(ei[1], minlength=60)
    sampled_deg = torch.bincount(sampled[1], minlength=60)
    assert torch.equal(sampled_deg, in_deg.clamp(max=3))  # exactly min(degree, fan-out) per target
    edges = set(map(tuple, ei.t().tolist()))
    assert all(tuple(e) in edges for e in sampled.t().tolist())
    assert len(set(map(tuple, sampled.t().tolist()))) == sampled.size(1)  # no edge drawn twice
    again = sample_fan_out(ei, 60, 3)
    assert not torch.equal(sampled, again)  # a fresh draw each call
    assert sample_fan_out(ei, 60, 0) is ei


def test_gcn_aggregator_matches_glnn_formula():
    """GLNN's SAGE on ``A + I`` with DGL's "gcn" aggregator: W (2 x_i + sum_j x_j) / (deg_i + 2) + b."""
    from g2m.models.layers import GCNAggrSAGEConv

    ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])  # path 0-1-2-3 plus isolated node 4
    x = torch.randn(5, 4)
    conv = GCNAggrSAGEConv(4, 3)
    torch.nn.init.normal_(conv.bias)
    w, b = conv.lin.weight, conv.bias
    adj = torch.zeros(5, 5)
    adj[ei[1], ei[0]] = 1
    expected = ((adj @ x + 2 * x) / (adj.sum(1, keepdim=True) + 2)) @ w.t() + b
    assert torch.allclose(conv(x, ei), expected, atol=1e-6)
    assert torch.allclose(conv(x, ei)[4], x[4] @ w.t() + b, atol=1e-6)  # isolated: its own features


def test_unknown_sage_aggregator_is_refused():
    with pytest.raises(ValueError, match="aggregator"):
        build_teacher("sage", 12, 3, aggr="max")


@pytest.mark.parametrize("name,kwargs", [("sage", {}), ("sage", {"aggr": "gcn"}), ("gcn", {}), ("gat", {}),
                                         ("sage", {"num_layers": 3})])
def test_computation_subgraph_gives_exact_outputs(name, kwargs):
    """Teachers train on the computation subgraph of the training nodes: same outputs as the whole graph."""
    ei, x = _graph(n=200, m=500)
    torch.manual_seed(0)
    net = build_teacher(name, 12, 3, hidden_channels=16, **kwargs).eval()
    nodes = torch.tensor([3, 50, 120])
    subset, sub_ei, pos = computation_subgraph(ei, nodes, net.receptive_field, 200)
    assert subset.numel() < 200  # the point: fewer nodes than the graph
    full = net(x, graph_input(net, ei, 200))[nodes]
    sub = net(select_rows(x, subset), graph_input(net, sub_ei, subset.numel()))[pos]
    assert torch.allclose(full, sub, atol=1e-5)


def test_gcn_needs_one_more_hop_than_layers():
    """GCN's normalisation reads the source's degree: with only num_layers hops the outputs would differ."""
    ei, x = _graph(n=200, m=500)
    torch.manual_seed(0)
    net = build_teacher("gcn", 12, 3, hidden_channels=16).eval()
    assert net.receptive_field == net.num_layers + 1
    nodes = torch.tensor([3, 50, 120])
    subset, sub_ei, pos = computation_subgraph(ei, nodes, net.num_layers, 200)
    full = net(x, graph_input(net, ei, 200))[nodes]
    sub = net(x[subset], graph_input(net, sub_ei, subset.numel()))[pos]
    assert not torch.allclose(full, sub, atol=1e-5)


def test_sample_around_draws_what_the_outputs_read():
    """Sampling only around the training nodes: each reached node keeps min(degree, fan-out) in-edges,
    drawn from its real in-edges, and every in-edge of the nodes themselves is a candidate."""
    from g2m.graph_inputs import sample_around

    ei, _ = _graph(n=200, m=500)
    nodes = torch.tensor([3, 50, 120])
    sampled = sample_around(ei, nodes, 2, 200, 2)
    in_deg = torch.bincount(ei[1], minlength=200)
    got = torch.bincount(sampled[1], minlength=200)
    targets = sampled[1].unique()
    assert torch.isin(nodes, targets).all()
    hop1 = sampled[0][torch.isin(sampled[1], nodes)].unique()
    assert torch.isin(hop1, torch.cat([targets, hop1[in_deg[hop1] == 0]])).all()  # hop-1 nodes drew too
    assert torch.equal(got[targets], in_deg[targets].clamp(max=2))
    edges = set(map(tuple, ei.t().tolist()))
    assert all(tuple(e) in edges for e in sampled.t().tolist())
    assert targets.numel() < 200  # nodes beyond two hops drew nothing
    draws = {tuple(sample_around(ei, nodes, 1, 200, 2).t().tolist()[0]) for _ in range(20)}
    assert len(draws) > 1  # random


def test_gcn_aggregator_gradient_over_an_edge_index_is_reproducible(same_gradient_every_time):
    from g2m.datasets import load_dataset
    from g2m.models.layers import GCNAggrSAGEConv

    ds = load_dataset("cora")
    torch.manual_seed(0)
    conv = GCNAggrSAGEConv(ds.num_features, 64)
    edges = ds.data.edge_index[:, torch.randperm(ds.data.edge_index.size(1))]  # not sorted by source
    same_gradient_every_time(lambda x: conv(x, edges).square().sum(), ds.data.x)


@pytest.mark.parametrize("sparse_x", [False, True])
def test_gcn_prepared_graph_gives_bitwise_the_same_outputs_and_gradients(sparse_x):
    """A graph normalised once (`GCN.prepare_graph`) reads exactly as the raw adjacency, which every layer
    normalises on every call: outputs, hidden layer and gradients equal bit for bit, in training mode too."""
    ei, x = _graph()
    if sparse_x:
        x = (x * (x > 1.0)).to_sparse_csr()
    torch.manual_seed(0)
    net = build_teacher("gcn", 12, 3, hidden_channels=16, num_layers=3, dropout=0.5)
    adj = graph_input(net, ei, x.size(0))
    prepared = net.prepare_graph(adj, x.size(0))
    assert type(prepared).__name__ == "NormalisedAdj"
    results = []
    for graph in (adj, prepared, adj):
        torch.manual_seed(1)  # the same dropout masks
        net.zero_grad()
        out, hidden = net(x, graph, return_hidden=True)
        out.pow(2).sum().backward()
        results.append((out.detach(), hidden.detach(), [p.grad.clone() for p in net.parameters()]))
    for got in results[1:]:
        assert torch.equal(got[0], results[0][0]) and torch.equal(got[1], results[0][1])
        assert all(torch.equal(a, b) for a, b in zip(got[2], results[0][2]))
    assert all(conv.normalize for conv in net.convs)  # the layers normalise raw graphs again afterwards


def test_prepare_graph_leaves_other_graphs_and_teachers_alone():
    ei, x = _graph()
    gcn = build_teacher("gcn", 12, 3, hidden_channels=16)
    assert gcn.prepare_graph(ei, x.size(0)) is ei  # an edge_index: normalised per call, as before
    sage = build_teacher("sage", 12, 3, hidden_channels=16)
    adj = graph_input(sage, ei, x.size(0))
    assert sage.prepare_graph(adj, x.size(0)) is adj


def test_gcn_restores_its_normalisation_after_a_failed_call():
    ei, x = _graph()
    net = build_teacher("gcn", 12, 3, hidden_channels=16)
    prepared = net.prepare_graph(graph_input(net, ei, x.size(0)), x.size(0))
    with pytest.raises(RuntimeError):
        net(x[:, :5], prepared)  # wrong feature width
    assert all(conv.normalize for conv in net.convs)
