"""Bar charts of the node-classification benchmarks: mean ± std test accuracy per dataset and model.

Reads the result files the pages are rendered from and writes a PNG next to each page:

- ``docs/results/accuracy/*.json`` (``benchmarks/accuracy.py``) → ``docs/results/accuracy.png``: the SAGE
  teacher and every student method, transductive and production;
- ``docs/results/teachers/*.json`` (``benchmarks/teachers.py``) → ``docs/results/teachers.png``: every
  teacher configuration, transductive, production and inductive.

Bars are the ``mean`` of each entry and error bars its ``std`` (population, over seeds), exactly the
numbers in the pages' tables. ``benchmarks/accuracy.py`` and ``benchmarks/teachers.py`` call this when they
re-render their page, so a page and its picture come from the same files.

    python benchmarks/plot_results.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from g2m.utils import save_figure_atomic  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
DATASET_ORDER = ("cora", "citeseer", "a-computer", "a-photo")
METHOD_ORDER = ("mlp", "glnn", "vqgraph", "ffg2m", "vqgraph+ffg2m", "glnn+ffg2m")
TEACHER_ORDER = ("sage", "sage-glnn", "gcn", "gat", "appnp")
SETTING_TITLES = {"transductive": "Transductive", "production": "Production",
                  "inductive": "Inductive (held-out nodes)"}


def _datasets(names) -> list[str]:
    names = set(names)
    return [d for d in DATASET_ORDER if d in names] + sorted(names - set(DATASET_ORDER))


ABLATION_PARTS = {"pos", "rsd", "adv"}  # NOSMOG's additions: drawn in their own figure


def is_ablation(method: str) -> bool:
    return bool(set(method.split("+")) & ABLATION_PARTS)


def accuracy_series(results: Path = RESULTS, ablation: bool = False) -> tuple[list[str], dict[str, dict[str, dict]]]:
    """``(datasets, {model: {dataset: {setting: {"mean", "std", ...}}}})`` of the accuracy benchmark.

    The teacher of a dataset is taken as ``benchmarks/accuracy.py`` takes it for its table: the plain
    (``"standard"`` trainer) teacher of the result file with the most seeds. ``ablation``: the methods with
    NOSMOG's additions and the methods they add to, else every other method.
    """
    rows = [json.loads(p.read_text()) for p in sorted((results / "accuracy").glob("*.json"))]
    by_ds: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_ds.setdefault(r["dataset"], {})[r["method"]] = r
    datasets = _datasets(by_ds)
    methods = [m for m in METHOD_ORDER if any(m in by_ds[d] for d in datasets)]
    methods += sorted({m for d in datasets for m in by_ds[d]} - set(methods), key=lambda m: (m.count("+"), m))
    if ablation:
        bases = {"+".join(p for p in m.split("+") if p not in ABLATION_PARTS) for m in methods if is_ablation(m)}
        methods = [m for m in methods if is_ablation(m) or m in bases]
        datasets = [d for d in datasets if any(is_ablation(m) for m in by_ds[d])]
    else:
        methods = [m for m in methods if not is_ablation(m)]
    series: dict[str, dict[str, dict]] = {}
    for d in datasets:
        teacher_row = max((r for r in by_ds[d].values() if r.get("teacher_trainer") == "standard"),
                          key=lambda r: len(r["seeds"]), default=None)
        if teacher_row and teacher_row.get("teacher"):
            series.setdefault(f"teacher ({teacher_row['teacher_model'].upper()})", {})[d] = teacher_row["teacher"]
        for m in methods:
            if m in by_ds[d]:
                series.setdefault(m, {})[d] = by_ds[d][m]["student"]
    return datasets, series


def plot_ablation(results: Path = RESULTS) -> Path | None:
    """``docs/results/accuracy_ablation.png``: NOSMOG's additions beside the methods they add to."""
    datasets, series = accuracy_series(results, ablation=True)
    series = {k: v for k, v in series.items() if not k.startswith("teacher")}
    if not datasets:
        return None
    return save_bar_chart(results / "accuracy_ablation.png", datasets, series, ["transductive", "production"],
                          "NOSMOG's additions (pos, rsd, adv), mean ± std over seeds (CPF splits)")


