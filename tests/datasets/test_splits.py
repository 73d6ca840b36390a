"""Split invariants: CPF counts, disjointness, inductive nodes truly absent from the observed graph."""

from __future__ import annotations

import pytest
import torch

from g2m import load_dataset
from g2m.datasets import node_split, graph_split


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")


@pytest.mark.parametrize("seed", [0, 7])
def test_cpf_split_counts_and_disjoint(cora, seed):
    s = node_split(cora, seed, "tran")
    y = cora.data.y
    assert torch.equal(torch.bincount(y[s.train], minlength=7), torch.full((7,), 20))
    assert torch.equal(torch.bincount(y[s.val], minlength=7), torch.full((7,), 30))
    parts = torch.cat([s.train, s.val, s.test])
    assert parts.unique().numel() == parts.numel() == cora.num_nodes


def test_cpf_split_depends_on_seed_only(cora):
    a, b, c = node_split(cora, 1), node_split(cora, 1), node_split(cora, 2)
    assert torch.equal(a.train, b.train) and not torch.equal(a.train, c.train)


def test_inductive_split(cora):
    tran, ind = node_split(cora, 3, "tran"), node_split(cora, 3, "ind")
    assert torch.equal(tran.train, ind.train) and torch.equal(tran.val, ind.val)
    assert abs(ind.test_ind.numel() - round(0.2 * tran.test.numel())) <= 1
    assert torch.equal(torch.cat([ind.test, ind.test_ind]).sort().values, tran.test)
    held = set(ind.test_ind.tolist())
    assert held.isdisjoint(ind.observed.tolist())
    obs, local = ind.observed_graph(cora.data)
    assert obs.num_nodes == cora.num_nodes - len(held)
    # Map the observed edges back to global ids: none may touch a held-out node.
    glob = ind.observed[obs.edge_index]
    assert not torch.isin(glob, ind.test_ind).any()
    # Every original edge between two observed nodes survives.
    ei = cora.data.edge_index
    keep = ~(torch.isin(ei[0], ind.test_ind) | torch.isin(ei[1], ind.test_ind))
    assert obs.edge_index.size(1) == int(keep.sum())
    assert (local[ind.test_ind] == -1).all()


def test_public_split_is_fixed():
    ds = load_dataset("cora-planetoid")
    s0, s1 = node_split(ds, 0), node_split(ds, 1)
    assert (s0.train.numel(), s0.val.numel(), s0.test.numel()) == (140, 500, 1000)
    assert torch.equal(s0.test, s1.test)


def test_graph_split_stratified():
    ds = load_dataset("mutag")
    sp = graph_split(ds, 0)
    all_idx = torch.cat(list(sp.values()))
    assert all_idx.unique().numel() == len(ds) == all_idx.numel()
    y = ds.dataset.y
    frac = y[sp["train"]].float().mean()
    assert abs(float(frac) - float(y.float().mean())) < 0.05


def test_random_split_is_stratified():
    """Every class keeps its share in each part (a plain random split would be off by ~10 nodes here)."""
    from g2m.datasets.splits import random_split

    y = torch.tensor([0] * 500 + [1] * 300 + [2] * 200)
    train, val, test = random_split(y, seed=0)
    for part, share in ((train, 0.6), (val, 0.2), (test, 0.2)):
        counts = torch.bincount(y[part], minlength=3)
        assert (counts - torch.tensor([500, 300, 200]) * share).abs().max() <= 1


# --- boundaries, seeds and options, each by hand (issue 17: mutation survivors) ----------------------------
def test_observed_graph_of_each_setting(cora):
    tran = node_split(cora, 0, "tran")
    graph, local = tran.observed_graph(cora.data)
    assert graph is cora.data and local.dtype == torch.long and torch.equal(local, torch.arange(cora.num_nodes))
    assert (tran.setting, tran.seed) == ("tran", 0) and torch.equal(tran.observed, torch.arange(cora.num_nodes))
    ind = node_split(cora, 3, "ind")
    graph, local = ind.observed_graph(cora.data)
    assert (ind.setting, ind.seed) == ("ind", 3) and graph.num_nodes == ind.observed.numel()
    assert (local[ind.test_ind] == -1).all() and local.dtype == torch.long


