"""Validation sweep of student settings on the exact CPF splits: one teacher per seed, every variant on it.

    python benchmarks/student_sweep.py --datasets cora citeseer --seeds 0-4 --method glnn -o sweep.json

Variants are student overrides (``batch_size`` is the student minibatch). Pick by *validation* accuracy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from torch_geometric import seed_everything

from g2m import load_dataset
from g2m.datasets import node_split
from g2m.distill.student import train_student
from g2m.teacher import TEACHER_TRAINERS
from g2m.distill.methods import resolve_method
from g2m.utils import parse_seeds, write_json_atomic

VARIANTS = {
    "full-batch": dict(batch_size=None),
    "batch-512": dict(batch_size=512),
    "batch-256": dict(batch_size=256),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--teacher", default="sage")
    ap.add_argument("--method", default="glnn")
    ap.add_argument("--setting", default="tran")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--variant-json", help="extra variants as a JSON object name -> overrides")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    extra = json.loads(args.variant_json) if args.variant_json else {}
    variants = {**VARIANTS, **extra}
    chosen = args.variants + list(extra)
    seeds = parse_seeds(args.seeds)
    method = resolve_method(args.method)
    rows = []
    for name in args.datasets:
        ds = load_dataset(name)
        res = {v: {"val": [], "test": [], "test_ind": [], "seconds": 0.0} for v in chosen}
        for seed in seeds:
            split = node_split(ds, seed, args.setting)
            seed_everything(seed)
            teacher = TEACHER_TRAINERS.get(method.teacher_trainer)(ds, split, args.teacher)
            for v in chosen:
                over = dict(variants[v])
                batch = over.pop("batch_size", None)
                seed_everything(seed)
                t0 = time.perf_counter()
                run = train_student(ds, split, method, teacher, batch_size=batch, **over)
                res[v]["seconds"] += time.perf_counter() - t0
                for k in ("val", "test", "test_ind"):
                    res[v][k].append(run.metrics.get(k, float("nan")))
        for v in chosen:
            r = res[v]
            row = dict(dataset=name, variant=v, overrides=variants[v], method=args.method, setting=args.setting,
                       seeds=seeds, val=float(np.mean(r["val"])), test=float(np.mean(r["test"])),
                       test_std=float(np.std(r["test"])), test_ind=float(np.mean(r["test_ind"])),
                       seconds=r["seconds"])
            rows.append(row)
            print(f"{name:10s} {v:22s} val {row['val']:6.2f}  test {row['test']:6.2f} ± {row['test_std']:.2f}"
                  f"  ind {row['test_ind']:6.2f}  ({row['seconds']:.0f} s)", flush=True)
    if args.output:
        write_json_atomic(args.output, {"args": vars(args) | {"output": str(args.output)}, "rows": rows})


if __name__ == "__main__":
    main()
