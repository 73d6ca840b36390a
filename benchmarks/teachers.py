"""Teacher benchmark: SAGE, GCN, GAT and APPNP on the CPF datasets, exact splits, 10 seeds, tran + prod.

Each (dataset, teacher) result is saved as ``docs/results/teachers/<dataset>__<teacher>.json``; the table
``docs/results/teachers.md`` is re-rendered from every saved result.

    python benchmarks/teachers.py --datasets cora,citeseer,a-computer,a-photo --teachers sage,gcn,gat,appnp --jobs 2
    python benchmarks/teachers.py --render-only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for plot_results, beside this script

from g2m.evaluate import format_mean_std
from g2m.pipeline import run_node_experiment
from g2m.run_dir import software_environment
from g2m.spec import NodeRunSpec
from g2m.utils import flush_denormals, parse_seeds, write_json_atomic
from plot_results import plot_teachers

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
ORDER = ("cora", "citeseer", "a-computer", "a-photo")
# GLNN (Zhang et al., ICLR 2022), Table 2 (transductive) and Table 3 (production), SAGE teacher.
PUBLISHED = {"cora": (80.64, 79.29), "citeseer": (70.49, 68.38), "a-computer": (82.82, 82.14),
             "a-photo": (90.85, 91.08)}


def run(datasets: list[str], teachers: list[str], seeds: list[int], jobs: int, command: str,
        overrides: dict | None = None, label: str | None = None) -> None:
    for name in datasets:
        for teacher in teachers:
            start = time.perf_counter()
            result = run_node_experiment(NodeRunSpec(name, teacher=teacher, methods=(), seeds=seeds, setting="both",
                                                     device="cpu", save_checkpoints=False, force_teacher=True,
                                                     jobs=jobs, teacher_overrides=overrides))
            column = label or teacher
            entry = {"dataset": name, "teacher": column, "model": teacher, "overrides": overrides or {},
                     "seeds": seeds, "metrics": result["teachers"]["standard"],
                     "timings": result["timings"], "wall_seconds": time.perf_counter() - start,
                     "splits": result["splits"], "config": result["config"]["resolved"]["teachers"]["standard"],
                     "command": command, "environment": software_environment(), "torch_threads": torch.get_num_threads()}
            write_json_atomic(RESULTS / "teachers" / f"{name}__{column}.json", entry)
            print(f"{name} {column}: {entry['wall_seconds']:.0f} s", flush=True)


def render() -> str:
    rows = [json.loads(p.read_text()) for p in sorted((RESULTS / "teachers").glob("*.json"))]
    teachers = [t for t in ("sage", "sage-glnn", "gcn", "gat", "appnp") if any(r["teacher"] == t for r in rows)]
    by = {(r["dataset"], r["teacher"]): r for r in rows}
    datasets = [d for d in ORDER if any(r["dataset"] == d for r in rows)]
    lines = ["# Teacher benchmark (node classification, CPF protocol)", "",
             "Mean ± std (population) of test accuracy in percent over 10 seeds (0–9) on the exact splits of "
             "GLNN's and VQGraph's published runs; every model's epoch chosen on validation accuracy only. "
             "Published SAGE numbers from GLNN (Zhang et al., ICLR 2022; Tables 2 and 3) in brackets. Settings "
             "per teacher: `g2m/config.py` (see [Teachers](../teachers.md)); `sage-glnn` is GLNN's own SAGE "
             "configuration (aggregator `gcn`, dropout 0, fan-out 5), `sage` g2m's validation-selected default. "
             "`–`: not run.", ""]
    figure = plot_teachers(RESULTS)
    lines += [f"![Bar chart of the tables below: mean test accuracy per dataset and teacher, error bars ± std]"
              f"({figure.name})", "",
              "*Mean test accuracy (%) per dataset and teacher, error bars ± one std over the seeds (the y axis "
              "does not start at 0; no bar: not run). Made by `python benchmarks/plot_results.py` from "
              "`docs/results/teachers/*.json`, the files of the tables below.*", ""]
    for title, key, pub_i in (("Transductive", "transductive", 0), ("Production", "production", 1),
                              ("Inductive (held-out nodes)", "inductive", None)):
        lines += [f"## {title}", "", "| dataset | " + " | ".join(teachers) + " |", "|---" * (1 + len(teachers)) + "|"]
        for d in datasets:
            cells = []
            for t in teachers:
                r = by.get((d, t))
                txt = format_mean_std(r["metrics"].get(key)) if r else "–"
                if t.startswith("sage") and pub_i is not None and txt != "–":
                    txt += f" [{PUBLISHED[d][pub_i]}]"
                cells.append(txt)
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## How these were measured", ""]
    for cmd in sorted({r["command"] for r in rows}):
        rs = [r for r in rows if r["command"] == cmd]
        lines.append(f"- `{cmd}` (with `G2M_DATA_ROOT` set): " + ", ".join(
            f"{r['dataset']}/{r['teacher']} {r['wall_seconds']:.0f} s" for r in rs)
            + f" wall on 2 CPU cores ({rs[0]['timings'].get('jobs', 1)} worker processes)")
    text = "\n".join(lines) + "\n"
    (RESULTS / "teachers.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(ORDER))
    parser.add_argument("--teachers", default="sage,gcn,gat,appnp")
    parser.add_argument("--seeds", default="10")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--overrides", type=json.loads, default=None, help="teacher overrides as JSON")
    parser.add_argument("--label", default=None, help="column name for this configuration (default: the teacher)")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    flush_denormals()
    if not args.render_only:
        run(args.datasets.split(","), args.teachers.split(","), parse_seeds(args.seeds), args.jobs,
            "python " + " ".join(sys.argv), args.overrides, args.label)
    print(render())


if __name__ == "__main__":
    main()