def test_cpf_split_needs_more_nodes_than_train_plus_val():
    from g2m.datasets.splits import cpf_split
    from g2m.errors import DatasetError

    ok = torch.tensor([0] * 51 + [1] * 60)  # 51 > 20 + 30: one test node is enough
    train, val, test = cpf_split(ok, 0)
    assert (train.numel(), val.numel(), test.numel()) == (40, 60, 11)
    for short in (50, 40):  # exactly train + val, and fewer (10 more than train - val would allow)
        with pytest.raises(DatasetError, match=rf"class 1 has {short} nodes .* more than 50 \(20 train \+ 30 val"):
            cpf_split(torch.tensor([0] * 60 + [1] * short), 0)


def test_random_split_class_size_check_and_seed():
    from g2m.datasets.splits import random_split
    from g2m.errors import DatasetError

    y = torch.tensor([0] * 5 + [2] * 20)  # class 1 absent (0 nodes) is fine; 5 is the minimum
    assert sum(p.numel() for p in random_split(y, 0)) == 25
    with pytest.raises(DatasetError, match=r"1 classes have fewer \(class 1: 4\)\. Merge or drop those classes, "
                                           r"or label more nodes\."):
        random_split(torch.tensor([0] * 20 + [1] * 4), 0)
    many = torch.tensor(sum(([c] * 2 for c in range(12)), []) + [12] * 30)  # 12 small classes: 10 shown
    with pytest.raises(DatasetError) as err:
        random_split(many, 0)
    import re

    assert len(re.findall(r"class \d+: \d+", str(err.value))) == 10 and "12 classes have fewer" in str(err.value)
    assert "(class 0: 2, class 1: 2, class 2: 2," in str(err.value)
    with pytest.raises(DatasetError, match=r"\(class 0: 1\)"):  # a single node is too few as well
        random_split(torch.tensor([0] + [1] * 20), 0)
    y = torch.tensor([0] * 50 + [1] * 50)
    torch.manual_seed(1)
    a = random_split(y, 4)
    torch.manual_seed(2)
    b = random_split(y, 4)
    assert all(torch.equal(p, q) for p, q in zip(a, b))  # the seed alone decides
    assert not all(torch.equal(p, q) for p, q in zip(a, random_split(y, 5)))


def test_inductive_split_fraction_bounds_and_seed():
    from g2m.datasets.splits import inductive_split
    from g2m.errors import ConfigError

    test = torch.arange(10, 60)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ConfigError, match=rf"inductive fraction must be in \(0, 1\), got {bad}"):
            inductive_split(test, 60, 0, bad)
    torch.manual_seed(1)
    a = inductive_split(test, 60, 3, 0.2)
    torch.manual_seed(2)
    b = inductive_split(test, 60, 3, 0.2)
    assert all(torch.equal(p, q) for p, q in zip(a, b))  # its own generator, seeded with the seed
    obs, ind, observed = a
    assert inductive_split(test, 60, 3)[1].numel() == 10  # default fraction 0.2
    assert ind.numel() == 10 and obs.numel() == 40 and observed.numel() == 50 and observed.dtype == torch.long


