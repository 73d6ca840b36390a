"""Atomic writes: a result file is either complete or absent, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _atomic(path: str | os.PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
