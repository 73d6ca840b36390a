"""Size budgets of a condensed training set: bytes, a share of the training bytes, or a number of sets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from g2m.errors import ConfigError


@dataclass
class Budget:
    """A size limit: ``bytes`` (absolute), ``fraction`` (of the full training set's bytes) or ``graphs``
    (number of tree sets)."""

    bytes: int | None = None
    fraction: float | None = None
    graphs: int | None = None

    def byte_limit(self, train_bytes: int) -> int | None:
        if self.bytes is not None:
            return self.bytes
        if self.fraction is not None:
            return int(self.fraction * train_bytes)
        return None


_UNITS = {"": 1, "b": 1, "kb": 1000, "k": 1000, "mb": 10**6, "m": 10**6, "kib": 1024, "mib": 1024**2}


def parse_budget(spec: str | int | float | Budget | None) -> Budget | None:
    """``"20000"``/``"20KB"``/``"1.5MiB"`` (bytes), ``"1%"`` (of the training bytes), ``"50g"`` (tree sets)."""
    if spec is None or isinstance(spec, Budget):
        return spec
    if isinstance(spec, (int, float)):
        return Budget(bytes=int(spec))
    text = str(spec).strip().lower().replace(" ", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)(%|g|graphs|sets|[kmg]?i?b|k|m)?", text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"--budget {spec!r} is not a budget: give bytes (20000, 20KB, 1.5MiB), a share of the "
                          "training set's bytes (1%), or a number of tree sets (50g).")
    value, unit = float(m.group(1)), m.group(2) or ""
    if unit == "%":
        return Budget(fraction=value / 100.0)
    if unit in ("g", "graphs", "sets"):
        return Budget(graphs=int(value))
    if unit not in _UNITS:
        raise ConfigError(f"--budget {spec!r}: unknown unit {unit!r}; use B, KB, MB, KiB, MiB, % or g.")
    return Budget(bytes=int(value * _UNITS[unit]))