def teacher_series(results: Path = RESULTS) -> tuple[list[str], dict[str, dict[str, dict]]]:
    """``(datasets, {teacher: {dataset: {setting: {"mean", "std", ...}}}})`` of the teacher benchmark."""
    rows = [json.loads(p.read_text()) for p in sorted((results / "teachers").glob("*.json"))]
    datasets = _datasets(r["dataset"] for r in rows)
    teachers = [t for t in TEACHER_ORDER if any(r["teacher"] == t for r in rows)]
    teachers += sorted({r["teacher"] for r in rows} - set(teachers))
    series: dict[str, dict[str, dict]] = {t: {} for t in teachers}
    for r in rows:
        series[r["teacher"]][r["dataset"]] = r["metrics"]
    return datasets, series


def bar_chart(datasets: list[str], series: dict[str, dict[str, dict]], settings: list[str], title: str):
    """One panel per setting; in each, a group of bars per dataset (one bar per model), error bars ± std."""
    fig, axes = plt.subplots(len(settings), 1, figsize=(10, 3.4 * len(settings)), squeeze=False)
    names = list(series)
    width = 0.8 / max(len(names), 1)
    colors = plt.get_cmap("tab10")
    lows = [e[s]["mean"] - e[s]["std"] for per in series.values() for e in per.values() for s in settings
            if e and e.get(s)]
    bottom = max(0.0, 5 * (min(lows, default=0.0) // 5) - 5)
    for ax, setting in zip(axes[:, 0], settings):
        for i, name in enumerate(names):
            xs, means, stds = [], [], []
            for j, d in enumerate(datasets):
                entry = (series[name].get(d) or {}).get(setting)
                if entry:
                    xs.append(j - 0.4 + width * (i + 0.5))
                    means.append(entry["mean"])
                    stds.append(entry["std"])
            ax.bar(xs, means, width, yerr=stds, capsize=2, label=name, color=colors(i % 10),
                   error_kw={"elinewidth": 0.8})
        ax.set_xticks(range(len(datasets)), datasets)
        ax.set_ylim(bottom, 100)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(SETTING_TITLES.get(setting, setting), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    top = 1 - 0.6 / fig.get_figheight()  # room for the title and the legend, in figure coordinates
    fig.suptitle(title, fontsize=11, y=0.995)
    fig.legend(handles, labels, ncol=min(len(names), 6), fontsize=8, loc="upper center",
               bbox_to_anchor=(0.5, top + 0.33 / fig.get_figheight()), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically (100 dpi, tight) and close it."""
    try:
        return save_figure_atomic(path, fig, dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)


def save_bar_chart(path: Path, datasets: list[str], series: dict[str, dict[str, dict]], settings: list[str],
                   title: str) -> Path:
    """`bar_chart` written to ``path``."""
    return save_figure(bar_chart(datasets, series, settings, title), path)


def plot_accuracy(results: Path = RESULTS) -> Path:
    """``docs/results/accuracy.png`` from ``docs/results/accuracy/*.json``."""
    datasets, series = accuracy_series(results)
    return save_bar_chart(results / "accuracy.png", datasets, series, ["transductive", "production"],
                          "Teacher and students, mean ± std over seeds (CPF splits)")


def plot_teachers(results: Path = RESULTS) -> Path:
    """``docs/results/teachers.png`` from ``docs/results/teachers/*.json``."""
    datasets, series = teacher_series(results)
    return save_bar_chart(results / "teachers.png", datasets, series, ["transductive", "production", "inductive"],
                          "Teacher GNNs, mean ± std over seeds (CPF splits)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the docs/results folder")
    args = parser.parse_args()
    for path in (plot_accuracy(args.results), plot_teachers(args.results)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
