"""Start-up time of the command line: `g2m --help`, `g2m --version`, `g2m distill --help`, and `import g2m` with
its first library name (which loads torch and PyG). Median wall time of fresh processes.

    python benchmarks/startup.py --repeats 7      # writes docs/results/startup.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from g2m.run_dir import software_environment
from g2m.utils import write_json_atomic

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "startup.json"
G2M = shutil.which("g2m") or "g2m"
COMMANDS = {
    "g2m --help": [G2M, "--help"],
    "g2m --version": [G2M, "--version"],
    "g2m distill --help": [G2M, "distill", "--help"],
    "python -c 'import g2m; g2m.Distiller'": [sys.executable, "-c", "import g2m; g2m.Distiller"],
}


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "COLUMNS": "80"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file cache once
        seconds(command)
    runs = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):  # round-robin: a busy moment hits every command alike
        for name, command in COMMANDS.items():
            runs[name].append(seconds(command))
    result = {"median_seconds": {name: statistics.median(v) for name, v in runs.items()}, "runs": runs,
              "load_average": os.getloadavg(), "cpus": os.cpu_count(), "command": " ".join(sys.argv),
              "environment": software_environment()}
    write_json_atomic(OUT, result)
    for name, value in result["median_seconds"].items():
        print(f"{value:6.2f} s  {name}")


if __name__ == "__main__":
    main()
