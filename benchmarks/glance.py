"""The home page's "results at a glance", written from the result files (no number is copied by hand).

Reads ``docs/results/accuracy/*.json`` (through ``plot_results.accuracy_series``, as the accuracy page and its
picture do), ``docs/results/teacher_choice/*.json``, ``docs/results/speed.json`` and
``docs/results/condense.json``, and replaces the block between
``<!-- glance:start -->`` and ``<!-- glance:end -->`` in ``docs/index.md``. ``tests/test_docs.py`` renders it
again and checks that the page holds exactly this text.

    python benchmarks/glance.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # plot_results and condense_report, beside this script

from condense_report import mirage_wins  # noqa: E402
from plot_results import RESULTS, accuracy_series  # noqa: E402
from teacher_choice import best_by_validation  # noqa: E402
from teacher_choice import rows as teacher_rows  # noqa: E402

from g2m.evaluate import count  # noqa: E402
from g2m.utils import write_text_atomic  # noqa: E402

INDEX = RESULTS.parent / "index.md"
START, END = "<!-- glance:start -->", "<!-- glance:end -->"
ROWS = (("mlp", "MLP, no teacher"), ("teacher (SAGE)", "SAGE teacher (needs the graph)"),
        ("glnn", "GLNN student (features only)"), ("glnn+ffg2m", "GLNN + FF-G2M student"),
        ("vqgraph", "VQGraph student"))


def accuracy_table(results: Path) -> tuple[list[str], dict]:
    datasets, series = accuracy_series(results)
    lines = ["| test accuracy, % (transductive / production) | " + " | ".join(datasets) + " |",
             "|---|" + "---:|" * len(datasets)]
    for key, label in ROWS:
        cells = []
        for d in datasets:
            entry = series.get(key, {}).get(d)
            cells.append(f"{entry['transductive']['mean']:.1f} / {entry['production']['mean']:.1f}"
                         if entry else "not run")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines, series


def signed(points: float) -> str:
    """``+1.2`` / ``-0.7`` points; a difference that rounds to zero is ``±0.0``, never ``-0.0``."""
    text = f"{points:+.1f}"
    return "±0.0" if text in ("+0.0", "-0.0") else text


def seed_counts(series: dict) -> set[int]:
    """How many seeds the accuracy numbers are means over (one value when every cell has the same)."""
    return {len(entry[setting]["runs"]) for per_dataset in series.values() for entry in per_dataset.values()
            for setting in ("transductive", "production")}


def gap(series: dict, method: str, base: str = "glnn") -> tuple[float, float]:
    """The smallest and largest transductive difference ``method − base`` over the datasets both were run on."""
    diffs = [series[method][d]["transductive"]["mean"] - series[base][d]["transductive"]["mean"]
             for d in series.get(method, {}) if d in series.get(base, {})]
    return min(diffs), max(diffs)


def render(results: Path = RESULTS) -> str:
    """The block between the markers, markers included."""
    table, series = accuracy_table(results)
    speed = next(r for r in json.loads((results / "speed.json").read_text())["results"]
                 if r["student_method"] == "glnn")
    cold, one, many, acc = speed["cold_start"]["1"], speed["speedup"]["1"], speed["speedup"]["1024"], speed["accuracy"]
    student_ms = cold["student"][one["student_runtime"]]["median_ms"]
    pairs, wins = mirage_wins(json.loads((results / "condense.json").read_text())["datasets"])
    best = best_by_validation(teacher_rows(results))
    strongest = ", ".join(f"{d} {r['student']['transductive']['mean']:.1f} (`-t {r['teacher']} -m {r['method']}`)"
                          for d, r in best.items())
    to_teacher = ", ".join(
        f"{d} {signed(series['glnn'][d]['transductive']['mean'] - series['teacher (SAGE)'][d]['transductive']['mean'])}"
        for d in series["glnn"])
    seeds = " or ".join(map(str, sorted(seed_counts({k: series[k] for k, _ in ROWS if k in series}))))
    ff_low, ff_high = gap(series, "glnn+ffg2m")
    vq_low, vq_high = gap(series, "vqgraph")
    lines = [START, "",
             f"Accuracy is the mean over {seeds} seeds on the papers' exact splits, each model chosen on validation "
             "accuracy only ([evaluation protocol](evaluation.md)); `not run`: not measured yet.", ""]
    lines += table
    lines += ["",
              "![Test accuracy of the teacher and every student, per dataset](results/accuracy.png)", "",
              f"- **The student keeps the teacher's accuracy without the graph**: GLNN student minus SAGE teacher, "
              f"transductive: {to_teacher} points ([accuracy](results/accuracy.md)).",
              f"- **What each method adds over GLNN** (transductive, range over the datasets): GLNN + FF-G2M "
              f"{signed(ff_low)} to {signed(ff_high)} points ([FF-G2M](ffg2m.md)); VQGraph {signed(vq_low)} to "
              f"{signed(vq_high)} "
              "([VQGraph](vqgraph.md)): small next to the seeds' spread, and smaller than the papers report.",
              f"- **The strongest student, chosen on validation**, with any teacher or an average of several: "
              f"{strongest} ([students per teacher](results/teacher_choice.md)).",
              f"- **Speed** ({speed['dataset']}, one new node and its features, "
              f"{count(speed['measurement']['threads'], 'CPU thread')}): the student answers in "
              f"{student_ms:.3f} ms, the teacher on its exact 2-hop neighbourhood in "
              f"{cold['teacher_exact']['median_ms']:.1f} ms: {one['exact']:.0f}× faster at batch 1, "
              f"{many['exact']:.0f}× at batch 1024; on those held-out nodes the student scores "
              f"{acc['student']:.1f}% and the teacher {acc['teacher_exact']:.1f}% ([speed](results/speed.md)).",
              f"- **Condensation** ([Mirage](condense.md)): over {len(pairs)} dataset × GNN pairs, Mirage's "
              f"condensed set beats a random subset of the same bytes in {wins['random']}, a herding coreset in "
              f"{wins['herding']}, and a classifier that only knows each graph's size in {wins['size_only']} "
              "([condensation results](results/condense.md)).",
              "", END]
    return "\n".join(lines)


def main() -> None:
    text = INDEX.read_text()
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    write_text_atomic(INDEX, head + render() + tail)
    print(f"wrote the results at a glance into {INDEX}")


if __name__ == "__main__":
    main()