def test_node_split_protocols_and_options(cora):
    from g2m.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--setting 'prod': use tran \(transductive\), ind \(inductive\)"):
        node_split(cora, 0, "prod")
    for short, full in (("tran", "transductive"), ("ind", "inductive")):  # the metrics' column names work too
        a, b = node_split(cora, 3, short), node_split(cora, 3, full)
        assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
        assert (a.test_ind is None) == (b.test_ind is None) == (short == "tran")
    with pytest.raises(ConfigError, match="unknown split protocol 'geom'; use one of cpf, random, public, official, masks"):
        node_split(cora, 0, protocol="geom")
    with pytest.raises(ConfigError, match="has no fixed split; use protocol 'cpf' or 'random'"):
        node_split(cora, 0, protocol="official")
    rnd = node_split(cora, 0, protocol="random")
    n = cora.num_nodes
    assert abs(rnd.train.numel() - 0.6 * n) <= 7 and abs(rnd.val.numel() - 0.2 * n) <= 7
    assert not torch.equal(rnd.train, node_split(cora, 1, protocol="random").train)
    assert torch.equal(rnd.train, node_split(cora, 0, protocol="random").train)  # seeded, not random
    assert node_split(cora, 5, protocol="random").seed == 5 and node_split(cora, 5).seed == 5
    planetoid = load_dataset("cora-planetoid")
    assert torch.equal(node_split(planetoid, 0, protocol="official").test, node_split(planetoid, 0).test)
    assert torch.equal(node_split(cora).train, node_split(cora, 0).train)  # default seed 0, transductive
    assert node_split(cora).setting == "tran"
    half = node_split(cora, 0, "ind", ind_fraction=0.5)
    assert abs(half.test_ind.numel() - half.test.numel()) <= 1


def test_graph_split_seed_fractions_and_keys():
    ds = load_dataset("mutag")
    sp = graph_split(ds, 0, fractions=(0.5, 0.25))
    assert set(sp) == {"train", "val", "test"}
    assert abs(sp["train"].numel() - 94) <= 2 and abs(sp["val"].numel() - 47) <= 2
    assert not torch.equal(sp["train"], graph_split(ds, 1, fractions=(0.5, 0.25))["train"])
    assert torch.equal(sp["train"], graph_split(ds, 0, fractions=(0.5, 0.25))["train"])
    assert torch.equal(graph_split(ds)["train"], graph_split(ds, 0)["train"])  # default seed 0


def test_cv_folds_are_stratified_disjoint_and_cover_everything():
    from g2m.datasets import cv_folds, graph_labels

    y = graph_labels(load_dataset("mutag"))
    folds = cv_folds(y, 10, seed=0)
    tests = torch.cat([f["test"] for f in folds])
    assert len(folds) == 10 and sorted(tests.tolist()) == list(range(len(y)))  # each graph tested once
    share = y.mean()
    for f in folds:
        parts = [set(f[k].tolist()) for k in ("train", "val", "test")]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert len(parts[0] | parts[1] | parts[2]) == len(y)
        assert abs(y[f["test"].numpy()].mean() - share) < 0.06  # stratified: each fold keeps the class share
        assert abs(y[f["val"].numpy()].mean() - share) < 0.08
        assert abs(len(f["val"]) - 0.1 * (len(y) - len(f["test"]))) <= 1  # a 10% holdout of the training fold
    again = cv_folds(y, 10, seed=0)
    assert all(torch.equal(a["test"], b["test"]) for a, b in zip(folds, again))
    assert not torch.equal(cv_folds(y, 10, seed=1)[0]["test"], folds[0]["test"])


def test_cv_needs_enough_graphs_per_class():
    import numpy as np

    from g2m.datasets import cv_folds

    with pytest.raises(Exception, match=r"10-fold stratified CV needs at least 10 graphs of every class; the smallest class has 3\. Use fewer folds"):
        cv_folds(np.array([0] * 20 + [1] * 3), 10)
    with pytest.raises(Exception, match="needs at least 1 graphs"):
        cv_folds(np.array([0] * 20 + [1] * 3), 1)


