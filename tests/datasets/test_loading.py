"""Dataset registry, data roots and loaders against the shared data (statistics from its README)."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from g2m import load_dataset
from g2m.datasets import DATASETS, find_root, from_files
from g2m.errors import DatasetError

# name -> (nodes, directed edges, features, classes) as verified in ../shared/datasets/README.md
# (CPF names are after the largest connected component: cora 2485 / 5069 undirected edges,
# citeseer 2110 / 3668, as that README states).
NODE_STATS = {
    "cora": (2485, 2 * 5069, 1433, 7),
    "citeseer": (2110, 2 * 3668, 3703, 6),
    "cora-planetoid": (2708, 10556, 1433, 7),
    "citeseer-planetoid": (3327, 9104, 3703, 6),
}
GRAPH_STATS = {  # graphs, nodes, edges, classes
    "mutag": (188, 3371, 7442, 2),
    "proteins": (1113, 43471, 162088, 2),
    "nci1": (4110, 122747, 265506, 2),
    "imdb-binary": (1000, 19773, 193062, 2),
    "ogbg-molbace": (1513, 51577, 111536, 2),
}


@pytest.mark.parametrize("name", list(NODE_STATS))
def test_node_loader_counts(data_root, name):
    ds = load_dataset(name, root=data_root)
    n, e, f, c = NODE_STATS[name]
    assert (ds.num_nodes, ds.num_edges, ds.num_features, ds.num_classes) == (n, e, f, c)
    assert ds.stats() | DATASETS.get(name).stats == ds.stats()  # registry statistics agree


@pytest.mark.parametrize("name,pyg", [("a-computer", (13752, 491722)), ("a-photo", (7650, 238162))])
def test_amazon_largest_component(data_root, name, pyg):
    ds = load_dataset(name, root=data_root)
    # The README gives the full graphs; CPF keeps the largest connected component of them.
    assert ds.num_nodes < pyg[0] and ds.num_edges <= pyg[1]
    spec = DATASETS.get(name).stats
    assert (ds.num_nodes, ds.num_edges, ds.num_classes) == (spec["nodes"], spec["edges"], spec["classes"])
    from torch_geometric.utils import is_undirected, contains_self_loops

    assert is_undirected(ds.data.edge_index) and not contains_self_loops(ds.data.edge_index)


@pytest.mark.parametrize("name", list(GRAPH_STATS))
def test_graph_loader_counts(data_root, name):
    ds = load_dataset(name, root=data_root)
    g, n, e, c = GRAPH_STATS[name]
    s = ds.stats()
    assert (s["graphs"], s["nodes"], s["edges"], s["classes"]) == (g, n, e, c)


def test_molbace_official_split(data_root):
    ds = load_dataset("ogbg-molbace", root=data_root)
    assert ds.metric == "roc_auc"
    assert [len(ds.fixed_split[k]) for k in ("train", "val", "test")] == [1210, 151, 152]


def test_read_only_root_writes_processed_to_cache(data_root, tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "TUDataset" / "MUTAG").mkdir(parents=True)
    import shutil

    shutil.copytree(data_root / "TUDataset" / "MUTAG" / "raw", root / "TUDataset" / "MUTAG" / "raw")
    for p in [root, *root.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    monkeypatch.setenv("G2M_CACHE_DIR", str(tmp_path / "cache"))
    try:
        ds = load_dataset("mutag", root=root)
        assert len(ds) == 188
        assert not (root / "TUDataset" / "MUTAG" / "processed").exists()
        assert any((tmp_path / "cache").rglob("processed/*.pt"))
    finally:
        for p in [root, *root.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


def test_bundled_defaults_need_no_root(no_data_root):
    ds = load_dataset("cora")
    assert ds.num_nodes == 2485
    assert find_root("cora").name == "bundled"
    assert len(load_dataset("mutag")) == 188


def test_unknown_dataset_is_clear():
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*cora"):
        load_dataset("nope")


def test_missing_raw_files_name_files_and_root(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("citeseer", root=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "CPF" / "citeseer.npz") in msg and "G2M_DATA_ROOT" in msg


def test_missing_files_from_env_root(tmp_path, monkeypatch):
    monkeypatch.setenv("G2M_DATA_ROOT", str(tmp_path))
    with pytest.raises(DatasetError, match="PROTEINS_A.txt"):
        load_dataset("proteins")


def test_user_graph_from_data_object():
    x = torch.randn(6, 3)
    ei = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    ds = load_dataset(Data(x=x, edge_index=ei, y=torch.tensor([0, 0, 1, 1, 2, 2])))
    assert ds.num_classes == 3 and ds.num_edges == 10  # made undirected
    with pytest.raises(DatasetError, match="no 'y'"):
        load_dataset(Data(x=x, edge_index=ei))
    with pytest.raises(DatasetError, match="outside"):
        load_dataset(Data(x=x, edge_index=torch.tensor([[0], [9]]), y=torch.zeros(6, dtype=torch.long)))


def test_user_graph_from_files(tmp_path):
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "edges.txt", np.array([[0, 1], [1, 2], [2, 3], [3, 0]]), fmt="%d")
    np.save(tmp_path / "features.npy", rng.normal(size=(4, 5)).astype(np.float32))
    np.savetxt(tmp_path / "labels.csv", np.array([0, 1, 0, 1]), fmt="%d")
    ds = load_dataset(tmp_path)
    assert (ds.num_nodes, ds.num_features, ds.num_classes, ds.num_edges) == (4, 5, 2, 8)
    os.remove(tmp_path / "labels.csv")
    with pytest.raises(DatasetError, match="no labels file"):
        from_files(tmp_path)


def test_a_clean_edge_list_keeps_its_order_and_a_messy_one_is_cleaned():
    """A user's model must see its own graph exactly (sums in the same order); g2m cleans only what needs it."""
    import torch
    from torch_geometric.data import Data
    from torch_geometric.utils import sort_edge_index, to_undirected

    from g2m import load_dataset

    gen = torch.Generator().manual_seed(0)
    ei = to_undirected(torch.randint(0, 30, (2, 60), generator=gen))
    ei = ei[:, ei[0] != ei[1]]
    by_target = sort_edge_index(ei, sort_by_row=False)  # PyG's Planetoid order: clean, but not by source
    data = Data(x=torch.rand(30, 4, generator=gen), edge_index=by_target, y=torch.arange(30) % 2)
    assert torch.equal(load_dataset(data).data.edge_index, by_target)
    messy = torch.cat([by_target, by_target[:, :3], torch.tensor([[5], [5]]), torch.tensor([[0], [29]])], dim=1)
    cleaned = load_dataset(Data(x=data.x, edge_index=messy, y=data.y)).data.edge_index
    assert torch.equal(cleaned, sort_edge_index(to_undirected(torch.cat([ei, torch.tensor([[0], [29]])], 1))))
    half = by_target[:, by_target[0] < by_target[1]]  # one direction only: made undirected
    assert load_dataset(Data(x=data.x, edge_index=half, y=data.y)).data.edge_index.size(1) == by_target.size(1)
    # as many edges as the clean list, but one duplicated and one reverse missing: cleaned, not kept
    tricky = Data(x=torch.rand(2, 1), edge_index=torch.tensor([[0, 0], [1, 1]]), y=torch.tensor([0, 1]))
    assert load_dataset(tricky).data.edge_index.tolist() == [[0, 1], [1, 0]]


