"""Graph classification: vectorised batching, the trainer and its selection rules, the CV protocol,
the condensation baselines and Mirage's options."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from g2m.condense import condense, mirage_distill
from g2m.datasets.graph_arrays import from_dataset
from g2m.condense.baselines import herding_rank, random_subset, herding_subset, size_only_scores, stratified_order
from g2m.condense.mining import drop_shared_sets, set_class_support, TreeSet
from g2m.datasets import graph_labels, load_dataset
from g2m.errors import ConfigError
from g2m.graphcls import (GraphContext, GraphStore, GraphTrainConfig, TrainingSet, full_training_set, fit,
                          protocol_folds, run_protocol, score)
from g2m.graphcls.trainer import _better
from g2m.models.graph_classifier import FeatureSpec, GraphClassifier
from tests.condense.test_mirage import synthetic


@pytest.fixture(scope="module")
def mutag():
    return load_dataset("mutag")


@pytest.fixture(scope="module")
def mutag_ctx(mutag):
    return GraphContext(mutag)


# --- batching ------------------------------------------------------------------------------------------
def test_store_batch_equals_pyg_collation(mutag_ctx):
    ids = torch.tensor([5, 0, 17, 3])
    got = mutag_ctx.store.batch(ids)
    graphs = [mutag_ctx.graph_ds.dataset[int(i)] for i in ids]
    want = Batch.from_data_list(graphs)
    assert torch.equal(got.edge_index, want.edge_index)
    assert torch.equal(got.x, want.x) and torch.equal(got.edge_attr, want.edge_attr)
    assert torch.equal(got.batch, want.batch) and torch.equal(got.ptr, want.ptr)
    assert torch.equal(got.y, want.y.view(-1)) and got.num_graphs == 4


# --- protocol ------------------------------------------------------------------------------------------
def test_protocol_defaults_and_fold_choice(mutag):
    protocol, folds = protocol_folds(mutag, folds=[2, 7])
    assert protocol == "cv10" and [f.index for f in folds] == [2, 7] and folds[0].seed == 2
    with pytest.raises(ConfigError, match="0..9"):
        protocol_folds(mutag, folds=[10])
    with pytest.raises(ConfigError, match="no official scaffold split"):
        protocol_folds(mutag, "scaffold")


def test_trainer_learns_mutag_and_never_scores_test_when_tuning(mutag, mutag_ctx):
    """Full-data GIN on one fold beats the majority class by more than 10 points."""
    majority = 100 * max(np.bincount(graph_labels(mutag))) / len(mutag)
    cfg = GraphTrainConfig(epochs=25, hidden_channels=32)
    r = run_protocol(mutag, full_training_set, "gin", cfg, folds=[0], ctx=mutag_ctx)
    assert r["test"]["mean"] > majority + 10
    assert r["folds"][0]["converged"]["epoch"] >= 7  # converged selection starts at 25% of the epochs
    tuned = run_protocol(mutag, full_training_set, "gin", cfg.replace(epochs=2), folds=[0], ctx=mutag_ctx,
                         score_test=False)
    assert "test" not in tuned and "test" not in tuned["folds"][0]["converged"]


def test_converged_rule_ignores_epochs_before_select_from(mutag_ctx, monkeypatch):
    import g2m.graphcls.trainer as trainer

    scripted = iter([(90.0, 0.1), (80.0, 0.2), (70.0, 0.3), (60.0, 0.4), (50.0, 0.5), (85.0, 0.6), (40.0, 0.7),
                     (30.0, 0.8)])
    monkeypatch.setattr(trainer, "evaluate", lambda *a, **k: next(scripted))
    _, folds = protocol_folds(mutag_ctx.graph_ds, folds=[0])
    cfg = GraphTrainConfig(epochs=8, select_from=0.5, hidden_channels=8)
    res = fit(mutag_ctx.model("gin", cfg), TrainingSet(mutag_ctx.store, folds[0].train), [], "accuracy", cfg)
    assert res.epochs == {"reference": 1, "converged": 6} and res.val == {"reference": 90.0, "converged": 85.0}
    assert [c["val"] for c in res.curve] == [90.0, 80.0, 70.0, 60.0, 50.0, 85.0, 40.0, 30.0]


def test_selection_rules():
    assert _better("reference", 80.0, 0.5, (79.0, 0.1))
    assert not _better("reference", 80.0, 0.1, (80.0, 0.5))  # the reference keeps the first best epoch
    assert _better("converged", 80.0, 0.4, (80.0, 0.5))  # ties: lower validation loss wins
    assert not _better("converged", 80.0, 0.6, (80.0, 0.5))
    assert not _better("converged", 79.0, 0.0, (80.0, 0.5))
    assert not _better("converged", float("nan"), 0.0, (80.0, 0.5))


def test_roc_auc_matches_the_ogb_evaluator():
    from ogb.graphproppred import Evaluator

    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 200)
    p1 = np.clip(0.3 * y + 0.7 * rng.rand(200), 0, 1)
    proba = np.stack([1 - p1, p1], 1)
    ogb = Evaluator("ogbg-molhiv").eval({"y_true": y[:, None], "y_pred": p1[:, None]})["rocauc"]
    assert score(y, proba, "roc_auc") == pytest.approx(100 * ogb)


def test_pooling_choices_and_bad_pooling():
    spec = FeatureSpec("categorical", dims=[3])
    data = Batch.from_data_list([synthetic().dataset[0], synthetic().dataset[1]])
    data.x = data.x.argmax(1, keepdim=True)
    outs = {}
    for pool in ("sum", "mean", "max"):
        torch.manual_seed(0)
        outs[pool] = GraphClassifier("gin", spec, 2, pool=pool).eval()(data)
    assert not torch.allclose(outs["sum"], outs["mean"]) and not torch.allclose(outs["mean"], outs["max"])
    with pytest.raises(ConfigError, match="unknown pooling 'median'"):
        GraphClassifier("gin", spec, 2, pool="median")
    with pytest.raises(ConfigError, match="unknown GNN"):
        GraphClassifier("sage", spec, 2)


def test_distilled_sampling_modes():
    store = GraphStore.from_data_list(synthetic().dataset[:4])
    w = torch.tensor([0.97, 0.01, 0.01, 0.01])
    ts = TrainingSet(store, torch.arange(4), w)
    gen = torch.Generator().manual_seed(0)
    freq = torch.cat(ts.epoch_batches(GraphTrainConfig(samples_per_epoch=400), gen))
    uni = torch.cat(ts.epoch_batches(GraphTrainConfig(samples_per_epoch=400, sampling="uniform"), gen))
    assert len(freq) == 400 and (freq == 0).float().mean() > 0.9  # by frequency
    assert 0.15 < (uni == 0).float().mean() < 0.35  # uniform over sets
    with pytest.raises(ConfigError, match="unknown sampling"):
        GraphTrainConfig(sampling="weighted")


def test_trainer_stops_on_a_diverging_loss(mutag_ctx):
    from g2m.errors import TrainingError

    _, folds = protocol_folds(mutag_ctx.graph_ds, folds=[0])
    cfg = GraphTrainConfig(epochs=2, lr=1e30, hidden_channels=8)
    model = mutag_ctx.model("gin", cfg)
    with pytest.raises(TrainingError, match="loss became"):
        fit(model, TrainingSet(mutag_ctx.store, folds[0].train), mutag_ctx.store.batches(folds[0].val, 64),
            "accuracy", cfg)


# --- baselines -----------------------------------------------------------------------------------------
def test_size_only_baseline_reads_sizes_alone():
    ds = synthetic(num_classes=3, per_class=20)  # class c: cycles with c+3 nodes → size decides the class
    arrays = from_dataset(ds.dataset)
    r = size_only_scores(arrays, arrays, "accuracy")
    assert r["test"] == 100.0 and 0 < r["bytes"] < 100
    shuffled = from_dataset(ds.dataset)
    shuffled.y = np.random.RandomState(0).permutation(shuffled.y)  # labels unrelated to size
    assert size_only_scores(shuffled, shuffled, "accuracy")["test"] < 70


def test_random_and_herding_subsets_fit_the_budget_and_keep_class_shares(mutag):
    arrays = from_dataset(mutag.dataset)
    for pick in (random_subset, herding_subset):
        sub = pick(arrays, 6000, seed=0)
        assert len(np.unique(sub)) == len(sub) and set(arrays.y[sub]) == {0, 1}
        from g2m.condense.baselines import per_graph_bytes

        assert per_graph_bytes(arrays)[sub].sum() <= 6000
        share = arrays.y[sub].mean()
        assert abs(share - arrays.y.mean()) < 0.15


def test_stratified_order_prefixes_keep_proportions():
    y = np.array([0] * 30 + [1] * 10)
    rank = np.concatenate([np.arange(30), np.arange(10)])
    order = stratified_order(y, rank, np.random.RandomState(0))
    for k in (8, 20, 40):
        assert abs(y[order[:k]].mean() - 0.25) <= 1.0 / k + 0.13


def test_herding_picks_the_mean_matching_rows_first():
    z = np.array([[10.0, 0.0], [0.1, 0.0], [-10.0, 0.0], [0.0, 0.1]])
    rank = herding_rank(z)
    assert rank[1] == 0 or rank[3] == 0  # the rows nearest the mean come first, not the extremes
    assert sorted(rank.tolist()) == [0, 1, 2, 3]
    # herding matches the *running* mean, not each row to the mean: after 0, 0.1, 0.12 the fourth pick is
    # -1 (pulls the running mean back), though 1.02 is nearer the mean on its own
    line = np.array([[0.0], [0.1], [0.12], [-1.0], [1.02]])
    assert herding_rank(line).tolist() == [0, 1, 2, 3, 4]
    partial = herding_rank(z, picks=1)
    assert sorted(partial.tolist()) == [0, 1, 2, 3] and partial[np.argmin(np.linalg.norm(z - z.mean(0), axis=1))] == 0


# --- Mirage options --------------------------------------------------------------------------------------
def transactions():
    # class 0: tree 1 in all, tree 9 in all; class 1: tree 2 in all, tree 9 in 3 of 4
    sets = [[1, 9], [1, 9], [1, 9], [1, 9], [2, 9], [2, 9], [2, 9], [2]]
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    ptr = np.concatenate([[0], np.cumsum([len(s) for s in sets])])
    return ptr, np.concatenate(sets), y


def test_set_class_support_and_the_contradictory_set_filter():
    ptr, items, y = transactions()
    sets = [TreeSet(0, (1, 9), 1.0, 4), TreeSet(0, (9,), 1.0, 4), TreeSet(0, (1,), 1.0, 4)]
    share = set_class_support(sets, ptr, items, y, 2)
    np.testing.assert_allclose(share, [[1.0, 0.0], [1.0, 0.75], [1.0, 0.0]])
    kept = drop_shared_sets({0: sets, 1: []}, ptr, items, y, 2, 0.5)
    assert [s.trees for s in kept[0]] == [(1, 9), (1,)]  # {9} is frequent in class 1 too: dropped
    assert [s.trees for s in drop_shared_sets({0: sets, 1: []}, ptr, items, y, 2, 0.8)[0]] == [(1, 9), (9,), (1,)]
    assert len(drop_shared_sets({0: sets, 1: []}, ptr, items, y, 2, np.array([0.5, 0.9]))[0]) == 3
    # "frequent" includes the threshold itself: 3 of 4 graphs at support 0.75 is frequent, so {9} goes
    assert [s.trees for s in drop_shared_sets({0: sets, 1: []}, ptr, items, y, 2, 0.75)[0]] == [(1, 9), (1,)]


def marked_cycles(per_class=6):
    """Two classes of 4-cycles with a pendant node whose feature (2 or 3) is the class: the cycle nodes far
    from the pendant have the same depth-1 tree in both classes, the others do not."""
    from torch_geometric.data import Data

    from g2m.datasets.base import GraphDataset

    graphs = []
    for c in (0, 1):
        for _ in range(per_class):
            e = torch.tensor([(0, 1), (1, 2), (2, 3), (3, 0), (0, 4)]).t()
            graphs.append(Data(x=torch.eye(4)[torch.tensor([0, 0, 0, 0, 2 + c])], edge_index=torch.cat([e, e.flip(0)], 1),
                               y=torch.tensor([c])))
    ids = torch.arange(len(graphs))
    return GraphDataset(name="marked", dataset=graphs, num_classes=2,
                        fixed_split={"train": ids, "val": ids[:2], "test": ids[2:4]})


def test_exclusive_and_absolute_support_in_mirage():
    ds = marked_cycles()
    train = ds.fixed_split["train"]
    both = mirage_distill(ds, train, depth=1, support=0.5, itemsets="all")
    excl = mirage_distill(ds, train, depth=1, support=0.5, itemsets="all", exclusive=True)
    assert excl.num_sets < both.num_sets and excl.meta["exclusive"]
    # every kept set holds a tree that occurs in its own class only
    trees = lambda d, s: set(d.set_trees[int(d.set_ptr[s]):int(d.set_ptr[s + 1])].tolist())  # noqa: E731
    shared_only = [s for s in range(both.num_sets) if len(trees(both, s)) == 1 and
                   both.meta["tree_labels"][next(iter(trees(both, s)))] in
                   {both.meta["tree_labels"][next(iter(trees(both, t)))] for t in range(both.num_sets)
                    if int(both.set_y[t]) != int(both.set_y[s]) and len(trees(both, t)) == 1}]
    assert shared_only and excl.num_sets == both.num_sets - len(shared_only)
    ds = synthetic(num_classes=3, per_class=12)
    train = ds.fixed_split["train"]
    n_min = min(both.meta["class_graphs"])
    absolute = mirage_distill(ds, train, depth=1, support=n_min, support_mode="absolute", itemsets="all")
    relative = mirage_distill(ds, train, depth=1, support=1.0, itemsets="all")
    assert absolute.num_sets >= relative.num_sets  # n_min graphs is at most 100% of every class
    with pytest.raises(ConfigError, match="lower --support to at most"):
        mirage_distill(ds, train, depth=1, support=10 ** 6, support_mode="absolute")


@pytest.mark.parametrize("kwargs,match", [
    ({"depth": 0}, "depth must be 1, 2 or 3"), ({"depth": 4}, "depth must be 1, 2 or 3"),
    ({"support": 0.0}, r"in \(0, 1\]"), ({"support": 1.5}, r"in \(0, 1\]"), ({"support": -0.1}, r"in \(0, 1\]"),
    ({"support": 2.5, "support_mode": "absolute"}, "whole number"),
    ({"support_mode": "percent"}, "support_mode must be"), ({"itemsets": "closed"}, "itemsets must be"),
])
def test_bad_mirage_options_are_clear_errors(kwargs, match):
    ds = synthetic()
    with pytest.raises(ConfigError, match=match):
        mirage_distill(ds, ds.fixed_split["train"], **kwargs)
    if "depth" in kwargs or "support" in kwargs:
        with pytest.raises(ConfigError, match=match):  # refused before any training
            condense(ds, **kwargs)


def test_empty_mining_names_the_support_to_lower():
    import re

    ds = synthetic(num_classes=3, per_class=12)
    train = ds.fixed_split["train"]
    with pytest.raises(ConfigError, match="no frequent tree set") as e:
        mirage_distill(ds, train, depth=2, support=10 ** 6, support_mode="absolute")
    suggested = int(re.search(r"lower --support to at most (\d+)", str(e.value)).group(1))
    ok = mirage_distill(ds, train, depth=2, support=suggested, support_mode="absolute")  # the advice works
    assert ok.num_sets >= 1
    with pytest.raises(ConfigError, match="no frequent tree set"):
        mirage_distill(ds, train, depth=2, support=suggested + 1, support_mode="absolute")  # and is the limit
    with pytest.raises(ConfigError, match="drop --exclusive"):
        mirage_distill(ds, train, depth=1, support=0.3, itemsets="all", exclusive=True)  # all sets shared


def test_unknown_baseline_is_refused():
    with pytest.raises(ConfigError, match="unknown baseline"):
        condense(synthetic(), baselines=("kcenter",))


# --- mutation survivors in the Mirage modules (issue 17) -----------------------------------------------
def test_tree_ids_do_not_depend_on_the_order_children_are_listed():
    from g2m.condense.trees import tree_labels

    # two stars: centre 0 with leaves 1 (label B) and 2 (label C); centre 3 with leaves listed C first
    labels = np.array([0, 1, 2, 0, 2, 1])
    edges = np.array([[1, 2, 5, 4], [0, 0, 3, 3]])  # child -> centre; star 2 lists its leaves in reverse
    out = tree_labels(labels, np.concatenate([edges, edges[::-1]], 1), 1)[-1]
    assert out[0] == out[3]
    rng = np.random.RandomState(0)
    perm_edges = edges[:, rng.permutation(edges.shape[1])]
    again = tree_labels(labels, np.concatenate([perm_edges, perm_edges[::-1]], 1), 1)[-1]
    assert again[0] == again[3] and (again[1] == again[5])


def test_edge_pointing_outside_its_tree_is_refused(tmp_path):
    from g2m.condense import DistilledDataset
    from g2m.errors import DatasetError

    ds = synthetic()
    d = mirage_distill(ds, ds.fixed_split["train"], depth=1, support=0.3).to_dict()
    n0 = int(d["tree_node_ptr"][1])
    d["tree_edge_index"] = d["tree_edge_index"].clone().long()
    d["tree_edge_index"][0, 0] = n0  # one past the first tree's last node: still inside tree_x
    torch.save(d, tmp_path / "bad.pt")
    with pytest.raises(DatasetError, match="points outside its tree"):
        DistilledDataset.load(tmp_path / "bad.pt")


def test_a_fractional_budget_shrinks_the_distilled_set():
    ds = synthetic(num_classes=3, per_class=20)
    train = ds.fixed_split["train"]
    free = mirage_distill(ds, train, depth=2, support=None, max_sets_per_class=None)
    share = 0.5 * free.nbytes() / free.meta["train_bytes"]
    capped = mirage_distill(ds, train, depth=2, support=None, budget=f"{100 * share}%")
    assert capped.nbytes() <= share * free.meta["train_bytes"] < free.nbytes()


def test_sampling_weights_are_the_support_counts():
    ds = synthetic()
    d = mirage_distill(ds, ds.fixed_split["train"], depth=1, support=0.2, itemsets="all")
    assert len(set(d.set_count.tolist())) > 1  # the check below could not fail on equal counts
    expected = d.set_count.double() / d.set_count.double().sum()
    assert torch.allclose(d.sampling_weights().double(), expected, atol=1e-6)
    ts = TrainingSet(GraphStore.from_data_list(d.to_data_list()), torch.arange(d.num_sets), d.sampling_weights())
    draws = torch.cat(ts.epoch_batches(GraphTrainConfig(samples_per_epoch=20000), torch.Generator().manual_seed(0)))
    freq = torch.bincount(draws, minlength=d.num_sets).double() / len(draws)
    assert torch.allclose(freq, expected, atol=0.015)


def test_discretizer_marks_unseen_exact_rows_minus_one():
    from g2m.condense.discretize import Discretizer

    disc = Discretizer("auto").fit(np.array([[0, 1], [1, 0], [0, 1]]))
    assert disc.transform(np.array([[1, 0], [1, 1], [0, 1]])).tolist() == [disc.transform(np.array([[1, 0]]))[0], -1,
                                                                            disc.transform(np.array([[0, 1]]))[0]]
    assert disc.transform(np.array([[1, 1]]))[0] == -1