def test_fingerprints_and_to_dict(cora):
    import hashlib

    from g2m.datasets import split_fingerprints
    from g2m.datasets.splits import ids_sha256

    assert ids_sha256(torch.tensor([3, 1, 2])) == hashlib.sha256(b"1,2,3").hexdigest()  # ascending, commas
    ind = node_split(cora, 2, "ind")
    fp = split_fingerprints(cora, 2)
    assert fp["ind_test_sha256"] == ids_sha256(ind.test_ind) and fp["train_sha256"] == ids_sha256(ind.train)
    assert fp["val_sha256"] == ids_sha256(ind.val)
    assert fp["test_sha256"] == ids_sha256(node_split(cora, 2, "tran").test)  # all test nodes, held-out included
    assert split_fingerprints(cora, 2, ind_fraction=0.5)["ind_test_sha256"] != fp["ind_test_sha256"]
    d = ind.to_dict()
    assert set(d) == {"train", "val", "test", "test_ind"} and d["test_ind"] == ind.test_ind.tolist()
    assert d["train"] == ind.train.tolist() and d["val"] == ind.val.tolist() and d["test"] == ind.test.tolist()
    assert "test_ind" not in node_split(cora, 2).to_dict()


def test_cv_folds_defaults_boundaries_and_label_shapes():
    import numpy as np

    from g2m.datasets import cv_folds
    from g2m.errors import DatasetError

    y = np.array([0] * 12 + [1] * 10)
    folds = cv_folds(y)  # defaults: 10 folds, seed 0
    assert len(folds) == 10
    same = cv_folds(y, 10, seed=0)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(folds, same) for k in ("train", "val", "test"))
    # the validation holdout is reproducible too (seeded per fold), not only the outer folds
    again = cv_folds(y, 5, seed=3)
    assert all(torch.equal(a["val"], b["val"]) for a, b in zip(again, cv_folds(y, 5, seed=3)))
    assert any(not torch.equal(a["val"], b["val"]) for a, b in zip(again, cv_folds(y, 5, seed=4)))
    # two folds, and exactly as many graphs per class as folds, are enough
    assert len(cv_folds(y, 2)) == 2
    tight = np.array([0, 0, 0, 1, 1, 1, 1])
    assert sorted(torch.cat([f["test"] for f in cv_folds(tight, 3, holdout=0.5)]).tolist()) == list(range(7))
    # labels as a [G, 1] tensor are the same labels
    col = cv_folds(torch.tensor(y).view(-1, 1), 5, seed=1)
    flat = cv_folds(y, 5, seed=1)
    assert all(torch.equal(a["test"], b["test"]) for a, b in zip(col, flat))
    with pytest.raises(DatasetError, match=r"the smallest class has 0\. Use fewer folds"):
        cv_folds(np.zeros(0, dtype=np.int64), 3)


# --- the user's own split (split="masks", a mapping, a JSON file) ---

def _masked_graph(n: int = 40):
    from torch_geometric.data import Data

    gen = torch.Generator().manual_seed(0)
    data = Data(x=torch.rand(n, 5, generator=gen), edge_index=torch.randint(0, n, (2, 80), generator=gen),
                y=torch.arange(n) % 3)
    data.train_mask = torch.zeros(n, dtype=torch.bool)
    data.train_mask[:9] = True
    data.val_mask = torch.zeros(n, dtype=torch.bool)
    data.val_mask[9:15] = True
    data.test_mask = torch.zeros(n, dtype=torch.bool)
    data.test_mask[20:] = True
    return data


def test_masks_split_uses_the_datas_own_masks_and_holds_out_test_nodes():
    from g2m.datasets import load_dataset
    from g2m.datasets.splits import with_split

    ds = with_split(load_dataset(_masked_graph()), "masks")
    assert ds.split_protocol == "masks"
    for seed in (0, 1):
        tran = node_split(ds, seed, "tran")
        assert tran.train.tolist() == list(range(9)) and tran.val.tolist() == list(range(9, 15))
        assert tran.test.tolist() == list(range(20, 40))  # nodes 15-19 are in no part: observed, unlabelled
        ind = node_split(ds, seed, "ind")
        assert sorted(ind.test.tolist() + ind.test_ind.tolist()) == list(range(20, 40))
        assert ind.test_ind.numel() == 4 and set(ind.test_ind.tolist()) <= set(range(20, 40))
        assert not set(ind.test_ind.tolist()) & set(ind.observed.tolist())
    assert node_split(ds, 0, "ind").test_ind.tolist() != node_split(ds, 1, "ind").test_ind.tolist()  # seeded


