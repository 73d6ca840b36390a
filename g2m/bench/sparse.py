"""Where a sparse first layer pays: a student's first linear layer on CSR rows against dense rows.

Times ``linear(x, W, b)`` (torch eager, the student's own first layer) on the dataset's features in both layouts,
by batch size (rows drawn at random) and by density (the dataset's feature matrix with values dropped or added at
random to reach it), to check `g2m.graph_inputs.SPARSE_MAX_DENSITY` and `SPARSE_MIN_ROWS` on real shapes.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from g2m.bench.timing import time_calls
from g2m.graph_inputs import quiet_sparse_csr, select_rows

BATCH_SIZES = (1, 16, 64, 256, 1024)
DENSITIES = (0.01, 0.03, 0.05, 0.1, 0.2, 0.3)


@torch.no_grad()
def first_layer_crossover(x: Tensor, weight: Tensor, bias: Tensor | None, batch_sizes: Sequence[int] = BATCH_SIZES,
                          densities: Sequence[float] = DENSITIES, repeats: int = 50, warmup: int = 5,
                          seed: int = 0) -> dict[str, Any]:
    """Median ms of the first layer on dense and CSR rows: ``by_batch`` on the features as they are (rows gathered
    inside the timed call, as in a request), ``by_density`` on every row at each density."""
    gen = torch.Generator().manual_seed(seed)
    dense = (x.to_dense() if x.layout != torch.strided else x).float().contiguous()
    with quiet_sparse_csr():
        csr = dense.to_sparse_csr()
    n = dense.size(0)
    by_batch = {}
    for size in batch_sizes:
        if size > n:
            continue
        batches = [torch.randperm(n, generator=gen)[:size] for _ in range(warmup + repeats)]
        by_batch[str(size)] = {
            "dense_ms": time_calls(lambda i: F.linear(dense[i], weight, bias), batches, warmup, repeats)["median_ms"],
            "csr_ms": time_calls(lambda i: F.linear(select_rows(csr, i), weight, bias), batches, warmup,
                                 repeats)["median_ms"]}
    by_density = {}
    calls = [None] * (warmup + repeats)
    for density in densities:
        matrix = (torch.rand(dense.shape, generator=gen) < density).float()
        with quiet_sparse_csr():
            matrix_csr = matrix.to_sparse_csr()
        by_density[f"{density:g}"] = {
            "dense_ms": time_calls(lambda _: F.linear(matrix, weight, bias), calls, warmup, repeats)["median_ms"],
            "csr_ms": time_calls(lambda _: F.linear(matrix_csr, weight, bias), calls, warmup, repeats)["median_ms"]}
    return {"rows": n, "features": dense.size(1), "hidden": weight.size(0),
            "density": float(csr.values().numel() / max(dense.numel(), 1)),
            "by_batch": by_batch, "by_density": by_density}
