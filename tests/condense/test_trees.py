"""Computation-tree hashing, tree reconstruction and discretisation (Mirage)."""

import numpy as np
import pytest
import torch

from g2m.condense.discretize import Discretizer
from g2m.models.graph_classifier import FeatureSpec, GraphClassifier
from g2m.condense.trees import TreeIndex, pair_ids, tree_labels, wl_refine


def undirected(edges):
    e = np.array(edges, dtype=np.int64).T
    return np.concatenate([e, e[::-1]], axis=1)


def test_pair_ids_are_canonical():
    ids = pair_ids(np.array([3, 1, 3, 1]), np.array([5, 2, 5, 7]))
    assert ids[0] == ids[2] and len(set(ids.tolist())) == 3
    assert list(ids) == [2, 0, 2, 1]  # lexicographic order of (a, b)


def test_tree_labels_invariant_to_node_order():
    rng = np.random.RandomState(0)
    n = 30
    edges = {tuple(sorted(rng.choice(n, 2, replace=False))) for _ in range(60)}
    ei = undirected(sorted(edges))
    x = rng.randint(0, 3, n)
    base = tree_labels(x, ei, 3)
    perm = rng.permutation(n)  # new id of old node v is perm[v]
    x_p = np.empty_like(x)
    x_p[perm] = x
    ei_p = perm[ei][:, rng.permutation(ei.shape[1])]  # renumber nodes and shuffle edge order
    permuted = tree_labels(x_p, ei_p, 3)
    for r in range(4):
        # same partition of nodes into trees, whatever the numbering
        pairs = set(zip(base[r].tolist(), permuted[r][perm].tolist()))
        assert len(pairs) == len(set(base[r].tolist())) == len(set(permuted[r].tolist()))


def test_hashes_distinguish_non_isomorphic_trees():
    # path a-b-c and star centre: depth-1 trees of the centre of a 3-path vs centre of a 4-star differ,
    # and equal own labels with different child multisets differ.
    ei = undirected([(0, 1), (1, 2), (3, 4), (3, 5), (3, 6)])
    lab = wl_refine(np.zeros(7, dtype=np.int64), ei)
    assert lab[1] != lab[3]  # 2 children vs 3 children
    assert lab[0] == lab[2] == lab[4] == lab[5] == lab[6]  # all leaves with one neighbour
    # same degree, different child labels
    ei2 = undirected([(0, 1), (0, 2), (3, 4), (3, 5)])
    x2 = np.array([0, 1, 1, 0, 1, 2])
    lab2 = wl_refine(x2, ei2)
    assert lab2[0] != lab2[3]
    # edge labels matter when given
    ei3 = undirected([(0, 1), (2, 3)])
    lab3 = wl_refine(np.zeros(4, dtype=np.int64), ei3, edge_labels=np.array([0, 1, 0, 1]))
    assert lab3[0] != lab3[2]


def test_depth_two_distinguishes_what_depth_one_cannot():
    # two 6-cycles vs... a 6-cycle and a 3-path: nodes of degree 2 whose neighbours differ in degree
    ei = undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (6, 7), (7, 8), (8, 9), (9, 10)])
    labels = tree_labels(np.zeros(11, dtype=np.int64), ei, 2)
    assert labels[1][0] == labels[1][7]  # depth 1: both have two neighbours
    assert labels[2][0] != labels[2][7]  # depth 2: node 7's neighbour 6 is a leaf


@pytest.mark.parametrize("compress", [True, False])
def test_tree_graph_reproduces_gin_root_embedding(compress):
    """A GIN (sum aggregation) run on a reconstructed tree gives the root exactly the embedding the node has
    in its graph: the tree is the node's computation tree."""
    torch.manual_seed(0)
    rng = np.random.RandomState(1)
    n = 12
    edges = sorted({tuple(sorted(rng.choice(n, 2, replace=False))) for _ in range(20)})
    ei = undirected(edges)
    x = rng.randint(0, 4, n)
    depth = 2
    index = TreeIndex(x, ei, depth)
    spec = FeatureSpec("categorical", dims=[4])
    model = GraphClassifier("gin", spec, 2, hidden_channels=16, num_layers=depth, dropout=0.0).eval()

    def node_embeddings(xx, e):
        h = model.encoder(torch.as_tensor(xx).view(-1, 1))
        for conv, norm in zip(model.convs, model.norms):
            h = torch.relu(norm(conv(h, torch.as_tensor(e))))
        return h

    with torch.no_grad():
        full = node_embeddings(x, ei)
        for v in range(n):
            g = index.tree(int(index.root_labels[v]), compress=compress)
            assert g.edge_index.shape[1] == 0 or g.edge_index[1].max() < len(g.node_label)
            root = node_embeddings(g.node_label, g.edge_index)[0]
            assert torch.allclose(root, full[v], atol=1e-5), v


def test_compressed_tree_is_smaller_on_dense_graphs():
    ei = undirected([(i, j) for i in range(6) for j in range(i + 1, 6)])  # K6
    index = TreeIndex(np.zeros(6, dtype=np.int64), ei, 3)
    full, small = index.tree(0, compress=False), index.tree(0, compress=True)
    assert len(full.node_label) == 1 + 5 + 25 + 125
    assert len(small.node_label) == 4  # one node per level: all sub-trees of K6 are alike
    assert small.edge_index.shape[1] == 5 + 5 + 5  # multiplicities kept as duplicate edges
    assert len(small.node_label) < len(full.node_label)


