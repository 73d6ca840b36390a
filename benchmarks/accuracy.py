"""Accuracy benchmark: teacher / MLP / distilled students on the CPF datasets, many seeds, tran + prod.

Each (dataset, method) result is saved as ``docs/results/accuracy/<dataset>__<method>.json``; the table
``docs/results/accuracy.md`` is re-rendered from every saved result, so methods can be run separately.

    python benchmarks/accuracy.py --datasets cora,citeseer,a-computer,a-photo --methods mlp,glnn --seeds 10
    python benchmarks/accuracy.py --render-only
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for plot_results, beside this script

from g2m.evaluate import format_mean_std
from g2m.pipeline import run_node_experiment
from g2m.run_dir import software_environment
from g2m.spec import NodeRunSpec
from g2m.utils import flush_denormals, parse_seeds, write_json_atomic, write_text_atomic
from plot_results import plot_ablation, plot_accuracy

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
# Published numbers, SAGE teacher, CPF protocol: GLNN (Zhang et al., ICLR 2022, Table 2 transductive and
# Table 3 production) for the teacher, MLP and GLNN; VQGraph (Yang et al., ICLR 2024, Table 2) for VQGraph.
PUBLISHED = {
    "cora": {"teacher": 80.64, "mlp": 60, "glnn": 80.26, "vqgraph": 83.93},
    "citeseer": {"teacher": 70.49, "mlp": 59, "glnn": 71.22, "vqgraph": 76.08},
    "a-computer": {"teacher": 82.82, "mlp": 67, "glnn": 82.71, "vqgraph": 85.17},
    "a-photo": {"teacher": 90.85, "mlp": 79, "glnn": 91.95, "vqgraph": 94.21},
}
PUBLISHED_PROD = {"cora": (79.29, 78.28), "citeseer": (68.38, 69.27), "a-computer": (82.14, 82.29),
                  "a-photo": (91.08, 92.38)}


def run(datasets: list[str], methods: list[str], seeds: list[int], teacher: str, root: str | None,
        device: str, command: str, jobs: int = 1) -> None:
    for name in datasets:
        start = time.perf_counter()
        # report_test_selected: also record what picking the epoch on *test* would report (the third table)
        result = run_node_experiment(NodeRunSpec(name, teacher=teacher, methods=tuple(methods), seeds=seeds,
                                                 setting="both", device=device, root=root, save_checkpoints=False,
                                                 jobs=jobs, student_overrides={"report_test_selected": True}))
        wall = time.perf_counter() - start
        for method in methods:
            trainer = result["teacher_trainers"][method]
            entry = {"dataset": name, "method": method, "teacher_model": teacher, "teacher_trainer": trainer,
                     "seeds": seeds, "teacher": result["teachers"].get(trainer) if trainer else None,
                     "student": result["students"][method], "timings": result["timings"],
                     "splits": result["splits"],
                     "wall_seconds_all_methods": wall, "torch_threads": torch.get_num_threads(),
                     "command": command, "environment": software_environment(),
                     "config": result["config"]["resolved"],
                     "teacher_extra": result.get("teachers_extra", {}).get(trainer)}
            write_json_atomic(RESULTS / "accuracy" / f"{name}__{method}.json", entry)
        print(f"{name}: {wall:.1f} s for {len(seeds)} seeds × 2 settings, methods {methods}", flush=True)


def results_by_dataset(results: Path = RESULTS) -> dict[str, dict[str, dict]]:
    """``{dataset: {method: result file}}`` of every saved result, datasets in the published order."""
    rows = [json.loads(p.read_text()) for p in sorted((results / "accuracy").glob("*.json"))]
    by_ds: dict[str, dict[str, dict]] = {}
    order = list(PUBLISHED)
    for r in sorted(rows, key=lambda r: (order.index(r["dataset"]) if r["dataset"] in order else len(order),
                                         r["dataset"])):
        by_ds.setdefault(r["dataset"], {})[r["method"]] = r
    return by_ds


def render() -> str:
    by_ds = results_by_dataset()
    method_order = [m for m in ("mlp", "glnn", "vqgraph", "ffg2m", "vqgraph+ffg2m", "glnn+ffg2m")
                    if any(m in d for d in by_ds.values())]
    method_order += sorted({m for d in by_ds.values() for m in d} - set(method_order) - set(ablation_methods(by_ds)))
    lines = ["# Accuracy benchmark (node classification, CPF protocol)", "",
             "Mean ± std (population) of test accuracy in percent over the seeds listed; the best epoch of every "
             "model is chosen on validation accuracy only. `tran` = transductive; `prod` = production "
             "(0.8 × observed-test + 0.2 × held-out-test accuracy of the inductive run, 20% of test nodes held out). "
             "Published numbers in brackets: GLNN (Zhang et al., ICLR 2022; Tables 2 and 3) for the SAGE teacher, "
             "MLP and GLNN, VQGraph (Yang et al., ICLR 2024; Table 2) for VQGraph. Every row uses the exact "
             "train/validation/test nodes and inductive hold-out of GLNN's and VQGraph's published runs "
             "(seeds 0–9; each result file records the splits' sha256 fingerprints). A cell measured over "
             "fewer seeds than its row says `(n=…)`. `ffg2m` is FF-G2M (Wu et al., AAAI 2023); no published "
             "number is bracketed for it.", ""]
    figure = plot_accuracy(RESULTS)
    lines += [f"![Bar chart of the tables below: mean test accuracy per dataset and model, error bars ± std]"
              f"({figure.name})", "",
              "*Mean test accuracy (%) per dataset and model, error bars ± one std over the seeds (the y axis does "
              "not start at 0; no bar: not run). Made by `python benchmarks/plot_results.py` from "
              "`docs/results/accuracy/*.json`, the files of the tables below.*", ""]
    for setting, key in (("Transductive", "transductive"), ("Production", "production")):
        lines += [f"## {setting}", "", "| dataset | seeds | teacher (SAGE) | " + " | ".join(method_order) + " |",
                  "|---" * (3 + len(method_order)) + "|"]
        for ds, methods in by_ds.items():
            n_row = max(len(r["seeds"]) for r in methods.values())
            teacher_row = max((r for r in methods.values() if r.get("teacher_trainer") == "standard"),
                              key=lambda r: len(r["seeds"]), default=None)
            teacher = teacher_row["teacher"] if teacher_row else None
            pub = PUBLISHED.get(ds, {}) if key == "transductive" else {}
            pprod = PUBLISHED_PROD.get(ds) if key == "production" else None

            def cell(entry, pubval, n=n_row):
                txt = format_mean_std(entry.get(key) if entry else None)
                if txt != "–" and n != n_row:
                    txt += f" (n={n})"
                return f"{txt} [{pubval}]" if pubval is not None and txt != "–" else txt

            t_pub = pub.get("teacher") if pub else (pprod[0] if pprod else None)
            cells = [cell(teacher, t_pub)]
            for m in method_order:
                r = methods.get(m)
                p = pub.get(m) if pub else (pprod[1] if pprod and m == "glnn" else None)
                cells.append(cell(r["student"] if r else None, p, len(r["seeds"]) if r else n_row))
            lines.append(f"| {ds} | {n_row} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ablation_table(by_ds)
    lines += tuned_table(by_ds)
    lines += test_selected_table(by_ds)
    others: list[str] = []
    for ds, methods in by_ds.items():
        shown: set[tuple[str, str]] = set()
        for m, r in methods.items():
            trainer = r.get("teacher_trainer")
            if trainer not in (None, "standard") and r.get("teacher") and (trainer, r["command"]) not in shown:
                shown.add((trainer, r["command"]))
                extra = (r.get("teacher_extra") or {}).get("tran", {})
                plain = (f"; plain teacher val {extra['plain_val']['mean']:.2f} vs quantized "
                         f"{extra['quantized_val']['mean']:.2f}, plain labels used on "
                         f"{sum(extra['plain_labels']['runs']):.0f}/{len(extra['plain_labels']['runs'])} seeds, "
                         f"codebook perplexity {extra['perplexity']['mean']:.0f} (tran)"
                         if "plain_val" in extra else "")
                others.append(f"- {ds}, {m} teacher ({trainer}): tran "
                              f"{format_mean_std(r['teacher'].get('transductive'))}, prod "
                              f"{format_mean_std(r['teacher'].get('production'))}{plain}")
    if others:
        lines += ["## Teachers of other trainers", "", *others, ""]
    lines += ["## How these were measured", ""]
    calls: dict[str, list[dict]] = {}
    for methods in by_ds.values():
        for r in methods.values():
            calls.setdefault(r["command"], []).append(r)
    for command, rs in calls.items():
        walls = {r["dataset"]: r["wall_seconds_all_methods"] for r in rs}
        env = rs[0]["environment"]
        lines.append(f"- `{command}`: " + ", ".join(f"{d} {w:.0f} s" for d, w in walls.items())
                     + f" wall (all methods of the call, teacher included; {rs[0]['timings'].get('jobs', 1)} worker "
                     f"process(es), torch threads {rs[0]['torch_threads']}, g2m {env['g2m']}, torch {env['torch']}; "
                     f"`G2M_DATA_ROOT` set to the raw files)")
    text = "\n".join(lines) + "\n"
    (RESULTS / "accuracy.md").write_text(text)
    update_method_pages(by_ds)
    return text


# A method page shows its own slice of these results between ``<!-- accuracy-table COLUMNS -->`` and
# ``<!-- /accuracy-table -->``, re-written from the same files by every render (so it cannot go stale).
PAGE_TABLE = re.compile(r"(<!-- accuracy-table (?P<spec>[^>]*?) -->\n)(?P<table>.*?)(<!-- /accuracy-table -->)", re.S)
SETTINGS = (("tran", "transductive"), ("prod", "production"))


def page_table(spec: str, by_ds: dict[str, dict[str, dict]]) -> str:
    """Rows dataset × setting, one column per name of ``spec`` (comma-separated): a method, ``teacher`` (the
    SAGE teacher of the file with the most seeds) or ``METHOD@test`` (its transductive epoch picked on *test*
    accuracy: not a result, shown to measure that rule). Cells: mean ± std of test accuracy, %; ``–``: not run."""
    columns = spec.split(",")

    def cell(ds: dict[str, dict], column: str, setting: str) -> str:
        if column == "teacher":
            row = max((r for r in ds.values() if r.get("teacher_trainer") == "standard" and r.get("teacher")),
                      key=lambda r: len(r["seeds"]), default=None)
            return format_mean_std(row["teacher"].get(setting)) if row else "–"
        method, _, rule = column.partition("@")
        if method not in ds or (rule and setting != "transductive"):
            return "–"
        key = "transductive_selected_on_test" if rule else setting
        return format_mean_std(ds[method]["student"].get(key))

    heads = [f"{c.split('@')[0]}, epoch picked on test ⚠" if "@" in c else
             ("teacher (SAGE)" if c == "teacher" else c) for c in columns]
    lines = ["| dataset | setting | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(columns)]
    for name, ds in by_ds.items():
        if not any(c.split("@")[0] in ds for c in columns if c != "teacher"):
            continue
        for short, setting in SETTINGS:
            lines.append(f"| {name} | {short} | " + " | ".join(cell(ds, c, setting) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def update_method_pages(by_ds: dict[str, dict[str, dict]], docs: Path = RESULTS.parent) -> list[Path]:
    """Re-write every accuracy-table block of ``docs/*.md``; returns the pages changed."""
    changed = []
    for page in sorted(docs.glob("*.md")):
        text = page.read_text()
        new = PAGE_TABLE.sub(lambda m: m.group(1) + page_table(m.group("spec"), by_ds) + m.group(4), text)
        if new != text:
            write_text_atomic(page, new)
            changed.append(page)
    return changed


ABLATION_PARTS = ("pos", "rsd", "adv")  # NOSMOG's additions: their runs go to the ablation table


def ablation_methods(by_ds: dict[str, dict[str, dict]]) -> list[str]:
    """Methods with one of NOSMOG's additions, in a stable order (fewest parts first)."""
    found = {m for d in by_ds.values() for m in d if set(m.split("+")) & set(ABLATION_PARTS)}
    return sorted(found, key=lambda m: (m.count("+"), m))


def ablation_table(by_ds: dict[str, dict[str, dict]]) -> list[str]:
    """Each addition on and off: the student beside the same method without NOSMOG's parts (same seeds)."""
    extra = ablation_methods(by_ds)
    if not extra:
        return []
    rows = []
    for ds, methods in by_ds.items():
        for m in extra:
            r = methods.get(m)
            if r is None:
                continue
            base_name = "+".join(p for p in m.split("+") if p not in ABLATION_PARTS)
            base = methods.get(base_name)
            cells = []
            for key in ("transductive", "production"):
                value = r["student"].get(key)
                ref = base["student"].get(key) if base else None
                delta = f"{value['mean'] - ref['mean']:+.2f}" if value and ref else "–"
                cells += [format_mean_std(value), delta]
            needs = "features + 1-hop edges" if "pos" in m.split("+") else "features only"
            val = r["student"].get("validation")
            val_ref = base["student"].get("validation") if base else None
            val_cell = f"{val['mean']:.2f}" + (f" ({val['mean'] - val_ref['mean']:+.2f})" if val_ref else "") if val else "–"
            rows.append(f"| {ds} | {m} | {len(r['seeds'])} | {val_cell} | " + " | ".join(cells)
                        + f" | {base_name} | {needs} |")
    figure = plot_ablation(RESULTS)
    picture = ([f"![Bar chart of the ablation table: mean test accuracy per dataset and method]({figure.name})", "",
                "*Mean test accuracy (%), error bars ± one std over the seeds; the methods without NOSMOG's parts "
                "are the reference bars.*", ""] if figure else [])
    return ["## Ablation: NOSMOG's additions", "", *picture,
            "Each of NOSMOG's additions (docs/nosmog.md) on top of a method, against that method alone on the same "
            "seeds and splits (Δ = mean difference in points). `pos`: DeepWalk position features (new nodes need "
            "their edges at inference); `rsd`: representation-similarity term; `adv`: adversarial feature "
            "augmentation. Validation-selected, as above; `val` is the transductive validation accuracy (what a "
            "user may compare to choose a method), with its Δ.", "",
            "| dataset | method | seeds | val (Δ) | tran | Δ tran | prod | Δ prod | against | inference input |",
            "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]


def tuned_table(by_ds: dict[str, dict[str, dict]]) -> list[str]:
    """Students trained with the settings a `g2m tune` study chose (docs/results/tune/<dataset>-<method>/:
    best.json and the 10-seed final_metrics.json) beside the same method with its default settings."""
    rows = []
    for folder in sorted((RESULTS / "tune").glob("*/")):
        best_path, final_path = folder / "best.json", folder / "final_metrics.json"
        if not (best_path.is_file() and final_path.is_file()):
            continue
        best, final = json.loads(best_path.read_text()), json.loads(final_path.read_text())
        ds, method = best["dataset"], best["method"]
        untuned = by_ds.get(ds, {}).get(method)
        cells = []
        for key in ("transductive", "production"):
            value = final["student"].get(key)
            ref = untuned["student"].get(key) if untuned else None
            cells += [format_mean_std(value), f"{value['mean'] - ref['mean']:+.2f}" if value and ref else "–"]
        val = final["student"]["validation"]["mean"]
        val_ref = untuned["student"]["validation"]["mean"] if untuned else None
        rows.append(f"| {ds} | {method} | {best['trials_complete']} + {best['trials_pruned']} pruned, seeds "
                    f"{best['seeds']}: {best['best_validation']:.2f} | {len(final['seeds'])} | {val:.2f}"
                    + (f" ({val - val_ref:+.2f})" if val_ref is not None else "") + " | " + " | ".join(cells)
                    + f" | [study](tune/{folder.name}/best.json) |")
    if not rows:
        return []
    return ["## Tuned on validation (g2m tune)", "",
            "Students trained with the settings a `g2m tune` study chose on mean validation accuracy over 2 seeds "
            "(transductive; test never computed during the search; docs/tune.md), then run on 10 seeds; Δ against the "
            "same method with its default settings (the ablation above).", "",
            "| dataset | method | study: trials, best mean val | seeds | val (Δ) | tran | Δ tran | prod | Δ prod | "
            "chosen settings |", "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]


def test_selected_table(by_ds: dict[str, dict[str, dict]]) -> list[str]:
    """Transductive accuracy with the student's epoch picked on *test* (VQGraph's released code) beside the
    honest, validation-picked one: how much of a published gap that selection explains."""
    rows = []
    for ds, methods in by_ds.items():
        for m, r in methods.items():
            chosen = r["student"].get("transductive_selected_on_test")
            if chosen:
                honest = r["student"]["transductive"]
                rows.append(f"| {ds} | {m} | {format_mean_std(honest)} | {format_mean_std(chosen)} | "
                            f"+{chosen['mean'] - honest['mean']:.2f} |")
    if not rows:
        return []
    return ["## Transductive, epoch selected on test (not a result)", "",
            "**Not a result: for comparison only.** The same runs as above, but each student's epoch picked on "
            "*test* accuracy, as VQGraph's released code does for its transductive student. The last column is "
            "what that selection adds.", "",
            "| dataset | method | selected on validation | selected on test ⚠ | inflation |", "|---|---|---|---|---|",
            *rows, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="cora,citeseer,a-computer,a-photo")
    parser.add_argument("--methods", default="mlp,glnn")
    parser.add_argument("--seeds", default="10")
    parser.add_argument("--teacher", default="sage")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes for seeds")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    flush_denormals()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.render_only:
        run(args.datasets.split(","), args.methods.split(","), parse_seeds(args.seeds), args.teacher,
            args.data_root, args.device, "python " + " ".join(sys.argv), args.jobs)
    print(render())


if __name__ == "__main__":
    main()
