"""Graph inputs (g2m/graph_inputs.py): features as dense or sparse CSR, adjacency inputs, computation
subgraphs and sampled neighbourhoods."""

from __future__ import annotations

import pytest
import torch
from torch import nn

def test_as_model_input_density_rule():
    from g2m.graph_inputs import as_model_input

    sparse = torch.zeros(10, 10)
    sparse[0, :9] = 2.0  # 9% nonzero (values need not be 1)
    assert as_model_input(sparse).layout == torch.sparse_csr
    assert torch.equal(as_model_input(sparse).to_dense(), sparse)
    exact = torch.zeros(4, 4)
    exact[0] = 3.0  # exactly 25% nonzero (exact in float32): not below a threshold of 0.25, stays dense
    assert as_model_input(exact, max_density=0.25).layout == torch.strided
    assert as_model_input(exact, max_density=0.26).layout == torch.sparse_csr
    half = torch.zeros(4, 4, dtype=torch.long)
    half[:2] = 1  # 50% nonzero: dense float
    out = as_model_input(half)
    assert out.layout == torch.strided and out.dtype == torch.float32
    assert as_model_input(half, max_density=0.6).layout == torch.sparse_csr
    coo = sparse.to_sparse()  # already sparse (COO or CSR): kept as it is
    assert as_model_input(coo).layout == torch.sparse_coo
    assert as_model_input(sparse.to_sparse_csr()).layout == torch.sparse_csr
    assert as_model_input(torch.zeros(0, 5)).layout == torch.strided


def test_prefer_sparse_thresholds():
    from g2m.graph_inputs import SPARSE_MAX_DENSITY, SPARSE_MIN_ROWS, prefer_sparse

    assert (SPARSE_MAX_DENSITY, SPARSE_MIN_ROWS) == (0.1, 64)  # the values docs/deploy.md gives, measured there
    cols = 100
    assert prefer_sparse(SPARSE_MIN_ROWS, cols, 0)
    assert not prefer_sparse(SPARSE_MIN_ROWS - 1, cols, 0)  # too few rows: dense rows are faster
    at = int(SPARSE_MAX_DENSITY * SPARSE_MIN_ROWS * cols)
    assert prefer_sparse(SPARSE_MIN_ROWS, cols, at - 1) and not prefer_sparse(SPARSE_MIN_ROWS, cols, at)


def test_select_rows_of_a_csr_matrix_by_hand():
    from g2m.graph_inputs import select_rows

    dense = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0], [0.0, 0.0, 0.0], [4.0, 5.0, 6.0]])
    csr = dense.to_sparse_csr()
    for idx in ([1, 3], [3, 1, 1], [2], [0, 2, 3], []):
        got = select_rows(csr, torch.tensor(idx, dtype=torch.long))
        assert got.layout == torch.sparse_csr and got.shape == (len(idx), 3)
        assert torch.equal(got.to_dense(), dense[idx])
    assert torch.equal(select_rows(dense, torch.tensor([3, 0])), dense[[3, 0]])


def test_graph_input_is_the_target_by_source_adjacency():
    from g2m.models import build_teacher
    from g2m.graph_inputs import graph_input

    sage = build_teacher("sage", 4, 2, hidden_channels=4)
    ei = torch.tensor([[0, 0], [1, 2]])  # directed: 0 → 1, 0 → 2; node 3 isolated
    adj = graph_input(sage, ei, 4)
    assert adj.layout == torch.sparse_csr and adj.shape == (4, 4)
    expected = torch.zeros(4, 4)
    expected[1, 0] = expected[2, 0] = 1.0  # row = target, column = source
    assert torch.equal(adj.to_dense(), expected)
    assert graph_input(nn.Linear(4, 2), ei, 4) is ei  # a model that says nothing gets the edge list


