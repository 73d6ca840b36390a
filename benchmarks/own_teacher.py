"""Distill a user's own GNN: a PyG GCN trained in plain PyTorch on CiteSeer's public split, 10 seeds.

The teacher is trained exactly as docs/own-gnn.md trains it (the code below is the tutorial's), with its
epoch chosen on validation accuracy. For each seed, g2m distills it with GLNN and GLNN+FF-G2M
(`g2m.Distiller(teacher=model, split="masks")`, student epochs chosen on validation), and once more with GLNN
from the teacher's saved logits (`.npy`), which must give the same student weights.

    python benchmarks/own_teacher.py            # writes docs/results/own_teacher.json and .md
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch_geometric.datasets import Planetoid
from torch_geometric.nn import GCNConv

import g2m

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "results"
METHODS = ("glnn", "glnn+ffg2m")


class GCN(torch.nn.Module):
    def __init__(self, in_channels: int, hidden: int, classes: int):
        super().__init__()
        self.conv1, self.conv2 = GCNConv(in_channels, hidden), GCNConv(hidden, classes)

    def forward(self, x, edge_index):
        x = F.dropout(F.relu(self.conv1(x, edge_index)), p=0.5, training=self.training)
        return self.conv2(x, edge_index)


def train_gcn(data, seed: int) -> GCN:
    """The tutorial's teacher: 200 epochs of Adam, the weights of the best validation epoch kept."""
    torch.manual_seed(seed)
    model = GCN(data.num_features, 64, int(data.y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best, state = -1.0, None
    for _ in range(200):
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask]).backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            pred = model(data.x, data.edge_index).argmax(-1)
        val = (pred[data.val_mask] == data.y[data.val_mask]).float().mean().item()
        if val > best:
            best, state = val, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model.eval()


def citeseer(root: Path):
    """PyG's Planetoid CiteSeer (with its public masks), read from a copy of the data root's raw files."""
    work = Path(tempfile.mkdtemp())
    shutil.copytree(root / "Planetoid" / "CiteSeer" / "raw", work / "CiteSeer" / "raw")
    return Planetoid(str(work), "CiteSeer", transform=T.NormalizeFeatures())[0]


def main(seeds: int = 10) -> None:
    root = Path(os.environ.get("G2M_DATA_ROOT", REPO.parent / "shared" / "datasets"))
    data = citeseer(root)
    rows = []
    for seed in range(seeds):
        started = time.perf_counter()
        teacher = train_gcn(data, seed)
        row = {"seed": seed}
        for method in METHODS:
            d = g2m.Distiller(teacher=teacher, method=method, split="masks", seed=seed).fit(data)
            row["teacher"] = d.metrics_["teacher"]
            row[method] = d.metrics_["student"]
            if method == "glnn":
                with torch.no_grad():
                    np.save(work := Path(tempfile.mkdtemp()) / "logits.npy", teacher(data.x, data.edge_index).numpy())
                again = g2m.Distiller(teacher=work, method=method, split="masks", seed=seed).fit(data)
                row["glnn_from_file_identical"] = all(
                    torch.equal(a, b) for a, b in zip(d.student_model_.state_dict().values(),
                                                      again.student_model_.state_dict().values()))
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {who: {part: {"mean": float(np.mean([r[who][part] for r in rows])),
                            "std": float(np.std([r[who][part] for r in rows]))} for part in ("val", "test")}
               for who in ("teacher", *METHODS)}
    result = {"dataset": "CiteSeer (PyG Planetoid, public split, NormalizeFeatures)", "seeds": seeds,
              "summary": summary, "runs": rows,
              "identical_from_file": all(r["glnn_from_file_identical"] for r in rows)}
    (OUT / "own_teacher.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
