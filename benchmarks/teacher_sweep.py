"""Validation sweep of teacher settings on the exact CPF splits (transductive): prints and saves JSON.

    python benchmarks/teacher_sweep.py --datasets cora citeseer --seeds 0-4 -o docs/results/teacher_sweep.json

Each variant is a dict of teacher overrides; pick the best by *validation* accuracy, test is reported only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from torch_geometric import seed_everything

from g2m import load_dataset
from g2m.datasets import node_split
from g2m.teacher import train_teacher
from g2m.utils import parse_seeds, write_json_atomic

VARIANTS = {
    "mean-do0.5-fan5-earliest": dict(aggr="mean", dropout=0.5, fan_out=5, ties="earliest"),
    "mean-do0.5-fan5": dict(aggr="mean", dropout=0.5, fan_out=5),
    "gcn-do0-fan5": dict(aggr="gcn", dropout=0.0, fan_out=5),
    "gcn-do0-full": dict(aggr="gcn", dropout=0.0, fan_out=0),
    "gcn-do0.5-fan5": dict(aggr="gcn", dropout=0.5, fan_out=5),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--teacher", default="sage")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--setting", default="tran")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    rows = []
    for name in args.datasets:
        ds = load_dataset(name)
        for variant in args.variants:
            vals, tests, inds, t0 = [], [], [], time.perf_counter()
            for seed in parse_seeds(args.seeds):
                split = node_split(ds, seed, args.setting)
                seed_everything(seed)
                run = train_teacher(ds, split, args.teacher, **VARIANTS[variant])
                vals.append(run.metrics["val"])
                tests.append(run.metrics["test"])
                inds.append(run.metrics.get("test_ind", float("nan")))
            row = dict(dataset=name, variant=variant, overrides=VARIANTS[variant], setting=args.setting,
                       seeds=parse_seeds(args.seeds), val=float(np.mean(vals)), test=float(np.mean(tests)),
                       test_std=float(np.std(tests)), test_ind=float(np.mean(inds)),
                       seconds=time.perf_counter() - t0)
            rows.append(row)
            print(f"{name:10s} {variant:28s} val {row['val']:6.2f}  test {row['test']:6.2f} ± {row['test_std']:.2f}"
                  f"  ind {row['test_ind']:6.2f}  ({row['seconds']:.0f} s)", flush=True)
    if args.output:
        write_json_atomic(args.output, {"command": "python benchmarks/teacher_sweep.py " + " ".join(
            f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()
            if k != "output" and v is not None), "rows": rows})


if __name__ == "__main__":
    main()
