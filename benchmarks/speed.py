"""Speed benchmark: a teacher GNN's inference latency against graph-free students, on unseen nodes.

Times each run's teacher (cold start with exact and fan-out-sampled neighbourhood gathering, and full graph)
against its student in torch eager (sparse first layer where the features are sparse), TorchScript (the same,
and on dense features), onnxruntime and int8 onnxruntime with `g2m.bench.measure_speed`, once per thread count
of --threads, and writes docs/results/NAME.json, NAME.md (tables per regime, speed-ups, sparse or dense first
layer, environment) and NAME_accuracy.png (held-out accuracy against per-node latency at batch 1024); NAME is
--name (default ``speed``).

    python benchmarks/speed.py --dataset a-computer --runs runs/speed-glnn,runs/speed-mlp --threads 1,2
    python benchmarks/speed.py --dataset cora --threads 1,2 --name speed-cora   # trains SAGE + GLNN (one seed) first
    python benchmarks/speed.py --render-only                          # speed.md and the plot from speed.json

Without --runs it trains a SAGE teacher and a GLNN student (one seed, inductive setting) into
runs/speed-DATASET-glnn, or reuses the run already there. Several --runs (e.g. MLP, GLNN, FF-G2M students of
one dataset) are each timed against their own teacher; a run without a teacher (method mlp) times the
student only. Run it on an otherwise idle machine: the load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
PLOT_BATCH = 1024


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from g2m.api import distill
    from g2m.bench import measure_speed

    runs = [Path(r) for r in args.runs.split(",") if r.strip()] if args.runs else []
    if not runs:
        target = Path(args.train_dir or f"runs/speed-{args.dataset}-glnn")
        if not (target / "metrics.json").is_file():
            print(f"training a sage teacher and a glnn student on {args.dataset} (seed {args.seed}) into {target}",
                  file=sys.stderr)
            distill(args.dataset, teacher="sage", method="glnn", seeds=[args.seed], setting="ind",
                    root=args.data_root, output=target, device="cpu")
        runs = [target]
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")] if args.threads else [None]
    results = []
    for run in runs:
        for threads in thread_counts:  # one run's thread counts back to back: same files, same cache state
            print(f"timing {run}, threads {threads or 'default'}", file=sys.stderr)
            result = measure_speed(run, batch_sizes=sizes, repeats=args.repeats, warmup=args.warmup,
                                   threads=threads, seed=args.seed, root=args.data_root,
                                   progress=lambda label: print(f"  {label}", file=sys.stderr))
            if result["dataset"] != args.dataset:
                raise SystemExit(f"{run} is a {result['dataset']} run, not {args.dataset}: pass --dataset "
                                 f"{result['dataset']} or runs of {args.dataset}.")
            results.append(result)
    return {"dataset": args.dataset, "command": " ".join(["python", *sys.argv]), "results": results}


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if value < 10 ** digits else f"{value:.0f}"


def cell(stats: dict[str, Any] | None) -> str:
    """``median / p95`` in ms, or why it was not measured."""
    if not stats:
        return "–"
    if "median_ms" not in stats:
        return "skipped"
    return f"{fmt(stats['median_ms'])} / {fmt(stats['p95_ms'])}"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{fmt(value)}×"


def run_section(result: dict[str, Any]) -> list[str]:
    runtimes = result["measurement"]["runtimes"]
    threads = result["measurement"]["threads"]
    on = f", {threads} thread{'s' if threads != 1 else ''}"
    title = (f"## {teacher_name(result)} teacher vs {result['student_method']} student{on}" if result["teacher"]
             else f"## {result['student_method']} student (no teacher){on}")
    lines = [title, ""]
    if result.get("run_dir"):
        lines += [f"Run `{result['run_dir']}`, seed {result['seed']} ({result['setting']} checkpoints); "
                  f"{result['held_out_nodes']} held-out nodes.", ""]
    details = result.get("teacher_details")
    if details:
        lines += [f"Teacher: {details['num_layers']} layers, {details['hidden_channels']} hidden, receptive field "
                  f"{details['receptive_field']} hops, training fan-out {details['fan_out'] or 'none'}. "
                  f"Student: {result['student_details']['num_layers']} layers, "
                  f"{result['student_details']['hidden_channels']} hidden.", ""]
    lines += ["### Cold start (median / p95 ms per batch)", "",
              "| batch | teacher exact | teacher sampled | " + " | ".join(f"student {r}" for r in runtimes)
              + " | speed-up exact | speed-up sampled |",
              "|---:|---:|---:|" + "---:|" * len(runtimes) + "---:|---:|"]
    for size, entry in result["cold_start"].items():
        speed = result["speedup"][size]
        lines.append(f"| {size} | {cell(entry['teacher_exact'])} | {cell(entry['teacher_sampled'])} | "
                     + " | ".join(cell(entry["student"].get(r)) for r in runtimes)
                     + f" | {ratio(speed['exact'])} | {ratio(speed['sampled'])} |")
    fastest = sorted({s["student_runtime"] for s in result["speedup"].values() if s["student_runtime"]})
    lines += ["", f"Speed-ups compare medians, the student in its fastest runtime ({', '.join(fastest) or '–'})."]
    gather = [(size, e["teacher_exact"], e["teacher_sampled"]) for size, e in result["cold_start"].items()
              if "gather" in e["teacher_exact"]]
    if gather:
        lines += ["", "| batch | exact: gathering ms | exact: subgraph nodes / edges | sampled: gathering ms | "
                  "sampled: subgraph nodes / edges |", "|---:|---:|---:|---:|---:|"]
        for size, exact, sampled in gather:
            s_gather = fmt(sampled["gather"]["median_ms"]) if "gather" in sampled else "–"
            s_size = (f"{sampled['subgraph_nodes']:.0f} / {sampled['subgraph_edges']:.0f}"
                      if "subgraph_nodes" in sampled else "–")
            lines.append(f"| {size} | {fmt(exact['gather']['median_ms'])} | {exact['subgraph_nodes']:.0f} / "
                         f"{exact['subgraph_edges']:.0f} | {s_gather} | {s_size} |")
    full = result["full_graph"]
    lines += ["", f"### Full graph ({full['nodes']} nodes, {full['edges']} edges; median / p95 ms)", "",
              "| teacher | " + " | ".join(f"student {r}" for r in runtimes) + " | speed-up |",
              "|---:|" + "---:|" * len(runtimes) + "---:|",
              f"| {cell(full['teacher'])} | " + " | ".join(cell(full["student"].get(r)) for r in runtimes)
              + f" | {ratio(full['speedup'])} |"]
    acc = result["accuracy"]
    lines += ["", f"### Accuracy on the {acc['nodes']} held-out nodes (%)", "",
              "| teacher (full graph) | teacher (sampled neighbourhoods) | student |", "|---:|---:|---:|",
              f"| {fmt(acc['teacher_exact'], 4)} | {fmt(acc['teacher_sampled'], 4)} | {fmt(acc['student'], 4)} |", ""]
    outputs = result.get("runtime_outputs")
    if outputs:
        lines += ["### Same predictions in every runtime", "",
                  "Each runtime's full-graph probabilities against the student in torch on dense features.", "",
                  "| runtime | largest difference | same predicted class | held-out accuracy (%) |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {name} | {o['max_abs_difference']:.1e} | {100 * o['argmax_agreement']:.2f}% | "
                  f"{o['held_out_accuracy']:.2f} |" for name, o in outputs.items()]
        lines.append("")
    lines += first_layer_section(result.get("first_layer"))
    return lines


def first_layer_section(layer: dict[str, Any] | None) -> list[str]:
    """The student's first layer on dense and CSR rows, by batch size and by density (median ms)."""
    if not layer or "by_batch" not in layer:
        return []
    lines = ["### Sparse or dense features", "",
             f"The student's first layer ({layer['features']} → {layer['hidden']}) in torch on dense and on sparse "
             f"CSR rows (median ms; the features are {100 * layer['density']:.1f}% non-zero).", "",
             "| rows | dense | CSR | | density (all rows) | dense | CSR |", "|---:|---:|---:|---|---:|---:|---:|"]
    batches, densities = list(layer["by_batch"].items()), list(layer["by_density"].items())
    for i in range(max(len(batches), len(densities))):
        left = (f"{batches[i][0]} | {fmt(batches[i][1]['dense_ms'])} | {fmt(batches[i][1]['csr_ms'])}"
                if i < len(batches) else " | | ")
        right = (f"{100 * float(densities[i][0]):g}% | {fmt(densities[i][1]['dense_ms'])} | "
                 f"{fmt(densities[i][1]['csr_ms'])}" if i < len(densities) else " | | ")
        lines.append(f"| {left} | | {right} |")
    return lines + [""]


