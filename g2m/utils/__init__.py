"""Small helpers shared across g2m: atomic file output, devices, seeds (imported on first use: `g2m.utils.seeds`
needs no torch)."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "write_json_atomic": "g2m.utils.io", "write_text_atomic": "g2m.utils.io", "save_torch_atomic": "g2m.utils.io",
    "save_figure_atomic": "g2m.utils.io", "resolve_device": "g2m.utils.device",
    "flush_denormals": "g2m.utils.device", "parse_seeds": "g2m.utils.seeds",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'g2m.utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
