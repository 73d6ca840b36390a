"""Per-dataset training settings of graph classifiers, chosen on validation holdouts only.

The entries below are budgets (epochs, width) that keep a 10-fold run affordable on 2 CPU cores; the
readout pooling is chosen per dataset on validation by `benchmarks/condense.py` (recorded in its output),
and `benchmarks/graph_sweep.py` compares other candidates on inner holdouts only. Anything not listed uses
the `GraphTrainConfig` defaults.
"""

from __future__ import annotations

from typing import Any

from g2m.graphcls.trainer import GraphTrainConfig

DATASET_SETTINGS: dict[str, dict[str, Any]] = {
    # cost, not tuning: fewer epochs / a smaller model where a fold would otherwise take many minutes on 2 cores
    "nci1": {"epochs": 60},
    "dd": {"epochs": 40, "hidden_channels": 32, "batch_size": 128},
    "ogbg-molhiv": {"epochs": 20, "batch_size": 128},
}


def train_config(dataset: str, **overrides: Any) -> GraphTrainConfig:
    """The settings of ``dataset`` (validation-chosen), then ``overrides`` (``None`` values ignored)."""
    base = dict(DATASET_SETTINGS.get(str(dataset).lower(), {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    return GraphTrainConfig().replace(**base)
