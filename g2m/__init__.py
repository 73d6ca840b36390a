"""g2m: distill GNNs into graph-free MLPs and graph datasets into tiny distilled datasets.

The library API: `load_dataset`, `train_teacher`, `distill` (multi-seed runs),
`Distiller` (one fitted teacher→student pair, scikit-learn style) and, for graph datasets,
`condense` (Mirage); `export_student` and `load_student` deploy a student without the graph;
`TeacherOutputs` holds a teacher of your own's saved outputs (``teacher=`` also takes your trained model).
``g2m.distill`` and ``g2m.condense`` are also the subpackages, so ``from g2m.condense import
DistilledDataset`` works.
"""

__version__ = "0.1.0"

from g2m.api import Distiller, train_teacher  # noqa: E402
from g2m import condense, distill  # noqa: E402  (callable subpackages: g2m.condense(...), g2m.distill(...))
from g2m.datasets import list_datasets, load_dataset  # noqa: E402
from g2m.errors import ConfigError, DatasetError, G2MError, RunInterrupted, TrainingError  # noqa: E402
from g2m.export import export_student  # noqa: E402
from g2m.predict import load_student  # noqa: E402
from g2m.teacher_outputs import TeacherOutputs  # noqa: E402

__all__ = ["load_dataset", "list_datasets", "train_teacher", "distill", "condense", "Distiller", "export_student", "load_student", "TeacherOutputs", "G2MError", "ConfigError",
           "DatasetError", "TrainingError", "RunInterrupted", "__version__"]
