"""Atomic writes: a result file is either complete or absent, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from g2m.errors import OutputError, describe_os_error


def _atomic(path: str | os.PathLike, write) -> Path:
    """Write ``path`` through ``write(fh)`` into a temporary file beside it, then rename: the file is complete or
    absent, and a failed write (a full disk, permissions) leaves the previous file as it was. A failure is an
    `OutputError` naming the file; a symbolic link at ``path`` is refused (g2m never writes through links)."""
    path = Path(path)
    if path.is_symlink():
        raise OutputError(f"{path} is a symbolic link; g2m never writes through links: remove it, or choose "
                          "another output.")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; pass a file name.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(describe_os_error(exc, "create")) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OutputError(describe_os_error(exc, "write", path)) from None
        if isinstance(exc, RuntimeError) and "enforce fail" in str(exc):  # torch.save's writer on a full disk
            raise OutputError(f"cannot write {path}: the write failed ({str(exc).splitlines()[0]}); is the disk "
                              "full? Free some space or choose another output folder.") from None
        raise
    return path


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` via a temporary file and a rename."""
    data = (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()
    return _atomic(path, lambda fh: fh.write(data))


def save_torch_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically."""
    return _atomic(path, lambda fh: torch.save(obj, fh))


def save_figure_atomic(path: str | os.PathLike, fig: Any, **kwargs: Any) -> Path:
    """``fig.savefig`` to ``path`` atomically (format from the file suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return _atomic(path, lambda fh: fig.savefig(fh, format=fmt, **kwargs))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    data = text.encode()
    return _atomic(path, lambda fh: fh.write(data))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return _atomic(path, lambda fh: fh.write(data))


def refuse_links(root: str | os.PathLike, names: tuple[str, ...] | None = None) -> None:
    """An `OutputError` naming the first symbolic link inside ``root`` (its entries ``names`` and everything under
    them; all of ``root`` when ``None``): g2m never writes or deletes through a link planted in a run folder.
    ``root`` itself may be a link (the user chose it)."""
    root = Path(root)
    tops = [root / n for n in names] if names is not None else [root / n for n in os.listdir(root)] \
        if root.is_dir() else []
    for top in tops:
        if top.is_symlink():
            _link_error(top)
        if not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top, followlinks=False):
            for name in dirs + files:
                if os.path.islink(os.path.join(folder, name)):
                    _link_error(Path(folder) / name)


def _link_error(path: Path) -> None:
    raise OutputError(f"{path} is a symbolic link inside the run folder; g2m never writes or deletes through "
                      "links: remove it (or choose another output folder).")


def load_tensors(path: str | os.PathLike) -> Any:
    """``torch.load`` of a file g2m did not write itself: tensors and plain containers only
    (``weights_only=True``: nothing in the file runs), on the CPU, with every sparse tensor's indices checked
    (an index outside its declared shape is refused here instead of corrupting memory later)."""
    with torch.sparse.check_sparse_tensor_invariants(True):
        return torch.load(path, map_location="cpu", weights_only=True)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (the one fingerprint of files g2m records and checks)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
