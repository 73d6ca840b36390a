"""Minibatch teachers (PyG NeighborLoader, the `fast` extra) and their errors."""

from __future__ import annotations

import pytest
from torch_geometric.typing import WITH_PYG_LIB, WITH_TORCH_SPARSE

import g2m
from g2m.datasets import node_split
from g2m.distill.vqgraph import train_vq_teacher

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
