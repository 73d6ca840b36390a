"""g2m: distill GNNs into graph-free MLPs and graph datasets into tiny distilled datasets.

The library API: `load_dataset`, `train_teacher`, `distill` (multi-seed runs),
`Distiller` (one fitted teacher→student pair, scikit-learn style) and, for graph datasets,
`condense` (Mirage); `export_student` and `load_student` deploy a student without the graph;
`TeacherOutputs` holds a teacher of your own's saved outputs (``teacher=`` also takes your trained model).
``g2m.distill`` and ``g2m.condense`` are also the subpackages, so ``from g2m.condense import
DistilledDataset`` works.

Names are imported on first use (``import g2m`` alone loads neither torch nor PyG), so the command line
starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name → the module that defines it (``g2m.distill``/``g2m.condense``: the callable subpackages)
_EXPORTS = {
    "Distiller": "g2m.api", "train_teacher": "g2m.api",
    "distill": "g2m.distill", "condense": "g2m.condense",
    "list_datasets": "g2m.datasets", "load_dataset": "g2m.datasets",
    "ConfigError": "g2m.errors", "DatasetError": "g2m.errors", "G2MError": "g2m.errors",
    "RunInterrupted": "g2m.errors", "TrainingError": "g2m.errors",
    "export_student": "g2m.export", "load_student": "g2m.predict", "TeacherOutputs": "g2m.teacher_outputs",
}

__all__ = ["load_dataset", "list_datasets", "train_teacher", "distill", "condense", "Distiller", "export_student",
           "load_student", "TeacherOutputs", "G2MError", "ConfigError", "DatasetError", "TrainingError",
           "RunInterrupted", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'g2m' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"g2m.{name}" else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