def test_a_split_from_ids_or_a_json_file_keeps_the_id_order(tmp_path):
    import json

    from g2m.datasets import load_dataset
    from g2m.datasets.splits import with_split

    ds = load_dataset(_masked_graph())
    parts = {"train": [5, 1, 3], "val": [7, 8], "test": [30, 20, 10]}
    (tmp_path / "split.json").write_text(json.dumps(parts))
    for given in (parts, {k: torch.tensor(v) for k, v in parts.items()}, str(tmp_path / "split.json")):
        split = node_split(with_split(ds, given), 0, "tran")
        assert (split.train.tolist(), split.val.tolist(), split.test.tolist()) == tuple(parts.values())
    assert with_split(ds, None) is ds and with_split(ds, "random") is ds  # its own protocol: unchanged
    assert with_split(ds, "cpf").split_protocol == "cpf"


def test_a_user_folder_brings_its_split_json(tmp_path):
    import json

    import numpy as np

    from g2m.datasets import load_dataset
    from g2m.datasets.splits import with_split

    data = _masked_graph()
    np.save(tmp_path / "features.npy", data.x.numpy())
    np.save(tmp_path / "labels.npy", data.y.numpy())
    np.save(tmp_path / "edges.npy", data.edge_index.T.numpy())
    (tmp_path / "split.json").write_text(json.dumps({"train": [0, 1, 2], "val": [3, 4, 5], "test": [6, 7, 8]}))
    split = node_split(with_split(load_dataset(tmp_path), "masks"), 0, "tran")
    assert split.test.tolist() == [6, 7, 8]


@pytest.mark.parametrize("parts, message", [
    ({"train": [0], "val": [1]}, "missing \\['test'\\]"),
    ({"train": [0], "val": [1], "test": [2], "unlabelled": [3]}, "unknown \\['unlabelled'\\]"),
    ({"train": [], "val": [1], "test": [2]}, "train part of the split is empty"),
    ({"train": [0], "val": torch.zeros(40, dtype=torch.bool), "test": [2]}, "val part of the split is empty"),
    ({"train": [0, 40], "val": [1], "test": [2]}, "outside 0..39"),
    ({"train": [0, -1], "val": [1], "test": [2]}, "outside 0..39"),
    ({"train": [0, 0], "val": [1], "test": [2]}, "more than once"),
    ({"train": [0, 1], "val": [1], "test": [2]}, "1 node\\(s\\) are in two parts .*node 1"),
    ({"train": [0.5], "val": [1], "test": [2]}, "boolean mask or a list of integer node ids"),
    ({"train": torch.zeros(40, 2, dtype=torch.bool), "val": [1], "test": [2]}, "pick one, e.g"),
    ({"train": torch.zeros(39, dtype=torch.bool), "val": [1], "test": [2]}, "shape \\[39\\] but the graph has 40"),
])
def test_a_bad_user_split_is_refused_with_the_reason(parts, message):
    from g2m.datasets import load_dataset
    from g2m.datasets.splits import with_split
    from g2m.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        with_split(load_dataset(_masked_graph()), parts)


def test_masks_on_a_dataset_without_them_and_a_bad_split_name_are_refused(tmp_path):
    from torch_geometric.data import Data

    from g2m.datasets import load_dataset
    from g2m.datasets.splits import with_split
    from g2m.errors import ConfigError

    data = _masked_graph()
    plain = load_dataset(Data(x=data.x, edge_index=data.edge_index, y=data.y))
    with pytest.raises(ConfigError, match="has no masks split"):
        with_split(plain, "masks")
    with pytest.raises(ConfigError, match="use one of cpf, random, public, official, masks, or the path of a JSON"):
        with_split(plain, "mask")
    (tmp_path / "s.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object with the keys train, val and test"):
        with_split(plain, tmp_path / "s.json")


