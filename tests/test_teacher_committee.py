"""Committees of teachers: the best on validation (``auto``) and the average of several (``sage+appnp``)."""

from __future__ import annotations

import json

import pytest
import torch
from torch_geometric import seed_everything

from g2m.checkpoints import run_teacher_families
from g2m.datasets import load_dataset, node_split
from g2m.errors import ConfigError
from g2m.spec import NodeRunSpec, method_setting_keys
from g2m.teacher import train_teacher
from g2m.teacher_committee import TeacherCommittee, committee_teacher, mean_of_probabilities, parse_committee
from g2m.teacher_outputs import as_teacher, trainer_for
from g2m.training import accuracy

FAST = {"max_epochs": 30, "patience": 10}  # a few epochs: what is checked is how members are combined


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")


def alone(ds, split, family):
    """``family`` trained by itself, as ``-t family`` trains it."""
    seed_everything(split.seed)
    return train_teacher(ds, split, family, **FAST)


def test_names_parse_into_committees():
    auto = parse_committee("auto")
    assert auto.rule == "best-validation" and auto.members == ("sage", "gcn", "gat", "appnp") and auto.name == "auto"
    mean = parse_committee("sage+appnp+gat")
    assert mean == TeacherCommittee(("sage", "appnp", "gat"), "mean") and mean.name == "sage+appnp+gat"
    assert parse_committee("sage") is None and as_teacher("sage") == "sage"
    assert as_teacher("gcn+gat") == TeacherCommittee(("gcn", "gat"), "mean")
    with pytest.raises(ConfigError, match="two or more different"):
        parse_committee("sage+sage")
    with pytest.raises(Exception, match="unknown teacher ''"):
        parse_committee("sage+")
    with pytest.raises(Exception, match="nope"):
        parse_committee("sage+nope")
    with pytest.raises(ConfigError, match="rule"):
        TeacherCommittee(("sage", "gcn"), "vote")


def test_mean_of_probabilities_is_the_members_mean_prediction():
    g = torch.Generator().manual_seed(0)
    members = [4 * torch.randn(50, 5, generator=g) for _ in range(3)]
    combined = mean_of_probabilities(members)
    expected = torch.stack([m.softmax(-1) for m in members]).mean(0)
    assert torch.allclose(combined.softmax(-1), expected, atol=1e-6)
    assert torch.allclose(combined.exp(), expected, atol=1e-6)  # already normalised: log-probabilities
    one = mean_of_probabilities([members[0]])
    assert torch.allclose(one.softmax(-1), members[0].softmax(-1), atol=1e-6)


def test_auto_distills_the_member_with_the_best_validation_accuracy(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    run = committee_teacher(cora, split, parse_committee("auto"), **FAST)
    members = {f: alone(cora, split, f) for f in ("sage", "gcn", "gat", "appnp")}
    vals = {f: r.metrics["val"] for f, r in members.items()}
    chosen = max(vals, key=vals.get)
    assert run.name == chosen and run.config["chosen"] == chosen
    assert torch.equal(run.logits, members[chosen].logits)  # each member trained exactly as alone
    assert run.metrics == members[chosen].metrics
    for f, r in members.items():
        assert run.extra_metrics[f"val_{f}"] == r.metrics["val"] and run.extra_metrics[f"test_{f}"] == r.metrics["test"]
        assert run.extra_metrics[f"chosen_{f}"] == float(f == chosen)


def test_an_average_learns_from_the_members_mean_and_scores_it(cora):
    split = node_split(cora, 0, "ind")
    committee = parse_committee("sage+gcn")
    run = committee_teacher(cora, split, committee, **FAST)
    members = [alone(cora, split, f) for f in committee.members]
    expected = mean_of_probabilities([m.logits for m in members])
    assert torch.allclose(run.logits, expected) and run.hidden is None and run.model is None
    local = split.local_ids(cora.data.num_nodes)
    y = cora.data.y
    assert run.metrics["val"] == accuracy(expected[local[split.val]], y[split.val])
    assert run.metrics["test"] == accuracy(expected[local[split.test]], y[split.test])
    assert 0 <= run.metrics["test_ind"] <= 100 and run.name == "sage+gcn"
    assert run.config["rule"] == "mean" and set(run.config["members"]) == {"sage", "gcn"}


def test_methods_that_train_their_own_teacher_refuse_a_committee():
    with pytest.raises(ConfigError, match="one family"):
        NodeRunSpec("cora", teacher="auto", methods=("vqgraph",), setting="tran")
    spec = NodeRunSpec("cora", teacher="sage+appnp", methods=("glnn+ffg2m",), setting="tran")
    assert spec.trainers == ["committee"] and spec.teacher_name == "sage+appnp"
    assert trainer_for(spec.teacher, spec.methods[0]) == "committee"


def test_teacher_settings_apply_to_every_member_and_are_checked(cora):
    # lr is every family's; heads is only GAT's, so a committee refuses it rather than apply it to some
    NodeRunSpec(cora, teacher="sage+gat", methods=("glnn",), setting="tran", teacher_overrides={"lr": 0.01})
    with pytest.raises(ConfigError, match="heads"):
        NodeRunSpec(cora, teacher="sage+gat", methods=("glnn",), setting="tran", teacher_overrides={"heads": 2})
    teacher_keys, _ = method_setting_keys("auto", "glnn")
    assert "lr" in teacher_keys and "heads" not in teacher_keys


def test_checkpoints_of_a_committee_run_are_its_members():
    assert run_teacher_families("auto") == {"sage", "gcn", "gat", "appnp"}
    assert run_teacher_families("sage+gat") == {"sage", "gat"} and run_teacher_families("sage") == {"sage"}


def test_cli_auto_run_records_the_candidates_and_evaluates(tmp_path):
    from typer.testing import CliRunner

    from g2m.cli import app

    out = tmp_path / "auto"
    result = CliRunner().invoke(app, ["distill", "-d", "cora", "-t", "auto", "-m", "glnn", "--setting", "tran",
                                      "-p", "teacher.max_epochs=20", "-o", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["teacher_model"] == "auto"
    candidates = metrics["teacher_candidates"]["tran"]
    assert sum(candidates[f"chosen_{f}"]["mean"] for f in ("sage", "gcn", "gat", "appnp")) == 1.0
    chosen = max(("sage", "gcn", "gat", "appnp"), key=lambda f: candidates[f"val_{f}"]["mean"])
    assert metrics["teacher"]["validation"]["mean"] == pytest.approx(candidates[f"val_{chosen}"]["mean"], abs=1e-3)
    evaluated = CliRunner().invoke(app, ["evaluate", str(out)])
    assert evaluated.exit_code == 0, (evaluated.output, evaluated.exception)
    assert f"teacher ({chosen})" in evaluated.output


def test_validation_scores_of_a_committee_train_it_once_per_seed(cora):
    from g2m.tune import validation_score

    teachers: dict = {}
    first = validation_score(cora, "student", "glnn", "sage+gcn", 0, "tran", {"max_epochs": 5}, "cpu", teachers)
    assert list(teachers) == [("committee", 0)] and teachers[("committee", 0)].name == "sage+gcn"
    cached = teachers[("committee", 0)]
    again = validation_score(cora, "student", "glnn", "sage+gcn", 0, "tran", {"max_epochs": 5}, "cpu", teachers)
    assert teachers[("committee", 0)] is cached and again == first
