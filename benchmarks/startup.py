"""Start-up time of the command line: `g2m --help`, `g2m --version`, `g2m distill --help`, and `import g2m` with
its first library name (which loads torch and PyG), median wall time of fresh processes; and, for each long
command run with its output piped, the seconds until its first progress line (an epoch report), and the wall
time of the default `g2m condense -d mutag`.

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


FIRST_LINE = {  # long commands, as a newcomer types them (output piped)
    "distill": ["distill", "-m", "glnn"],
    "tune": ["tune", "-m", "mlp", "--trials", "1", "--seeds", "1"],
    "condense": ["condense", "-d", "mutag"],
    "train-graph": ["train-graph", "-d", "mutag"],
}


def first_progress_line(args: list[str], folder: Path) -> float:
    """Seconds from starting ``g2m ARGS`` (piped) to its first epoch line; the process is then stopped."""
    start = time.perf_counter()
    proc = subprocess.Popen([G2M, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder)
    try:
        for line in proc.stdout:
            if "epoch" in line:
                return time.perf_counter() - start
        raise RuntimeError(f"g2m {' '.join(args)} ended without a progress line")
    finally:
        proc.kill()
        proc.wait()


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
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        first = {name: first_progress_line(args, Path(tmp)) for name, args in FIRST_LINE.items()}
        condense_default = seconds([G2M, "condense", "-d", "mutag", "-o", str(Path(tmp) / "condense")])
    result = {"median_seconds": {name: statistics.median(v) for name, v in runs.items()}, "runs": runs,
              "first_progress_line_seconds": first, "condense_mutag_default_seconds": condense_default,
              "load_average": os.getloadavg(), "cpus": os.cpu_count(), "command": " ".join(sys.argv),
              "environment": software_environment()}
    write_json_atomic(OUT, result)
    for name, value in result["median_seconds"].items():
        print(f"{value:6.2f} s  {name}")
    for name, value in first.items():
        print(f"{value:6.2f} s  first progress line of g2m {name} (piped)")
    print(f"{condense_default:6.1f} s  g2m condense -d mutag (the default: one fold)")


if __name__ == "__main__":
    main()
