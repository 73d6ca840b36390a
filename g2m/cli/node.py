"""Node-classification commands: ``datasets``, ``teacher``, ``distill`` and ``evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from g2m.cli import app
from g2m.cli.progress import showing
from g2m.cli.common import (console, DataRootOpt, DatasetOpt, DeviceOpt, DownloadOpt, FanOutOpt, JobsOpt, OverwriteOpt,
                            ResumeOpt, SeedOpt, SeedsOpt, TeacherBatchOpt, TeacherChunkOpt, output_opt)
from g2m.errors import ConfigError
from g2m.evaluate import count, format_mean_std
from g2m.utils.seeds import parse_seeds

SETTING_KEYS = ("transductive", "inductive", "production")


def _summary(title: str, rows: dict[str, dict | None]) -> Table:
    table = Table(title=title)
    table.add_column("model")
    for key in SETTING_KEYS:
        table.add_column(key, justify="right")
    for name, metrics in rows.items():
        if metrics:
            table.add_row(name, *(format_mean_std(metrics.get(k)) for k in SETTING_KEYS))
    return table


def _default_output(command: str, dataset: str, extra: str) -> Path:
    return Path("runs") / f"{command}-{Path(dataset).name}-{extra}"


def _spec(dataset, data_root, teacher, methods, seeds: str, seed: int, setting: str, device: str, **options):
    """The run's `NodeRunSpec`: every option (and the dataset) checked before any progress bar or training."""
    from g2m.spec import NodeRunSpec

    with console.status(f"loading {dataset} and checking the options") as status:
        def on_step(message: str) -> None:  # a spinner's text on a terminal, a line when piped
            status.update(message) if console.is_terminal else console.print(message)

        return NodeRunSpec(dataset, teacher=teacher, methods=tuple(methods), seeds=parse_seeds(seeds, start=seed),
                           setting=setting, device=device, root=data_root, on_load_step=on_step, **options)


def _is_main() -> bool:
    from g2m.distributed import is_main

    return is_main()


def _run(spec) -> dict[str, Any]:
    """Run ``spec`` with a progress bar; under torchrun every process trains and process 0 alone writes."""
    import dataclasses

    from g2m.distributed import init_from_env, is_main
    from g2m.pipeline import run_node_experiment

    if init_from_env(spec.device):
        if spec.jobs > 1:
            raise ConfigError("--jobs runs seeds in worker processes; under torchrun the processes share each "
                              "model instead: leave --jobs at 1.")
        if not is_main():
            spec = dataclasses.replace(spec, output=None)
    with showing(console, spec.num_steps) as view:
        return run_node_experiment(spec, on_step=view.step)


@app.command("datasets")
def datasets_cmd(
    task: Optional[str] = typer.Option(None, help="Only 'node' or 'graph' datasets."),
    data_root: Optional[Path] = DataRootOpt,
    load: bool = typer.Option(False, "--load", help="Load each available dataset and show measured statistics."),
) -> None:
    """List the datasets g2m knows, whether their raw files are available, and their statistics.

    Examples:

        g2m datasets

        g2m datasets --task graph --data-root path/to/data --load
    """
    from g2m.datasets import DATASETS, find_root, load_dataset
    from g2m.errors import DatasetError

    if task not in (None, "node", "graph"):
        raise ConfigError(f"--task {task!r}: use node or graph (or leave it out for both).")

    table = Table(title="g2m datasets")
    for col in ("name", "task", "available", "graphs", "nodes", "edges", "features", "classes", "description"):
        table.add_column(col, justify="right" if col in ("graphs", "nodes", "edges", "features", "classes") else "left")
    for name, spec in DATASETS.items():
        if task and spec.task != task:
            continue
        try:
            where = find_root(name, data_root)
            available = "bundled" if where.name == "bundled" else "yes"
        except DatasetError:
            available = "no"
        stats: dict[str, Any] = dict(spec.stats)
        if load and available != "no":
            stats.update(load_dataset(name, data_root).stats())
        table.add_row(name, spec.task, available, *(str(stats.get(k, "")) for k in
                                                    ("graphs", "nodes", "edges", "features", "classes")),
                      spec.description)
    out = Console()
    out.width = max(out.width, 150)  # a full row per dataset even when piped
    out.print(table)


