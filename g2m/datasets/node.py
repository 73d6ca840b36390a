"""Loaders for node-classification datasets (CPF npz, Planetoid, OGB node property prediction)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from g2m.datasets.base import NodeDataset
from g2m.datasets.roots import stage
from g2m.errors import DatasetError


def _csr(npz, prefix: str) -> sp.csr_matrix:
    return sp.csr_matrix(
        (npz[f"{prefix}_data"], npz[f"{prefix}_indices"], npz[f"{prefix}_indptr"]),
        shape=tuple(npz[f"{prefix}_shape"]),
    )


def load_npz_graph(path: Path, name: str, largest_component: bool = True) -> NodeDataset:
    """Read a gnn-benchmark / CPF ``.npz`` (sparse adjacency, sparse attributes, labels).

    As in CPF/GLNN/VQGraph, the graph is made undirected and unweighted, self-loops are dropped and,
    with ``largest_component``, only the largest connected component is kept. The file is read with
    ``allow_pickle=False``: an npz whose arrays need unpickling is refused, never executed.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            adj = _csr(npz, "adj")
            attr = _csr(npz, "attr") if "attr_data" in npz else sp.csr_matrix(npz["attr_matrix"])
            labels = np.asarray(npz["labels"]).astype(np.int64)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DatasetError(
                f"{path} stores pickled Python objects, which g2m never loads (unpickling can run code). "
                "Save adjacency, attributes and labels as plain numeric arrays (adj_data/adj_indices/adj_indptr/"
                "adj_shape, attr_* or attr_matrix, labels).") from exc
        raise DatasetError(f"cannot read {path} as a gnn-benchmark npz graph: {exc}") from exc
    except (OSError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"cannot read {path} as a gnn-benchmark npz graph: {exc}") from exc
    adj = ((adj + adj.T) > 0).astype(np.float32).tocsr()
    adj.setdiag(0)
    adj.eliminate_zeros()
    if largest_component:
        _, comp = sp.csgraph.connected_components(adj, directed=False)
        keep = np.flatnonzero(comp == np.bincount(comp).argmax())
        adj, attr, labels = adj[keep][:, keep], attr[keep], labels[keep]
    coo = adj.tocoo()
    edge_index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    edge_index = coalesce(edge_index, num_nodes=adj.shape[0])
    x = torch.from_numpy(np.asarray(attr.todense(), dtype=np.float32))
    y = torch.from_numpy(labels)
    # Relabel classes to 0..C-1 in case the component misses one.
    classes, y = torch.unique(y, return_inverse=True)
    data = Data(x=x, edge_index=edge_index, y=y)
    return NodeDataset(name=name, data=data, num_classes=int(classes.numel()), split_protocol="cpf",
                       source=str(path))


def _clean(data: Data) -> Data:
    edge_index, _ = remove_self_loops(data.edge_index)
    edge_index = to_undirected(edge_index, num_nodes=data.num_nodes)
    return Data(x=data.x.float(), edge_index=edge_index, y=data.y.view(-1).long())


# What Planetoid's raw pickles may reference: numpy arrays, scipy CSR matrices, a defaultdict of lists.
_PLANETOID_GLOBALS = {
    ("__builtin__", "list"), ("builtins", "list"), ("collections", "defaultdict"),
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("scipy.sparse.csr", "csr_matrix"), ("scipy.sparse._csr", "csr_matrix"),
}


class _PlanetoidUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _PLANETOID_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a Planetoid raw file")
        return super().find_class(module, name)


def check_planetoid_raw(raw_dir: Path) -> None:
    """Planetoid's raw files are Python pickles, which PyG unpickles. Read each first with an unpickler
    that allows only the numpy/scipy classes they hold, so a crafted file is refused before it can run code."""
    for path in sorted(raw_dir.glob("ind.*")):
        if path.name.endswith(".test.index"):
            continue  # plain text
        try:
            with open(path, "rb") as fh:
                _PlanetoidUnpickler(fh, encoding="latin1").load()
        except Exception as exc:  # noqa: BLE001  (any refusal or corruption)
            raise DatasetError(f"{path} is not a plain Planetoid raw file ({exc}); g2m refuses to load it, because "
                               "unpickling it could run code. Replace it with the original file.") from exc


def load_planetoid(root: Path, pyg_name: str, name: str) -> NodeDataset:
    """Planetoid citation graph with its public split (20 per class / 500 / 1000)."""
    from torch_geometric.datasets import Planetoid

    check_planetoid_raw(root / "Planetoid" / pyg_name / "raw")
    mirror = stage(root / "Planetoid" / pyg_name, ("raw",))
    ds = Planetoid(str(mirror.parent), pyg_name)
    raw = ds[0]
    split = {k: raw[f"{k}_mask"].nonzero().view(-1) for k in ("train", "val", "test")}
    return NodeDataset(name=name, data=_clean(raw), num_classes=ds.num_classes,
                       split_protocol="public", fixed_split=split, source=str(root / "Planetoid" / pyg_name))


def load_ogbn(root: Path, ogb_name: str) -> NodeDataset:
    """OGB node property prediction dataset with its official split."""
    from g2m.datasets.ogb_compat import register_safe_globals
    from ogb.nodeproppred import PygNodePropPredDataset

    register_safe_globals()
    folder = ogb_name.replace("-", "_")
    mirror = stage(root / "ogb" / folder, ("raw", "split", "mapping", "RELEASE_v1.txt"))
    ds = PygNodePropPredDataset(ogb_name, root=str(mirror.parent))
    split = {("val" if k == "valid" else k): v for k, v in ds.get_idx_split().items()}
    return NodeDataset(name=ogb_name, data=_clean(ds[0]), num_classes=int(ds.num_classes),
                       split_protocol="official", fixed_split=split, source=str(root / "ogb" / folder))
