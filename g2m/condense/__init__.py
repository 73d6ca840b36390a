"""Graph-dataset condensation: Mirage (frequent computation trees), baselines, and their evaluation.

Find each part by its file: `budget` (size limits), `trees` / `mining` / `discretize` / `mirage` (the Mirage
algorithm), `distilled` (the file format and byte measure), `baselines` (random, herding, size-only),
`condensers` (the registry of condensers), `api` (``condense`` and ``evaluate_distilled``).
``condense("mutag", gnn="gin")`` condenses under the dataset's protocol and scores it against the
baselines; the subpackage itself is callable: ``g2m.condense(...)`` is ``g2m.condense.condense(...)``.
"""

from g2m.condense.api import BASELINES, CondenseResult, condense, evaluate_distilled
from g2m.condense.budget import Budget, parse_budget
from g2m.condense.condensers import CONDENSERS, Condensed, distilled_training_set
from g2m.condense.discretize import Discretizer
from g2m.condense.distilled import DistilledDataset, compact_bytes, training_bytes
from g2m.condense.mining import TreeSet, drop_shared_sets, mine_frequent_tree_sets
from g2m.condense.mirage import mirage_distill
from g2m.condense.trees import TreeIndex, tree_labels, wl_refine
from g2m.utils.modules import make_module_callable

METHODS = CONDENSERS  # the registry's former name

__all__ = [
    "condense", "evaluate_distilled", "mirage_distill", "DistilledDataset", "Discretizer", "TreeIndex",
    "TreeSet", "CondenseResult", "Condensed", "Budget", "parse_budget", "tree_labels", "wl_refine",
    "mine_frequent_tree_sets", "drop_shared_sets", "compact_bytes", "training_bytes", "CONDENSERS", "METHODS",
    "BASELINES", "distilled_training_set",
]

make_module_callable(__name__, condense)