def test_discretizer_modes():
    rng = np.random.RandomState(0)
    onehot = np.eye(4, dtype=np.float32)[rng.randint(0, 4, 50)]
    d = Discretizer().fit(onehot)
    assert d.kind_ == "exact" and d.num_labels_ == 4
    assert np.allclose(d.representatives_[d.transform(onehot)], onehot)

    cont = rng.randn(200, 3).astype(np.float32)
    q = Discretizer(n_bins=4).fit(cont)
    assert q.kind_ == "quantile"
    lab = q.transform(cont)
    assert lab.min() >= 0 and 4 < q.num_labels_ <= 4 ** 3
    km = Discretizer("kmeans", n_bins=5).fit(cont)
    assert km.num_labels_ == 5 and set(km.transform(cont).tolist()) <= set(range(5))
    assert km.representatives_.shape == (5, 3)

    deg = Discretizer(max_degree=3).fit(None, degree=np.array([0, 1, 5]))
    assert deg.kind_ == "degree" and deg.transform(None, np.array([0, 1, 5])).tolist() == [0, 1, 3]


# --- edge cases by hand (issue 17: mutation survivors) ----------------------------------------------------
def test_pair_ids_large_values_and_empty_input():
    a = np.array([2**61, 0, 2**61, 5], dtype=np.int64)  # too wide for the packed key: the row-unique path
    b = np.array([7, 2**40, 7, 1], dtype=np.int64)
    assert pair_ids(a, b).tolist() == [2, 0, 2, 1] and pair_ids(a, b).dtype == np.int64
    assert pair_ids(a[1:2], b[1:2]).tolist() == [0]
    empty = pair_ids(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert empty.shape == (0,) and empty.dtype == np.int64
    neg = pair_ids(np.array([-5, -5, 3]), np.array([-1, 4, -1]))  # offsets by the minima, not by their sum
    assert neg.tolist() == [0, 1, 2]
    assert pair_ids(np.array([0, 2, 1]), np.array([5, -1, -3])).tolist() == [0, 2, 1]  # span of b = 9, not 3
    # wide a with a negative minimum: the packed key would overflow, so the row-unique path must be taken
    assert pair_ids(np.array([-2**61, 2**61 - 1, -2**61]), np.array([0, 3, 1])).tolist() == [0, 2, 1]
    # a range × b span beyond int64: lexicographic order must survive (a wrapped key would swap these two)
    assert pair_ids(np.array([0, 2**30]), np.array([2**40, 0])).tolist() == [0, 1]


def test_wl_refine_keeps_fresh_ids_apart_and_handles_isolated_nodes():
    # node 0: label 0, no neighbours; nodes 1, 2 linked, labels 0 and 1; node 3 isolated (last id)
    labels = np.array([0, 0, 1, 0])
    ei = undirected([(1, 2)])
    new = wl_refine(labels, ei)
    assert new[0] == new[3] and len({new[0], new[1], new[2]}) == 3  # a childless 0 is not a 0 with a child
    assert wl_refine(np.zeros(0, dtype=np.int64), np.zeros((2, 0), dtype=np.int64)).shape == (0,)


def test_edge_labels_change_trees_and_are_kept_in_the_tree_graph():
    ei = undirected([(0, 1), (2, 3)])
    x = np.zeros(4, dtype=np.int64)
    elab = np.array([0, 0, 1, 1])  # edges 0→1, 2→3: label 0; 1→0, 3→2: label 1
    same = TreeIndex(x, ei, 1, np.array([5, 5, 5, 5]))
    assert len(set(same.root_labels.tolist())) == 1
    index = TreeIndex(x, ei, 1, elab)
    assert index.root_labels[0] != index.root_labels[1]  # node 0 hears label 1, node 1 hears label 0
    assert index.root_labels[0] == index.root_labels[2]
    tree = index.tree(int(index.root_labels[1]))
    assert tree.edge_label.tolist() == [0] and tree.edge_index.tolist() == [[1], [0]]
    assert index.tree(int(index.root_labels[0])).edge_label.tolist() == [1]
    bare = TreeIndex(x, ei, 0)  # depth 0: the root alone
    t0 = bare.tree(0)
    assert t0.edge_index.shape == (2, 0) and t0.edge_index.dtype == np.int64 and t0.edge_label is None
    empty = TreeIndex(x, ei, 0, elab).tree(0).edge_label
    assert empty.shape == (0,) and empty.dtype == np.int64


def test_trees_are_compressed_by_default():
    ei = undirected([(0, 1), (0, 2), (0, 3), (1, 2), (2, 3)])
    index = TreeIndex(np.zeros(4, dtype=np.int64), ei, 2)
    label = int(index.root_labels[0])
    default, full = index.tree(label), index.tree(label, compress=False)
    assert len(default.node_label) == len(index.tree(label, compress=True).node_label) < len(full.node_label)


def test_tree_index_with_an_isolated_last_node():
    ei = undirected([(0, 1)])
    index = TreeIndex(np.array([0, 0, 0]), ei, 2)  # node 2 has no edges
    lone = index.tree(int(index.root_labels[2]))
    assert lone.node_label.tolist() == [0] and lone.edge_index.shape == (2, 0)