def test_user_split_refusals_say_exactly_what_to_do(tmp_path):
    from torch_geometric.data import Data

    from g2m.datasets import load_dataset
    from g2m.datasets.splits import read_split_file, split_ids, with_split
    from g2m.errors import ConfigError

    def message(call) -> str:
        with pytest.raises(ConfigError) as info:
            call()
        return str(info.value)

    data = _masked_graph()
    plain = load_dataset(Data(x=data.x, edge_index=data.edge_index, y=data.y))
    assert message(lambda: with_split(plain, "masks")) == (
        "dataset 'custom' has no masks split: a user graph's split comes from its Data's train_mask/val_mask/test_mask "
        "or its folder's split.json; or pass a JSON file of node ids (--split PATH), or use cpf or random.")
    assert message(lambda: split_ids({"train": [0], "val": [1]}, 40)) == (
        "a split needs exactly the parts train, val and test; missing ['test'], unknown none.")
    assert message(lambda: split_ids({"train": [0], "val": [1], "test": [2], "x": [3]}, 40)) == (
        "a split needs exactly the parts train, val and test; missing none, unknown ['x'].")
    assert message(lambda: split_ids({"train": torch.zeros(40, 2, dtype=torch.bool), "val": [1], "test": [2]}, 40)) == (
        "the train mask has shape [40, 2] but the graph has 40 nodes: give one boolean per node (a mask with one "
        "column per split: pick one, e.g. data.train_mask[:, 0]).")
    missing = tmp_path / "none.json"
    assert message(lambda: read_split_file(missing)) == (
        f"split {str(missing)!r}: use one of cpf, random, public, official, masks, or the path of a JSON file of node "
        'ids {"train": [...], "val": [...], "test": [...]}.')
    (tmp_path / "split.txt").write_text('{"train": [0], "val": [1], "test": [2]}')  # JSON, but not named so
    assert "or the path of a JSON file" in message(lambda: read_split_file(tmp_path / "split.txt"))
    (tmp_path / "bad.json").write_text("{broken")
    assert message(lambda: read_split_file(tmp_path / "bad.json")).startswith(
        f"cannot read the split file {tmp_path / 'bad.json'}: Expecting property name")


def test_run_settings_take_short_and_full_names():
    from g2m.errors import ConfigError
    from g2m.spec import parse_settings

    assert parse_settings("inductive") == ("ind",) and parse_settings("transductive") == ("tran",)
    assert parse_settings("both") == ("tran", "ind") and parse_settings(["inductive", "tran"]) == ("ind", "tran")
    with pytest.raises(ConfigError, match="'production'"):
        parse_settings("production")  # a metric computed from the inductive run, not a setting to train in


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_local_ids_and_split_ids_on_a_gpu():
    """The id map is made on ``observed``'s device, and a user's split given as GPU tensors is read (a CPU-only
    run cannot see either)."""
    from g2m.datasets.splits import NodeSplit, split_ids

    observed = torch.tensor([4, 0, 2])
    parts = dict(train=torch.tensor([4]), val=torch.tensor([0]), test=torch.tensor([2]))
    cpu = NodeSplit(**parts, observed=observed).local_ids(6)
    gpu = NodeSplit(**{k: v.cuda() for k, v in parts.items()}, observed=observed.cuda()).local_ids(6)
    assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)
    assert cpu.tolist() == [1, -1, 2, -1, 0, -1]
    mask = torch.tensor([False, True, False, True, False, False])
    got = split_ids({"train": torch.tensor([4, 2]).cuda(), "val": mask.cuda(), "test": [0]}, 6)
    assert {k: v.tolist() for k, v in got.items()} == {"train": [4, 2], "val": [1, 3], "test": [0]}
    assert all(v.device.type == "cpu" for v in got.values())
