"""take_rows: x[index] with a gradient that is the same on every run."""

from __future__ import annotations

import torch

from g2m.datasets import load_dataset
from g2m.utils.rows import take_rows


def test_take_rows_is_indexing_with_repeated_rows():
    x = torch.randn(4, 3, requires_grad=True)
    index = torch.tensor([2, 0, 2, 3, 2])
    assert torch.equal(take_rows(x, index), x[index])
    take_rows(x, index).sum().backward()
    assert torch.equal(x.grad[:, 0], torch.tensor([1.0, 0.0, 3.0, 1.0]))  # row 2 taken three times, row 1 never


def test_take_rows_gradient_over_real_edges_is_reproducible(same_gradient_every_time):
    src, dst = load_dataset("cora").data.edge_index  # bundled: ~10k edges, endpoints repeat
    x = torch.randn(int(src.max()) + 1, 64, generator=torch.Generator().manual_seed(0))
    same_gradient_every_time(lambda h: (take_rows(h, src) * take_rows(h, dst)).sum(), x)