@app.command("methods")
def methods_cmd() -> None:
    """List the distillation methods, their loss terms and every setting each takes (for --param).

    Examples:

        g2m methods
    """
    from dataclasses import fields

    from g2m.distill import METHODS

    out = Console()
    out.width = max(out.width, 150)
    table = Table(title="g2m distillation methods (compose them with +, e.g. glnn+ffg2m+pos)")
    for col in ("method", "loss terms (weight)", "teacher", "settings (default: meaning)"):
        table.add_column(col)
    for name, method in METHODS.items():
        terms = ", ".join(f"{t} ({w:g})" for t, w in method.terms.items()) or "label cross-entropy only"
        trainer = "none" if not method.needs_teacher else method.teacher_trainer
        settings = "" if method.settings is None else "\n".join(
            f"{f.name} = {f.default!r}: {f.metadata.get('help', '')}" for f in fields(method.settings))
        table.add_row(f"{name}\n{method.description}", terms, trainer, settings)
    out.print(table)
    from g2m.config import TRAINER_SETTINGS

    for trainer, extras in TRAINER_SETTINGS.items():
        for settings in extras:
            out.print(f"Methods whose teacher trainer is {trainer!r} also take the {settings.what} settings: "
                      + ", ".join(f"{f.name} = {f.default!r}" for f in fields(settings)) + ".")
    out.print("Every method also takes the student's settings (hidden_channels, num_layers, dropout, lr, "
              "weight_decay, batch_size, ...), lam and temperature; `g2m distill --param KEY=VALUE` sets any of them.")


@app.command("teacher")
def teacher_cmd(
    dataset: str = DatasetOpt,
    teacher: str = typer.Option("sage", "--teacher", "-t", help="sage, gcn, gat or appnp; auto (the best of them on "
                                "validation) or an average such as sage+appnp+gat."),
    setting: str = typer.Option("both", "--setting", help="tran, ind or both."),
    seeds: str = SeedsOpt,
    seed: int = SeedOpt,
    device: str = DeviceOpt,
    data_root: Optional[Path] = DataRootOpt,
    download: bool = DownloadOpt,
    jobs: int = JobsOpt,
    overwrite: bool = OverwriteOpt,
    resume: bool = ResumeOpt,
    output: Optional[Path] = output_opt(),
    hidden: Optional[int] = typer.Option(None, help="Hidden channels (default per model/dataset)."),
    layers: Optional[int] = typer.Option(None, help="Number of layers."),
    lr: Optional[float] = typer.Option(None, help="Learning rate."),
    weight_decay: Optional[float] = typer.Option(None, help="Weight decay."),
    dropout: Optional[float] = typer.Option(None, help="Dropout."),
    teacher_batch_size: Optional[int] = TeacherBatchOpt,
    fan_out: Optional[int] = FanOutOpt,
    teacher_chunk_size: Optional[int] = TeacherChunkOpt,
) -> None:
    """Train a GNN teacher over seeds and report its accuracy.

    Examples:

        g2m teacher --dataset cora --teacher sage --seeds 10

        g2m teacher -d citeseer -t gcn --setting tran --output runs/gcn-citeseer

        g2m teacher -d a-computer --teacher-batch-size 1024 --fan-out 10
    """
    from g2m.run_dir import run_metrics

    out = output or _default_output("teacher", dataset, teacher)
    over = dict(hidden_channels=hidden, num_layers=layers, lr=lr, weight_decay=weight_decay, dropout=dropout,
                batch_size=teacher_batch_size, fan_out=fan_out, inference_chunk_size=teacher_chunk_size)
    result = _run(_spec(dataset, data_root, teacher, [], seeds, seed, setting, device, output=out,
                        teacher_overrides={k: v for k, v in over.items() if v is not None}, force_teacher=True,
                        download=download, jobs=jobs, overwrite=overwrite, resume=resume))
    if not _is_main():
        return
    seed_list = result["seeds"]
    metrics = run_metrics(result)
    Console().print(_summary(f"{teacher} on {result['dataset']} ({count(len(seed_list), 'seed')}): test accuracy, %",
                             {teacher: metrics["teacher"]}))
    console.print(f"wrote {out}/metrics.json")


