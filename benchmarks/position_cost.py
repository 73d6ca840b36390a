"""What position features cost at inference: a GLNN student against a position-aware one (glnn+pos).

Both students come from the same dataset and seed (inductive setting, SAGE teacher); each is timed with
`g2m.bench.measure_speed` on held-out nodes, where the position-aware student must also read each node's
edges to the training graph and average its neighbours' positions (`g2m.bench.runners.PositionInputs`).
Writes docs/results/position_cost.json and docs/results/position_cost.md.

    python benchmarks/position_cost.py --datasets cora,a-computer --threads 1
    python benchmarks/position_cost.py --render-only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
METHODS = ("glnn", "glnn+pos")


def measure(datasets: list[str], sizes: list[int], repeats: int, threads: int, runs_dir: Path) -> dict:
    from g2m.api import distill
    from g2m.bench import measure_speed

    out = {"command": " ".join(["python", *sys.argv]), "results": []}
    for name in datasets:
        for method in METHODS:
            run = runs_dir / f"position-cost-{name}-{method}"
            if not (run / "metrics.json").is_file():
                print(f"training sage + {method} on {name} into {run}", file=sys.stderr)
                distill(name, teacher="sage", method=method, seeds=[0], setting="ind", output=run, device="cpu")
            print(f"timing {run}", file=sys.stderr)
            result = measure_speed(run, batch_sizes=sizes, repeats=repeats, warmup=5, threads=threads,
                                   runtimes=("eager", "onnx"))
            out["results"].append({"dataset": name, "method": method, **result})
    return out


def render(data: dict) -> str:
    lines = ["# What position features cost at inference", "",
             "Cold-start latency (median ms per batch of held-out nodes, 1 torch/onnxruntime thread) of a GLNN "
             "student and of a position-aware student (`glnn+pos`) of the same dataset and seed, beside their "
             "SAGE teacher. The position-aware student's time includes reading the batch's edges to the training "
             "graph (held in memory as a CSR) and averaging their positions; the GLNN student reads features only. "
             "Accuracy: on the held-out nodes of that seed.", "",
             "| dataset | batch | teacher exact | glnn student (onnx) | glnn+pos student (onnx) | pos / plain | "
             "glnn held-out acc | glnn+pos held-out acc |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    by = {(r["dataset"], r["method"]): r for r in data["results"]}
    for name in dict.fromkeys(r["dataset"] for r in data["results"]):
        plain, pos = by.get((name, "glnn")), by.get((name, "glnn+pos"))
        if not plain or not pos:
            continue
        for size in plain["cold_start"]:
            p = plain["cold_start"][size]["student"].get("onnx", {}).get("median_ms")
            q = pos["cold_start"][size]["student"].get("onnx", {}).get("median_ms")
            t = plain["cold_start"][size]["teacher_exact"].get("median_ms")
            lines.append(f"| {name} | {size} | {t:.3g} | {p:.3g} | {q:.3g} | {q / p:.1f}× | "
                         f"{plain['accuracy']['student']:.2f} | {pos['accuracy']['student']:.2f} |")
    loads = [r["environment"].get("load_average_1m") for r in data["results"] if "environment" in r]
    lines += ["", f"Measured with `{data['command']}`; 1-minute load average at the start of each measurement: "
              + ", ".join(f"{v:.2f}" for v in loads if v is not None) + " on 2 cores (other jobs ran beside it, so "
              "compare the two students with each other rather than with the idle-machine numbers of "
              "[speed.md](speed.md))."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="cora")
    parser.add_argument("--batch-sizes", default="1,100,1024")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    from g2m.utils import write_json_atomic, write_text_atomic

    path = RESULTS / "position_cost.json"
    if args.render_only:
        data = json.loads(path.read_text())
    else:
        data = measure(args.datasets.split(","), [int(b) for b in args.batch_sizes.split(",")], args.repeats,
                       args.threads, args.runs_dir)
        write_json_atomic(path, data)
    text = render(data)
    write_text_atomic(RESULTS / "position_cost.md", text)
    print(text)


if __name__ == "__main__":
    main()
