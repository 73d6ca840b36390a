"""The codebook-usage plot of VQ teachers (``codebook_usage.png`` in a VQGraph run folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_code_usage(raw: dict[str, list[dict[str, Any]]], path: str | Path) -> Path:
    """Save a rank-frequency plot of code usage (one line per run) with perplexity in the legend.

    Drawn with matplotlib's object API (no pyplot): the process's matplotlib backend is left alone.

    Args:
        raw: setting → list of a VQ teacher's ``extra_metrics`` (with ``code_counts``), as in a pipeline
            result's ``teachers_extra_raw["vq"]``.
        path: the image file to write (its folders are made).
    """
    from matplotlib.figure import Figure

    from g2m.utils import save_figure_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(5 * max(len(raw), 1), 3.5))
    axes = fig.subplots(1, len(raw), squeeze=False)
    for ax, (setting, runs) in zip(axes[0], raw.items()):
        for i, run in enumerate(runs):
            counts = sorted(run.get("code_counts", []), reverse=True)
            used = [c for c in counts if c > 0]
            if used:
                ax.plot(range(1, len(used) + 1), used, lw=1,
                        label=f"run {i}: ppl {run['perplexity']:.0f}, dead {run['dead_codes']}" if i < 5 else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("code rank")
        ax.set_ylabel("nodes assigned")
        ax.set_title(f"codebook usage ({setting}, K={runs[0]['num_codes'] if runs else '?'})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure_atomic(path, fig, dpi=100)
    return path
