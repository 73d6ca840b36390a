"""A user's own graph: a PyG ``Data`` object, or a folder of edge-list, feature and label files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from g2m.datasets.base import NodeDataset
from g2m.errors import DatasetError

EXTENSIONS = (".npy", ".txt", ".csv", ".tsv")


def from_data(data: Data, name: str = "custom", split: str = "random") -> NodeDataset:
    """Wrap a PyG ``Data`` (``x``, ``edge_index``, ``y`` of one label per node) for node classification."""
    for attr in ("x", "edge_index", "y"):
        if getattr(data, attr, None) is None:
            raise DatasetError(f"the Data object has no {attr!r}; g2m needs x, edge_index and y (one label per node).")
    n = data.num_nodes
    y = data.y.view(-1).long()
    if y.numel() != n or data.x.size(0) != n:
        raise DatasetError(f"x has {data.x.size(0)} rows and y {y.numel()} labels but the graph has {n} nodes.")
    if y.min() < 0:
        raise DatasetError("labels must be non-negative class ids (0..C-1).")
    ei = data.edge_index.long()
    if ei.numel() and (ei.min() < 0 or ei.max() >= n):
        raise DatasetError(f"edge_index refers to node ids outside 0..{n - 1}.")
    ei, _ = remove_self_loops(ei)
    ei = coalesce(to_undirected(ei, num_nodes=n), num_nodes=n)
    classes, y = torch.unique(y, return_inverse=True)
    clean = Data(x=data.x.float(), edge_index=ei, y=y)
    return NodeDataset(name=name, data=clean, num_classes=int(classes.numel()), split_protocol=split,
                       source="Data object")


def _find(folder: Path, stem: str) -> Path:
    for ext in EXTENSIONS:
        if (folder / f"{stem}{ext}").exists():
            return folder / f"{stem}{ext}"
    raise DatasetError(
        f"{folder} has no {stem} file: expected one of {', '.join(stem + e for e in EXTENSIONS)} "
        "(edges: two node ids per row; features: one row per node; labels: one class id per node)."
    )


def _read(path: Path, dtype) -> np.ndarray:
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False).astype(dtype)
        delim = "," if path.suffix == ".csv" else None
        return np.loadtxt(path, delimiter=delim, dtype=dtype, ndmin=2 if dtype is np.float32 else 1)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def from_files(folder: str | Path, split: str = "random") -> NodeDataset:
    """Read ``edges.*`` (two ids per row), ``features.*`` (a row per node) and ``labels.*`` from ``folder``."""
    folder = Path(folder)
    edges = _read(_find(folder, "edges"), np.int64).reshape(-1, 2)
    x = _read(_find(folder, "features"), np.float32)
    y = _read(_find(folder, "labels"), np.int64).reshape(-1)
    data = Data(x=torch.from_numpy(np.atleast_2d(x)), edge_index=torch.from_numpy(edges.T.copy()),
                y=torch.from_numpy(y))
    ds = from_data(data, name=folder.name, split=split)
    ds.source = f"files:{folder.resolve()}"  # runs record it, so `g2m evaluate` finds the files from anywhere
    return ds
