"""What g2m's predict path costs on top of the runtime: `g2m.load_student(...).predict_proba` against a plain
onnxruntime session tuned the same way, per call, interleaved.

For each thread count and batch size: one exported ONNX student, one plain ``onnxruntime.InferenceSession`` with
the same options (intra-op threads, one inter-op thread, sequential, every graph optimisation) called as
``session.run(["probabilities"], {"x": batch})``, and ``g2m.load_student(path, threads=N)`` called as
``student.predict_proba(batch)`` (shape and finite-value checks included). The two calls alternate on the same
batches (round-robin, first one then the other, swapping the order every call); medians over ``--repeats`` calls
after ``--warmup``. Writes docs/results/predict_overhead.json.

    python benchmarks/predict_overhead.py --run runs/speed-a-computer-glnn --threads 1,2 --batch-sizes 1,1024
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "results" / "predict_overhead.json"


def interleaved(calls: dict[str, Any], batches: list[np.ndarray], warmup: int) -> dict[str, float]:
    """Median ms of each call over ``batches`` (after ``warmup`` of them), taking turns on every batch."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.disable()
    try:
        for i, batch in enumerate(batches):
            for name in (names if i % 2 == 0 else names[::-1]):
                start = time.perf_counter()
                calls[name](batch)
                elapsed = time.perf_counter() - start
                if i >= warmup:
                    times[name].append(elapsed)
    finally:
        gc.enable()
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def measure(run: Path, threads: list[int], sizes: list[int], repeats: int, warmup: int, root: str | None
            ) -> dict[str, Any]:
    import onnxruntime as ort

    import g2m
    from g2m.bench.runs import load_run
    from g2m.bench.timing import machine_environment
    from g2m.datasets import node_split
    from g2m.predict import onnx_session

    models = load_run(run, root=root)
    data = models.dataset.data
    x = (data.x.to_dense() if data.x.layout != torch.strided else data.x).float().numpy()
    pool = node_split(models.dataset, models.seed, "ind").test_ind.numpy()
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = g2m.export_student(models.student_path, format="onnx", output=Path(tmp) / "student.onnx")
        for n in threads:
            raw = onnx_session(path, n)
            student = g2m.load_student(path, threads=n)
            for size in sizes:
                batches = [np.ascontiguousarray(x[rng.choice(pool, size, replace=size > len(pool))])
                           for _ in range(warmup + repeats)]
                got = interleaved({"onnxruntime": lambda b: raw.run(["probabilities"], {"x": b}),
                                   "g2m": student.predict_proba}, batches, warmup)
                rows.append({"threads": n, "batch": size, "onnxruntime_ms": got["onnxruntime"], "g2m_ms": got["g2m"],
                             "ratio": got["g2m"] / got["onnxruntime"]})
                print(f"threads {n}, batch {size}: onnxruntime {got['onnxruntime']:.4f} ms, g2m "
                      f"{got['g2m']:.4f} ms ({got['g2m'] / got['onnxruntime']:.3f}x)", file=sys.stderr)
    env = machine_environment(threads[0])
    env["onnxruntime"] = ort.__version__
    return {"run": str(run), "dataset": models.dataset.name, "checkpoint": models.student_path.name,
            "repeats": repeats, "warmup": warmup, "rows": rows, "environment": env,
            "command": " ".join(["python", *sys.argv])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a run folder written by `g2m distill` (its inductive student)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batch-sizes", default="1,1024")
    p.add_argument("--repeats", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    from g2m.utils import write_json_atomic

    result = measure(Path(args.run), [int(t) for t in args.threads.split(",")],
                     [int(b) for b in args.batch_sizes.split(",")], args.repeats, args.warmup, args.data_root)
    write_json_atomic(Path(args.out), result)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
