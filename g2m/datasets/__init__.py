"""Datasets: a registry of named benchmarks, data roots, a processed-file cache, splits and user graphs.

``load_dataset("cora")`` returns a `NodeDataset`; ``load_dataset("mutag")`` a
`GraphDataset`. Raw files are read from a *data root* (``root=``, else ``G2M_DATA_ROOT``, else
the user cache), which may be read-only; processed files go to the cache (``G2M_CACHE_DIR``).
Cora and MUTAG are bundled with the package, so they load with no data root and no network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from torch_geometric.data import Data

from g2m.datasets.base import GraphDataset, NodeDataset
from g2m.datasets.custom import from_data, from_files
from g2m.datasets.registry import DATASETS, DatasetSpec
from g2m.datasets.roots import BUNDLED_ROOT, default_cache_dir, resolve_data_root
from g2m.datasets.splits import NodeSplit, cv_folds, graph_labels, graph_split, ids_sha256, inductive_split, node_split, split_fingerprints
from g2m.errors import DatasetError

__all__ = [
    "DATASETS", "DatasetSpec", "GraphDataset", "NodeDataset", "NodeSplit", "load_dataset", "list_datasets",
    "from_data", "from_files", "node_split", "inductive_split", "graph_split", "cv_folds", "graph_labels", "split_fingerprints", "ids_sha256",
    "find_root",
    "default_cache_dir",
]


def find_root(name: str, root: str | os.PathLike | None = None, download: bool = False) -> Path:
    """The data root that holds ``name``'s raw files (falling back to the bundled copy), or a clear error.

    With ``download=True``, missing raw files are downloaded into the data root first (checksums verified).
    """
    spec = DATASETS.get(name)
    data_root, explicit = resolve_data_root(root)
    missing = spec.missing_files(data_root)
    if not missing:
        return data_root
    if download:
        from g2m.datasets.download import download_missing

        download_missing(spec, data_root)
        return data_root
    if spec.bundled:
        return BUNDLED_ROOT
    how = "--data-root / root=" if root is not None else (
        "G2M_DATA_ROOT" if explicit else "the default data root (set G2M_DATA_ROOT or pass --data-root)")
    shown = "\n  ".join(str(data_root / f) for f in missing[:10])
    more = f"\n  … and {len(missing) - 10} more" if len(missing) > 10 else ""
    raise DatasetError(
        f"dataset {name!r}: raw files missing under the data root {data_root} (from {how}):\n  {shown}{more}\n"
        f"Put the files there (the layout is that of PyG/OGB roots, e.g. {spec.files[0]}), point "
        "--data-root / G2M_DATA_ROOT at a folder that has them, or pass --download (download=True) to fetch "
        "them into the data root. g2m never downloads unless asked."
    )


def load_dataset(name: str | Data | os.PathLike, root: str | os.PathLike | None = None,
                 download: bool = False, on_step: Callable[[str], None] | None = None) -> Any:
    """Load a dataset by registry name, a PyG ``Data`` object, or a folder of user files.

    Returns a `NodeDataset` (node classification) or `GraphDataset` (graph classification). ``download=True``
    fetches missing raw files into the data root (PyG's/OGB's own downloaders, checksums verified);
    the default never touches the network. ``on_step`` is told each step of reading a folder of user files.
    """
    if isinstance(name, Data):
        return from_data(name)
    key = str(name).lower()
    if key not in DATASETS and Path(str(name)).is_dir():
        return from_files(Path(str(name)), on_step=on_step)
    spec = DATASETS.get(key)
    return spec.loader(find_root(key, root, download=download))


def list_datasets(task: str | None = None) -> list[str]:
    """Registered dataset names, optionally only those of ``task`` (``"node"`` or ``"graph"``)."""
    return [n for n, s in DATASETS.items() if task is None or s.task == task]
