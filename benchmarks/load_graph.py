"""Loading a large user graph from text: time and peak memory of `g2m.load_dataset(folder)`.

The graph: 10^6 nodes, 2*10^7 edges (random pairs, as text `edges.txt`: two ids per line), 16 float features
and a label per node (`.npy`). The folder is made once (``--folder``, default a temporary one); each measurement
loads it in a fresh process and reports wall time and the process's peak resident memory, beside the size of the
tensors the load produces (edge_index, x, y).

    python benchmarks/load_graph.py --folder big-graph           # prints one JSON line
    python benchmarks/load_graph.py --folder big-graph --write docs/results/load_graph.json --label after
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

NODES, EDGES, FEATURES, CLASSES = 1_000_000, 20_000_000, 16, 5


def make_folder(folder: Path) -> None:
    """Write the graph's files (seeded), once."""
    if (folder / "edges.txt").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    np.save(folder / "features.npy", rng.standard_normal((NODES, FEATURES), dtype=np.float32))
    np.save(folder / "labels.npy", rng.integers(0, CLASSES, NODES))
    with open(folder / "edges.txt", "w") as fh:
        for start in range(0, EDGES, 1_000_000):
            pairs = rng.integers(0, NODES, (1_000_000, 2))
            fh.write("\n".join(f"{a} {b}" for a, b in pairs.tolist()))
            fh.write("\n")


CHILD = """
import json, resource, sys, time
started = time.perf_counter()
import g2m
import_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
ds = g2m.load_dataset(sys.argv[1])
seconds = time.perf_counter() - started
d = ds.data
tensor_mb = sum(t.numel() * t.element_size() for t in (d.edge_index, d.x, d.y)) / 2**20
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "import_mb": import_mb,
                  "tensors_mb": tensor_mb, "nodes": ds.num_nodes, "edges": ds.num_edges}))
"""


def measure(folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--write", type=Path, default=None, help="add the measurement to this JSON file")
    parser.add_argument("--label", default="now")
    args = parser.parse_args()
    started = time.perf_counter()
    make_folder(args.folder)
    print(f"folder ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    result = measure(args.folder)
    print(json.dumps(result))
    if args.write:
        data = json.loads(args.write.read_text()) if args.write.exists() else {}
        data[args.label] = result
        args.write.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
