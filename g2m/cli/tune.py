"""``g2m tune``: validation-only hyper-parameter search (`g2m.tune`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from g2m.cli import app
from g2m.cli.common import DataRootOpt, DeviceOpt, console
from g2m.cli.progress import showing
from g2m.utils.seeds import parse_seeds


@app.command("tune")
def tune_cmd(
    dataset: str = typer.Option("cora", "--dataset", "-d", help="Node-classification dataset."),
    target: str = typer.Option("student", "--target", help="student (the MLP and its distillation loss) or teacher."),
    method: str = typer.Option("glnn", "--method", "-m", help="Student method (target student), e.g. glnn+pos+adv."),
    teacher: str = typer.Option("sage", "--teacher", "-t", help="Teacher GNN: sage, gcn, gat or appnp."),
    trials: int = typer.Option(20, "--trials", help="Finished trials the study should hold (a rerun resumes)."),
    seeds: str = typer.Option("2", "--seeds", help="Seeds per trial: a count (from 0), a list 0,3 or a range 2-5."),
    setting: str = typer.Option("tran", "--setting", help="tran or ind (validation nodes of that split)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Study folder (default "
                                          "runs/tune-DATASET-TARGET-METHOD)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Stop starting trials after this many seconds."),
    device: str = DeviceOpt,
    data_root: Optional[str] = DataRootOpt,
) -> None:
    """Search hyper-parameters on validation accuracy with Optuna; the study is stored and resumable.

    Writes OUTPUT/study.journal (the Optuna study: run the same command again to resume it, or run it from
    several processes at once) and OUTPUT/best.json (the chosen settings; use them with
    `g2m distill --params OUTPUT/best.json`). The search space is in docs/tune.md.

    Examples:

        g2m tune -d cora -m glnn+pos --trials 30 --seeds 2 -o runs/tune-cora

        g2m tune -d citeseer --target teacher --trials 20
    """
    from g2m.tune import tune

    out = output or Path("runs") / f"tune-{dataset}-{target}-{method if target == 'student' else 'teacher'}"
    with showing(console, what="trials"):
        result = tune(dataset, out, target=target, method=method, teacher=teacher, trials=trials,
                      seeds=parse_seeds(seeds), setting=setting, device=device, root=data_root, timeout=timeout)
    table = Table(title=f"best of {result['trials_complete']} trials ({result['trials_pruned']} pruned): "
                        f"validation {result['best_validation']:.2f}%")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for name, value in result["best_params"].items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    Console().print(table)
    console.print(f"wrote {out}/best.json and {out}/study.journal")
