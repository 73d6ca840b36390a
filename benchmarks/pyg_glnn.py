"""g2m against PyG's own GLNN example (`examples/glnn.py`) at the example's settings: whole-process wall time.

The example, unmodified, is PyG commit 9f9a38bf02e392d3bda116b4b258204fde63098e (its last change; the same file,
blob 840f872, is in PyG 2.4 to 2.8). Get it with, in a clone of pytorch_geometric:

    git show 9f9a38bf02e392d3bda116b4b258204fde63098e:examples/glnn.py > glnn.py
    python benchmarks/pyg_glnn.py --example glnn.py --seeds 5 --threads 2   # writes docs/results/pyg_glnn.json

The settings are the example's: Planetoid Cora with its public split and ``T.NormalizeFeatures()``; teacher PyG
``GCN`` (2 layers, 16 hidden, no dropout), Adam lr 0.01, weight decay 5e-4, 200 full-batch epochs; student
``MLP([1433, 64, 7], dropout=0.5, norm=None)``, Adam lr 0.01, weight decay 5e-4, 500 full-batch epochs; the loss
``lamb * CE + (1 - lamb) * KL(teacher || student)`` with its default ``lamb = 0`` on every node, temperature 1;
no early stopping. g2m runs the same: teacher ``gcn`` (hidden 16, dropout 0), student 64 hidden, dropout 0.5,
``lam=0``, ``temperature=1``, ``batch_size=0`` (full batch), ``max_epochs`` 200 / 500 with ``patience`` equal to
them (every epoch runs). Two differences remain, both in the example's favour or neutral for time:

- g2m keeps the weights of the epoch with the best validation accuracy (teacher and student) and validates
  every epoch; the example keeps the last epoch's and evaluates every 20 epochs.
- The example takes no seed: its runs are unseeded. g2m's run ``i`` uses seed ``i``.

Each seed runs both as a fresh process, interleaved (A B, then B A, ...): **the example** (``python glnn.py``)
from a temporary folder laid out so that its ``../data/Planetoid`` is a writable copy of the data root's raw Cora
files (PyG's processed files are made once, before timing; nothing is downloaded), and **g2m** as a user of the
library would run it (``python -c`` with the script in `G2M_SCRIPT`: the same ``Planetoid`` call with
``NormalizeFeatures``, then ``g2m.distill(data, ..., split="masks")``). The command line (``g2m distill -d
cora-planetoid``) has no feature normalisation, so it would not train on the same inputs.

**Wall time** is the whole process, as a user waits for it: Python's start, imports, data loading, training and
evaluation. Also recorded: each process's CPU seconds (user + system), the example's own "Median time per epoch"
lines, and g2m's recorded training seconds (``timings`` of its metrics: teacher, student). Accuracies are test
accuracy in percent: the example's last printed epoch (200, 500), g2m's validation-selected models.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "results" / "pyg_glnn.json"
EXAMPLE_COMMIT = "9f9a38bf02e392d3bda116b4b258204fde63098e"
EXAMPLE_SHA256 = "1ba343954c2787fd1f55695c776af58d2a8ea58f4efe912bb0c04e7f822bec5e"
PLANETOID_RAW = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")

TEACHER = dict(hidden_channels=16, num_layers=2, dropout=0.0, lr=0.01, weight_decay=5e-4, max_epochs=200,
               patience=200)
STUDENT = dict(hidden_channels=64, num_layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4, max_epochs=500,
               patience=500, lam=0.0, temperature=1.0)

# What a user of the library runs (argv: the PyG root holding Cora, the seed); the last line is the metrics.
G2M_SCRIPT = f"""
import json, sys
import torch_geometric.transforms as T
from torch_geometric.datasets import Planetoid
import g2m

data = Planetoid(sys.argv[1], "Cora", transform=T.NormalizeFeatures())[0]
metrics = g2m.distill(data, teacher="gcn", method="glnn", seeds=[int(sys.argv[2])], setting="tran",
                      split="masks", batch_size=0, teacher_params={TEACHER!r}, student_params={STUDENT!r})
