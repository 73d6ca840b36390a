"""Teacher vs student inference against graph size, on synthetic graphs generated in code.

A stochastic block model drawn edge by edge (`sbm`: ``--classes`` blocks, average degree ``--degree``, 80% of
the edges inside a block) with class-dependent Gaussian features
(``--features`` columns, the class shifts its own slice). Per size (default 10⁴, 10⁵, 10⁶ nodes), in a fresh
process each (so peak memory is that size's own): a 2-layer GraphSAGE teacher (hidden 128) on the whole
graph, and the 2-layer MLP student (hidden 128) on all node features; also a cold-start batch of 1024
nodes with their exact 2-hop neighbourhood gathered. Weights are random: time and memory do not depend on
them. Median of ``--repeats`` calls after a warm-up; peak resident memory (ru_maxrss) of each process.
Writes docs/results/scaling.json and docs/results/scaling.png.

    python benchmarks/scaling.py --sizes 10000,100000,1000000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch


def sbm(n: int, classes: int, degree: float, features: int, seed: int = 0):
    """A stochastic block model drawn edge by edge (O(edges) memory; PyG's generator builds an N × N matrix):
    ``n·degree/2`` edges, each from a uniform node to a uniform node of the same block with probability 0.8,
    else to a uniform node anywhere; made undirected. Features: Gaussian, shifted on the class's own slice."""
    from torch_geometric.utils import to_undirected

    gen = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([n // classes + (1 if c < n % classes else 0) for c in range(classes)])
    starts = torch.cumsum(sizes, 0) - sizes
    y = torch.repeat_interleave(torch.arange(classes), sizes)
    m = int(n * degree / 2)
    src = torch.randint(n, (m,), generator=gen)
    inside = torch.rand(m, generator=gen) < 0.8
    same = starts[y[src]] + (torch.rand(m, generator=gen) * sizes[y[src]]).long()
    anywhere = torch.randint(n, (m,), generator=gen)
    dst = torch.where(inside, same, anywhere)
    keep = src != dst
    edge_index = to_undirected(torch.stack([src[keep], dst[keep]]), num_nodes=n)
    x = torch.randn(n, features, generator=gen)
    width = max(features // classes, 1)
    for c in range(classes):
        x[y == c, c * width:(c + 1) * width] += 1.0
    return x, edge_index, y


def median_ms(fn, repeats: int) -> float:
    """Median latency of ``fn()`` after one warm-up call (`g2m.bench.timing.time_calls`)."""
    from g2m.bench.timing import time_calls

    return time_calls(lambda _: fn(), [None] * (1 + repeats), warmup=1, repeats=repeats)["median_ms"]


def one_size(n: int, a: argparse.Namespace) -> dict:
    """Measure one size (run in its own process)."""
    from torch_geometric.utils import k_hop_subgraph

    from g2m.models import GraphSAGE, StudentMLP
    from g2m.graph_inputs import graph_input

    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    x, edge_index, y = sbm(n, a.classes, a.degree, a.features)
    build = time.perf_counter() - t0
    teacher = GraphSAGE(a.features, 128, a.classes, num_layers=2, aggr="gcn").eval()
    student = StudentMLP(a.features, 128, a.classes, num_layers=2).eval()
    graph = graph_input(teacher, edge_index, n)
    batch = torch.randperm(n, generator=torch.Generator().manual_seed(1))[:1024]

    def cold_teacher():
        subset, sub_ei, mapping, _ = k_hop_subgraph(batch, 2, edge_index, relabel_nodes=True, num_nodes=n)
        teacher(x[subset], graph_input(teacher, sub_ei, subset.numel()))[mapping]

    with torch.no_grad():
        out = {
            "nodes": n, "edges": int(edge_index.size(1)), "build_seconds": build,
            "teacher_full_ms": median_ms(lambda: teacher(x, graph), a.repeats),
            "student_full_ms": median_ms(lambda: student(x), a.repeats),
            "teacher_cold_1024_ms": median_ms(cold_teacher, a.repeats),
            "student_cold_1024_ms": median_ms(lambda: student(x[batch]), a.repeats),
        }
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from g2m.utils import save_figure_atomic

    n = [r["nodes"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for key, label in (("teacher_full_ms", "teacher, full graph"), ("student_full_ms", "student, all nodes"),
                       ("teacher_cold_1024_ms", "teacher, 1024 nodes + 2-hop gather"),
                       ("student_cold_1024_ms", "student, 1024 nodes")):
        axes[0].plot(n, [r[key] for r in rows], "o-", label=label)
    axes[0].set(xscale="log", yscale="log", xlabel="nodes", ylabel="median latency (ms)")
    axes[0].legend(fontsize=7)
    axes[1].plot(n, [r["peak_rss_mb"] for r in rows], "o-")
    axes[1].set(xscale="log", xlabel="nodes", ylabel="peak process memory (MB)",
                title="graph + features + both models")
    fig.tight_layout()
    save_figure_atomic(path, fig, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--degree", type=float, default=10.0)
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="docs/results/scaling.json")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # internal: measure one size
    a = p.parse_args()
    if a.one is not None:
        print(json.dumps(one_size(a.one, a)))
        return
    rows = []
    for n in (int(s) for s in a.sizes.split(",")):
        cmd = [sys.executable, __file__, "--one", str(n)] + [f"--{k}={getattr(a, k)}" for k in
                                                             ("classes", "degree", "features", "repeats", "threads")]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{n:>9} nodes {r['edges']:>10} edges: teacher full {r['teacher_full_ms']:.1f} ms, student "
              f"{r['student_full_ms']:.1f} ms; cold 1024: teacher {r['teacher_cold_1024_ms']:.1f} ms, student "
              f"{r['student_cold_1024_ms']:.2f} ms; peak {r['peak_rss_mb']:.0f} MB", flush=True)
    from g2m.bench.timing import machine_environment
    from g2m.utils import write_json_atomic

    out = Path(a.out)
    write_json_atomic(out, {"config": {k: getattr(a, k) for k in ("classes", "degree", "features", "repeats",
                                                                    "threads")},
                            "environment": machine_environment(a.threads), "sizes": rows})
    plot(rows, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
