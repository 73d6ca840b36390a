"""Parse seed specifications such as ``10``, ``0,3,7`` or ``0-4``."""

from __future__ import annotations

from g2m.errors import ConfigError

MAX_SEED = 2**32 - 1  # NumPy's and scikit-learn's seeds are 32-bit
MAX_SEEDS = 10_000  # seeds in one run: far beyond any protocol, and a bound on what a spec allocates


def parse_seeds(spec: str | int | list[int] | None, start: int = 0) -> list[int]:
    """Turn a seed spec into a list of seeds.

    ``"10"`` (or ``10``) means 10 seeds ``start .. start+9``; ``"0,3,7"`` is an explicit list;
    ``"2-5"`` an inclusive range.
    """
    if spec is None:
        spec = 1
    if isinstance(spec, (list, tuple)):
        seeds = [int(s) for s in spec]
    elif isinstance(spec, int) or str(spec).strip().isdigit():
        count = int(spec)
        if count < 1:
            raise ConfigError(f"--seeds {spec!r}: the number of seeds must be at least 1.")
        _check_count(spec, count)
        seeds = list(range(start, start + count))
    else:
        text = str(spec).strip()
        try:
            if "," in text:
                seeds = [int(s) for s in text.split(",") if s.strip()]
            elif "-" in text[1:]:
                lo, hi = text.split("-", 1)
                _check_count(spec, int(hi) - int(lo) + 1)
                seeds = list(range(int(lo), int(hi) + 1))
            else:
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"--seeds {spec!r} is not a seed spec: give a count (10), a list (0,3,7) "
                "or an inclusive range (0-4)."
            ) from None
    if not seeds:
        raise ConfigError(f"--seeds {spec!r} selects no seeds.")
    if any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds {spec!r}: seeds must be non-negative integers.")
    _check_count(spec, len(seeds))
    if max(seeds) > MAX_SEED:
        raise ConfigError(f"--seeds {spec!r}: seeds go up to {MAX_SEED} (NumPy's and scikit-learn's limit).")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {spec!r} repeats a seed.")
    return seeds


def _check_count(spec, count: int) -> None:
    if count > MAX_SEEDS:
        raise ConfigError(f"--seeds {spec!r} asks for {count} seeds; at most {MAX_SEEDS} (10 is the protocol).")
