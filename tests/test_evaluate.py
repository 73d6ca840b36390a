"""Evaluation protocol on hand-made examples: production formula, which nodes each setting scores."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from g2m.datasets import from_data
from g2m.datasets.splits import NodeSplit
from g2m.distill.student import evaluate_student
from g2m.evaluate import production, setting_metrics


def test_production_is_point_eight_observed_plus_point_two_inductive():
    assert production(80.0, 70.0) == pytest.approx(78.0)
    runs = {"ind": [{"val": 75.0, "test": 80.0, "test_ind": 70.0}, {"val": 77.0, "test": 90.0, "test_ind": 50.0}],
            "tran": [{"val": 74.0, "test": 85.0}]}
    m = setting_metrics(runs)
    assert m["production"]["runs"] == [78.0, 82.0]
    assert m["inductive"]["runs"] == [70.0, 50.0] and m["observed"]["runs"] == [80.0, 90.0]
    assert m["transductive"]["runs"] == [85.0]
    assert m["validation"]["runs"] == [74.0] and m["validation_inductive"]["runs"] == [75.0, 77.0]
    assert m["production"]["mean"] == 80.0 and m["production"]["std"] == 2.0  # population std


def test_student_inductive_accuracy_is_on_held_out_nodes():
    """A 'student' that is right exactly on the held-out nodes scores 100 inductive, 0 on observed test."""
    n, c = 10, 2
    y = torch.tensor([0, 1] * 5)
    ds = from_data(Data(x=torch.eye(n), edge_index=torch.tensor([[0, 1], [1, 0]]), y=y))
    held = torch.tensor([7, 8])
    split = NodeSplit(train=torch.tensor([0, 1]), val=torch.tensor([2, 3]), test=torch.tensor([4, 5, 6, 9]),
                      observed=torch.tensor([0, 1, 2, 3, 4, 5, 6, 9]), test_ind=held, setting="ind")
    net = torch.nn.Linear(n, c, bias=False)
    with torch.no_grad():
        right = torch.nn.functional.one_hot(y, c).float()
        weights = 1.0 - right                       # wrong class everywhere...
        weights[held] = right[held]                 # ...except on the held-out nodes
        net.weight.copy_(weights.t())
    m = evaluate_student(net, ds, split, torch.device("cpu"))
    assert m["test_ind"] == 100.0 and m["test"] == 0.0 and m["val"] == 0.0


def test_aggregate_by_hand():
    import math

    from g2m.evaluate import aggregate

    empty = aggregate([])
    assert set(empty) == {"mean", "std", "runs"} and math.isnan(empty["mean"]) and math.isnan(empty["std"])
    assert empty["runs"] == []
    # population std, 4 decimals everywhere
    assert aggregate([100 / 3, 200 / 3]) == {"mean": 50.0, "std": 16.6667, "runs": [33.3333, 66.6667]}
    assert aggregate([1 / 3, 1 / 3])["mean"] == 0.3333


def test_test_selected_and_validation_entries():
    tran = [{"test": 80.0, "val": 82.0, "test_selected_on_test": 83.0},
            {"test": 70.0, "val": 72.0, "test_selected_on_test": 75.0}]
    out = setting_metrics({"tran": tran})
    assert out["transductive_selected_on_test"]["mean"] == 79.0  # kept apart from the honest number
    assert out["transductive"]["mean"] == 75.0 and out["validation"]["mean"] == 77.0
    partial = setting_metrics({"tran": [tran[0], {"test": 70.0}]})  # a run without it: no entry at all
    assert "transductive_selected_on_test" not in partial and "validation" not in partial
    assert setting_metrics({"tran": [], "ind": []}) == {}  # no runs: no entries, not NaN ones
