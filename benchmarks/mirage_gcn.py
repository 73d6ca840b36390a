"""Why Mirage + GCN on MUTAG scores the minority-class rate: two one-change ablations on the same folds.

`docs/results/condense.md` reports Mirage + GCN on MUTAG at 33.5 %, the share of MUTAG's minority class: the
selected model predicts one class for every graph. This trains the same GCN on the same distilled sets with
(a) nothing changed, (b) no batch norm, and (c) PyG's ``GraphConv`` (sum of neighbours, no degree
normalisation) in place of ``GCNConv``, and writes each variant's test and validation accuracy for Mirage and
for the full training set to ``docs/results/mirage_gcn.json``.

    python benchmarks/mirage_gcn.py --folds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch_geometric.nn import GraphConv

import g2m.models.graph_classifier as graph_classifier
from g2m.condense import condense
from g2m.run_dir import software_environment
from g2m.utils import parse_seeds, write_json_atomic

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
VARIANTS = ("gcn as shipped", "gcn without batch norm", "graphconv (no degree normalisation)")


def run(variant: str, folds: list[int]) -> dict:
    """One variant: the module's ``GCNConv`` / ``nn.BatchNorm1d`` swapped for the length of the run."""
    saved = graph_classifier.GCNConv, graph_classifier.nn.BatchNorm1d
    try:
        if variant == VARIANTS[1]:
            graph_classifier.nn.BatchNorm1d = lambda channels: torch.nn.Identity()
        elif variant == VARIANTS[2]:
            graph_classifier.GCNConv = GraphConv
        result = condense("mutag", gnn="gcn", support=0.05, baselines=("full",), folds=folds)
    finally:
        graph_classifier.GCNConv, graph_classifier.nn.BatchNorm1d = saved
    return {name: {split: result.metrics[name][split] for split in ("test", "val")} for name in ("mirage", "full")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", default="0,1,2")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = {}
    for variant in VARIANTS:
        rows[variant] = run(variant, parse_seeds(args.folds))
        print(variant, {k: round(v["test"]["mean"], 1) for k, v in rows[variant].items()}, flush=True)
    write_json_atomic(RESULTS / "mirage_gcn.json", {
        "command": "python benchmarks/mirage_gcn.py " + " ".join(sys.argv[1:]), "dataset": "mutag",
        "support": 0.05, "folds": parse_seeds(args.folds), "variants": rows,
        "wall_seconds": time.perf_counter() - start, "environment": software_environment()})


if __name__ == "__main__":
    main()
