"""``g2m condense`` (condense a graph-classification dataset, scored against baselines) and
``g2m train-graph`` (graph classification on the full data under the fair protocol)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from g2m.cli import app
from g2m.cli.common import DataRootOpt, DeviceOpt, DownloadOpt, OverwriteOpt, console, output_opt
from g2m.cli.progress import showing
from g2m.evaluate import count
from g2m.utils.seeds import parse_seeds

GraphDatasetOpt = typer.Option("mutag", "--dataset", "-d", help="Graph-classification dataset (mutag, proteins, "
                               "nci1, dd, imdb-binary, enzymes, ogbg-molhiv, ogbg-molbace, ogbg-molbbbp).")
ProtocolOpt = typer.Option(None, "--protocol", help="cv10 (stratified 10-fold CV, Errica et al.; TU default) or "
                           "scaffold (OGB's official split, one run per seed; OGB default).")
FoldsOpt = typer.Option(None, "--folds", help="cv10 only: which of the 10 folds to run (e.g. 3, 0,1,2, 0-4 or "
                        "all; default all).")
FIRST_LOOK = "0"  # condense's default folds: one fold, a first look in about a minute
CondenseFoldsOpt = typer.Option(FIRST_LOOK, "--folds", help="cv10 only: which of the 10 folds to run (e.g. 3, "
                                "0,1,2, 0-4). Default 0: one fold, a first look in about a minute; all: the full "
                                "protocol (mean ± std over 10 folds; --jobs 2 halves its time).")
GraphSeedsOpt = typer.Option("3", "--seeds", help="scaffold only: seeds, a count (3 → 0..2), a list or a range.")
JobsOpt = typer.Option(1, "--jobs", "-j", help="Run folds in this many worker processes (one torch thread each).")
EpochsOpt = typer.Option(None, "--epochs", help="Training epochs (default: the dataset's setting).")
PoolOpt = typer.Option(None, "--pool", help="Readout pooling: sum (GIN default), mean or max.")


def _fmt(m: dict | None) -> str:
    from g2m.evaluate import format_mean_std

    return format_mean_std(m)


def _folds(text: Optional[str]) -> Optional[list[int]]:
    """``"3"`` → [3], ``"0,4"`` → [0, 4], ``"0-2"`` → [0, 1, 2] (fold numbers, not a count); ``"all"`` → None."""
    if text is None or text.strip().lower() == "all":
        return None
    from g2m.errors import ConfigError

    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            out += list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ConfigError(f"--folds {text!r}: give fold numbers 0-9 as a list (0,3) or a range (0-4).") from None
    return out


def _train(dataset: str, **overrides) -> "object":
    from g2m.graphcls import train_config

    return train_config(Path(dataset).name, **overrides)


@app.command("train-graph")
def train_graph_cmd(
    dataset: str = GraphDatasetOpt,
    gnn: str = typer.Option("gin", "--gnn", help="gin, gcn or gat."),
    protocol: Optional[str] = ProtocolOpt,
    folds: Optional[str] = FoldsOpt,
    seeds: str = GraphSeedsOpt,
    layers: Optional[int] = typer.Option(None, "--layers", help="Message-passing layers (default: the dataset's)."),
    hidden: Optional[int] = typer.Option(None, "--hidden", help="Hidden channels (default: the dataset's)."),
    pool: Optional[str] = PoolOpt,
    epochs: Optional[int] = EpochsOpt,
    jobs: int = JobsOpt,
    device: str = DeviceOpt,
    data_root: Optional[Path] = DataRootOpt,
    output: Optional[Path] = output_opt(),
    overwrite: bool = OverwriteOpt,
) -> None:
    """Train a graph classifier on the full training data under the fair protocol.

    TU datasets: stratified 10-fold CV, model selection on a stratified 10% holdout of each training fold,
    each test fold scored once; OGB molecules: the official scaffold split, one run per seed. Writes
    OUTPUT/metrics.json (test mean ± std, per fold: selected epoch, validation and test scores, the
    validation curve) and OUTPUT/config.json.

    Examples:

        g2m train-graph -d mutag --gnn gin --jobs 2

        g2m train-graph -d ogbg-molhiv --gnn gin --seeds 3 --epochs 30 -o runs/molhiv-gin
    """
    from g2m.errors import ConfigError
    from g2m.graphcls import full_training_set, run_protocol
    from g2m.run_dir import write_run
    from g2m.utils import resolve_device

    out = output or Path("runs") / f"train-graph-{Path(dataset).name}-{gnn}"
    if (out / "metrics.json").exists() and not overwrite:
        raise ConfigError(f"{out} already holds a run; pass --overwrite or choose another --output.")
    cfg = _train(dataset, num_layers=layers, hidden_channels=hidden, pool=pool, epochs=epochs)
    with showing(console, what="folds"):
        r = run_protocol(dataset, full_training_set, gnn, cfg, protocol, _folds(folds), parse_seeds(seeds), jobs,
                         str(resolve_device(device)), data_root)
    metrics = {"dataset": Path(dataset).name, "gnn": gnn, **r, "train_config": cfg.to_dict()}
    write_run(out, metrics, {"dataset": dataset, "gnn": gnn, "protocol": r["protocol"], "folds": folds,
                             "seeds": seeds, "train": cfg.to_dict()})
    typer.echo(f"{metrics['dataset']}  {gnn}  {r['protocol']}  test {r['metric']} (%)  {count(len(r['folds']), 'run')}  "
               f"{r['seconds']:.0f} s")
    typer.echo(f"  test {_fmt(r['test'])}   (reference selection, best validation from epoch 1: "
               f"{_fmt(r['reference_test'])})")
    typer.echo(f"wrote {out}/metrics.json, config.json")


@app.command("condense")
def condense_cmd(
    dataset: str = GraphDatasetOpt,
    method: str = typer.Option("mirage", "--method", help="Condensation method: mirage, random or herding."),
    gnn: str = typer.Option("gin", "--gnn", help="GNN trained on every training set: gin, gcn or gat."),
    depth: int = typer.Option(2, "--depth", "-L", help="Computation-tree depth = GNN layers (1-3)."),
    support: Optional[float] = typer.Option(0.1, "--support", help="Per-class support of mined tree sets: a share "
                                            "of the class's graphs in (0, 1], or a number of graphs with "
                                            "--support-mode absolute; 0: no mining, single trees by frequency."),
    support_mode: str = typer.Option("relative", "--support-mode", help="relative (share) or absolute (graphs)."),
    budget: Optional[str] = typer.Option(None, "--budget", help="Size limit: bytes (20000, 20KB), share of the "
                                         "training bytes (1%), or number of tree sets (50g)."),
    max_sets: int = typer.Option(50, "--max-sets", help="At most this many tree sets per class (0: no cap)."),
    itemsets: str = typer.Option("maximal", "--itemsets", help="maximal (FP-max) or all (FP-growth) frequent sets."),
    exclusive: bool = typer.Option(False, "--exclusive", help="Drop tree sets that are frequent in another class too."),
    sampling: Optional[str] = typer.Option(None, "--sampling", help="Draw distilled sets by frequency (default) or "
                                           "uniform."),
    baselines: str = typer.Option("full,random,herding,size_only", "--baselines",
                                  help="Comma list of baselines (full, random, herding, size_only) or 'none'."),
    protocol: Optional[str] = ProtocolOpt,
    folds: str = CondenseFoldsOpt,
    seeds: str = GraphSeedsOpt,
    pool: Optional[str] = PoolOpt,
    epochs: Optional[int] = EpochsOpt,
    jobs: int = JobsOpt,
    device: str = DeviceOpt,
    data_root: Optional[Path] = DataRootOpt,
    download: bool = DownloadOpt,
    output: Optional[Path] = output_opt(),
    overwrite: bool = OverwriteOpt,
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --output: only the folds "
                                "it had not finished run; the options must be those of the first run."),
) -> None:
    """Condense a graph-classification training set and score GNNs trained on it against baselines.

    Per fold (cv10) or seed (scaffold): condense the training graphs, train the GNN on the result, select on
    validation, score the test graphs once; the full data, a random subset and a herding coreset of the same
    bytes, and a size-only logistic regression are scored the same way. Writes OUTPUT/distilled.pt (fold 0's
    distilled set), OUTPUT/metrics.json and OUTPUT/config.json; each fold is kept in OUTPUT/folds/ as it finishes
    (a line says so), and --resume continues an interrupted run.

    Examples:

        g2m condense --dataset mutag                      (fold 0: a first look in about a minute)

        g2m condense --dataset mutag --folds all --jobs 2 --output runs/mutag      (the full protocol)

        g2m condense -d ogbg-molhiv --gnn gin --depth 2 --support 0.1 --seeds 3 --baselines random,size_only

        g2m evaluate runs/mutag/distilled.pt --gnn gcn
    """
    from g2m.condense import condense

    base = () if baselines.strip().lower() == "none" else tuple(b for b in baselines.split(",") if b.strip())
    out = output or Path("runs") / f"condense-{Path(dataset).name}-{method}-{gnn}"
    if download:  # fetch missing raw files first; condense then loads them as usual
        from g2m.datasets import load_dataset

        load_dataset(dataset, root=data_root, download=True)
    options = {"support_mode": support_mode, "max_sets_per_class": max_sets or None, "itemsets": itemsets,
               "exclusive": exclusive} if method == "mirage" else {}
    with showing(console, what="folds"):
        result = condense(dataset, method=method, gnn=gnn, depth=depth, support=support or None, budget=budget,
                          protocol=protocol, folds=_folds(folds), seeds=parse_seeds(seeds), jobs=jobs, device=device,
                          root=data_root, output=out, baselines=base,
                          train=_train(dataset, pool=pool, epochs=epochs, sampling=sampling), overwrite=overwrite,
                          resume=resume, **options)
    m = result.metrics
    typer.echo(f"{m['dataset']}  {m['gnn']}  depth {m['depth']}  {m['protocol']} ({count(len(m['folds']), 'run')})  "
               f"test {m['metric']} (%)  condensed in {m['condense_seconds']:.2f} s")
    for key in (method,) + tuple(b.strip().replace("-", "_") for b in base):
        r = m[key]
        ref = f"  (reference selection {_fmt(r['reference_test'])})" if "reference_test" in r else ""
        typer.echo(f"  {key:9s} test {_fmt(r['test'])}{ref}   {r['bytes']:.0f} bytes  {r['graphs']:.0f} graphs  "
                   f"{100 * r['fraction']:.3f}% of the training bytes")
    if m["protocol"] == "cv10" and len(m["folds"]) < 10:
        typer.echo(f"{count(len(m['folds']), 'fold')} of 10: a first look. The protocol's numbers (mean ± std over "
                   "10 folds) come from --folds all (--jobs 2 halves its time).")
    typer.echo(f"wrote {out}/distilled.pt, metrics.json, config.json")


def evaluate_distilled_cli(path: Path, gnn: str, seeds: list[int], device: str, data_root: Optional[Path],
                           output: Optional[Path], distilled_epochs: Optional[int] = None) -> dict:
    """Helper for ``g2m evaluate FILE``: score a distilled file and print the result.

    Training settings come from the condense run's ``config.json`` beside the file when there is one (so the
    file is scored as it was when made), then ``distilled_epochs`` overrides.
    """
    from g2m.condense import evaluate_distilled
    from g2m.graphcls import GraphTrainConfig

    train: dict = {}
    config_path = path.parent / "config.json"
    if config_path.exists():
        saved = json.loads(config_path.read_text()).get("train") or {}
        known = set(GraphTrainConfig().to_dict())
        train = {k: v for k, v in saved.items() if k in known}
    if distilled_epochs is not None:
        train["epochs"] = distilled_epochs
    m = evaluate_distilled(path, gnn=gnn, seeds=seeds, device=device, root=data_root, output=output,
                           train=GraphTrainConfig().replace(**train))
    r = m["mirage"]
    typer.echo(f"{m['dataset']}  {gnn}  depth {m['depth']}  test {m['metric']} (%)  {count(len(seeds), 'seed')}")
    typer.echo(f"  mirage  test {_fmt(r['test'])}   {r['bytes']} bytes  {r['graphs']} graphs  "
               f"{100 * r['fraction']:.3f}% of the training bytes")
    if output is not None:
        typer.echo(f"wrote {output}/metrics.json")
    return m
