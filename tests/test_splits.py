"""Split invariants: CPF counts, disjointness, inductive nodes truly absent from the observed graph."""

from __future__ import annotations

import pytest
import torch

from g2m import load_dataset
from g2m.datasets import node_split, graph_split


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")


@pytest.mark.parametrize("seed", [0, 7])
def test_cpf_split_counts_and_disjoint(cora, seed):
    s = node_split(cora, seed, "tran")
    y = cora.data.y
    assert torch.equal(torch.bincount(y[s.train], minlength=7), torch.full((7,), 20))
    assert torch.equal(torch.bincount(y[s.val], minlength=7), torch.full((7,), 30))
    parts = torch.cat([s.train, s.val, s.test])
    assert parts.unique().numel() == parts.numel() == cora.num_nodes


def test_cpf_split_depends_on_seed_only(cora):
    a, b, c = node_split(cora, 1), node_split(cora, 1), node_split(cora, 2)
    assert torch.equal(a.train, b.train) and not torch.equal(a.train, c.train)


def test_inductive_split(cora):
    tran, ind = node_split(cora, 3, "tran"), node_split(cora, 3, "ind")
    assert torch.equal(tran.train, ind.train) and torch.equal(tran.val, ind.val)
    assert abs(ind.test_ind.numel() - round(0.2 * tran.test.numel())) <= 1
    assert torch.equal(torch.cat([ind.test, ind.test_ind]).sort().values, tran.test)
    held = set(ind.test_ind.tolist())
    assert held.isdisjoint(ind.observed.tolist())
    obs, local = ind.observed_graph(cora.data)
    assert obs.num_nodes == cora.num_nodes - len(held)
    # Map the observed edges back to global ids: none may touch a held-out node.
    glob = ind.observed[obs.edge_index]
    assert not torch.isin(glob, ind.test_ind).any()
    # Every original edge between two observed nodes survives.
    ei = cora.data.edge_index
    keep = ~(torch.isin(ei[0], ind.test_ind) | torch.isin(ei[1], ind.test_ind))
    assert obs.edge_index.size(1) == int(keep.sum())
    assert (local[ind.test_ind] == -1).all()


def test_public_split_is_fixed():
    ds = load_dataset("cora-planetoid")
    s0, s1 = node_split(ds, 0), node_split(ds, 1)
    assert (s0.train.numel(), s0.val.numel(), s0.test.numel()) == (140, 500, 1000)
    assert torch.equal(s0.test, s1.test)


def test_graph_split_stratified():
    ds = load_dataset("mutag")
    sp = graph_split(ds, 0)
    all_idx = torch.cat(list(sp.values()))
    assert all_idx.unique().numel() == len(ds) == all_idx.numel()
    y = ds.dataset.y
    frac = y[sp["train"]].float().mean()
    assert abs(float(frac) - float(y.float().mean())) < 0.05


def test_random_split_is_stratified():
    """Every class keeps its share in each part (a plain random split would be off by ~10 nodes here)."""
    from g2m.datasets.splits import random_split

    y = torch.tensor([0] * 500 + [1] * 300 + [2] * 200)
    train, val, test = random_split(y, seed=0)
    for part, share in ((train, 0.6), (val, 0.2), (test, 0.2)):
        counts = torch.bincount(y[part], minlength=3)
        assert (counts - torch.tensor([500, 300, 200]) * share).abs().max() <= 1
