"""Minibatch teachers (PyG NeighborLoader, the `fast` extra) and their errors."""

from __future__ import annotations

import pytest
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

import g2m
from g2m.datasets import node_split
from g2m.distill.vq_teacher import train_vq_teacher

HAS_SAMPLER = WITH_PYG_LIB or WITH_TORCH_SPARSE


def test_missing_sampler_backend_is_a_clear_error(monkeypatch):
    import torch_geometric.typing

    monkeypatch.setattr(torch_geometric.typing, "WITH_PYG_LIB", False)  # as on a machine without the extra
    monkeypatch.setattr(torch_geometric.typing, "WITH_TORCH_SPARSE", False)
    with pytest.raises(g2m.ConfigError, match=r"pyg-lib or torch-sparse.*--no-build-isolation torch-scatter"):
        g2m.train_teacher("cora", model="sage", batch_size=256)


@pytest.mark.skipif(not HAS_SAMPLER, reason="needs the `fast` extra (torch-sparse or pyg-lib) for NeighborLoader")
def test_minibatch_sage_teacher_learns():
    run = g2m.train_teacher("cora", model="sage", seed=0, batch_size=128, fan_out=5, max_epochs=60, patience=20)
    assert run.metrics["test"] > 65.0  # 7 classes: chance is ~14-30%
    assert run.logits.size(0) == g2m.load_dataset("cora").num_nodes


def test_minibatch_refused_where_it_cannot_apply():
    with pytest.raises(g2m.ConfigError, match="APPNP"):
        g2m.train_teacher("cora", model="appnp", batch_size=256)
    ds = g2m.load_dataset("cora")
    with pytest.raises(g2m.ConfigError, match="APPNP.*tokenizer_batch_size"):
        train_vq_teacher(ds, node_split(ds, 0, "tran"), "appnp", tokenizer_batch_size=256, max_epochs=1)


def test_missing_sampler_backend_message_in_full(monkeypatch):
    import torch
    import torch_geometric.typing

    from g2m.graph_inputs import neighbor_loader

    monkeypatch.setattr(torch_geometric.typing, "WITH_PYG_LIB", False)
    monkeypatch.setattr(torch_geometric.typing, "WITH_TORCH_SPARSE", False)
    expected = ("minibatch teacher training uses PyG's NeighborLoader, which needs pyg-lib or torch-sparse, and "
                "neither is installed. Install them with `pip install --no-build-isolation torch-scatter "
                "torch-sparse` (the `fast` extra; they build from source against your torch: several minutes), "
                "or leave --teacher-batch-size unset to train full-batch.")
    with pytest.raises(g2m.ConfigError) as err:
        neighbor_loader(g2m.load_dataset("cora").data, torch.arange(4), [2], batch_size=2)
    assert str(err.value) == expected


@pytest.mark.skipif(not HAS_SAMPLER, reason="needs the `fast` extra (torch-sparse or pyg-lib) for NeighborLoader")
def test_neighbor_loader_batches_the_given_nodes():
    import torch
    from torch.utils.data import RandomSampler, SequentialSampler

    from g2m.graph_inputs import neighbor_loader

    data = g2m.load_dataset("cora").data
    seeds = torch.arange(10, 20)
    loader = neighbor_loader(data, seeds, [2, 2], batch_size=4)
    assert isinstance(loader.sampler, RandomSampler) and len(loader) == 3  # shuffled by default; ⌈10 / 4⌉
    batches = [b.n_id[:b.batch_size] for b in loader]
    assert [b.numel() for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == seeds.tolist()  # every seed once, nothing else
    ordered = neighbor_loader(data, seeds, [2, 2], batch_size=4, shuffle=False)
    assert isinstance(ordered.sampler, SequentialSampler)
    assert next(iter(ordered)).n_id[:4].tolist() == [10, 11, 12, 13]