def markdown(data: dict[str, Any], plot_name: str | None, json_name: str = "speed.json") -> str:
    results = data["results"]
    first = results[0]
    m = first["measurement"]
    threads = ", ".join(dict.fromkeys(str(r["measurement"]["threads"]) for r in results))
    lines = ["# Speed: teacher GNN vs graph-free student", "",
             f"Written by `benchmarks/speed.py` (`{data['command']}`); numbers from `{json_name}`. Dataset "
             f"`{data['dataset']}`; {m['repeats']} timed calls after {m['warmup']} warm-up calls per "
             f"measurement, threads: {threads}, batches drawn from the held-out (unseen) test nodes with seed "
             f"{first['batch_seed']}. How it is measured: [Deploying a student](../deploy.md#measuring-speed).", ""]
    if plot_name:
        lines += [f"![held-out accuracy against per-node latency at batch {plot_batch(first)}]({plot_name})", ""]
    for result in results:
        lines += run_section(result)
    env = first["environment"]
    lines += ["## Environment", "", "(of the first measurement)", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in env.items()]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in first["notes"]]
    return "\n".join(lines) + "\n"


def plot_batch(result: dict[str, Any]) -> int:
    """The batch size the plot reads: 1024, else the largest one measured."""
    sizes = [int(b) for b in result["cold_start"]]
    return PLOT_BATCH if PLOT_BATCH in sizes else max(sizes)


