"""Graph-dataset condensation: Mirage (frequent computation trees) and its evaluation.

``condense("mutag", gnn="gin")`` distils the training graphs and scores GNNs trained on the distilled
set against full-data and random-subset baselines; ``evaluate_distilled(path)`` scores a saved file.
The subpackage itself is callable: ``g2m.condense(...)`` is ``g2m.condense.condense(...)``.
"""

from g2m.condense.discretize import Discretizer
from g2m.condense.distilled import DistilledDataset, compact_bytes, training_bytes
from g2m.condense.mining import TreeSet, mine_frequent_tree_sets
from g2m.condense.mirage import (METHODS, Budget, CondenseResult, TrainConfig, condense, evaluate_distilled,
                                 mirage_distill, parse_budget)
from g2m.condense.train import GNNS, FeatureSpec, GraphClassifier
from g2m.condense.trees import TreeIndex, tree_labels, wl_refine
from g2m.utils.modules import make_module_callable

__all__ = [
    "condense", "evaluate_distilled", "mirage_distill", "DistilledDataset", "Discretizer", "TreeIndex",
    "TreeSet", "GraphClassifier", "FeatureSpec", "TrainConfig", "CondenseResult", "Budget", "parse_budget",
    "tree_labels", "wl_refine", "mine_frequent_tree_sets", "compact_bytes", "training_bytes", "METHODS", "GNNS",
]

make_module_callable(__name__, condense)
