"""Loaders for graph-classification datasets (TU collection, OGB molecules)."""

from __future__ import annotations

from pathlib import Path

import torch

from g2m.datasets.base import GraphDataset
from g2m.datasets.roots import stage


def load_tu(root: Path, tu_name: str, name: str) -> GraphDataset:
    """A TU dataset; graphs without node features get one-hot degree features downstream as needed."""
    from torch_geometric.datasets import TUDataset

    mirror = stage(root / "TUDataset" / tu_name, ("raw",))
    ds = TUDataset(str(mirror.parent), tu_name)
    return GraphDataset(name=name, dataset=ds, num_classes=ds.num_classes, metric="accuracy",
                        split_protocol="stratified-80/10/10", source=str(root / "TUDataset" / tu_name))


def load_ogbg(root: Path, ogb_name: str) -> GraphDataset:
    """An OGB molecule dataset (binary task) with its official scaffold split, scored by ROC-AUC."""
    from g2m.datasets.ogb_compat import register_safe_globals
    from ogb.graphproppred import PygGraphPropPredDataset

    register_safe_globals()
    folder = ogb_name.replace("-", "_")
    mirror = stage(root / "ogb" / folder, ("raw", "split", "mapping", "RELEASE_v1.txt"))
    ds = PygGraphPropPredDataset(ogb_name, root=str(mirror.parent))
    split = {("val" if k == "valid" else k): torch.as_tensor(v) for k, v in ds.get_idx_split().items()}
    return GraphDataset(name=ogb_name, dataset=ds, num_classes=2, metric="roc_auc",
                        split_protocol="scaffold", fixed_split=split, source=str(root / "ogb" / folder))
