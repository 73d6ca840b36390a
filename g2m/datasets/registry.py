"""The named datasets g2m knows: where their raw files live under a data root and how to load them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from g2m.datasets import graph, node
from g2m.datasets.download import cpf_fetcher, ogb_fetcher, pyg_fetcher
from g2m.datasets.roots import BUNDLED_ROOT
from g2m.errors import DatasetError
from g2m.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: its task, the raw files it needs (relative to a data root) and its loader."""

    name: str
    task: str
    files: tuple[str, ...]
    loader: Callable[[Path], Any]
    description: str
    stats: dict[str, Any] = field(default_factory=dict)
    fetch: Callable[[Path], None] | None = None  # opt-in download of the raw files into a data root

    @property
    def bundled(self) -> bool:
        return all((BUNDLED_ROOT / f).exists() for f in self.files)

    def missing_files(self, root: Path) -> list[str]:
        return [f for f in self.files if not (root / f).exists()]


DATASETS: Registry[DatasetSpec] = Registry("dataset", error=DatasetError)

_PLANETOID_RAW = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
_TU_RAW = ("A", "graph_indicator", "graph_labels")
_OGBG_RAW = ("raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/edge-feat.csv.gz", "raw/graph-label.csv.gz",
             "raw/num-node-list.csv.gz", "raw/num-edge-list.csv.gz", "split/scaffold/train.csv.gz",
             "split/scaffold/valid.csv.gz", "split/scaffold/test.csv.gz", "RELEASE_v1.txt")
_OGBN_RAW = ("raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/node-label.csv.gz", "raw/num-node-list.csv.gz",
             "raw/num-edge-list.csv.gz", "RELEASE_v1.txt")


# How each npz is fetched on request: CPF's repository, or PyG's class for the gnn-benchmark files.
_NPZ_FETCH = {"cora": cpf_fetcher("CPF/cora.npz", "cora"), "citeseer": cpf_fetcher("CPF/citeseer.npz", "citeseer"),
              "a-computer": pyg_fetcher("Amazon", "Amazon", "Computers"),
              "a-photo": pyg_fetcher("Amazon", "Amazon", "Photo"),
              "coauthor-cs": pyg_fetcher("Coauthor", "Coauthor", "CS"),
              "coauthor-phy": pyg_fetcher("Coauthor", "Coauthor", "Physics")}


def _npz(rel: str, name: str, description: str, **stats) -> None:
    DATASETS.add(name, DatasetSpec(
        name, "node", (rel,), lambda root: node.load_npz_graph(root / rel, name),
        description + " (CPF protocol: largest connected component, 20/30 per class)", stats, _NPZ_FETCH.get(name)))


def _planetoid(pyg: str, name: str, **stats) -> None:
    files = tuple(f"Planetoid/{pyg}/raw/ind.{pyg.lower()}.{s}" for s in _PLANETOID_RAW)
    DATASETS.add(name, DatasetSpec(name, "node", files, lambda root: node.load_planetoid(root, pyg, name),
                                   f"Planetoid {pyg}, public split", stats, pyg_fetcher("Planetoid", "Planetoid", pyg)))


def _ogbn(name: str, **stats) -> None:
    files = tuple(f"ogb/{name.replace('-', '_')}/{f}" for f in _OGBN_RAW)
    DATASETS.add(name, DatasetSpec(name, "node", files, lambda root: node.load_ogbn(root, name),
                                   f"OGB {name}, official split", stats, ogb_fetcher(name)))


def _tu(tu: str, name: str, **stats) -> None:
    files = tuple(f"TUDataset/{tu}/raw/{tu}_{s}.txt" for s in _TU_RAW)
    DATASETS.add(name, DatasetSpec(name, "graph", files, lambda root: graph.load_tu(root, tu, name),
                                   f"TU {tu}, accuracy, seeded stratified 80/10/10", stats,
                                   pyg_fetcher("TUDataset", "TUDataset", tu)))


def _ogbg(name: str, **stats) -> None:
    files = tuple(f"ogb/{name.replace('-', '_')}/{f}" for f in _OGBG_RAW)
    DATASETS.add(name, DatasetSpec(name, "graph", files, lambda root: graph.load_ogbg(root, name),
                                   f"OGB {name}, ROC-AUC, scaffold split", stats, ogb_fetcher(name)))


# Statistics after loading (CPF names: after taking the largest connected component); the tests check
# them against the loaded data. "edges" counts directed edges, as PyG does.
_npz("CPF/cora.npz", "cora", "Cora citation graph", nodes=2485, edges=10138, features=1433, classes=7)
_npz("CPF/citeseer.npz", "citeseer", "CiteSeer citation graph", nodes=2110, edges=7336, features=3703,
     classes=6)
_npz("Amazon/Computers/raw/amazon_electronics_computers.npz", "a-computer", "Amazon Computers co-purchase",
     nodes=13381, edges=491556, features=767, classes=10)
_npz("Amazon/Photo/raw/amazon_electronics_photo.npz", "a-photo", "Amazon Photo co-purchase",
     nodes=7487, edges=238086, features=745, classes=8)
_npz("Coauthor/CS/raw/ms_academic_cs.npz", "coauthor-cs", "Coauthor CS", nodes=18333, edges=163788,
     features=6805, classes=15)
_npz("Coauthor/Physics/raw/ms_academic_phy.npz", "coauthor-phy", "Coauthor Physics", nodes=34493,
     edges=495924, features=8415, classes=5)
_planetoid("Cora", "cora-planetoid", nodes=2708, edges=10556, features=1433, classes=7)
_planetoid("CiteSeer", "citeseer-planetoid", nodes=3327, edges=9104, features=3703, classes=6)
_planetoid("PubMed", "pubmed", nodes=19717, edges=88648, features=500, classes=3)
_ogbn("ogbn-arxiv", nodes=169343, edges=2315598, features=128, classes=40)
_ogbn("ogbn-products", nodes=2449029, edges=123718152, features=100, classes=47)
_tu("MUTAG", "mutag", graphs=188, nodes=3371, edges=7442, classes=2)
_tu("PROTEINS", "proteins", graphs=1113, nodes=43471, edges=162088, classes=2)
_tu("NCI1", "nci1", graphs=4110, nodes=122747, edges=265506, classes=2)
_tu("DD", "dd", graphs=1178, nodes=334925, edges=1686092, classes=2)
_tu("IMDB-BINARY", "imdb-binary", graphs=1000, nodes=19773, edges=193062, classes=2)
_tu("ENZYMES", "enzymes", graphs=600, nodes=19580, edges=74564, classes=6)
_ogbg("ogbg-molhiv", graphs=41127, nodes=1049163, edges=2259376, classes=2)
_ogbg("ogbg-molbace", graphs=1513, nodes=51577, edges=111536, classes=2)
_ogbg("ogbg-molbbbp", graphs=2039, nodes=49068, edges=105842, classes=2)
