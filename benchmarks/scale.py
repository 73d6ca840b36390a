"""Scale benchmark: minibatch teacher, layer-wise teacher-output export and a GLNN student on synthetic graphs.

For each size, in a fresh process (so that its peak memory is its own): a degree-corrected SBM
(`g2m.datasets.synthetic.synthetic_graph`, ~25 edges per node), a SAGE teacher trained on NeighborLoader
minibatches (fan-out 10, a few epochs) whose outputs are computed layer by layer into memory-mapped files
(`train_teacher(..., inference_chunk_size=..., outputs_dir=...)`, as `g2m distill --teacher-chunk-size` does),
and a GLNN student trained from those files. Writes
docs/results/scale.json, docs/results/scale.md and docs/results/scale.png.

    python benchmarks/scale.py --sizes 10000,100000,1000000,2000000 --epochs 3
    python benchmarks/scale.py --render-only
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_size(num_nodes: int, epochs: int, chunk: int) -> dict:
    """Every stage at one size, in this process."""
    import torch
    from torch_geometric import seed_everything

    from g2m.datasets import node_split
    from g2m.datasets.synthetic import synthetic_graph
    from g2m.distill import train_student
    from g2m.teacher import train_teacher

    out: dict = {"nodes": num_nodes, "threads": torch.get_num_threads()}
    start = time.perf_counter()
    ds = synthetic_graph(num_nodes, seed=0)
    out.update(edges=int(ds.data.edge_index.size(1)), generate_s=time.perf_counter() - start, peak_mb_graph=peak_mb())
    split = node_split(ds, 0, "tran")
    with tempfile.TemporaryDirectory() as tmp:
        # the teacher's outputs: exact, layer by layer in chunks, memory-mapped (what g2m distill does on large
        # graphs, or with --teacher-chunk-size)
        seed_everything(0)
        teacher = train_teacher(ds, split, "sage", batch_size=1024, fan_out=10, max_epochs=epochs, patience=epochs,
                                inference_chunk_size=chunk, outputs_dir=Path(tmp) / "outputs")
        out.update(teacher_s=teacher.fit.seconds, export_s=teacher.seconds - teacher.fit.seconds,
                   teacher_epochs=teacher.fit.epochs_run, teacher_val=teacher.metrics["val"],
                   teacher_test=teacher.metrics["test"], peak_mb_teacher=peak_mb())
        seed_everything(0)
        start = time.perf_counter()
        student = train_student(ds, split, "glnn", teacher, batch_size=4096, max_epochs=epochs, patience=epochs)
        out.update(student_s=time.perf_counter() - start, student_epochs=student.fit.epochs_run,
                   student_val=student.metrics["val"], student_test=student.metrics["test"],
                   peak_mb_student=peak_mb())
    return out


def render(data: dict) -> str:
    rows = data["results"]
    lines = ["# Scale: synthetic graphs up to millions of nodes", "",
             "The whole pipeline (teacher training, its outputs, student training) as the graph grows; for inference "
             "latency against graph size see [Deploying a student](../deploy.md#against-graph-size). Each size ran in a "
             "fresh process on a 2-core CPU machine with 24 GB: a degree-corrected stochastic "
             "block model (10 classes, ~25 edges per node, 80% same-class edges, power-law degrees, 64 features; "
             "`g2m.datasets.synthetic`), a 2-layer SAGE teacher trained on NeighborLoader minibatches of 1024 nodes "
             "(fan-out 10; the CPF split has 200 training nodes, so an epoch is one minibatch) for "
             f"{data['epochs']} epochs, its outputs computed layer by layer (exact, chunks of 65,536 nodes) into "
             "memory-mapped files, and a GLNN "
             f"student trained from those files on minibatches of 4096 nodes for {data['epochs']} epochs. Times in "
             "seconds: teacher = its training loop (validation included), outputs = its outputs written to disk plus "
             "its final accuracy, student = its whole training including the final evaluation; peak memory is the "
             "process's resident high-water mark after each stage.", "",
             "![time per stage against the number of nodes, log-log](scale.png)", "",
             "| nodes | edges | generate s | teacher s | outputs s | student s | student s / epoch | peak MB | "
             "teacher test % | student test % |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        peak = max(v for k, v in r.items() if k.startswith("peak_mb"))
        lines.append(f"| {r['nodes']:,} | {r['edges']:,} | {r['generate_s']:.1f} | {r['teacher_s']:.1f} | "
                     f"{r['export_s']:.1f} | {r['student_s']:.1f} | {r['student_s'] / r['student_epochs']:.1f} | "
                     f"{peak:,.0f} | {r['teacher_test']:.1f} | {r['student_test']:.1f} |")
    threads = sorted({r["threads"] for r in rows})
    lines += ["", f"Measured with `{data['command']}`, {', '.join(map(str, threads))} torch thread(s) per process"
              + (f"; {data['note']}" if data.get("note") else "") + ".", ""]
    return "\n".join(lines)


def plot(data: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # plot_results, beside this script
    from plot_results import save_figure

    rows = data["results"]
    n = [r["nodes"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("teacher_s", "teacher training"), ("export_s", "teacher outputs (to disk)"),
                       ("student_s", "student training")):
        ax.plot(n, [r[key] for r in rows], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("nodes")
    ax.set_ylabel("seconds")
    ax.set_title("Time per stage on synthetic graphs")
    ax.legend()
    return save_figure(fig, RESULTS / "scale.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=65536)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print JSON
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    from g2m.utils import write_json_atomic, write_text_atomic

    if args.one:
        print(json.dumps(one_size(args.one, args.epochs, args.chunk)))
        return
    path = RESULTS / "scale.json"
    if args.render_only:
        data = json.loads(path.read_text())
    else:
        data = {"command": " ".join(["python", *sys.argv]), "epochs": args.epochs, "results": []}
        for size in [int(s) for s in args.sizes.split(",")]:
            print(f"{size} nodes", file=sys.stderr, flush=True)
            proc = subprocess.run([sys.executable, __file__, "--one", str(size), "--epochs", str(args.epochs),
                                   "--chunk", str(args.chunk)], capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"size {size} failed:\n{proc.stderr[-3000:]}")
            data["results"].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            write_json_atomic(path, data)  # keep what finished
    plot(data)
    text = render(data)
    write_text_atomic(RESULTS / "scale.md", text)
    print(text)


if __name__ == "__main__":
    main()
