"""Benchmark commands: ``g2m bench speed`` (teacher vs student inference latency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from g2m.cli import app
from g2m.cli.common import console, DataRootOpt
from g2m.errors import ConfigError

bench_app = typer.Typer(name="bench", help="Benchmarks of trained models (inference latency).",
                        no_args_is_help=True, rich_markup_mode="markdown")
app.add_typer(bench_app, name="bench")


def parse_ints(spec: str, option: str) -> list[int]:
    """``"1,10,100"`` → ``[1, 10, 100]`` (positive integers), or a clear error naming ``option``."""
    try:
        values = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{option} {spec!r}: give positive integers separated by commas (e.g. 1,10,100).") from None
    if not values or min(values) < 1:
        raise ConfigError(f"{option} {spec!r}: give positive integers separated by commas (e.g. 1,10,100).")
    return values


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:.3g}{unit}" if value < 100 else f"{value:.0f}{unit}"


def speed_table(result: dict[str, Any]) -> Table:
    """Median latencies (ms) per batch size and runtime, and the speed-ups."""
    from g2m.bench import summary_rows

    runtimes = list(result["measurement"]["runtimes"])
    threads = result["environment"]["threads"]
    table = Table(title=f"{result['teacher'] or 'no'} teacher vs {result['student_method']} student on "
                        f"{result['dataset']}: median ms, {threads} thread{'s' if threads != 1 else ''}")
    for col in ("batch", "teacher exact", "teacher sampled", *runtimes, "× exact", "× sampled"):
        table.add_column(col, justify="right")
    for row in summary_rows(result):
        table.add_row(row["batch"], _fmt(row["teacher_exact"]), _fmt(row["teacher_sampled"]),
                      *(_fmt(row[r]) for r in runtimes), _fmt(row["speedup_exact"], "×"),
                      _fmt(row["speedup_sampled"], "×"))
    return table


@bench_app.command("speed")
def speed_cmd(
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Train a SAGE teacher and a GLNN student "
                                          "on this dataset (one seed, inductive) and time them."),
    run: Optional[Path] = typer.Option(None, "--run", help="Time the teacher and student of this run folder "
                                       "(written by `g2m distill`; its inductive checkpoints)."),
    batch_sizes: str = typer.Option("1,10,100,1024", "--batch-sizes", help="Cold-start batch sizes (nodes per "
                                    "request), separated by commas."),
    repeats: int = typer.Option(100, "--repeats", help="Timed calls per measurement."),
    warmup: int = typer.Option(10, "--warmup", help="Untimed calls before each measurement."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads for torch and onnxruntime "
                                          "(default: torch's current count)."),
    runtimes: str = typer.Option("eager,torchscript,onnx", "--runtimes", help="Student runtimes, separated by "
                                 "commas: eager, torchscript, torchscript-dense (dense input where the features "
                                 "are sparse), onnx, onnx-int8 (the run's student quantized)."),
    seed: int = typer.Option(0, "--seed", help="The run's seed to time, and the seed of batches and sampling."),
    method: Optional[str] = typer.Option(None, "--method", "-m", help="The student method, in a run folder "
                                         "holding several."),
    fan_out: Optional[int] = typer.Option(None, "--fan-out", help="Neighbours per node and hop for the sampled "
                                          "teacher (default: its training fan-out)."),
    run_output: Optional[Path] = typer.Option(None, "--run-output", help="With --dataset: keep the trained run "
                                              "in this folder (default: a temporary folder, removed)."),
    data_root: Optional[Path] = DataRootOpt,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The JSON file to write (default "
                                          "runs/bench-speed-NAME.json)."),
) -> None:
    """Time a teacher GNN against its graph-free student on held-out nodes: cold start and full graph.

    Cold start: per batch of B unseen nodes, the teacher gathers their neighbourhood (exact, and with its
    training fan-out), their features, and runs; the student runs on the B nodes' features in torch eager,
    TorchScript and onnxruntime. Prints median milliseconds and speed-ups; writes every statistic as JSON.

    Examples:

        g2m bench speed --run runs/glnn-cora --batch-sizes 1,100 --repeats 20 --threads 2

        g2m bench speed -d a-computer --threads 2 --run-output runs/speed-a-computer -o speed.json
    """
    from g2m.bench import measure_speed
    from g2m.utils import write_json_atomic

    if (dataset is None) == (run is None):
        raise ConfigError("give either --dataset NAME (train, then time) or --run DIR (time a trained run).")
    if run_output is not None and run is not None:
        raise ConfigError("--run-output keeps a run trained for --dataset; with --run nothing is trained.")
    sizes = parse_ints(batch_sizes, "--batch-sizes")
    chosen = tuple(r.strip() for r in runtimes.split(",") if r.strip())
    name = Path(run).name if run is not None else Path(dataset).name
    out = output or Path("runs") / f"bench-speed-{name}.json"
    result = measure_speed(run if run is not None else dataset, batch_sizes=sizes, repeats=repeats, warmup=warmup,
                           threads=threads, runtimes=chosen, seed=seed, method=method, fan_out=fan_out,
                           root=data_root, output=run_output,
                           progress=lambda label: console.print(f"[dim]{label}[/dim]"))
    Console().print(speed_table(result))
    for runtime, entry in result["cold_start"][str(sizes[0])]["student"].items():
        if "skipped" in entry:
            console.print(f"student {runtime} skipped: {entry['skipped']}")
    write_json_atomic(out, result)
    console.print(f"wrote {out}")
