"""A user's own graph: a PyG ``Data`` object, or a folder of edge-list, feature and label files."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import SPLIT_PARTS, read_split_file
from g2m.errors import DatasetError

EXTENSIONS = (".npy", ".txt", ".csv", ".tsv")


def _rows(mask: Tensor, limit: int = 10) -> str:
    """``"3, 17, 42 (and 5 more)"``: the first ``limit`` indices where ``mask`` is true."""
    idx = mask.nonzero().view(-1).tolist()
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (f" (and {len(idx) - limit} more)" if len(idx) > limit else "")


def from_data(data: Data, name: str = "custom", split: str = "random") -> NodeDataset:
    """Wrap a PyG ``Data`` (``x``, ``edge_index``, ``y`` of one label per node) for node classification.

    Checked, each with a clear `DatasetError`: missing fields, no nodes, rows of ``x`` vs labels, labels
    that are not non-negative integers, NaN/inf features (the rows are named), edge ids outside
    ``0..N-1``. Handled, not rejected: duplicate edges (merged), self-loops (dropped), isolated nodes
    (kept), directed edges (made undirected); an edge list that needs none of this keeps its order. A ``Data``
    with ``train_mask``, ``val_mask`` and ``test_mask`` keeps them as its own split (``split="masks"``).
    """
    for attr in ("x", "edge_index", "y"):
        if getattr(data, attr, None) is None:
            raise DatasetError(f"the Data object has no {attr!r}; g2m needs x, edge_index and y (one label per node).")
    x = data.x if data.x.dim() == 2 else data.x.view(-1, 1)
    n = x.size(0)
    if n == 0:
        raise DatasetError("the graph has no nodes: x has 0 rows. Give one feature row and one label per node.")
    y = data.y.view(-1)
    if y.numel() != n:
        raise DatasetError(f"x has {n} rows but y has {y.numel()} labels: give exactly one label per node, "
                           "in the same order as the feature rows.")
    if y.is_floating_point():
        bad = ~torch.isfinite(y) | (y != y.round())
        if bool(bad.any()):
            raise DatasetError(f"labels must be integer class ids; these nodes have missing or non-integer "
                               f"labels: {_rows(bad)}.")
    y = y.long()
    if bool((y < 0).any()):
        raise DatasetError(f"labels must be non-negative integers (any values: predictions use them); negative at "
                           f"nodes {_rows(y < 0)}.")
    bad = ~torch.isfinite(x.float()).all(dim=1)
    if bool(bad.any()):
        raise DatasetError(f"{int(bad.sum())} feature rows contain NaN or inf (nodes {_rows(bad)}); "
                           "fill or drop them before training.")
    ei = data.edge_index.long()
    if ei.dim() != 2 or ei.size(0) != 2:
        raise DatasetError(f"edge_index must have shape [2, num_edges], got {list(ei.shape)}.")
    out_of_range = (ei < 0) | (ei >= n)
    if bool(out_of_range.any()):
        ids = torch.unique(ei[out_of_range])[:10].tolist()
        raise DatasetError(f"edges refer to node ids outside 0..{n - 1} (e.g. {', '.join(map(str, ids))}); node ids "
                           "are row numbers of the feature matrix, counted from 0.")
    ei = undirected_edges(ei, n)
    classes, y = torch.unique(y, return_inverse=True)
    clean = Data(x=x.float(), edge_index=ei, y=y)
    # the user's own split, used with split="masks" (checked then: `g2m.datasets.splits.with_split`)
    masks = {k: data[f"{k}_mask"] for k in SPLIT_PARTS if getattr(data, f"{k}_mask", None) is not None}
    renamed = not torch.equal(classes, torch.arange(classes.numel(), device=classes.device))
    return NodeDataset(name=name, data=clean, num_classes=int(classes.numel()), split_protocol=split,
                       fixed_split=masks if len(masks) == len(SPLIT_PARTS) else None, source="Data object",
                       class_labels=tuple(int(c) for c in classes.tolist()) if renamed else None)


def undirected_edges(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``edge_index`` without self-loops, with both directions of every edge, each once, sorted by (source,
    target) as PyG's ``coalesce`` sorts them. An edge list that is already so, in any order, keeps its order, so
    that a user's model sees its own graph exactly.

    Works on one int64 key per edge (``source * num_nodes + target``): on 2·10⁷ edges about 3x faster than PyG's
    ``to_undirected`` + ``coalesce`` with half the peak memory (benchmarks/load_graph.py)."""
    n = int(num_nodes)
    if n > 3_000_000_000:  # keys would overflow int64: PyG's own way
        return coalesce(to_undirected(remove_self_loops(edge_index)[0], num_nodes=n), num_nodes=n)
    src, dst = edge_index
    loops = src == dst
    s, d = src[~loops], dst[~loops]
    keys = (torch.minimum(s, d) * n + torch.maximum(s, d)).numpy()
    del s, d
    keys.sort()  # in place: no index array beside it
    pairs = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if keys.size else keys  # each edge once
    del keys
    both = np.concatenate([pairs, (pairs % n) * n + pairs // n])  # both directions
    del pairs
    both.sort()
    if both.size == src.numel() and not bool(loops.any()):  # as many edges as the clean list: the same one?
        given = (src * n + dst).numpy()
        given.sort()
        if np.array_equal(given, both):
            return edge_index.contiguous()
    out = np.empty((2, both.size), dtype=np.int64)
    np.floor_divide(both, n, out=out[0])
    np.remainder(both, n, out=out[1])
    return torch.from_numpy(out)


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
            array = np.load(path, allow_pickle=False)
            if dtype is np.int64 and array.dtype.kind == "f":  # ids and labels: whole numbers, never truncated
                bad = ~np.isfinite(array) | (array != np.round(array))
                if bad.any():
                    first = np.argwhere(bad)[0].tolist()
                    raise DatasetError(f"{path} holds non-integer values (e.g. {float(array[tuple(first)])} at index "
                                       f"{first}); node ids and labels must be whole numbers: fix the file.")
            if array.dtype.kind not in "biuf":
                raise DatasetError(f"{path} holds {array.dtype} values, not numbers.")
            return array.astype(dtype)
        delim = "," if path.suffix == ".csv" else None
        return np.loadtxt(path, delimiter=delim, dtype=dtype, ndmin=2 if dtype is np.float32 else 1)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def from_files(folder: str | Path, split: str = "random",
               on_step: Callable[[str], None] | None = None) -> NodeDataset:
    """Read ``edges.*`` (two ids per row), ``features.*`` (a row per node) and ``labels.*`` from ``folder``,
    and its own split from ``split.json`` when there is one (``{"train": ids, "val": ids, "test": ids}``, used
    with ``split="masks"``). ``on_step`` is told each step as it starts (with the file's size): large graphs
    take seconds to read."""
    folder = Path(folder)
    step = on_step or (lambda message: None)

    def read(stem: str, dtype) -> np.ndarray:
        path = _find(folder, stem)
        step(f"reading {path.name} ({path.stat().st_size / 2**20:.0f} MB)")
        return _read(path, dtype)

    edges = read("edges", np.int64)
    if edges.size and (edges.ndim != 2 or edges.shape[1] != 2) and not (edges.ndim == 1 and edges.size == 2):
        raise DatasetError(f"{_find(folder, 'edges')}: each row must hold exactly two node ids (source target), "
                           f"got rows of {edges.shape[-1] if edges.ndim == 2 else 1} values.")
    edges = edges.reshape(-1, 2)
    x = read("features", np.float32)
    y = read("labels", np.int64).reshape(-1)
    data = Data(x=torch.from_numpy(np.atleast_2d(x)), edge_index=torch.from_numpy(edges).t(),
                y=torch.from_numpy(y))
    step(f"checking {len(y)} nodes and making {len(edges)} edges undirected")
    ds = from_data(data, name=folder.name, split=split)
    if (folder / "split.json").is_file():  # the user's own split, used with split="masks"
        ds.fixed_split = read_split_file(folder / "split.json")
    ds.source = f"files:{folder.resolve()}"  # runs record it, so `g2m evaluate` finds the files from anywhere
    return ds
