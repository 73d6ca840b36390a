"""A new method is one module: its settings, its loss term, one registration. This file alone defines a toy
method and runs it through the CLI and the API, composed with glnn, with no edit to g2m."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from typer.testing import CliRunner

import g2m
from g2m.cli import app
from g2m.config import Settings, setting
from g2m.distill import METHODS, Method, register_method
from g2m.distill.losses import LOSSES, LossInput, LossTerm, register_loss
from g2m.errors import ConfigError

calls: list[float] = []


@dataclass(frozen=True)
class ToySettings(Settings):
    what: ClassVar[str] = "toy"
    w_toy_l2: float = setting(0.5, "weight of the toy term")
    toy_margin: float = setting(0.0, "added to the toy term")


class ToyL2(LossTerm):
    """Squared distance between the student's and the teacher's class probabilities, times a learned scale."""

    def __init__(self, classes: int, margin: float):
        super().__init__()
        self.margin = margin
        self.scale = torch.nn.Parameter(torch.ones(classes))

    @classmethod
    def build(cls, student, knowledge, settings):
        return cls(knowledge["logits"].size(1), settings["toy_margin"])

    def forward(self, inp: LossInput) -> torch.Tensor:
        calls.append(self.margin)
        gap = inp.student_logits.softmax(-1) - inp.teacher["logits"][inp.nodes].softmax(-1)
        return (self.scale * gap.pow(2)).sum(-1).mean() + self.margin


@pytest.fixture
def toy(monkeypatch):
    """Register the toy method for one test (the registries are restored afterwards)."""
    monkeypatch.setattr(LOSSES, "_items", dict(LOSSES._items))
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))
    register_loss("toy_l2")(ToyL2)
    register_method(Method("toy", {"toy_l2": 1.0}, description="a toy term", settings=ToySettings))
    calls.clear()
    yield
    calls.clear()


FAST = ["-p", "teacher.max_epochs=3", "-p", "student.max_epochs=3", "--setting", "tran"]


def test_a_toy_method_runs_through_the_cli_composed_with_glnn(toy, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["distill", "-m", "glnn+toy", "-p", "w_toy_l2=0.25", "-p", "toy_margin=0.5",
                                      *FAST, "-o", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert calls and set(calls) == {0.5}  # the term ran, with the margin given on the command line
    config = json.loads((out / "config.json").read_text())
    assert config["methods"] == {"glnn+toy": {"soft_label_kl": 1.0, "toy_l2": 1.0}}
    assert config["resolved"]["students"]["glnn+toy"]["terms"] == {"soft_label_kl": 1.0, "toy_l2": 0.25}
    assert config["student_overrides"] == {"w_toy_l2": 0.25, "toy_margin": 0.5, "max_epochs": 3}
    assert json.loads((out / "metrics.json").read_text())["method"] == "glnn+toy"
    listed = CliRunner().invoke(app, ["methods"])
    assert listed.exit_code == 0 and "toy_margin" in listed.output and "a toy term" in listed.output


def test_a_toy_method_runs_through_the_api_and_trains_its_parameters(toy):
    metrics = g2m.distill("cora", method="glnn+toy", seeds=1, setting="tran", device="cpu",
                          teacher_params={"max_epochs": 3}, student_params={"max_epochs": 3, "toy_margin": 0.0})
    assert metrics["method"] == "glnn+toy" and calls and 0 <= metrics["student"]["transductive"]["mean"] <= 100
    d = g2m.Distiller(method="toy", teacher_params={"max_epochs": 3},
                      student_params={"max_epochs": 5, "w_toy_l2": 1.0}).fit("cora")
    assert d.student_.config["terms"] == {"toy_l2": 1.0}
    assert d.predict(d.dataset_.data.x[:4].to_dense()).shape == (4,)


def test_a_toy_methods_settings_are_checked_like_any_other(toy, tmp_path):
    with pytest.raises(ConfigError, match=r"'toy_margn' \(did you mean 'toy_margin'\?\)"):
        g2m.distill("cora", method="glnn+toy", seeds=1, setting="tran", student_params={"toy_margn": 1.0})
    result = CliRunner().invoke(app, ["distill", "-m", "glnn", "-p", "toy_margin=1", *FAST])
    assert isinstance(result.exception, ConfigError) and "'toy_margin'" in str(result.exception)
    assert not calls


def test_param_routes_each_key_to_its_side():
    from g2m.spec import route_params

    teacher, student = route_params(["codebook_size=512", "code_temperature=2", "teacher.lr=0.005",
                                     "student.lr=0.002", "code_metric=cosine", "warm_start=false"], "sage", "vqgraph")
    assert teacher == {"codebook_size": 512, "lr": 0.005, "code_metric": "cosine", "warm_start": False}
    assert student == {"code_temperature": 2, "lr": 0.002}
    assert route_params(["aggr=mean", "w_lfd=0.5"], "sage", "ffg2m") == ({"aggr": "mean"}, {"w_lfd": 0.5})
    errors = [(["lr=0.1"], r"both the teacher and the student take 'lr'; write teacher.lr=\.\.\. or student.lr"),
              (["hiden_channels=7"], r"did you mean 'hidden_channels'"),
              (["teacher.code_temperature=2"], r"unknown sage teacher setting\(s\): 'code_temperature'"),
              (["model.lr=1"], r"the prefix is 'teacher.' or 'student.', not 'model'"),
              (["lr"], r"write KEY=VALUE"), (["w_lfd=1", "w_lfd=2"], "given twice")]
    for pairs, message in errors:
        with pytest.raises(ConfigError, match=message):
            route_params(pairs, "sage", "ffg2m" if "w_lfd" in pairs[0] else "glnn")