@pytest.mark.parametrize("stem, values, message", [
    ("labels", np.array([0, 1, 0.7, 1]), "non-integer values \\(e.g. 0.7 at index \\[2\\]\\)"),
    ("edges", np.array([[0, 1], [1.9, 2]]), "non-integer values \\(e.g. 1.9 at index \\[1, 0\\]\\)"),
    ("labels", np.array([0, 1, np.nan, 1]), "non-integer values"),
])
def test_fractional_ids_and_labels_in_npy_files_are_refused_not_truncated(tmp_path, stem, values, message):
    from g2m.datasets import load_dataset
    from g2m.errors import DatasetError

    files = {"features": np.eye(4, dtype=np.float32), "labels": np.array([0, 1, 0, 1]),
             "edges": np.array([[0, 1], [1, 2], [2, 3]]), stem: values}
    for name, array in files.items():
        np.save(tmp_path / f"{name}.npy", array)
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path)


@pytest.mark.parametrize("seed", range(8))
def test_undirected_edges_is_pyg_coalesce_of_the_undirected_graph_without_loops(seed):
    from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

    from g2m.datasets.custom import undirected_edges

    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 60, (1,), generator=gen))
    edges = torch.randint(0, n, (2, int(torch.randint(0, 300, (1,), generator=gen))), generator=gen)
    want = coalesce(to_undirected(remove_self_loops(edges)[0], num_nodes=n), num_nodes=n)
    got = undirected_edges(edges, n)
    assert torch.equal(got, want) or (got is edges and torch.equal(coalesce(edges, num_nodes=n), want))
    shuffled = want[:, torch.randperm(want.size(1), generator=gen)]
    assert undirected_edges(shuffled, n) is shuffled  # already clean, in another order: kept as it is
    assert torch.equal(undirected_edges(shuffled.t().contiguous().t(), n), shuffled)  # a view works too


def test_reading_a_folder_reports_each_step_and_the_cli_shows_them(tmp_path):
    from typer.testing import CliRunner

    from g2m.cli import app
    from g2m.datasets import load_dataset

    np.save(tmp_path / "features.npy", np.eye(30, dtype=np.float32))
    np.save(tmp_path / "labels.npy", np.array([0, 1] * 15))
    (tmp_path / "edges.txt").write_text("".join(f"{i} {i + 1}\n" for i in range(29)))
    steps = []
    load_dataset(tmp_path, on_step=steps.append)
    assert [s.split(" (")[0] for s in steps] == ["reading edges.txt", "reading features.npy", "reading labels.npy",
                                                "checking 30 nodes and making 29 edges undirected"]
    result = CliRunner().invoke(app, ["distill", "-d", str(tmp_path), "-m", "mlp", "--seeds", "1", "--setting", "tran",
                                      "-p", "max_epochs=1", "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "reading edges.txt (0 MB)" in result.output  # piped: plain lines
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["timings"]["load_seconds"] > 0  # the CLI's own load is timed
