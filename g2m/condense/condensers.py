"""Condensers by name: each turns a fold's training graphs and a byte budget into a small training set.

``CONDENSERS.get(name)(ctx, train_ids, limit, seed, **options) -> Condensed``. Mirage returns a distilled
set of computation trees; ``random`` and ``herding`` return subsets of the real training graphs. Every
result is measured with the same byte measure (`g2m.condense.distilled.training_bytes`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from g2m.datasets.graph_arrays import from_dataset
from g2m.condense.baselines import herding_subset, random_subset
from g2m.condense.distilled import DistilledDataset, training_bytes
from g2m.condense.mirage import mirage_distill
from g2m.graphcls import GraphContext, GraphStore, TrainingSet
from g2m.registry import Registry

CONDENSERS: Registry = Registry("condensation method")


@dataclass
class Condensed:
    """A condensed training set, its size (bytes, samples) and how long condensing took."""

    train_set: TrainingSet
    bytes: int
    graphs: int
    seconds: float
    distilled: DistilledDataset | None = None


def distilled_training_set(distilled: DistilledDataset, class_balance: bool = False) -> TrainingSet:
    """A distilled set as a `TrainingSet`: one sample per tree set, drawn ∝ its frequency."""
    store = GraphStore.from_data_list(distilled.to_data_list())
    return TrainingSet(store, torch.arange(distilled.num_sets), distilled.sampling_weights(class_balance))


@CONDENSERS.register("mirage")
def condense_mirage(ctx: GraphContext, train_ids: torch.Tensor, limit: int | None = None, seed: int = 0,
                    class_balance: bool = False, **options: Any) -> Condensed:
    """Mirage (`mirage_distill`) with ``options``; ``limit`` (bytes) overrides any ``budget`` option."""
    t0 = time.perf_counter()
    if limit is not None:
        options["budget"] = int(limit)
    distilled = mirage_distill(ctx.graph_ds, train_ids, specs=(ctx.node_spec, ctx.edge_spec), **options)
    seconds = time.perf_counter() - t0
    return Condensed(distilled_training_set(distilled, class_balance), distilled.nbytes(), distilled.num_sets,
                     seconds, distilled)


def _subset(ctx: GraphContext, train_ids: torch.Tensor, pick: Any, limit: int | None, seed: int) -> Condensed:
    t0 = time.perf_counter()
    arrays = from_dataset(ctx.graph_ds.dataset, train_ids)
    positions = np.arange(len(train_ids)) if limit is None else pick(arrays, int(limit), seed)
    ids = train_ids[torch.from_numpy(positions)]
    seconds = time.perf_counter() - t0
    nbytes = training_bytes(from_dataset(ctx.graph_ds.dataset, ids))
    return Condensed(TrainingSet(ctx.store, ids), nbytes, len(ids), seconds)


@CONDENSERS.register("random")
def condense_random(ctx: GraphContext, train_ids: torch.Tensor, limit: int | None = None, seed: int = 0,
                    **_: Any) -> Condensed:
    """A stratified random subset of the training graphs within ``limit`` bytes."""
    return _subset(ctx, train_ids, random_subset, limit, seed)


@CONDENSERS.register("herding")
def condense_herding(ctx: GraphContext, train_ids: torch.Tensor, limit: int | None = None, seed: int = 0,
                     **_: Any) -> Condensed:
    """A per-class herding coreset on a parameter-free graph embedding within ``limit`` bytes."""
    return _subset(ctx, train_ids, herding_subset, limit, seed)