@app.command("distill")
def distill_cmd(
    dataset: str = DatasetOpt,
    teacher: Optional[str] = typer.Option(None, "--teacher", "-t", help="Teacher GNN g2m trains: sage (default), "
                                          "gcn, gat or appnp; auto (each seed distills the family with the best "
                                          "validation accuracy) or an average of several, such as sage+appnp+gat."),
    method: str = typer.Option("glnn", "--method", "-m",
                               help="glnn, mlp (no teacher), vqgraph, ffg2m, or a composition such as glnn+ffg2m."),
    teacher_outputs: Optional[Path] = typer.Option(None, "--teacher-outputs", help="Distill your own teacher from "
                                                   "its saved outputs instead of training one: logits as .npy, "
                                                   ".npz (logits, hidden), .pt (tensors) or a folder of logits.npy "
                                                   "and hidden.npy; one row per node in node-id order."),
    outputs_are: str = typer.Option("auto", "--outputs-are", help="How --teacher-outputs are read: logits, "
                                    "probabilities, or auto (rows that all sum to 1 are probabilities; a warning "
                                    "says so)."),
    split: Optional[str] = typer.Option(None, "--split", help="The split: the dataset's own (default), cpf, "
                                        "random, public, official, masks (your graph's own: split.json in its "
                                        "folder), or a JSON file of node ids {\"train\": [...], \"val\": [...], "
                                        "\"test\": [...]}."),
    setting: str = typer.Option("both", "--setting", help="tran, ind or both."),
    seeds: str = SeedsOpt,
    seed: int = SeedOpt,
    device: str = DeviceOpt,
    data_root: Optional[Path] = DataRootOpt,
    download: bool = DownloadOpt,
    jobs: int = JobsOpt,
    overwrite: bool = OverwriteOpt,
    resume: bool = ResumeOpt,
    output: Optional[Path] = output_opt(),
    lam: Optional[float] = typer.Option(None, "--lam", help="Weight of the label loss (1 - lam goes to distillation)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Distillation temperature."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Student minibatch size (0 = full batch; default per dataset, see g2m/config.py)."),
    teacher_batch_size: Optional[int] = TeacherBatchOpt,
    fan_out: Optional[int] = FanOutOpt,
    teacher_chunk_size: Optional[int] = TeacherChunkOpt,
    student_hidden: Optional[int] = typer.Option(None, help="Student hidden channels."),
    student_layers: Optional[int] = typer.Option(None, help="Student layers."),
    student_dropout: Optional[float] = typer.Option(None, help="Student dropout."),
    student_lr: Optional[float] = typer.Option(None, help="Student learning rate."),
    student_weight_decay: Optional[float] = typer.Option(None, help="Student weight decay."),
    codebook_size: Optional[int] = typer.Option(None, "--codebook-size", help="VQGraph: number of codes K."),
    code_dim: Optional[int] = typer.Option(None, "--code-dim", help="VQGraph: code dimension D."),
    code_metric: Optional[str] = typer.Option(None, "--code-metric", help="VQGraph: euclidean (default) or cosine "
                                              "codebook (unit vectors, as in the VQGraph reference code)."),
    code_temperature: Optional[float] = typer.Option(None, "--code-temperature",
                                                     help="VQGraph: temperature of the soft code assignments."),
    w_code: Optional[float] = typer.Option(None, "--w-code", help="VQGraph: weight of the soft-code KL term."),
    w_label: Optional[float] = typer.Option(None, "--w-label", help="VQGraph: weight of the soft-label KL term."),
    ema_decay: Optional[float] = typer.Option(None, "--ema-decay", help="VQGraph: codebook EMA decay."),
    code_layer: Optional[str] = typer.Option(None, "--code-layer", help="VQGraph: quantize the pre-classifier "
                                             "'embedding' (default) or the 'first' layer's output."),
    label_source: Optional[str] = typer.Option(None, "--label-source", help="VQGraph: soft labels from the "
                                               "'quantized' teacher, the 'plain' one, or 'auto' (plain when the "
                                               "quantized one is > 1 point lower on validation)."),
    warm_start: Optional[bool] = typer.Option(None, "--warm-start/--cold-start", help="VQGraph: start the "
                                              "tokenizer's GNN from the plain teacher (default) or from scratch."),
    tokenizer_fan_out: Optional[int] = typer.Option(None, "--tokenizer-fan-out", help="VQGraph: neighbours "
                                                    "sampled per hop when training the tokenizer (0 = all)."),
    tokenizer_batch_size: Optional[int] = typer.Option(None, "--tokenizer-batch-size", help="VQGraph: seed nodes "
                                                       "per tokenizer step (0 = full batch)."),
    commitment: Optional[float] = typer.Option(None, "--commitment", help="VQGraph: commitment loss weight."),
    w_feat: Optional[float] = typer.Option(None, "--w-feat", help="VQGraph: feature reconstruction weight."),
    w_struct: Optional[float] = typer.Option(None, "--w-struct", help="VQGraph: structure reconstruction weight."),
    w_lfd: Optional[float] = typer.Option(None, "--w-lfd", help="FF-G2M: weight of the low-frequency (neighbour) KL."),
    w_hfd: Optional[float] = typer.Option(None, "--w-hfd", help="FF-G2M: weight of the high-frequency (difference) KL."),
    params: Optional[Path] = typer.Option(None, "--params", help="A `g2m tune` best.json: its chosen settings "
                                          "(student or teacher) apply; options given here override them."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="Any setting of the teacher, its "
                                              "trainer or the method, as KEY=VALUE (repeatable; values are JSON: "
                                              "0.5, true, \"cosine\"). A key both take needs teacher. or "
                                              "student. in front. `g2m methods` lists every method's settings."),
) -> None:
    """Distill a GNN teacher into a graph-free MLP student, over seeds and settings.

    Writes DIR/metrics.json, DIR/config.json and DIR/checkpoints/.

    Examples:

        g2m distill --teacher sage --method glnn

        g2m distill -d citeseer -t sage -m glnn --seeds 10 --setting both -o runs/glnn-citeseer

        g2m distill -d cora -m mlp --seeds 5 --setting tran

        g2m distill --teacher sage --method vqgraph --codebook-size 512 --code-dim 64 -o runs/vq-cora

        g2m distill -d citeseer -m glnn+ffg2m --lam 0.2 --temperature 1.0 --w-hfd 0.5 --seeds 3

        g2m distill -m glnn+adv -p adv_eps=0.1 -p student.lr=0.005

        g2m distill -d citeseer-planetoid --teacher-outputs my_gcn_logits.npy -m glnn --split public
    """
    from g2m.run_dir import run_metrics
    from g2m.spec import route_params

    if teacher is not None and teacher_outputs is not None:
        raise ConfigError("--teacher names a GNN for g2m to train and --teacher-outputs gives your own teacher's "
                          "outputs: pass one of them.")
    if teacher_outputs is not None and not teacher_outputs.exists():
        raise ConfigError(f"--teacher-outputs {teacher_outputs}: no such file or folder.")
    teacher = None if teacher_outputs is not None else (teacher or "sage")  # None: the user's, which takes no settings
    out = output or _default_output("distill", dataset, f"{teacher or 'outputs'}-{method}")
    student_over = dict(lam=lam, temperature=temperature, hidden_channels=student_hidden,
                        num_layers=student_layers, dropout=student_dropout, lr=student_lr,
                        weight_decay=student_weight_decay)
    vq_teacher = dict(codebook_size=codebook_size, code_dim=code_dim, code_metric=code_metric, ema_decay=ema_decay,
                      commitment=commitment, w_feat=w_feat, w_struct=w_struct, code_layer=code_layer,
                      label_source=label_source, warm_start=warm_start, tokenizer_fan_out=tokenizer_fan_out,
                      tokenizer_batch_size=tokenizer_batch_size)
    teacher_over = dict(batch_size=teacher_batch_size, fan_out=fan_out, inference_chunk_size=teacher_chunk_size)
    vq_student = dict(code_temperature=code_temperature, w_soft_code_kl=w_code, w_soft_label_kl=w_label)
    student_over.update(vq_student, w_lfd=w_lfd, w_hfd=w_hfd)
    teacher_over = {k: v for k, v in {**vq_teacher, **teacher_over}.items() if v is not None}
    student_over = {k: v for k, v in student_over.items() if v is not None}
    _check_method_options(teacher, method, teacher_over, student_over)
    for side, given in zip((teacher_over, student_over), route_params(param or [], teacher, method)):
        twice = sorted(set(side) & set(given))
        if twice:
            raise ConfigError(f"{', '.join(twice)}: given both by its own option and by --param; keep one.")
        side.update(given)
    if params is not None:
        from g2m.tune import read_params

        target, tuned = read_params(params, method)
        chosen = teacher_over if target == "teacher" else student_over
        chosen.update({k: v for k, v in tuned.items() if k not in chosen})
    result = _run(_spec(dataset, data_root, teacher_outputs or teacher, [method], seeds, seed, setting, device,
                        output=out, teacher_overrides=teacher_over, student_overrides=student_over,
                        batch_size=batch_size, download=download, jobs=jobs, overwrite=overwrite, resume=resume,
                        split=split, outputs_are=outputs_are))
    if not _is_main():
        return
    metrics = run_metrics(result)
    if "codebook_usage" in result.get("files", {}):
        console.print(f"wrote {result['files']['codebook_usage']}")
    rows = {f"teacher ({metrics['teacher_model']})": metrics["teacher"],
            f"student ({metrics['method']})": metrics["student"]}
    Console().print(_summary(f"{metrics['method']} on {result['dataset']} ({count(len(result['seeds']), 'seed')}): "
                             "test accuracy, %", rows))
    console.print(f"wrote {out}/metrics.json (total {result['timings']['total_seconds']:.1f} s)")


# The method-specific options of `g2m distill` and the settings they set (any other: --param KEY=VALUE).
METHOD_OPTIONS = {"codebook_size": "--codebook-size", "code_dim": "--code-dim", "code_metric": "--code-metric",
                  "ema_decay": "--ema-decay", "commitment": "--commitment", "w_feat": "--w-feat",
                  "w_struct": "--w-struct", "code_layer": "--code-layer", "label_source": "--label-source",
                  "warm_start": "--warm-start/--cold-start", "tokenizer_fan_out": "--tokenizer-fan-out",
                  "tokenizer_batch_size": "--tokenizer-batch-size", "code_temperature": "--code-temperature",
                  "w_soft_code_kl": "--w-code", "w_soft_label_kl": "--w-label", "w_lfd": "--w-lfd", "w_hfd": "--w-hfd"}


def _check_method_options(teacher: str | None, method: str, teacher_over: dict, student_over: dict) -> None:
    """A method-specific option given to a method that does not take its setting is an error naming it."""
    from g2m.spec import method_setting_keys

    teacher_keys, student_keys = method_setting_keys(teacher, method)
    takes = teacher_keys | student_keys
    wrong = [METHOD_OPTIONS[k] for k in {**teacher_over, **student_over} if k in METHOD_OPTIONS and k not in takes]
    if wrong:
        raise ConfigError(f"{', '.join(wrong)}: method {method!r} takes no such setting (these options belong to "
                          "the methods whose settings `g2m methods` lists them under, e.g. --w-lfd to ffg2m, "
                          "--codebook-size to vqgraph).")


@app.command("evaluate")
def evaluate_cmd(
    path: Path = typer.Argument(..., help="A run folder written by `g2m distill`/`g2m teacher`, or a distilled "
                                          "dataset file written by `g2m condense`."),
    data_root: Optional[Path] = DataRootOpt,
    device: str = DeviceOpt,
    gnn: str = typer.Option("gin", "--gnn", help="Distilled files only: GNN to train (gin, gcn, gat)."),
    seeds: str = SeedsOpt,
    seed: int = SeedOpt,
    distilled_epochs: Optional[int] = typer.Option(
        None, "--distilled-epochs", help="Distilled files only: training epochs (default: the condense run's "
                                         "config.json beside the file, else 100)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Folder for the result (run folders: evaluation.json, default the "
                                               "run folder; distilled files: metrics.json, default none)."),
) -> None:
    """Re-evaluate saved checkpoints of a run, or train and evaluate a GNN on a distilled dataset.

    Examples:

        g2m evaluate runs/distill-cora-sage-glnn

        g2m evaluate runs/condense-mutag-mirage-gin/distilled.pt --gnn gcn --seeds 5
    """
    if path.is_file():
        from g2m.cli.condense import evaluate_distilled_cli

        evaluate_distilled_cli(path, gnn=gnn, seeds=parse_seeds(seeds, start=seed), device=device,
                               data_root=data_root, output=output, distilled_epochs=distilled_epochs)
        return
    from g2m.checkpoints import evaluate_run

    metrics = evaluate_run(path, root=data_root, device=device, output=output)
    Console().print(_summary(f"re-evaluated {path}: test accuracy, %", metrics["models"]))
    console.print(f"wrote {(output or path) / 'evaluation.json'}")


@app.command("rerun")
def rerun_cmd(
    run_dir: Path = typer.Argument(..., help="A run folder written by `g2m distill` or `g2m teacher`."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder of the new run (default RUN_DIR/rerun)."),
    data_root: Optional[Path] = DataRootOpt,
    jobs: int = JobsOpt,
    overwrite: bool = OverwriteOpt,
) -> None:
    """Run a finished run again from its config.json and compare the numbers with the old metrics.json.

    Same dataset, models, seeds, settings, overrides and device; on the same machine and software
    (config.json's "environment") the numbers are identical.

    Examples:

        g2m rerun runs/glnn-cora

        g2m rerun runs/glnn-cora -o runs/glnn-cora-again --jobs 2
    """

    from g2m.rerun import compare, rerun
    from g2m.run_dir import read_metrics, run_metrics

    out = output or run_dir / "rerun"
    result, _ = rerun(run_dir, out, root=data_root, jobs=jobs, overwrite=overwrite)
    metrics = run_metrics(result)
    old = read_metrics(run_dir)
    table = Table(title=f"rerun of {run_dir}")
    for col in ("model", "setting", "before", "now", ""):
        table.add_column(col)
    same = True
    for who, setting, a, b in compare(old, metrics):
        ok = a == b
        same &= ok
        table.add_row(who, setting, "–" if a is None else f"{a:.2f}", "–" if b is None else f"{b:.2f}",
                      "identical" if ok else "differs")
    Console().print(table)
    console.print(f"wrote {out}/metrics.json: " + ("every number identical" if same else
                  "numbers differ (other software versions, thread counts or devices change floating-point sums)"))