def teacher_name(result: dict[str, Any]) -> str:
    """``SAGE``, or ``SAGE+VQ`` for a teacher of another trainer than plain supervised training (VQGraph's)."""
    trainer = (result.get("teacher_details") or {}).get("trainer", "standard")
    return result["teacher"].upper() + ("" if trainer == "standard" else f"+{trainer.upper()}")


def plot_points(results: list[dict[str, Any]]) -> list[tuple[str, float, float, str]]:
    """(label, per-node µs at `plot_batch`, held-out accuracy %, kind) per model, at the first thread count: each
    teacher once, each student in its fastest float32 runtime, and its int8 model where measured."""
    from g2m.bench.speed import per_node_us

    points, teachers = [], set()
    threads = results[0]["measurement"]["threads"]
    for result in (r for r in results if r["measurement"]["threads"] == threads):
        batch = plot_batch(result)
        entry, acc = result["cold_start"][str(batch)], result["accuracy"]
        sha = (result.get("teacher_details") or {}).get("sha256")
        if sha and sha not in teachers:
            teachers.add(sha)
            name = teacher_name(result)
            for key, label in (("exact", "exact"), ("sampled", f"fan-out {result['teacher_details']['fan_out']}")):
                us = per_node_us(entry[f"teacher_{key}"], batch)
                if us is not None and acc[f"teacher_{key}"] is not None:
                    points.append((f"{name} teacher ({label})", us, acc[f"teacher_{key}"], "teacher"))
        timed = {r: s for r, s in entry["student"].items() if "median_ms" in s and r != "onnx-int8"}
        method = result["student_method"].upper()
        if timed:
            best = min(timed, key=lambda r: timed[r]["median_ms"])
            points.append((f"{method} student ({best})", per_node_us(timed[best], batch), acc["student"], "student"))
        int8 = entry["student"].get("onnx-int8", {})
        outputs = (result.get("runtime_outputs") or {}).get("onnx-int8")
        if "median_ms" in int8 and outputs:
            points.append((f"{method} student (int8)", per_node_us(int8, batch), outputs["held_out_accuracy"],
                           "int8"))
    return points


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from g2m.utils import save_figure_atomic

    points = plot_points(results)
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for label, us, acc, kind in sorted(points, key=lambda p: p[1]):
        ax.scatter([us], [acc], marker={"teacher": "s", "int8": "D"}.get(kind, "o"), s=50,
                   color={"teacher": "tab:red", "int8": "tab:green"}.get(kind, "tab:blue"))
        if kind == "teacher":  # below the point: teachers of several runs sit close together
            ax.annotate(label, (us, acc), textcoords="offset points", xytext=(0, -7), ha="center", va="top",
                        fontsize=8)
        elif kind == "int8":  # above the point: an int8 student sits just left of its float32 one
            ax.annotate(label, (us, acc), textcoords="offset points", xytext=(0, 7), ha="center", va="bottom",
                        fontsize=8)
        else:  # float32 students: below the point (an int8 student may sit to its right)
            ax.annotate(label, (us, acc), textcoords="offset points", xytext=(0, -7), ha="center", va="top",
                        fontsize=8)
    if points:
        xs, ys = [p[1] for p in points], [p[2] for p in points]
        ax.set_xlim(min(xs) / 2, max(xs) * 6)
        ax.set_ylim(min(ys) - 3, max(ys) + 3)
    ax.set_xscale("log")
    ax.set_xlabel(f"median cold-start latency per node at batch {plot_batch(results[0])} (µs, log scale)")
    ax.set_ylabel("accuracy on held-out nodes (%)")
    ax.set_title(f"{results[0]['dataset']}: held-out accuracy vs latency")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_figure_atomic(path, fig, dpi=150)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="a-computer")
    p.add_argument("--runs", default=None, help="run folders written by `g2m distill`, separated by commas")
    p.add_argument("--train-dir", default=None, help="without --runs: where to train (default runs/speed-DATASET-glnn)")
    p.add_argument("--batch-sizes", default="1,10,100,1024")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", default=None, help="thread counts, separated by commas, each timed in turn (e.g. "
                                                   "1,2); default: torch's current thread count")
    p.add_argument("--name", default="speed", help="file names: NAME.json, NAME.md, NAME_accuracy.png")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--render-only", action="store_true", help="rewrite speed.md and the plot from speed.json")
    args = p.parse_args()

    from g2m.utils import flush_denormals, write_json_atomic, write_text_atomic

    flush_denormals()
    out = Path(args.out_dir)
    json_path, md_path = out / f"{args.name}.json", out / f"{args.name}.md"
    png_path = out / f"{args.name}_accuracy.png"
    if args.render_only:
        data = json.loads(json_path.read_text())
    else:
        data = measure(args)
        write_json_atomic(json_path, data)
    plot(data["results"], png_path)
    write_text_atomic(md_path, markdown(data, png_path.name, json_path.name))
    print(f"wrote {json_path}, {md_path} and {png_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
