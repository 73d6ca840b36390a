"""Evaluation settings, metrics and multi-seed aggregation.

Settings (GLNN protocol): ``transductive`` — test accuracy with the whole graph observed;
``inductive`` — accuracy on held-out test nodes never seen in training; ``production`` —
``0.8 * observed-test accuracy + 0.2 * inductive accuracy`` of the same inductive run. ``observed``
is that observed-test accuracy, kept for transparency.
"""

from __future__ import annotations

import math

import numpy as np

PRODUCTION_WEIGHTS = (0.8, 0.2)


def aggregate(runs: list[float]) -> dict:
    """``{"mean", "std", "runs"}`` (population std, as in GLNN's tables), percent values."""
    vals = [float(v) for v in runs]
    if not vals:
        return {"mean": math.nan, "std": math.nan, "runs": []}
    return {"mean": round(float(np.mean(vals)), 4), "std": round(float(np.std(vals)), 4),
            "runs": [round(v, 4) for v in vals]}


def production(observed: float, inductive: float) -> float:
    """The production-setting accuracy of one inductive run."""
    return PRODUCTION_WEIGHTS[0] * observed + PRODUCTION_WEIGHTS[1] * inductive


def setting_metrics(runs: dict[str, list[dict[str, float]]]) -> dict:
    """Aggregate per-seed metric dicts (keys ``test``/``test_ind``) of the ``tran`` and ``ind`` runs."""
    out: dict[str, dict] = {}
    if runs.get("tran"):
        out["transductive"] = aggregate([r["test"] for r in runs["tran"]])
    if runs.get("ind"):
        out["inductive"] = aggregate([r["test_ind"] for r in runs["ind"]])
        out["production"] = aggregate([production(r["test"], r["test_ind"]) for r in runs["ind"]])
        out["observed"] = aggregate([r["test"] for r in runs["ind"]])
    if runs.get("tran") and all("test_selected_on_test" in r for r in runs["tran"]):
        # the epoch picked on *test* accuracy (VQGraph's released code): for comparison, never a result
        out["transductive_selected_on_test"] = aggregate([r["test_selected_on_test"] for r in runs["tran"]])
    # Validation accuracy of the selected models: what sweeps compare (never test).
    for st, key in (("tran", "validation"), ("ind", "validation_inductive")):
        if runs.get(st) and all("val" in r for r in runs[st]):
            out[key] = aggregate([r["val"] for r in runs[st]])
    return out


def format_mean_std(entry: dict | None) -> str:
    """``"81.10 ± 0.96"`` over several runs, ``"81.10"`` for one (a spread of one run is no spread); "–" for none."""
    if not entry or not entry.get("runs"):
        return "–"
    if len(entry["runs"]) == 1:
        return f"{entry['mean']:.2f}"
    return f"{entry['mean']:.2f} ± {entry['std']:.2f}"


def count(n: int, noun: str) -> str:
    """``"1 seed"``, ``"3 seeds"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
