"""Choose graph-classifier settings per dataset on validation data only (never a test fold).

Each candidate trains on CV folds' inner training parts (OGB: the official train split) and is scored on
the inner holdouts (OGB: the official validation split); the test graphs are not evaluated at all.

    python benchmarks/graph_sweep.py --datasets mutag,proteins --folds 0,1,2 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from g2m.graphcls import full_training_set, run_protocol, train_config
from g2m.utils import flush_denormals, write_json_atomic

GRID = [
    {"lr": 0.01, "hidden_channels": 64, "num_layers": 3, "dropout": 0.5, "batch_size": 32},
    {"lr": 0.001, "hidden_channels": 64, "num_layers": 3, "dropout": 0.5, "batch_size": 32},
    {"lr": 0.01, "hidden_channels": 64, "num_layers": 5, "dropout": 0.0, "batch_size": 32},
    {"lr": 0.01, "hidden_channels": 32, "num_layers": 3, "dropout": 0.0, "batch_size": 128},
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="mutag,proteins,nci1,dd,imdb-binary")
    p.add_argument("--gnn", default="gin")
    p.add_argument("--folds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--grid", default=None, help="JSON list of option dicts (default: the built-in grid)")
    p.add_argument("--out", default="docs/results/graph_sweep.json")
    a = p.parse_args()
    flush_denormals()
    torch.set_num_threads(1)
    grid = json.loads(a.grid) if a.grid else GRID
    out_path = Path(a.out)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in a.datasets.split(","):
        rows = results.setdefault(f"{name}/{a.gnn}", [])
        for opts in grid:
            cfg = train_config(name, epochs=a.epochs, **opts)
            t0 = time.perf_counter()
            r = run_protocol(name, full_training_set, a.gnn, cfg, folds=[int(f) for f in a.folds.split(",")],
                             jobs=a.jobs, score_test=False)
            row = {"options": opts, "epochs": a.epochs, "val": r["val"], "protocol": r["protocol"],
                   "best_epochs": [f["converged"]["epoch"] for f in r["folds"]],
                   "seconds": time.perf_counter() - t0}
            rows.append(row)
            print(f"{name:12s} {a.gnn} {opts} val {r['val']['mean']:.2f} ± {r['val']['std']:.2f} "
                  f"epochs {row['best_epochs']} ({row['seconds']:.0f} s)", flush=True)
            write_json_atomic(out_path, results)


if __name__ == "__main__":
    main()
