"""Where the teacher's production-setting drop comes from: the training graph or the evaluation graph.

For each seed, on the same observed test nodes (the inductive run's), four accuracies:
  tran-model / full graph      the transductive teacher as the transductive table scores it (on these nodes)
  tran-model / observed graph  the same model, with the held-out nodes and their edges removed at evaluation
  ind-model  / full graph      the inductive teacher, evaluated with the held-out nodes' edges back
  ind-model  / observed graph  the inductive teacher as the protocol scores it (GLNN's run_inductive)

    python benchmarks/production_gap.py --dataset cora --seeds 0-9 -o docs/results/production_gap.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch_geometric import seed_everything

from g2m import load_dataset
from g2m.datasets import node_split
from g2m.teacher import train_teacher
from g2m.graph_inputs import as_model_input, graph_input
from g2m.training import accuracy
from g2m.utils import parse_seeds, write_json_atomic


@torch.no_grad()
def _acc(net, x, edge_index, n, y, nodes):
    net.eval()
    return accuracy(net(x, graph_input(net, edge_index, n))[nodes], y[nodes])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="cora")
    ap.add_argument("--teacher", default="sage")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    seeds = parse_seeds(args.seeds)
    ds = load_dataset(args.dataset)
    data = ds.data
    x_full = as_model_input(data.x)
    rows = {k: [] for k in ("tran_full", "tran_obs", "ind_full", "ind_obs", "ind_heldout_full", "tran_test_all")}
    for seed in seeds:
        ind = node_split(ds, seed, "ind")
        tran = node_split(ds, seed, "tran")
        obs, local = ind.observed_graph(data)
        x_obs = as_model_input(obs.x)
        obs_test = local[ind.test]
        seed_everything(seed)
        t_model = train_teacher(ds, tran, args.teacher).model
        seed_everything(seed)
        i_run = train_teacher(ds, ind, args.teacher)
        i_model = i_run.model
        n, m = data.num_nodes, obs.num_nodes
        rows["tran_test_all"].append(_acc(t_model, x_full, data.edge_index, n, data.y, tran.test))
        rows["tran_full"].append(_acc(t_model, x_full, data.edge_index, n, data.y, ind.test))
        rows["tran_obs"].append(_acc(t_model, x_obs, obs.edge_index, m, obs.y, obs_test))
        rows["ind_full"].append(_acc(i_model, x_full, data.edge_index, n, data.y, ind.test))
        rows["ind_obs"].append(_acc(i_model, x_obs, obs.edge_index, m, obs.y, obs_test))
        rows["ind_heldout_full"].append(i_run.metrics["test_ind"])
        print(f"seed {seed}: " + "  ".join(f"{k} {v[-1]:.2f}" for k, v in rows.items()), flush=True)
    summary = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v} for k, v in rows.items()}
    for k, v in summary.items():
        print(f"{k:18s} {v['mean']:6.2f} ± {v['std']:.2f}")
    if args.output:
        write_json_atomic(args.output, {"dataset": args.dataset, "teacher": args.teacher, "seeds": seeds,
                                        "command": f"python benchmarks/production_gap.py --dataset {args.dataset} "
                                                   f"--teacher {args.teacher} --seeds {args.seeds}",
                                        "accuracy": summary})


if __name__ == "__main__":
    main()