def _subgraph_case():
    from g2m.models import build_teacher

    # path 0 - 1 - 2 - 3 - 4 plus a star around 2 (5, 6 → 2) and node 7 isolated (the highest id)
    pairs = [(0, 1), (1, 2), (2, 3), (3, 4), (5, 2), (6, 2)]
    ei = torch.tensor(pairs + [(b, a) for a, b in pairs]).t()
    torch.manual_seed(0)
    return build_teacher("sage", 3, 2, hidden_channels=4).eval(), torch.randn(8, 3), ei


def test_subgraph_inputs_give_the_exact_outputs_of_the_whole_graph():
    from g2m.graph_inputs import computation_subgraph, graph_input, subgraph_inputs

    sage, x, ei = _subgraph_case()
    nodes = torch.tensor([0, 7])  # two hops around 0: {0, 1, 2}; 7 alone
    xs, graph, sub_ei, pos = subgraph_inputs(sage, x, ei, nodes)  # default fan-out 0: no sampling
    subset, expected_ei, expected_pos = computation_subgraph(ei, nodes, 2, 8)
    assert sorted(subset.tolist()) == [0, 1, 2, 7]
    assert torch.equal(xs, x[subset]) and torch.equal(sub_ei, expected_ei) and torch.equal(pos, expected_pos)
    assert graph.layout == torch.sparse_csr and graph.shape == (4, 4)
    assert torch.equal(graph.to_dense(), graph_input(sage, expected_ei, 4).to_dense())
    with torch.no_grad():
        assert torch.allclose(sage(xs, graph)[pos], sage(x, graph_input(sage, ei, 8))[nodes], atol=1e-6)
    # fan-out 1: at most one in-edge per node, drawn from the real ones
    torch.manual_seed(1)
    xs, graph, sub_ei, pos = subgraph_inputs(sage, x, ei, nodes, fan_out=1)
    assert torch.bincount(sub_ei[1], minlength=xs.size(0)).max() <= 1
    assert graph.shape == (xs.size(0), xs.size(0))
    rows = [int((x == xs[i]).all(1).nonzero()) for i in range(xs.size(0))]  # global id of each subgraph row
    real = set(map(tuple, ei.t().tolist()))
    assert all((rows[a], rows[b]) in real for a, b in sub_ei.t().tolist())
    assert [rows[int(p)] for p in pos] == [0, 7] and set(rows) <= {0, 1, 2, 7}  # within two hops of 0


def test_subgraph_inputs_for_a_model_without_a_receptive_field():
    from g2m.models import build_teacher
    from g2m.graph_inputs import subgraph_inputs

    _, x, ei = _subgraph_case()
    appnp = build_teacher("appnp", 3, 2, hidden_channels=4)
    assert getattr(appnp, "receptive_field", None) is None
    nodes = torch.tensor([1, 3])
    xs, graph, sub_ei, pos = subgraph_inputs(appnp, x, ei, nodes)
    assert xs is x and sub_ei is ei and pos is nodes  # the whole graph
    assert graph.layout == torch.sparse_csr and graph.shape == (8, 8)
    torch.manual_seed(2)
    xs, graph, sub_ei, pos = subgraph_inputs(appnp, x, ei, nodes, fan_out=1)
    assert torch.bincount(sub_ei[1], minlength=8).max() <= 1 and sub_ei.size(1) == 7  # 7 nodes have in-edges
    assert graph.shape == (8, 8) and int(graph.to_dense().sum()) == 7


def test_computation_subgraph_of_an_isolated_last_node():
    from g2m.graph_inputs import computation_subgraph

    ei = torch.tensor([[0, 1], [1, 0]])
    subset, sub_ei, pos = computation_subgraph(ei, torch.tensor([3, 0]), 2, 4)  # node 3 has no edges
    assert subset.tolist() == [0, 1, 3] and pos.tolist() == [2, 0] and sub_ei.tolist() == [[0, 1], [1, 0]]


