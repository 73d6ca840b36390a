"""What a wider or deeper student buys: validation accuracy against inference latency, per width and depth.

For each dataset and seed the teacher (``--teacher``: a family, ``auto`` or an average) is trained once; every
student shape then distills it on the same transductive split and is scored by **validation** accuracy only
(`g2m.tune.validation_score`: test accuracy is never computed). Latency is the median time of the student's
forward pass in torch (eval mode, one thread, after warm-up) at batch 1 and 1024 on the dataset's feature
width, with random weights (time does not depend on them). Writes ``docs/results/student_capacity.json`` and
``docs/results/student_capacity.md`` with its plot.

    python benchmarks/student_capacity.py --datasets cora,citeseer --seeds 0,1,2 --teacher sage+appnp+gat
    python benchmarks/student_capacity.py --render-only
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from g2m.datasets import load_dataset
from g2m.models.mlp import StudentMLP
from g2m.run_dir import software_environment
from g2m.tune import validation_score
from g2m.utils import parse_seeds, save_figure_atomic, write_json_atomic, write_text_atomic

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
WIDTHS = (64, 128, 256, 512, 1024)
DEPTHS = (2, 3)
BATCHES = (1, 1024)


def latency_ms(in_channels: int, classes: int, width: int, depth: int, batch: int, repeats: int = 200) -> float:
    """Median forward time (ms) of a student of this shape on ``batch`` random rows, one torch thread."""
    torch.manual_seed(0)
    net = StudentMLP(in_channels, width, classes, num_layers=depth).eval()
    x = torch.randn(batch, in_channels)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 20):
            start = time.perf_counter()
            net(x)
            if i >= 20:
                times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def sweep(dataset: str, seeds: list[int], teacher: str, method: str) -> list[dict]:
    ds = load_dataset(dataset)
    teachers: dict = {}  # one teacher per seed, shared by every student shape
    rows = []
    for width, depth in itertools.product(WIDTHS, DEPTHS):
        params = {"hidden_channels": width, "num_layers": depth}
        vals = [validation_score(ds, "student", method, teacher, seed, "tran", params, "cpu", teachers)
                for seed in seeds]
        torch.set_num_threads(1)
        lat = {str(b): latency_ms(ds.num_features, ds.num_classes, width, depth, b) for b in BATCHES}
        torch.set_num_threads(THREADS)
        rows.append({"dataset": dataset, "width": width, "depth": depth, "val": vals,
                     "mean_val": statistics.fmean(vals), "latency_ms": lat})
        print(dataset, width, depth, f"{statistics.fmean(vals):.2f}", lat, flush=True)
    return rows


def render(data: dict) -> str:
    lines = ["# Student capacity: accuracy against latency", "",
             f"Students of every width × depth distilled ({data['method']}) from the `{data['teacher']}` teacher, "
             f"transductive, the exact splits of seeds {', '.join(map(str, data['seeds']))}; **validation** "
             "accuracy (%, mean over the seeds; test accuracy was not computed). Latency: median ms of one "
             "forward pass in torch, one CPU thread, random weights, at batch 1 and 1024. The widest student is "
             "not the best on every dataset: pick the smallest shape whose validation accuracy is within the "
             "seeds' noise of the best.", "",
             "![validation accuracy against latency at batch 1024](student_capacity.png)", "",
             "| dataset | width | depth | val | ms, batch 1 | ms, batch 1024 |", "|---|---:|---:|---:|---:|---:|"]
    for r in data["rows"]:
        best = max(x["mean_val"] for x in data["rows"] if x["dataset"] == r["dataset"])
        val = f"**{r['mean_val']:.2f}**" if r["mean_val"] == best else f"{r['mean_val']:.2f}"
        lines.append(f"| {r['dataset']} | {r['width']} | {r['depth']} | {val} | {r['latency_ms']['1']:.3f} | "
                     f"{r['latency_ms']['1024']:.2f} |")
    lines += ["", f"Made by `{data['command']}`"
              + (f", latency measured again by `{data['latency_command']}` on a quiet machine"
                 if data.get("latency_command") else "") + " ([student_capacity.json](student_capacity.json)).", ""]
    return "\n".join(lines)


def plot(data: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["dataset"] for r in data["rows"]))
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for depth, marker in zip(DEPTHS, "os"):
            pts = [r for r in data["rows"] if r["dataset"] == name and r["depth"] == depth]
            ax.plot([r["latency_ms"]["1024"] for r in pts], [r["mean_val"] for r in pts], marker=marker,
                    label=f"{depth} layers")
            for r in pts:
                ax.annotate(str(r["width"]), (r["latency_ms"]["1024"], r["mean_val"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("ms per batch of 1024 nodes (1 thread)")
        ax.set_ylabel("validation accuracy (%)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure_atomic(path, fig, dpi=110)
    plt.close(fig)
    return path


def write(data: dict) -> None:
    plot(data, RESULTS / "student_capacity.png")
    write_text_atomic(RESULTS / "student_capacity.md", render(data))


THREADS = torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cora,citeseer")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--teacher", default="sage")
    parser.add_argument("--method", default="glnn")
    parser.add_argument("--render-only", action="store_true")
    parser.add_argument("--latency-only", action="store_true",
                        help="measure the saved shapes' latency again (on a quiet machine) and re-render")
    args = parser.parse_args()
    if args.render_only or args.latency_only:
        data = json.loads((RESULTS / "student_capacity.json").read_text())
        if args.latency_only:
            torch.set_num_threads(1)
            for r in data["rows"]:
                ds = load_dataset(r["dataset"])
                r["latency_ms"] = {str(b): latency_ms(ds.num_features, ds.num_classes, r["width"], r["depth"], b)
                                   for b in BATCHES}
            data["latency_command"] = "python benchmarks/student_capacity.py --latency-only"
            write_json_atomic(RESULTS / "student_capacity.json", data)
        write(data)
        return
    seeds = parse_seeds(args.seeds)
    rows = [row for name in args.datasets.split(",") for row in sweep(name, seeds, args.teacher, args.method)]
    data = {"command": "python benchmarks/student_capacity.py " + " ".join(sys.argv[1:]), "teacher": args.teacher,
            "method": args.method, "seeds": seeds, "rows": rows, "environment": software_environment()}
    write_json_atomic(RESULTS / "student_capacity.json", data)
    write(data)


if __name__ == "__main__":
    main()
