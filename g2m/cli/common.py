"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)  # progress, notes and errors: standard error (results go to standard output)

DatasetOpt = typer.Option("cora", "--dataset", "-d", help="Dataset name (see `g2m datasets`) or a folder of user files.")
DataRootOpt = typer.Option(None, "--data-root", help="Data root with raw files (default: $G2M_DATA_ROOT, else the cache).")
DownloadOpt = typer.Option(False, "--download", help="Download missing raw files into the data root (PyG/OGB "
                           "downloaders, checksums verified). Off by default: g2m never uses the network unless asked.")
JobsOpt = typer.Option(1, "--jobs", "-j", help="Run seeds in this many worker processes (they share the CPU "
                       "threads; 2 on a 2-core machine about halves a many-seed run on small graphs).")
OverwriteOpt = typer.Option(False, "--overwrite", help="Replace the run already in --output (its run files only).")
ResumeOpt = typer.Option(False, "--resume", help="Continue the interrupted run in --output: only its unfinished "
                         "seeds run; the options must be those of the first run.")
SeedsOpt = typer.Option("1", "--seeds", help="Seeds: a count (10 → seeds 0..9 from --seed), a list (0,3,7) or a range (0-4).")
SeedOpt = typer.Option(0, "--seed", help="First seed when --seeds is a count.")
DeviceOpt = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
TeacherBatchOpt = typer.Option(None, "--teacher-batch-size",
                               help="Train the teacher on NeighborLoader minibatches of this many nodes "
                                    "(needs the `fast` extra); default full batch.")
TeacherChunkOpt = typer.Option(None, "--teacher-chunk-size",
                               help="Compute the teacher's outputs layer by layer, this many nodes at a time (exact; "
                                    "0 = one full-graph pass; default: chunks of 65536 above 10M edges). With an "
                                    "output folder they are written memory-mapped to DIR/teacher-outputs/.")
FanOutOpt = typer.Option(None, "--fan-out", help="Teacher neighbours sampled per node and hop while training "
                                                "(0 = all; default per model, SAGE 5).")


def output_opt(default: Optional[str] = None):
    return typer.Option(default, "--output", "-o", help="Output folder for metrics.json, config.json and checkpoints.")


__all__ = ["DatasetOpt", "DataRootOpt", "DownloadOpt", "JobsOpt", "OverwriteOpt", "ResumeOpt", "SeedsOpt", "SeedOpt", "DeviceOpt", "TeacherBatchOpt", "TeacherChunkOpt", "FanOutOpt", "output_opt", "Path"]