def test_sample_around_single_seed_closed_frontier_and_no_seeds():
    from g2m.graph_inputs import sample_around

    cycle = torch.tensor([[0, 1], [1, 0]])  # 0 ⇄ 1: after two hops every reached node has drawn
    got = sample_around(cycle, torch.tensor([0]), 3, 2, 5)  # one seed, more hops than the graph needs
    assert sorted(map(tuple, got.t().tolist())) == [(0, 1), (1, 0)]  # each in-edge drawn once
    path = torch.tensor([[1, 2], [0, 1]])  # 2 → 1 → 0
    assert sorted(map(tuple, sample_around(path, torch.tensor([0]), 2, 3, 1).t().tolist())) == [(1, 0), (2, 1)]
    none = sample_around(cycle, torch.zeros(0, dtype=torch.long), 2, 2, 1)
    assert none.shape == (2, 0) and none.dtype == torch.long
    assert sample_around(cycle, torch.tensor([0]), 0, 2, 1).shape == (2, 0)  # zero hops: nothing is read


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_row_selection_and_sampling_on_a_gpu():
    """Every helper tensor must be made on the inputs' device (a CPU-only run cannot see this)."""
    from g2m.graph_inputs import sample_around, sample_fan_out, select_rows

    dense = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0], [4.0, 5.0, 6.0]], device="cuda")
    idx = torch.tensor([2, 0], device="cuda")
    assert torch.equal(select_rows(dense.to_sparse_csr(), idx).to_dense(), dense[idx])
    ei = torch.tensor([[0, 1, 2, 2], [1, 2, 0, 1]], device="cuda")
    assert sample_fan_out(ei, 3, 1).device.type == "cuda"
    assert sample_around(ei, torch.tensor([1], device="cuda"), 2, 3, 1).device.type == "cuda"


def test_sparse_csr_inputs_are_built_without_torch_warnings_and_without_touching_the_filters():
    """torch warns (once per process) when a sparse CSR tensor is made (to_sparse_csr: "beta state"; the CSR
    constructor: "invariant checks"); g2m silences exactly those, where it makes them. In a fresh process with
    every warning an error from then on: torch's own calls fail, g2m's do not, and the filters stay as they were."""
    import subprocess
    import sys

    from g2m.graph_inputs import as_model_input

    as_model_input(torch.eye(20))  # here too, so that mutation testing knows this test reaches the function
    setup = ("import warnings, torch; from g2m.graph_inputs import as_model_input, select_rows; "
             "x = torch.zeros(40, 30); x[0, 1] = 1; warnings.simplefilter('error'); before = list(warnings.filters); ")
    cases = {
        "y = as_model_input(x); z = select_rows(y, torch.tensor([0, 3])); "
        "assert y.layout == torch.sparse_csr and z.layout == torch.sparse_csr": False,
        "y = x.to_sparse_csr()": True,
        "y = as_model_input(x); torch.sparse_csr_tensor(y.crow_indices(), y.col_indices(), y.values(), size=(40, 30))":
            True,
    }
    for code, fails in cases.items():
        done = subprocess.run([sys.executable, "-c", setup + code + "; assert list(warnings.filters) == before"],
                              capture_output=True, text=True, timeout=600)  # a hang guard only
        assert (done.returncode != 0) == fails, (code, done.stderr[-500:])


@pytest.mark.skipif(not __import__("torch_geometric.typing").typing.WITH_TORCH_SPARSE
                    and not __import__("torch_geometric.typing").typing.WITH_PYG_LIB,
                    reason="needs the `fast` extra (torch-sparse or pyg-lib) for NeighborLoader")
def test_neighbor_loader_draws_its_seed_nodes_from_the_given_sampler():
    from torch.utils.data.distributed import DistributedSampler
    from torch_geometric.data import Data

    from g2m.graph_inputs import neighbor_loader

    data = Data(x=torch.arange(20.0).unsqueeze(1), edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=20)
    nodes = torch.arange(10, 20)
    sampler = DistributedSampler(range(nodes.numel()), num_replicas=2, rank=0, shuffle=False)
    seen = torch.cat([b.n_id[: b.batch_size] for b in neighbor_loader(data, nodes, [-1], 3, sampler=sampler)])
    assert sorted(seen.tolist()) == [10, 12, 14, 16, 18]  # rank 0's half, in the sampler's order
