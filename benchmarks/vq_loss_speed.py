"""Micro-benchmark of VQGraph's soft-code loss and nearest-code search: today's implementation against the
plain formula it replaced, at cora's size (N = 2485 nodes) and large codebooks.

    python benchmarks/vq_loss_speed.py --codes 8192 --dim 64 --threads 2

"Before" is the formula as first written: −‖z − c‖² from three [N, K] terms with a clamp, the teacher's
log-assignments recomputed every batch, ``F.kl_div``; search by argmax over the full [N, K] similarity.
"After" is `g2m.distill.vqgraph.soft_code_kl` (teacher targets computed once per run — timed separately as
``teacher_targets_once_seconds`` — student logits from one
``addmm``) and `g2m.models.vq.nearest_code` (chunked). One "epoch" = ceil(N / batch) batches, forward and
backward. Writes docs/results/vq_loss_speed.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from g2m.distill.losses import LossInput
from g2m.distill.vqgraph import soft_code_kl
from g2m.models.vq import nearest_code
from g2m.utils import flush_denormals, write_json_atomic


def similarity_before(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    z2 = (z * z).sum(-1, keepdim=True)
    c2 = (codebook * codebook).sum(-1)
    return -(z2 - 2.0 * z @ codebook.t() + c2).clamp_min(0.0)


def loss_before(h, code_z, codebook, nodes, tau):
    with torch.no_grad():
        log_t = F.log_softmax(similarity_before(code_z[nodes], codebook) / tau, -1)
    log_s = F.log_softmax(similarity_before(h, codebook) / tau, -1)
    return F.kl_div(log_s, log_t, reduction="batchmean", log_target=True)


def loss_after(h, code_z, codebook, nodes, tau, cache):
    inp = LossInput(nodes=nodes, student_logits=h[:, :1], student_hidden=h,
                    teacher={"codebook": codebook, "code_z": code_z}, labels=nodes, train_mask=nodes > 0,
                    extras={"config": {"code_temperature": tau}, "cache": cache})
    return soft_code_kl(inp)


def epoch_seconds(fn, n: int, dim: int, batch: int, repeats: int) -> list[float]:
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats + 1):  # the first repeat warms up (and fills the teacher cache)
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            nodes = torch.arange(i, min(i + batch, n))
            h = torch.randn(len(nodes), dim, generator=gen, requires_grad=True)
            fn(h, nodes).backward()
        times.append(time.perf_counter() - t0)
    return times[1:]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=2485)
    p.add_argument("--codes", type=int, default=8192)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="docs/results/vq_loss_speed.json")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    flush_denormals()
    gen = torch.Generator().manual_seed(1)
    code_z = torch.randn(a.nodes, a.dim, generator=gen)
    codebook = torch.randn(a.codes, a.dim, generator=gen)
    tau, cache = 1.0, {}
    before = epoch_seconds(lambda h, nodes: loss_before(h, code_z, codebook, nodes, tau), a.nodes, a.dim, a.batch,
                           a.repeats)
    after = epoch_seconds(lambda h, nodes: loss_after(h, code_z, codebook, nodes, tau, cache), a.nodes, a.dim,
                          a.batch, a.repeats)
    from g2m.distill.vqgraph import teacher_code_targets

    t0 = time.perf_counter()
    teacher_code_targets(code_z, codebook, tau, torch.arange(a.nodes), {})
    once = time.perf_counter() - t0
    search = {}
    for name, fn in (("before", lambda: similarity_before(code_z, codebook).argmax(-1)),
                     ("after", lambda: nearest_code(code_z, codebook))):
        fn()
        ts = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        search[name] = statistics.median(ts)
    result = {"nodes": a.nodes, "codes": a.codes, "dim": a.dim, "batch": a.batch, "threads": a.threads,
              "platform": platform.platform(), "loss_epoch_seconds": {"before": statistics.median(before),
                                                                      "after": statistics.median(after)},
              "teacher_targets_once_seconds": once, "search_seconds": search}
    result["loss_speedup"] = result["loss_epoch_seconds"]["before"] / result["loss_epoch_seconds"]["after"]
    result["search_speedup"] = search["before"] / search["after"]
    write_json_atomic(a.out, result)
    print(f"soft-code loss per epoch: {result['loss_epoch_seconds']['before']:.3f} s → "
          f"{result['loss_epoch_seconds']['after']:.3f} s ({result['loss_speedup']:.1f}×); nearest code: "
          f"{search['before']:.3f} s → {search['after']:.3f} s ({result['search_speedup']:.1f}×)")


if __name__ == "__main__":
    main()
