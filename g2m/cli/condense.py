"""``g2m condense``: distil a graph-classification dataset into frequent computation trees (Mirage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from g2m.cli import app
from g2m.cli.common import DataRootOpt, DeviceOpt, DownloadOpt, OverwriteOpt, SeedOpt, SeedsOpt, output_opt
from g2m.utils import parse_seeds


def _fmt(m: dict | None) -> str:
    return "-" if not m else f"{m['mean']:.2f} ± {m['std']:.2f}"


@app.command("condense")
def condense_cmd(
    dataset: str = typer.Option("mutag", "--dataset", "-d", help="Graph-classification dataset (mutag, proteins, "
                                "nci1, dd, imdb-binary, enzymes, ogbg-molhiv, ogbg-molbace, ogbg-molbbbp)."),
    method: str = typer.Option("mirage", "--method", help="Condensation method (mirage)."),
    gnn: str = typer.Option("gin", "--gnn", help="GNN trained on the distilled set: gin, gcn or gat."),
    depth: int = typer.Option(2, "--depth", "-L", help="Computation-tree depth = GNN layers (1-3)."),
    support: Optional[float] = typer.Option(0.1, "--support", help="Per-class relative support θ of mined tree "
                                            "sets (0-1]; 0 means no mining: single trees ranked by frequency."),
    budget: Optional[str] = typer.Option(None, "--budget", help="Size limit: bytes (20000, 20KB), share of the "
                                         "training bytes (1%), or number of tree sets (50g)."),
    max_sets: int = typer.Option(50, "--max-sets", help="At most this many tree sets per class (0: no cap)."),
    itemsets: str = typer.Option("maximal", "--itemsets", help="maximal (FP-max) or all (FP-growth) frequent sets."),
    baselines: str = typer.Option("full,random", "--baselines", help="Comma list of baselines to train "
                                  "(full, random) or 'none'."),
    epochs: int = typer.Option(100, "--epochs", help="Epochs on real graphs (full / random baselines)."),
    distilled_epochs: int = typer.Option(100, "--distilled-epochs", help="Epochs on the distilled set."),
    threads: int = typer.Option(0, "--threads", help="Torch CPU threads while training (0: torch's default; "
                                "1 is often fastest for these small graphs)."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the TU 80/10/10 split (OGB: official split)."),
    seeds: str = SeedsOpt,
    seed: int = SeedOpt,
    device: str = DeviceOpt,
    data_root: Optional[Path] = DataRootOpt,
    download: bool = DownloadOpt,
    output: Optional[Path] = output_opt(),
    overwrite: bool = OverwriteOpt,
) -> None:
    """Condense a graph-classification training set with Mirage and score GNNs trained on it.

    Writes OUTPUT/distilled.pt (the distilled dataset), OUTPUT/metrics.json (test scores of the GNN trained
    on the full data, the distilled set and a random subset of the same byte size, sizes in bytes and as a
    fraction of the training set, condensation seconds) and OUTPUT/config.json.

    Examples:

        g2m condense --dataset mutag --method mirage --gnn gin --output runs/mutag

        g2m condense -d ogbg-molhiv --gnn gin --depth 2 --support 0.1 --budget 1% --seeds 3 -o runs/molhiv

        g2m evaluate runs/mutag/distilled.pt --gnn gcn
    """
    from g2m.condense import TrainConfig, condense

    seed_list = parse_seeds(seeds, start=seed)
    base = () if baselines.strip().lower() == "none" else tuple(b.strip() for b in baselines.split(",") if b.strip())
    for b in base:
        if b not in ("full", "random"):
            from g2m.errors import ConfigError

            raise ConfigError(f"--baselines: unknown baseline {b!r}; use full, random or none.")
    out = output or Path("runs") / f"condense-{Path(dataset).name}-{method}-{gnn}"
    if download:  # fetch missing raw files first; condense then loads them as usual
        from g2m.datasets import load_dataset

        load_dataset(dataset, root=data_root, download=True)
    result = condense(dataset, method=method, gnn=gnn, depth=depth, support=support or None, budget=budget,
                      seeds=seed_list, device=device, root=data_root, output=out, split_seed=split_seed,
                      baselines=base, train=TrainConfig(epochs=epochs, distilled_epochs=distilled_epochs,
                                        num_threads=threads or None),
                      max_sets_per_class=max_sets or None, itemsets=itemsets, overwrite=overwrite)
    m = result.metrics
    typer.echo(f"{m['dataset']}  {m['gnn']}  depth {m['depth']}  metric {m['metric']} (%)  "
               f"condensed in {m['condense_seconds']:.2f} s")
    for key in ("full", "mirage", "random"):
        if key in m:
            r = m[key]
            typer.echo(f"  {key:7s} test {_fmt(r['test'])}   {r['bytes']} bytes  {r['graphs']} graphs  "
                       f"{100 * r['fraction']:.3f}% of the training bytes")
    typer.echo(f"wrote {out}/distilled.pt, metrics.json, config.json")


def evaluate_distilled_cli(path: Path, gnn: str, seeds: list[int], device: str, data_root: Optional[Path],
                           output: Optional[Path], distilled_epochs: Optional[int] = None) -> dict:
    """Helper for ``g2m evaluate FILE``: score a distilled file and print the result.

    Training settings come from the condense run's ``config.json`` beside the file when there is one (so the
    file is scored as it was when made), then ``distilled_epochs`` overrides.
    """
    from dataclasses import fields

    from g2m.condense import TrainConfig, evaluate_distilled

    train: dict = {}
    config_path = path.parent / "config.json"
    if config_path.exists():
        saved = json.loads(config_path.read_text()).get("train") or {}
        known = {f.name for f in fields(TrainConfig)}
        train = {k: v for k, v in saved.items() if k in known}
    if distilled_epochs is not None:
        train["distilled_epochs"] = distilled_epochs
    m = evaluate_distilled(path, gnn=gnn, seeds=seeds, device=device, root=data_root, output=output,
                           train=TrainConfig(**train))
    r = m["mirage"]
    typer.echo(f"{m['dataset']}  {gnn}  depth {m['depth']}  metric {m['metric']} (%)  {len(seeds)} seed(s)")
    typer.echo(f"  mirage  test {_fmt(r['test'])}   {r['bytes']} bytes  {r['graphs']} graphs  "
               f"{100 * r['fraction']:.3f}% of the training bytes")
    if output is not None:
        typer.echo(f"wrote {output}/metrics.json")
    return m
