"""The distilled-dataset file format and the byte measure shared by every training set.

A distilled file is ``torch.save`` of a plain dict (see ``docs/condense.md``)::

    {"format": "g2m-distilled", "version": 1,
     "meta": {...},                       # dataset, depth, feature specs, class sizes, provenance
     "tree_x": Tensor[N, F],              # tree nodes' input features (model input space)
     "tree_edge_index": Tensor[2, E],     # tree-local ids, edges child (leaf side) -> parent; node 0 = root
     "tree_edge_attr": Tensor[E, Fe] | None,
     "tree_node_ptr": Tensor[T+1], "tree_edge_ptr": Tensor[T+1],
     "set_ptr": Tensor[S+1], "set_trees": Tensor[sum |set|],   # each training sample = a set of trees
     "set_y": Tensor[S], "set_weight": Tensor[S], "set_count": Tensor[S]}

**Bytes of a training set** (`training_bytes`): the sum, over the tensors needed to rebuild it, of
``numel × itemsize`` in the most compact dtype that holds the values exactly (integer-valued tensors in the
smallest (u)int type, others float32). For real graphs: node features, graph-local edge indices, edge
features, labels and per-graph node/edge counts; for a distilled set: the same for its trees plus the sets'
tree lists, sizes, labels and weights. The same function measures full, random and Mirage sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from g2m.errors import DatasetError
from g2m.utils import save_torch_atomic
from g2m.utils.io import load_tensors

FORMAT = "g2m-distilled"
VERSION = 1
TENSOR_KEYS = ("tree_x", "tree_edge_index", "tree_node_ptr", "tree_edge_ptr", "set_ptr", "set_trees",
               "set_y", "set_weight", "set_count")


def compact_itemsize(t: Tensor | np.ndarray | None) -> int:
    """Bytes per element of the most compact dtype that holds ``t``'s values exactly."""
    if t is None:
        return 0
    a = t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)
    if a.size == 0:
        return 1
    if a.dtype == np.bool_:
        return 1
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a) & (a == np.round(a))):
        return 4 if a.dtype.itemsize >= 4 else a.dtype.itemsize
    lo, hi = int(a.min()), int(a.max())
    for size in (1, 2, 4):
        bits = 8 * size
        if (lo >= 0 and hi < 2**bits) or (-(2 ** (bits - 1)) <= lo and hi < 2 ** (bits - 1)):
            return size
    return 8


def compact_bytes(*tensors: Tensor | np.ndarray | None) -> int:
    """Sum of ``numel × compact_itemsize`` over the given tensors (``None`` counts 0)."""
    total = 0
    for t in tensors:
        if t is not None:
            total += int(np.prod(tuple(t.shape))) * compact_itemsize(t)
    return total


def training_bytes(arrays) -> int:
    """Bytes of real training graphs (a `g2m.datasets.graph_arrays.GraphArrays`), see the module doc."""
    n_cnt, e_cnt = np.diff(arrays.node_ptr), np.diff(arrays.edge_ptr)
    local = arrays.edge_index - np.repeat(arrays.node_ptr[:-1], e_cnt)[None, :]
    return compact_bytes(arrays.x, local, arrays.edge_attr, arrays.y, n_cnt, e_cnt)


