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
from g2m.distill.vqgraph import train_vq_teacher
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


def render(result: dict) -> str:
    best = max(result["rows"], key=lambda r: r["student_val"])
    lines = [f"# VQGraph validation sweep: {result['dataset']}", "",
             f"Transductive, exact CPF splits, seeds {result['seeds']}; validation accuracy (%) only. "
             f"GLNN (same seeds, plain SAGE teacher): **{result['glnn_val']:.2f}**. `plain labels` = share of "
             "seeds whose student learned the plain teacher's labels (the quantized one was > 1 point below).", "",
             f"`{result['command']}`", "",
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
        (OUT / f"{stem}.md").write_text(render(json.loads((OUT / f"{stem}.json").read_text())))
        return
    result = sweep(args.dataset, [int(s) for s in args.seeds.split(",")], grid(json.loads(args.tokenizer)),
                   grid(json.loads(args.student)))
    write_json_atomic(OUT / f"{stem}.json", result)
    (OUT / f"{stem}.md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
