"""Timing helpers: warm-ups then timed repeats with ``time.perf_counter``; fixed threads; the environment."""

from __future__ import annotations

import gc
import os
import platform
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch


@dataclass
class Probe:
    """What one timed call reports besides its total time: the seconds spent gathering the neighbourhood
    and the size of the subgraph it gathered (teachers only)."""

    gather_s: float
    nodes: int
    edges: int


def _ms(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64) * 1e3
    return {"median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)), "mean_ms": float(a.mean()),
            "min_ms": float(a.min()), "max_ms": float(a.max())}


def time_calls(fn: Callable[[Any], Any], inputs: Sequence[Any], warmup: int, repeats: int) -> dict[str, Any]:
    """Call ``fn`` on ``inputs[:warmup]`` untimed, then on the next ``repeats`` inputs, each timed alone
    (Python's garbage collector paused while timing, as ``timeit`` does).

    Returns ``median_ms``, ``p95_ms``, ``mean_ms``, ``min_ms``, ``max_ms``, ``repeats`` and ``warmup``; when
    ``fn`` returns `Probe` objects (other return values are ignored), also ``gather`` (the same statistics of
    the gathering time) and the mean ``subgraph_nodes`` / ``subgraph_edges``.
    """
    if len(inputs) < warmup + repeats:
        raise ValueError(f"need {warmup + repeats} inputs (warm-ups + repeats), got {len(inputs)}.")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    for item in inputs[:warmup]:
        fn(item)
    times, probes = [], []
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()  # as timeit does: no collector pauses inside a timed call
    try:
        for item in inputs[warmup:warmup + repeats]:
            start = time.perf_counter()
            probe = fn(item)
            times.append(time.perf_counter() - start)
            if isinstance(probe, Probe):
                probes.append(probe)
    finally:
        if enabled:
            gc.enable()
    out: dict[str, Any] = {**_ms(times), "repeats": repeats, "warmup": warmup}
    if probes:
        out["gather"] = _ms([p.gather_s for p in probes])
        out["subgraph_nodes"] = float(np.mean([p.nodes for p in probes]))
        out["subgraph_edges"] = float(np.mean([p.edges for p in probes]))
    return out


def available_cpus() -> int | None:
    """CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def machine_environment(threads: int) -> dict[str, Any]:
    """Library versions, CPUs, platform and threads of a measurement (and the load average when it starts)."""
    import torch_geometric

    from g2m import __version__

    try:
        import onnxruntime

        ort_version: str | None = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "g2m": __version__, "torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
        "onnxruntime": ort_version, "numpy": np.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(), "cpus_available": available_cpus(), "threads": threads,
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_average_1m": load_average(),
    }


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none): other work competing for the CPUs."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None
