"""Mining, the distilled file format, condensation end to end, errors and the CLI (Mirage)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from g2m.condense import (DistilledDataset, condense, evaluate_distilled, mine_frequent_tree_sets, mirage_distill,
                          parse_budget)
from g2m.condense.distilled import compact_bytes, compact_itemsize
from g2m.condense.mining import graph_items, ranked_single_trees
from g2m.datasets.base import GraphDataset
from g2m.errors import ConfigError, DatasetError

REPO = Path(__file__).resolve().parents[2]
from g2m.graphcls import GraphTrainConfig

FAST = GraphTrainConfig(epochs=2, samples_per_epoch=64, hidden_channels=16, batch_size=16)


def shared_root():
    for cand in (os.environ.get("G2M_DATA_ROOT"), REPO.parent / "shared" / "datasets"):
        if cand and (Path(cand) / "TUDataset" / "PROTEINS" / "raw").is_dir():
            return Path(cand)
    return None


def synthetic(num_classes=3, per_class=12, continuous=False, seed=0):
    """Class c: cycles with c+3 nodes plus a pendant node, random features; labels 0..num_classes-1."""
    rng = np.random.RandomState(seed)
    graphs = []
    for c in range(num_classes):
        for _ in range(per_class):
            n = c + 3
            e = [(i, (i + 1) % n) for i in range(n)] + [(0, n)]
            ei = torch.tensor(e, dtype=torch.long).t()
            ei = torch.cat([ei, ei.flip(0)], 1)
            kind = torch.tensor([0] * n + [1])  # cycle nodes vs the pendant node
            if continuous:
                x = torch.stack([kind.float(), torch.full((n + 1,), float(c))], 1) + 0.01 * torch.randn(n + 1, 2)
            else:
                x = torch.eye(3)[kind + int(rng.rand() < 0.2)]
            graphs.append(Data(x=x, edge_index=ei, y=torch.tensor([c])))
    idx = rng.permutation(len(graphs))
    k = len(idx)
    split = {"train": torch.tensor(idx[: k * 6 // 10]), "val": torch.tensor(idx[k * 6 // 10: k * 8 // 10]),
             "test": torch.tensor(idx[k * 8 // 10:])}
    return GraphDataset(name="synthetic", dataset=graphs, num_classes=num_classes, fixed_split=split)


# --- mining ------------------------------------------------------------------------------------------
def toy_transactions():
    # class 0: trees {1,2} in every graph, 3 in half; class 1: tree 4 in all, {4,5} in 3 of 4
    sets = [[1, 2, 3], [1, 2], [1, 2, 3], [1, 2, 7], [4, 5], [4, 5, 6], [4, 5], [4]]
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    ptr = np.concatenate([[0], np.cumsum([len(s) for s in sets])])
    return ptr, np.concatenate(sets), y


def test_mining_returns_the_known_frequent_tree_sets():
    ptr, items, y = toy_transactions()
    maximal = mine_frequent_tree_sets(ptr, items, y, 2, support=0.5)
    assert [(s.trees, s.support) for s in maximal[0]] == [((1, 2, 3), 0.5)]
    assert [(s.trees, s.support, s.count) for s in maximal[1]] == [((4, 5), 0.75, 3)]
    every = mine_frequent_tree_sets(ptr, items, y, 2, support=0.75, itemsets="all")
    assert {s.trees: s.support for s in every[0]} == {(1,): 1.0, (2,): 1.0, (1, 2): 1.0}
    assert {s.trees: s.support for s in every[1]} == {(4,): 1.0, (5,): 0.75, (4, 5): 0.75}
    ranked = ranked_single_trees(ptr, items, y, 2)
    assert [s.trees[0] for s in ranked[1]] == [4, 5, 6]


def test_graph_items_dedupes_trees_per_graph():
    ptr, items = graph_items(np.array([0, 0, 0, 1, 1]), np.array([5, 2, 5, 2, 2]), 2)
    assert ptr.tolist() == [0, 2, 3] and items.tolist() == [2, 5, 2]


def test_support_that_leaves_nothing_is_a_clear_error():
    # every graph has its own node labels: no tree is shared by two graphs
    graphs = [Data(x=torch.tensor([[i], [i + 100]]), edge_index=torch.tensor([[0, 1], [1, 0]]), y=torch.tensor([i % 2]))
              for i in range(10)]
    ds = GraphDataset(name="unique", dataset=graphs, num_classes=2)
    with pytest.raises(ConfigError, match="lower --support"):
        mirage_distill(ds, torch.arange(10), depth=1, support=0.5)


# --- distilled file ----------------------------------------------------------------------------------
def test_distilled_file_round_trips(tmp_path):
    ds = synthetic()
    d = mirage_distill(ds, ds.fixed_split["train"], depth=2, support=0.3)
    path = d.save(tmp_path / "distilled.pt")
    back = DistilledDataset.load(path)
    for key in ("tree_x", "tree_edge_index", "tree_node_ptr", "tree_edge_ptr", "set_ptr", "set_trees", "set_y",
                "set_weight", "set_count"):
        assert torch.equal(getattr(back, key), getattr(d, key)), key
    assert back.meta["dataset"] == "synthetic" and back.meta["depth"] == 2
    assert back.nbytes() == d.nbytes() == d.meta["bytes"]
    assert DistilledDataset.load(tmp_path).num_sets == d.num_sets  # a folder means DIR/distilled.pt
    sample = back.to_data_list()[0]
    assert int(sample.root.sum()) == int(back.set_ptr[1] - back.set_ptr[0])
    assert sample.edge_index.max() < sample.num_nodes


def test_unreadable_or_invalid_distilled_files_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(DatasetError, match="cannot read distilled dataset"):
        DistilledDataset.load(junk)
    with pytest.raises(DatasetError, match="does not exist"):
        DistilledDataset.load(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(DatasetError, match="format tag"):
        DistilledDataset.load(other)
    ds = synthetic()
    d = mirage_distill(ds, ds.fixed_split["train"], depth=1, support=0.3).to_dict()
    d["set_trees"] = d["set_trees"] + 1000
    torch.save(d, other)
    with pytest.raises(DatasetError, match="tree that does not exist"):
        DistilledDataset.load(other)


def test_compact_bytes_measure():
    assert compact_itemsize(torch.tensor([0, 255])) == 1
    assert compact_itemsize(torch.tensor([-1, 200])) == 2
    assert compact_itemsize(torch.tensor([0.0, 1.0])) == 1  # one-hot floats are stored as bytes
    assert compact_itemsize(torch.tensor([0.5])) == 4
    assert compact_bytes(torch.zeros(2, 10, dtype=torch.long), None) == 20


def test_budget_parsing():
    assert parse_budget("20KB").bytes == 20000 and parse_budget("1%").fraction == 0.01
    assert parse_budget("50g").graphs == 50 and parse_budget(1234).bytes == 1234
    with pytest.raises(ConfigError, match="not a budget"):
        parse_budget("lots")


# --- condensation end to end -------------------------------------------------------------------------
def test_multiclass_continuous_features_condense_and_train(tmp_path):
    ds = synthetic(num_classes=4, continuous=True)
    res = condense(ds, gnn="gcn", depth=2, support=0.3, seeds=[0], output=tmp_path, train=FAST,
                   discretization="kmeans", n_bins=8)
    assert res.metrics["protocol"] == "scaffold"  # a dataset with a fixed split is scored on it
    d = res.distilled
    assert d.meta["discretization"]["nodes"] == "kmeans"
    assert set(d.set_y.tolist()) == {0, 1, 2, 3}  # every class has frequent tree sets
    assert d.tree_x.dtype == torch.float32  # continuous: representatives are cluster centres
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["metric"] == "accuracy"
    for key in ("full", "mirage", "random", "herding", "size_only"):
        assert set(m[key]) >= {"test", "bytes", "graphs", "fraction"}
        assert set(m[key]["test"]) == {"mean", "std", "runs"} and len(m[key]["test"]["runs"]) == 1
    assert m["full"]["fraction"] == 1.0 and 0 < m["mirage"]["fraction"] < 1
    for key in ("random", "herding"):  # same byte budget as the distilled set
        assert m[key]["bytes"] <= m["mirage"]["bytes"] + 64
    assert m["condense_seconds"] > 0
    assert (tmp_path / "distilled.pt").is_file() and (tmp_path / "config.json").is_file()


def test_budget_limits_the_distilled_size():
    ds = synthetic(num_classes=3)
    small = mirage_distill(ds, ds.fixed_split["train"], depth=2, support=None, budget="200")
    big = mirage_distill(ds, ds.fixed_split["train"], depth=2, support=None, budget=None, max_sets_per_class=None)
    assert small.nbytes() <= 200 < big.nbytes()
    two = mirage_distill(ds, ds.fixed_split["train"], depth=2, support=0.2, budget="2g")
    assert two.num_sets == 2


def test_weighted_sampling_follows_frequencies():
    ds = synthetic()
    d = mirage_distill(ds, ds.fixed_split["train"], depth=1, support=0.2, itemsets="all")
    w = d.sampling_weights()
    assert torch.isclose(w.sum(), torch.tensor(1.0))
    order = torch.argsort(d.set_count.float())
    assert w[order[-1]] >= w[order[0]]
    balanced = d.sampling_weights(class_balance=True)
    for c in d.set_y.unique():
        assert torch.isclose(balanced[d.set_y == c].sum(), torch.tensor(1.0 / len(d.set_y.unique())))


def test_node_level_dataset_is_rejected():
    from g2m.datasets import load_dataset

    cora = load_dataset("cora")
    with pytest.raises(DatasetError, match="node-classification dataset"):
        mirage_distill(cora, torch.arange(10))


def test_mutag_condense_and_evaluate_distilled(tmp_path):
    res = condense("mutag", gnn="gin", depth=2, support=0.2, folds=[3], output=tmp_path, train=FAST,
                   baselines=())
    assert res.metrics["protocol"] == "cv10" and res.metrics["folds"] == [3]
    assert res.distilled.meta["fold"] == 3
    d = res.distilled
    assert d.meta["node_spec"]["kind"] == "dense" and d.tree_edge_attr is not None
    assert d.tree_x.dtype == torch.uint8  # one-hot labels stored compactly
    assert res.metrics["mirage"]["fraction"] < 0.2
    m = evaluate_distilled(tmp_path / "distilled.pt", gnn="gat", seeds=[0], device="cpu", output=tmp_path / "ev",
                           train=FAST)
    assert m["metric"] == "accuracy" and len(m["mirage"]["test"]["runs"]) == 1
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["gnn"] == "gat"


def test_overwrite_never_leaves_old_numbers_beside_a_new_distilled_file(tmp_path, monkeypatch):
    from g2m.errors import OutputError

    kw = dict(gnn="gin", depth=1, support=0.3, folds=[0], output=tmp_path, train=FAST, baselines=())
    condense("mutag", **kw)
    old_distilled = (tmp_path / "distilled.pt").read_bytes()

    def full_disk(*args, **kwargs):
        raise OutputError("cannot write metrics.json: No space left on device")

    monkeypatch.setattr("g2m.condense.api.write_run", full_disk)  # the disk fills after distilled.pt
    with pytest.raises(OutputError):
        condense("mutag", overwrite=True, **{**kw, "support": 0.4})
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "config.json").exists()
    assert (tmp_path / "distilled.pt").read_bytes() != old_distilled  # the new one, alone: nothing claims it
    monkeypatch.undo()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "metrics.json").symlink_to(tmp_path / "checkpoints")
    with pytest.raises(OutputError, match="metrics.json is a symbolic link inside the run folder"):
        condense("mutag", overwrite=True, **kw)


def test_cli_condense(tmp_path):
    from typer.testing import CliRunner

    from g2m.cli import app

    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["condense", "--dataset", "mutag", "--method", "mirage", "--gnn", "gcn",
                                 "--depth", "1", "--support", "0.3", "--folds", "0", "--device", "cpu",
                                 "--epochs", "1", "--baselines", "random",
                                 "--output", str(out)])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert "mirage" in m and "random" in m and "full" not in m
    # `g2m evaluate FILE` prints the score and trains as the condense run did (config.json beside the file)
    ev = CliRunner().invoke(app, ["evaluate", str(out / "distilled.pt"), "--gnn", "gin", "--device", "cpu",
                                  "--output", str(tmp_path / "ev")])
    assert ev.exit_code == 0, ev.output
    assert "mirage  test" in ev.output and "bytes" in ev.output
    ev_metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert ev_metrics["gnn"] == "gin" and ev_metrics["mirage"]["bytes"] == m["mirage"]["bytes"]
    bad = CliRunner().invoke(app, ["condense", "--dataset", "cora", "--output", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "node-classification" in str(bad.exception)


@pytest.mark.skipif(shared_root() is None, reason="shared datasets not found (set G2M_DATA_ROOT or ../shared/datasets)")
def test_proteins_from_shared_data():
    from g2m.datasets import graph_split, load_dataset

    ds = load_dataset("proteins", shared_root())
    split = graph_split(ds, 0)
    free = mirage_distill(ds, split["train"], depth=1, support=0.05, budget=None, max_sets_per_class=None)
    assert free.nbytes() > 0.01 * free.meta["train_bytes"]  # without a budget this support keeps > 1%
    d = mirage_distill(ds, split["train"], depth=1, support=0.05, budget="1%", max_sets_per_class=None)
    assert 0 < d.nbytes() <= 0.01 * d.meta["train_bytes"]  # the budget is what shrinks it
    assert set(d.set_y.tolist()) == {0, 1}


# --- mining by hand: edge cases, thresholds, order (issue 17 survivors) --------------------------------------
def _csr(sets):
    return np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype(np.int64), \
        np.array([t for s in sets for t in s], dtype=np.int64)


def test_graph_items_and_tree_frequencies_edge_cases():
    from g2m.condense.mining import tree_frequencies

    # graphs 1 and 3 have no nodes: their rows are empty, and the pointer still has one entry per graph
    ptr, items = graph_items(np.array([0, 0, 2]), np.array([4, 1, 1]), 4)
    assert ptr.tolist() == [0, 2, 2, 3, 3] and items.tolist() == [1, 4, 1]
    ptr, items = graph_items(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 2)
    assert ptr.tolist() == [0, 0, 0] and items.size == 0
    # counts[c, t], one column per tree label 0..max
    ptr, items = _csr([[0, 2], [2], [1, 2]])
    freq = tree_frequencies(ptr, items, np.array([0, 0, 1]), 2)
    assert freq.tolist() == [[1, 0, 2], [0, 1, 1]]
    assert tree_frequencies(np.zeros(3, dtype=np.int64), np.zeros(0, dtype=np.int64), np.array([0, 1]), 2).tolist() \
        == [[0], [0]]


def test_mine_class_arguments_and_defaults():
    from g2m.condense.mining import mine_class

    ptr, items = _csr([[1, 2], [1, 2], [1], [3]])
    graphs = np.arange(4)
    # default itemsets "maximal": {1, 2} (2 of 4) covers {1} and {2}
    assert [(s.trees, s.support, s.count) for s in mine_class(ptr, items, graphs, 0.5, 7)] == [((1, 2), 0.5, 2)]
    assert mine_class(ptr, items, graphs, 1.0, 7) == []  # support 1: in every graph (none here) is allowed
    assert [s.trees for s in mine_class(ptr, items, graphs[:2], 1.0, 7)] == [(1, 2)]
    one = mine_class(ptr, items, np.array([3]), 1.0, 7)  # a single graph is a class too
    assert [(s.label, s.trees, s.support, s.count) for s in one] == [(7, (3,), 1.0, 1)]
    assert mine_class(ptr, items, graphs[:0], 0.5, 7) == []
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ConfigError, match=r"^support must be a fraction in \(0, 1\], got "):
            mine_class(ptr, items, graphs, bad, 0)
    with pytest.raises(ConfigError, match=r"^itemsets must be 'maximal' or 'all', got 'closed'\.$"):
        mine_class(ptr, items, graphs, 0.5, 0, itemsets="closed")


def test_mine_class_ignores_infrequent_trees_and_orders_the_sets():
    import warnings

    from g2m.condense.mining import mine_class

    # tree 9 is in one graph of four (below 0.5); it must not be confused with a frequent tree
    ptr, items = _csr([[1, 9], [1], [2], [2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a boolean one-hot table: mlxtend's fast path, no warning
        found = mine_class(ptr, items, np.arange(4), 0.5, 0, itemsets="all")
    assert {s.trees: s.count for s in found} == {(1,): 2, (2,): 2}
    # most frequent first; equal support: larger sets first, then by trees
    ptr, items = _csr([[1, 2, 3], [1, 2, 3], [1, 4], [1, 4], [5, 6], [5, 6], [1]])
    found = mine_class(ptr, items, np.arange(7), 2 / 7, 0, itemsets="all")
    order = [s.trees for s in found]
    assert order[0] == (1,) and found[0].count == 5
    equal = [t for t in order if t != (1,)]
    assert equal[:4] == [(1, 2, 3), (1, 2), (1, 3), (1, 4)]  # all with count 2: longest first, then sorted
    assert len(equal[0]) == 3 and all(len(a) >= len(b) for a, b in zip(equal, equal[1:]))
    assert [s.trees for s in mine_class(ptr, items, np.arange(7), 2 / 7, 0, itemsets="all", max_len=1)] == \
        [(1,), (2,), (3,), (4,), (5,), (6,)]


def test_mine_frequent_tree_sets_per_class_thresholds():
    ptr, items, y = toy_transactions()
    # class 0 asks for more graphs than it has (an absolute support above its size): nothing, and class 1 still runs
    out = mine_frequent_tree_sets(ptr, items, y, 2, support=np.array([1.5, 0.5]))
    assert out[0] == [] and [s.trees for s in out[1]] == [(4, 5)]
    full = mine_frequent_tree_sets(ptr, items, y, 2, support=1.0)  # present in every graph of the class
    assert [s.trees for s in full[0]] == [(1, 2)] and [s.trees for s in full[1]] == [(4,)]
    rounded = mine_frequent_tree_sets(ptr, items, y, 2, support=1.0 + 1e-13)  # a rounding error above 1 is 1
    assert [s.trees for s in rounded[0]] == [(1, 2)]
    short = mine_frequent_tree_sets(ptr, items, y, 2, support=0.5, itemsets="all", max_len=1)
    assert all(len(s.trees) == 1 for sets in short.values() for s in sets) and len(short[0]) == 3


def test_ranked_single_trees_supports_and_stable_ties():
    ptr, items, y = toy_transactions()
    ranked = ranked_single_trees(ptr, items, y, 2)
    assert [(s.trees, s.support, s.count) for s in ranked[1]] == [((4,), 1.0, 4), ((5,), 0.75, 3), ((6,), 0.25, 1)]
    # 20 trees in 3 graphs of one class, many ties: equal counts keep increasing tree ids
    counts = np.array([3, 1, 3, 2, 1, 3, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3])
    ptr, items = _csr([[t for t in range(20) if counts[t] > g] for g in range(3)])
    ranked = ranked_single_trees(ptr, items, np.zeros(3, dtype=np.int64), 1)[0]
    expected = sorted(range(20), key=lambda t: (-counts[t], t))
    assert [s.trees[0] for s in ranked] == expected
    assert [s.support for s in ranked[:2]] == [1.0, 1.0] and ranked[-1].support == pytest.approx(1 / 3)


def test_class_support_with_tiny_or_missing_classes_and_empty_classes_in_the_filter():
    import numpy as np

    from g2m.condense.mining import TreeSet, drop_shared_sets, set_class_support

    # graphs: [1, 2], [1], [2]; classes 0, 0, 1 and a class 2 with no graph at all
    ptr, items, y = np.array([0, 2, 3, 4]), np.array([1, 2, 1, 2]), np.array([0, 0, 1])
    sets = [TreeSet(1, (2,), 1.0, 1), TreeSet(0, (1,), 1.0, 2)]
    share = set_class_support(sets, ptr, items, y, 3)  # class 1 has one graph: shares out of 1, not 2
    np.testing.assert_allclose(share, [[0.5, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert set_class_support([], ptr, items, y, 3).shape == (0, 3)
    # an empty class before a non-empty one: both keep their entries, the empty one as an empty list
    kept = drop_shared_sets({0: [], 1: [sets[0]], 2: []}, ptr, items, y, 3, 0.9)
    assert kept == {0: [], 1: [sets[0]], 2: []}


def test_an_interrupted_condensation_keeps_its_finished_folds_and_resumes_to_the_same_numbers(tmp_path, monkeypatch,
                                                                                            capfd):
    import g2m.condense.api as api
    from g2m.errors import RunInterrupted

    kw = dict(gnn="gin", depth=1, support=0.3, folds=[0, 1, 2], train=FAST, baselines=("random",))
    whole = condense("mutag", output=tmp_path / "whole", **kw)
    assert "condense: fold 0 finished" in capfd.readouterr().err  # a progress line per fold
    real = api.CondenseFold.__call__
    calls = []

    def stop_at_the_third_fold(self, ctx, fold):
        calls.append(fold.index)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, ctx, fold)

    monkeypatch.setattr(api.CondenseFold, "__call__", stop_at_the_third_fold)
    with pytest.raises(RunInterrupted, match=r"Finished folds \[0, 1\] are saved in .*folds; run the same command "
                                             "with --resume"):
        condense("mutag", output=tmp_path / "cut", **kw)
    assert not (tmp_path / "cut" / "metrics.json").exists()
    with pytest.raises(ConfigError, match="holds the finished folds of an interrupted condensation"):
        condense("mutag", output=tmp_path / "cut", **kw)
    with pytest.raises(ConfigError, match="cannot resume .*: the run differs in options"):
        condense("mutag", output=tmp_path / "cut", resume=True, **{**kw, "support": 0.4})
    calls.clear()
    resumed = condense("mutag", output=tmp_path / "cut", resume=True, **kw)
    assert calls == [2]  # only the fold that had not finished
    drop = ("condense_seconds",)
    a, b = ({k: v for k, v in r.metrics.items() if k not in drop} for r in (whole, resumed))
    for m in (a, b):
        for key in ("mirage", "random"):
            m[key] = {k: v for k, v in m[key].items() if k != "seconds"}
    assert a == b
    x, y = (torch.load(tmp_path / run / "distilled.pt", weights_only=True) for run in ("whole", "cut"))
    for d in (x, y):
        d["meta"].pop("condense_seconds")  # a timing
    assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) if isinstance(x[k], torch.Tensor) else x[k] == y[k]
                                        for k in x)