print(json.dumps(metrics))
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def g2m_commit() -> str | None:
    """The checked-out g2m commit (None outside a git clone)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def stage(example: Path, root: Path, work: Path) -> tuple[Path, Path]:
    """``work/examples/glnn.py`` (a copy of ``example``) and ``work/data/Planetoid/Cora/raw`` (copies of the data
    root's raw files), PyG's processed files made once; returns the script and the Planetoid root."""
    from torch_geometric.datasets import Planetoid

    from g2m.datasets.node import check_planetoid_raw

    raw = root / "Planetoid" / "Cora" / "raw"
    missing = [f"ind.cora.{s}" for s in PLANETOID_RAW if not (raw / f"ind.cora.{s}").is_file()]
    if missing:
        sys.exit(f"{raw} lacks {', '.join(missing)}: the comparison never downloads; point --root at a data root "
                 "with Planetoid/Cora/raw.")
    check_planetoid_raw(raw)  # plain pickles only, before either side unpickles them
    planetoid = work / "data" / "Planetoid"
    shutil.copytree(raw, planetoid / "Cora" / "raw")
    Planetoid(str(planetoid), "Cora")  # processed/ written now, not inside a timed run
    script = work / "examples" / "glnn.py"
    script.parent.mkdir(parents=True)
    shutil.copyfile(example, script)
    return script, planetoid


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str, float]:
    """``(wall seconds, CPU seconds, stdout, 1-minute load average before)`` of one fresh process."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        sys.exit(f"{' '.join(command[:2])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    if re.search(r"Download", proc.stdout + proc.stderr):
        sys.exit("a run tried to download data; the comparison must read the staged raw files only.")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout, load


def parse_example(out: str) -> dict[str, Any]:
    """Test accuracy (percent) at the example's last teacher and student epochs and its per-epoch medians."""
    teacher_part, _, student_part = out.partition("Training Student MLP:")

    def last_test(text: str, epoch: int) -> float:
        found = re.findall(rf"Epoch: {epoch:03d},.*Test: ([0-9.]+)", text)
        if not found:
            raise ValueError(f"the example printed no epoch {epoch} line")
        return round(100 * float(found[-1]), 2)

    medians = [float(m) for m in re.findall(r"Median time per epoch: ([0-9.]+)s", out)]
    return {"teacher_test": last_test(teacher_part, 200), "student_test": last_test(student_part, 500),
            "median_epoch_seconds": {"teacher": medians[0], "student": medians[1]} if len(medians) == 2 else None}


def parse_g2m(out: str) -> dict[str, Any]:
    metrics = json.loads(out.strip().splitlines()[-1])
    timings = metrics["timings"]
    return {"teacher_test": round(metrics["teacher"]["transductive"]["mean"], 2),
            "student_test": round(metrics["student"]["transductive"]["mean"], 2),
            "training_seconds": {"teacher": sum(timings["teacher_seconds"].values()),
                                 "student": sum(timings["student_seconds"].values())}}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of wall and CPU seconds, the ratio g2m / example, and mean accuracies with their differences."""
    def med(side: str, key: str) -> float:
        return statistics.median(r[side][key] for r in runs)

    def mean(side: str, key: str) -> float:
        return round(statistics.mean(r[side][key] for r in runs), 2)

    out: dict[str, Any] = {"seeds": len(runs)}
    for side in ("example", "g2m"):
        out[side] = {"median_wall_seconds": round(med(side, "wall_seconds"), 2),
                     "median_cpu_seconds": round(med(side, "cpu_seconds"), 2),
                     "teacher_test_mean": mean(side, "teacher_test"), "student_test_mean": mean(side, "student_test")}
    out["wall_ratio_g2m_over_example"] = round(out["g2m"]["median_wall_seconds"]
                                               / out["example"]["median_wall_seconds"], 3)
    out["median_per_seed_wall_ratio"] = round(statistics.median(
        r["g2m"]["wall_seconds"] / r["example"]["wall_seconds"] for r in runs), 3)
    out["cpu_ratio_g2m_over_example"] = round(out["g2m"]["median_cpu_seconds"]
                                              / out["example"]["median_cpu_seconds"], 3)
    for model in ("teacher", "student"):
        out[f"{model}_test_difference"] = round(out["g2m"][f"{model}_test_mean"]
                                                - out["example"][f"{model}_test_mean"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", type=Path, required=True, help="a copy of PyG's examples/glnn.py")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("G2M_DATA_ROOT")
                                                          or REPO.parent / "shared" / "datasets"),
                        help="data root with Planetoid/Cora/raw (default: $G2M_DATA_ROOT, else ../shared/datasets)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS and MKL_NUM_THREADS of both processes (default: as set now)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import torch
    import torch_geometric

    import g2m

    digest = sha256(args.example)
    if digest != EXAMPLE_SHA256:
        print(f"warning: {args.example.name} is not the file of PyG commit {EXAMPLE_COMMIT}; its sha256 is "
              "recorded, the commit is not", file=sys.stderr)
    env = dict(os.environ)
    if args.threads is not None:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script, planetoid = stage(args.example, args.root.resolve(), work)
        commands = {"example": [sys.executable, str(script)],
                    "g2m": [sys.executable, "-c", G2M_SCRIPT, str(planetoid)]}
        subprocess.run([sys.executable, "-c", "import torch_geometric.nn, g2m"], env=env, check=True)  # warm caches
        for seed in range(args.seeds):
            order = ("example", "g2m") if seed % 2 == 0 else ("g2m", "example")
            row: dict[str, Any] = {"seed": seed, "order": list(order)}
            for side in order:
                command = commands[side] + ([str(seed)] if side == "g2m" else [])
                wall, cpu, out, load = timed(command, env, work)
                parsed = parse_example(out) if side == "example" else parse_g2m(out)
                row[side] = {"wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "load_before": load,
                             **parsed}
                print(f"seed {seed} {side:8s} {wall:7.1f} s wall {cpu:7.1f} s CPU  teacher "
                      f"{parsed['teacher_test']:.2f}  student {parsed['student_test']:.2f}  (load {load:.2f})")
            runs.append(row)
    summary = summarise(runs)
    command = ["python", "benchmarks/pyg_glnn.py", "--example", args.example.name, "--seeds", str(args.seeds)]
    command += ["--threads", str(args.threads)] if args.threads is not None else []
    result = {
        "what": "whole-process wall time of PyG's examples/glnn.py and of g2m at the example's settings, "
                "fresh processes, interleaved per seed",
        "command": " ".join(command),
        "example": {"repository": "pyg-team/pytorch_geometric", "path": "examples/glnn.py",
                    "commit": EXAMPLE_COMMIT if digest == EXAMPLE_SHA256 else None, "sha256": digest,
                    "seeded": False, "run_as": "python glnn.py (unmodified; default --lamb 0.0)"},
        "g2m_script": G2M_SCRIPT.strip(),
        "settings": {"dataset": "Planetoid Cora, public split (140 / 500 / 1000), NormalizeFeatures",
                     "teacher": {"model": "gcn", **TEACHER}, "student": {"model": "mlp", "batch_size": 0, **STUDENT},
                     "selection": {"example": "last epoch", "g2m": "best validation epoch (validated every epoch)"},
                     "seeds": {"example": "unseeded", "g2m": list(range(args.seeds))}},
        "environment": {"g2m": g2m.__version__, "g2m_commit": g2m_commit(), "python": platform.python_version(),
                        "torch": torch.__version__,
                        "torch_geometric": torch_geometric.__version__, "platform": platform.platform(),
                        "cpus": os.cpu_count(), "threads": args.threads if args.threads is not None
                        else f"default ({torch.get_num_threads()})", "cuda": torch.cuda.is_available(),
                        "load_average_after": os.getloadavg()},
        "runs": runs,
        "summary": summary,
    }
    from g2m.utils import write_json_atomic

    write_json_atomic(args.out, result)
    print(f"median wall: example {summary['example']['median_wall_seconds']:.1f} s, g2m "
          f"{summary['g2m']['median_wall_seconds']:.1f} s (g2m / example = {summary['wall_ratio_g2m_over_example']}); "
          f"test accuracy difference (g2m - example): teacher {summary['teacher_test_difference']:+.2f}, "
          f"student {summary['student_test_difference']:+.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
