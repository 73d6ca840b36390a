"""Validation sweep of VQGraph's settings (transductive, exact CPF splits): tokenizer × student grid.

Each tokenizer setting is trained once per seed and every student setting distills from it; GLNN from the
plain teacher of the same seed is the reference row. Only validation accuracy is recorded (no test numbers:
this sweep chooses defaults). Results: ``docs/results/vq_sweep/<dataset>.json`` and ``.md``.

    python benchmarks/vq_sweep.py cora --seeds 0,1,2 \
        --tokenizer '{"codebook_size": [512, 2048], "warm_start": [true, false]}' \
        --student '{"code_temperature": [1, 3], "w_soft_code_kl": [1, 5]}'
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
from torch_geometric import seed_everything

import g2m
from g2m.datasets import node_split
from g2m.distill.student import train_student
from g2m.distill.vq_teacher import train_vq_teacher
from g2m.teacher import train_teacher
from g2m.utils import write_json_atomic

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "vq_sweep"


def grid(spec: dict[str, list]) -> list[dict]:
    keys = list(spec)
    return [dict(zip(keys, values)) for values in itertools.product(*(spec[k] for k in keys))] or [{}]


def mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 2) if values else float("nan")


def sweep(name: str, seeds: list[int], tokenizers: list[dict], students: list[dict]) -> dict:
    ds = g2m.load_dataset(name)
    rows, glnn = [], []
    for seed in seeds:  # the reference: GLNN on the plain teacher of the same seed
        split = node_split(ds, seed, "tran")
        seed_everything(seed)
        plain = train_teacher(ds, split, "sage")
        seed_everything(seed)
        glnn.append(train_student(ds, split, "glnn", plain).metrics["val"])
    for tok in tokenizers:
        per_student: dict[int, list[float]] = {i: [] for i in range(len(students))}
        teacher_val, plain_val, plain_labels, ppl, secs = [], [], [], [], []
        for seed in seeds:
            split = node_split(ds, seed, "tran")
            seed_everything(seed)
            t0 = time.perf_counter()
            run = train_vq_teacher(ds, split, "sage", **tok)
            secs.append(time.perf_counter() - t0)
            teacher_val.append(run.metrics["val"])
            plain_val.append(run.extra_metrics.get("plain_val", float("nan")))
            plain_labels.append(run.extra_metrics["plain_labels"])
            ppl.append(run.extra_metrics["perplexity"])
            for i, stu in enumerate(students):
                seed_everything(seed)
                per_student[i].append(train_student(ds, split, "vqgraph", run, **stu).metrics["val"])
        for i, stu in enumerate(students):
            row = {"tokenizer": tok, "student": stu, "student_val": mean(per_student[i]),
                   "vq_teacher_val": mean(teacher_val), "plain_teacher_val": mean(plain_val),
                   "plain_labels": mean(plain_labels), "perplexity": mean(ppl), "tokenizer_seconds": mean(secs)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"dataset": name, "seeds": seeds, "glnn_val": mean(glnn), "rows": rows,
            "command": "python " + shlex.join(sys.argv), "torch_threads": torch.get_num_threads()}


def plot(result: dict, path: Path) -> Path:
    """Bar chart: student validation accuracy per setting, GLNN's as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from g2m.utils import save_figure_atomic

    rows = sorted(result["rows"], key=lambda r: r["student_val"])
    short = {"codebook_size": "K", "code_temperature": "τ", "w_soft_code_kl": "w_code", "warm_start": "warm"}
    labels = [", ".join(f"{short.get(k, k)}={v}" for k, v in {**r["tokenizer"], **r["student"]}.items())
              for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.4))
    ax.barh(range(len(rows)), [r["student_val"] for r in rows], color="tab:blue")
    ax.axvline(result["glnn_val"], color="tab:red", ls="--", label=f"GLNN {result['glnn_val']:.2f}")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    low = min([r["student_val"] for r in rows] + [result["glnn_val"]])
    ax.set_xlim(low - 2, max(r["student_val"] for r in rows) + 1)
    ax.set_xlabel("VQGraph student validation accuracy (%)")
    ax.set_title(f"{result['dataset']}: seeds {result['seeds']}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure_atomic(path, fig, dpi=100)
    plt.close(fig)
    return path


def render(result: dict, figure: str | None = None) -> str:
    best = max(result["rows"], key=lambda r: r["student_val"])
    lines = [f"# VQGraph validation sweep: {result['dataset']}", "",
             f"Transductive, exact CPF splits, seeds {result['seeds']}; validation accuracy (%) only. "
             f"GLNN (same seeds, plain SAGE teacher): **{result['glnn_val']:.2f}**. `plain labels` = share of "
             "seeds whose student learned the plain teacher's labels (the quantized one was > 1 point below).", "",
             f"`{result['command']}`", "",
             *([f"![Student validation accuracy per setting; GLNN as a dashed line]({figure})", ""] if figure else []),
             "| tokenizer | student | student val | VQ teacher val | plain teacher val | plain labels | perplexity | tokenizer s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(result["rows"], key=lambda r: -r["student_val"]):
        mark = "**" if r is best else ""
        lines.append(f"| `{json.dumps(r['tokenizer'])}` | `{json.dumps(r['student'])}` | {mark}{r['student_val']:.2f}{mark} "
                     f"| {r['vq_teacher_val']:.2f} | {r['plain_teacher_val']:.2f} | {r['plain_labels']:.2f} "
                     f"| {r['perplexity']:.0f} | {r['tokenizer_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--tokenizer", default="{}", help="JSON: tokenizer option → list of values")
    parser.add_argument("--student", default="{}", help="JSON: student option → list of values")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument("--render-only", action="store_true", help="re-render the .md from the saved .json")
    args = parser.parse_args()
    stem = args.dataset + (f"-{args.tag}" if args.tag else "")
    if args.render_only:
        result = json.loads((OUT / f"{stem}.json").read_text())
        (OUT / f"{stem}.md").write_text(render(result, plot(result, OUT / f"{stem}.png").name))
        return
    result = sweep(args.dataset, [int(s) for s in args.seeds.split(",")], grid(json.loads(args.tokenizer)),
                   grid(json.loads(args.student)))
    write_json_atomic(OUT / f"{stem}.json", result)
    (OUT / f"{stem}.md").write_text(render(result, plot(result, OUT / f"{stem}.png").name))
    print(render(result))


if __name__ == "__main__":
    main()
