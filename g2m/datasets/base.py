"""Plain containers returned by `g2m.load_dataset`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor
from torch_geometric.data import Data


@dataclass
class NodeDataset:
    """One graph for node classification.

    ``data`` holds ``x`` (float, dense), ``edge_index`` (undirected, coalesced, no self-loops) and
    ``y``. ``split_protocol`` names how train/val/test are drawn: ``"cpf"`` (20/30 per class per seed),
    ``"public"`` (Planetoid masks) or ``"official"`` (OGB); the fixed ones live in ``fixed_split``.
    """

    name: str
    data: Data
    num_classes: int
    split_protocol: str = "cpf"
    fixed_split: dict[str, Tensor] | None = None
    source: str = ""
    # a user's graph whose labels were not 0..C-1: the user's label of each class id (None: ids are the labels)
    class_labels: tuple[int, ...] | None = None
    task: str = field(default="node", init=False)

    @property
    def num_nodes(self) -> int:
        return int(self.data.num_nodes)

    @property
    def num_edges(self) -> int:
        """Directed edges (each undirected edge counts twice), as in PyG."""
        return int(self.data.edge_index.size(1))

    @property
    def num_features(self) -> int:
        return int(self.data.x.size(1))

    def stats(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "nodes": self.num_nodes,
            "edges": self.num_edges,
            "features": self.num_features,
            "classes": self.num_classes,
            "split": self.split_protocol,
        }


@dataclass
class GraphDataset:
    """A graph-classification dataset: a PyG ``InMemoryDataset`` plus what g2m needs to know about it.

    ``metric`` is ``"accuracy"`` (TU) or ``"roc_auc"`` (OGB molecules, binary). ``fixed_split`` holds
    OGB's scaffold split; TU datasets are split per seed (see `g2m.datasets.graph_split`).
    """

    name: str
    dataset: Any
    num_classes: int
    metric: str = "accuracy"
    split_protocol: str = "stratified-80/10/10"
    fixed_split: dict[str, Tensor] | None = None
    source: str = ""
    task: str = field(default="graph", init=False)

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def num_node_features(self) -> int:
        return int(self.dataset.num_node_features)

    def stats(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "graphs": len(self.dataset),
            "nodes": int(self.dataset._data.num_nodes),
            "edges": int(self.dataset._data.edge_index.size(1)),
            "features": self.num_node_features,
            "classes": self.num_classes,
            "split": self.split_protocol,
        }
