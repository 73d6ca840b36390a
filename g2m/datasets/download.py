"""Opt-in downloads of missing raw files into a data root, verified against known checksums.

g2m never downloads unless asked (``load_dataset(..., download=True)``, ``--download``). PyG's and OGB's
own dataset classes fetch their datasets; the CPF npz files come from the CPF repository. Every file
whose published bytes are known (``checksums.sha256``) is verified after the download; a mismatch
deletes the file and raises.
"""

from __future__ import annotations

import os
import tempfile
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Callable

from g2m.errors import DatasetError
from g2m.utils.io import file_sha256

CPF_URL = "https://raw.githubusercontent.com/BUPT-GAMMA/CPF/master/data/npz/{name}.npz"
CHECKSUM_FILE = Path(__file__).resolve().parent / "checksums.sha256"


@lru_cache(maxsize=1)
def known_checksums() -> dict[str, str]:
    """``{path relative to a data root: sha256}`` of raw files whose original bytes are known."""
    out = {}
    for line in CHECKSUM_FILE.read_text().splitlines():
        if line.strip():
            digest, rel = line.split(maxsplit=1)
            out[rel.strip()] = digest
    return out


def verify(root: Path, files: tuple[str, ...]) -> None:
    """Check ``files`` under ``root`` against `known_checksums`; delete and raise on a mismatch."""
    sums = known_checksums()
    for rel in files:
        path = root / rel
        if rel in sums and path.exists():
            got = file_sha256(path)
            if got != sums[rel]:
                path.unlink()
                raise DatasetError(f"downloaded {path} has sha256 {got}, expected {sums[rel]}; the file was "
                                   "deleted. Retry, or fetch it by hand from the dataset's published source.")


def fetch_url(url: str, dest: Path) -> Path:
    """Download ``url`` to ``dest`` atomically (a temporary file, then a rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
        os.replace(tmp, dest)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise DatasetError(f"cannot download {url}: {exc}") from exc
        raise
    return dest


def cpf_fetcher(rel: str, name: str) -> Callable[[Path], None]:
    """Fetch a CPF npz (``cora``/``citeseer``) from the CPF repository to ``root/rel``."""
    def fetch(root: Path) -> None:
        fetch_url(CPF_URL.format(name=name), root / rel)
    return fetch


def pyg_fetcher(cls_name: str, subdir: str, name: str) -> Callable[[Path], None]:
    """Let PyG's dataset class ``cls_name`` download ``name`` into ``root/subdir`` (as PyG lays it out)."""
    def fetch(root: Path) -> None:
        import torch_geometric.datasets as pyg_datasets

        getattr(pyg_datasets, cls_name)(str(root / subdir), name)
    return fetch


def ogb_fetcher(name: str) -> Callable[[Path], None]:
    """Let OGB's own loader download ``name`` into ``root/ogb``."""
    def fetch(root: Path) -> None:
        from g2m.datasets.ogb_compat import register_safe_globals

        register_safe_globals()
        if name.startswith("ogbg"):
            from ogb.graphproppred import PygGraphPropPredDataset as Loader
        else:
            from ogb.nodeproppred import PygNodePropPredDataset as Loader
        Loader(name, root=str(root / "ogb"))
    return fetch


def download_missing(spec, root: Path) -> None:
    """Download ``spec``'s missing raw files into ``root``, then verify them."""
    if spec.fetch is None:
        raise DatasetError(f"g2m knows no download source for {spec.name!r}; put its raw files under {root}.")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot download into the data root {root}: {exc}. Pass a writable --data-root.") from exc
    if not os.access(root, os.W_OK):
        raise DatasetError(f"the data root {root} is read-only; pass a writable --data-root to download into.")
    try:
        spec.fetch(root)
    except DatasetError:
        raise
    except Exception as exc:  # noqa: BLE001  (network and archive errors of PyG/OGB)
        raise DatasetError(f"downloading {spec.name!r} into {root} failed: {exc}") from exc
    verify(root, spec.files)
    missing = spec.missing_files(root)
    if missing:
        raise DatasetError(f"after downloading {spec.name!r}, these files are still missing under {root}: "
                           + ", ".join(missing))
