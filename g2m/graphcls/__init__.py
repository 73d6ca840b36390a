"""Graph classification: vectorised batching, a trainer with validation-only model selection, and the
evaluation protocols (stratified 10-fold CV after Errica et al.; OGB scaffold split).

``run_protocol("mutag", full_training_set, gnn="gin")`` is full-data training; condensation methods plug in
their own training-set maker (see `g2m.condense`)."""

from g2m.graphcls.protocol import (PROTOCOLS, Fold, GraphContext, default_protocol, full_training_set, map_folds,
                                   protocol_folds, run_protocol, summary, train_and_test)
from g2m.graphcls.settings import DATASET_SETTINGS, train_config
from g2m.graphcls.store import GraphStore
from g2m.graphcls.trainer import SELECTIONS, FitResult, GraphTrainConfig, TrainingSet, fit, score

__all__ = [
    "GraphStore", "GraphTrainConfig", "TrainingSet", "FitResult", "fit", "score", "SELECTIONS", "PROTOCOLS",
    "Fold", "GraphContext", "protocol_folds", "default_protocol", "full_training_set", "run_protocol", "map_folds",
    "train_and_test", "summary", "DATASET_SETTINGS", "train_config",
]