@dataclass
class DistilledDataset:
    """Frequent computation-tree sets of a graph-classification training set (Mirage).

    Trees are small graphs (node 0 the root, edges child → parent); each *set* of trees is one training
    sample with a class label and a frequency weight (its support within its class)."""

    tree_x: Tensor
    tree_edge_index: Tensor
    tree_edge_attr: Tensor | None
    tree_node_ptr: Tensor
    tree_edge_ptr: Tensor
    set_ptr: Tensor
    set_trees: Tensor
    set_y: Tensor
    set_weight: Tensor
    set_count: Tensor
    meta: dict[str, Any] = field(default_factory=dict)

    # --- sizes ----------------------------------------------------------------------------------
    @property
    def num_trees(self) -> int:
        return int(self.tree_node_ptr.numel() - 1)

    @property
    def num_sets(self) -> int:
        return int(self.set_ptr.numel() - 1)

    def nbytes(self) -> int:
        """Bytes of the distilled training set under the shared measure (`compact_bytes`)."""
        return compact_bytes(self.tree_x, self.tree_edge_index, self.tree_edge_attr,
                             self.tree_node_ptr.diff(), self.tree_edge_ptr.diff(), self.set_trees,
                             self.set_ptr.diff(), self.set_y, self.set_weight.float())

    def sampling_weights(self, class_balance: bool = False) -> Tensor:
        """Sampling probability of each set: its support count (share of the training graphs it stands for);
        with ``class_balance`` every class gets the same total mass."""
        w = self.set_count.double().clamp(min=1)
        if class_balance:
            for c in self.set_y.unique():
                m = self.set_y == c
                w[m] = w[m] / w[m].sum()
        return (w / w.sum()).float()

    # --- to PyG -------------------------------------------------------------------------------
    def tree_data(self, t: int) -> Data:
        """Tree ``t`` as a PyG ``Data`` (``root`` marks node 0)."""
        n0, n1 = int(self.tree_node_ptr[t]), int(self.tree_node_ptr[t + 1])
        e0, e1 = int(self.tree_edge_ptr[t]), int(self.tree_edge_ptr[t + 1])
        root = torch.zeros(n1 - n0, dtype=torch.bool)
        root[0] = True
        d = Data(x=self.tree_x[n0:n1], edge_index=self.tree_edge_index[:, e0:e1].long(), root=root)
        if self.tree_edge_attr is not None:
            d.edge_attr = self.tree_edge_attr[e0:e1]
        return d

    def to_data_list(self) -> list[Data]:
        """One PyG ``Data`` per tree set: the disjoint union of its trees, ``root`` marking their roots,
        ``y`` its class and ``weight`` its sampling weight."""
        from torch_geometric.data import Batch

        trees = [self.tree_data(t) for t in range(self.num_trees)]
        out = []
        for s in range(self.num_sets):
            members = self.set_trees[int(self.set_ptr[s]):int(self.set_ptr[s + 1])].tolist()
            b = Batch.from_data_list([trees[t] for t in members])
            d = Data(x=b.x, edge_index=b.edge_index, root=b.root, y=self.set_y[s].view(1).long())
            if self.tree_edge_attr is not None:
                d.edge_attr = b.edge_attr
            out.append(d)
        return out

    # --- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {"format": FORMAT, "version": VERSION, "meta": dict(self.meta)}
        for k in TENSOR_KEYS + ("tree_edge_attr",):
            d[k] = getattr(self, k)
        return d

    def save(self, path: str | os.PathLike) -> Path:
        """Write the distilled file atomically (``torch.save`` of `to_dict`)."""
        return save_torch_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: Any, source: str = "<dict>") -> "DistilledDataset":
        """Validate a loaded dict and build the dataset; a clear `DatasetError` when it is not one."""
        def bad(why: str) -> DatasetError:
            return DatasetError(f"{source} is not a valid g2m distilled dataset: {why}. "
                                "Recreate it with `g2m condense ... --output DIR` (it writes DIR/distilled.pt).")

        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise bad(f"missing format tag {FORMAT!r}")
        if d.get("version") != VERSION:
            raise bad(f"format version {d.get('version')!r}, this g2m reads version {VERSION}")
        missing = [k for k in TENSOR_KEYS if not isinstance(d.get(k), Tensor)]
        if missing:
            raise bad(f"missing or non-tensor fields {missing}")
        ds = cls(**{k: d[k] for k in TENSOR_KEYS}, tree_edge_attr=d.get("tree_edge_attr"),
                 meta=dict(d.get("meta") or {}))
        try:
            ds.validate()
        except ValueError as exc:
            raise bad(str(exc)) from None
        return ds

    def validate(self) -> None:
        """Check shapes and index ranges (raises ``ValueError`` naming the first inconsistency)."""
        T, S = self.num_trees, self.num_sets
        N, E = self.tree_x.size(0), self.tree_edge_index.size(1)
        checks = [
            (T >= 1 and S >= 1, "it holds no trees or no tree sets"),
            (self.tree_edge_index.dim() == 2 and self.tree_edge_index.size(0) == 2, "tree_edge_index is not 2 × E"),
            (int(self.tree_node_ptr[0]) == 0 and int(self.tree_node_ptr[-1]) == N, "tree_node_ptr does not span tree_x"),
            (int(self.tree_edge_ptr[0]) == 0 and int(self.tree_edge_ptr[-1]) == E, "tree_edge_ptr does not span the edges"),
            (self.tree_edge_ptr.numel() == T + 1, "tree_edge_ptr and tree_node_ptr disagree on the number of trees"),
            (bool((self.tree_node_ptr.diff() >= 1).all()), "a tree has no nodes"),
            (int(self.set_ptr[0]) == 0 and int(self.set_ptr[-1]) == self.set_trees.numel(), "set_ptr does not span set_trees"),
            (self.set_y.numel() == S and self.set_weight.numel() == S and self.set_count.numel() == S,
             "set_y / set_weight / set_count do not have one entry per set"),
            (self.set_trees.numel() == 0 or (int(self.set_trees.min()) >= 0 and int(self.set_trees.max()) < T),
             "set_trees refers to a tree that does not exist"),
            (bool((self.set_weight >= 0).all()), "negative set weights"),
            (self.tree_edge_attr is None or self.tree_edge_attr.size(0) == E, "tree_edge_attr has the wrong length"),
        ]
        for ok, why in checks:
            if not ok:
                raise ValueError(why)
        sizes = self.tree_node_ptr.diff()
        local = self.tree_edge_index.long()
        owner = torch.repeat_interleave(torch.arange(T), self.tree_edge_ptr.diff())
        if E and (bool((local < 0).any()) or bool((local.max(0).values >= sizes[owner]).any())):
            raise ValueError("a tree edge points outside its tree")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DistilledDataset":
        """Read and validate a distilled file (clear `DatasetError` when unreadable or invalid)."""
        path = Path(path)
        if path.is_dir():
            path = path / "distilled.pt"
        if not path.is_file():
            raise DatasetError(f"distilled dataset {path} does not exist; pass the file written by "
                               "`g2m condense --output DIR` (DIR/distilled.pt).")
        try:
            d = load_tensors(path)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unreadable file
            raise DatasetError(f"cannot read distilled dataset {path}: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}. Is it a file written by "
                               "`g2m condense`? Recreate it with `g2m condense ... --output DIR`.") from None
        return cls.from_dict(d, source=str(path))
