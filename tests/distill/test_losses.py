"""Loss terms: the soft-label KL's once-per-run teacher side."""

from __future__ import annotations

import pytest
import torch

from g2m.distill.losses import LossInput, soft_label_kl


def _input(nodes: torch.Tensor, cache: dict | None, tau: float) -> LossInput:
    g = torch.Generator().manual_seed(0)
    n, classes = 300, 7
    teacher = {"logits": 3 * torch.randn(n, classes, generator=g)}
    student = torch.randn(n, classes, generator=g)[nodes]
    return LossInput(nodes=nodes, student_logits=student, student_hidden=None, teacher=teacher,
                     labels=torch.zeros(n, dtype=torch.long), train_mask=torch.zeros(n, dtype=torch.bool),
                     temperature=tau, cache=cache)


@pytest.mark.parametrize("tau", [1.0, 1.5])
@pytest.mark.parametrize("order", ["ids", "shuffled", "batch"])
def test_soft_label_kl_with_a_cache_is_bitwise_the_same(order, tau):
    nodes = {"ids": torch.arange(300), "shuffled": torch.randperm(300, generator=torch.Generator().manual_seed(1)),
             "batch": torch.arange(0, 300, 3)}[order]
    cache: dict = {}
    for _ in range(2):  # the second call reads the cache (in full batch)
        assert torch.equal(soft_label_kl(_input(nodes, cache, tau)), soft_label_kl(_input(nodes, None, tau)))
    assert bool(cache) == (order != "batch")  # minibatches keep nothing per run
