"""Where raw files are read from (data roots) and where processed files are written (cache)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

BUNDLED_ROOT = Path(__file__).resolve().parent / "bundled"


def default_cache_dir() -> Path:
    """The writable cache: ``G2M_CACHE_DIR``, else ``$XDG_CACHE_HOME/g2m``, else ``~/.cache/g2m``."""
    if os.environ.get("G2M_CACHE_DIR"):
        return Path(os.environ["G2M_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "g2m"


def resolve_data_root(root: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """Return ``(root, explicit)``: the ``root`` argument, else ``G2M_DATA_ROOT``, else the cache's ``data``.

    ``explicit`` is False only for the last fallback.
    """
    if root is not None:
        return Path(root).expanduser().resolve(), True
    env = os.environ.get("G2M_DATA_ROOT")
    if env:
        return Path(env).expanduser().resolve(), True
    return (default_cache_dir() / "data").resolve(), False


def stage(source_dir: Path, entries: tuple[str, ...], cache_dir: Path | None = None) -> Path:
    """Mirror ``source_dir`` into the cache, linking ``entries`` (``raw``, ``split``…) read-only.

    PyG and OGB write ``processed/`` next to ``raw/``; the data root may be read-only, so the loader is
    pointed at this mirror instead. Returns the mirror of ``source_dir``; its parent is the PyG root.
    """
    source_dir = source_dir.resolve()
    key = hashlib.sha1(str(source_dir.parent).encode()).hexdigest()[:12]
    mirror = (cache_dir or default_cache_dir()) / "processed" / key / source_dir.name
    mirror.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        src, dst = source_dir / entry, mirror / entry
        if not src.exists():
            continue
        if dst.is_symlink() and dst.resolve() != src.resolve():
            dst.unlink()
        if not dst.exists() and not dst.is_symlink():
            dst.symlink_to(src, target_is_directory=src.is_dir())
    return mirror
