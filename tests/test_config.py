"""Typed settings (g2m/config.py): defaults, ranges, and unknown keys refused wherever they come from."""

from __future__ import annotations

import json
from typing import ClassVar  # at module level: dataclasses resolve string annotations there

import pytest
from typer.testing import CliRunner

import g2m
from g2m.cli import app
from g2m.config import (STUDENT_DEFAULTS, TEACHER_DEFAULTS, TEACHER_SETTINGS, TRAIN_DEFAULTS, VQ_DEFAULTS,
                        SAGESettings, StudentSettings, check_keys, student_config, student_setting_keys,
                        teacher_config, teacher_setting_keys)
from g2m.datasets import load_dataset, node_split
from g2m.distill.methods import resolve_method
from g2m.distill.student import train_student
from g2m.errors import ConfigError
from g2m.teacher import train_teacher

runner = CliRunner()
TYPO = r"unknown .*setting\(s\): 'hiden_channels' \(did you mean 'hidden_channels'\?\)"


@pytest.fixture(scope="module")
def cora():
    ds = load_dataset("cora")
    return ds, node_split(ds, 0, "tran")


def test_defaults_are_those_of_the_tables():
    # the class defaults, as the trainers read them (GLNN's settings; docs/teachers.md)
    assert TRAIN_DEFAULTS == {"max_epochs": 500, "patience": 50, "ties": "latest"}
    assert TEACHER_DEFAULTS["sage"] == dict(hidden_channels=128, num_layers=2, dropout=0.5, lr=0.01,
                                            weight_decay=5e-4, fan_out=5, aggr="gcn")
    assert TEACHER_DEFAULTS["gcn"] == dict(hidden_channels=64, num_layers=2, dropout=0.8, lr=0.01, weight_decay=1e-3)
    assert TEACHER_DEFAULTS["gat"] == dict(hidden_channels=64, num_layers=2, dropout=0.6, lr=0.01, weight_decay=1e-2,
                                           heads=8, attn_dropout=0.3)
    assert TEACHER_DEFAULTS["appnp"] == dict(hidden_channels=128, num_layers=2, dropout=0.5, lr=0.01,
                                             weight_decay=1e-2, K=10, alpha=0.1)
    assert STUDENT_DEFAULTS == dict(hidden_channels=128, num_layers=2, dropout=0.5, lr=0.01, weight_decay=5e-4,
                                    batch_size=512, report_test_selected=False)
    assert VQ_DEFAULTS["codebook_size"] == 2048 and VQ_DEFAULTS["code_layer"] == "embedding"


def test_dataset_defaults_and_overrides_layer_in_order():
    assert teacher_config("a-photo", "sage")["aggr"] == "mean"  # a dataset default over the class default
    assert teacher_config("a-photo", "sage", aggr="gcn")["aggr"] == "gcn"  # an override over both
    assert teacher_config("cora", "sage", hidden_channels=None)["hidden_channels"] == 128  # None = not given
    cfg = student_config("cora", dropout=0.2)
    assert cfg["dropout"] == 0.2 and cfg["weight_decay"] == 5e-3 and "norm" not in cfg  # unset fields left out
    assert student_config("ogbn-arxiv")["norm"] == "batch_norm"
    assert "batch_size" not in teacher_config("cora", "gcn") and teacher_config("cora", "gcn", batch_size=64)[
        "batch_size"] == 64


def test_replace_refuses_unknown_keys_with_the_nearest_names():
    with pytest.raises(ConfigError, match=TYPO):
        SAGESettings().replace(hiden_channels=7)
    with pytest.raises(ConfigError, match=r"'attn_dropout'.*Valid settings: aggr, batch_size"):
        SAGESettings().replace(attn_dropout=0.1)  # a GAT setting is not a SAGE one
    with pytest.raises(ConfigError, match=r"unknown student setting\(s\): 'zzz'\. Valid"):
        StudentSettings().replace(zzz=1)  # nothing near: no suggestion
    check_keys({"a": 1}, ["a", "b"], "x")  # known keys pass


@pytest.mark.parametrize("field, value", [("dropout", 1.0), ("dropout", -0.1), ("hidden_channels", 0),
                                          ("lr", 0.0), ("weight_decay", -1e-4), ("max_epochs", 0),
                                          ("patience", 0), ("ties", "first"), ("batch_size", -1)])
def test_ranges_are_checked_at_construction(field, value):
    with pytest.raises(ConfigError, match=f"{field}={value!r}"):
        StudentSettings().replace(**{field: value})
    with pytest.raises(ConfigError, match=f"{field}={value!r}"):
        TEACHER_SETTINGS["gcn"]().replace(**{field: value})


def test_boundaries_are_accepted():
    StudentSettings().replace(dropout=0.0, batch_size=0, weight_decay=0.0, hidden_channels=1, max_epochs=1)
    SAGESettings().replace(fan_out=0, aggr="mean", inference_chunk_size=0)
    with pytest.raises(ConfigError, match="aggr='max'"):
        SAGESettings().replace(aggr="max")


def test_setting_keys_follow_the_method_and_the_trainer():
    glnn = student_setting_keys(resolve_method("glnn"))
    assert {"lam", "temperature", "w_soft_label_kl", "hidden_channels"} <= glnn and "w_lfd" not in glnn
    assert {"w_lfd", "w_hfd", "position_dim", "walk_length"} <= student_setting_keys(resolve_method("glnn+ffg2m+pos"))
    assert "code_temperature" in student_setting_keys(resolve_method("vqgraph"))
    assert {"adv_eps", "w_adversarial_kl"} <= student_setting_keys(resolve_method("glnn+adv"))
    assert "codebook_size" not in teacher_setting_keys("sage")
    assert {"codebook_size", "code_layer", "aggr"} <= teacher_setting_keys("sage", ["vq"])
    assert "heads" in teacher_setting_keys("gat") and "heads" not in teacher_setting_keys("gcn")
    with pytest.raises(ConfigError, match="unknown teacher 'sag'"):
        teacher_setting_keys("sag")


# --- a typo is refused in each of the places a setting can come from, before anything trains ---

def test_typo_in_train_teacher_and_train_student_keywords(cora):
    ds, split = cora
    with pytest.raises(ConfigError, match=TYPO):
        train_teacher(ds, split, "sage", hiden_channels=7)
    with pytest.raises(ConfigError, match=TYPO):
        train_student(ds, split, "mlp", hiden_channels=7)
    with pytest.raises(ConfigError, match=r"'w_lfd'"):  # an FF-G2M weight given to a GLNN student
        train_student(ds, split, "glnn", None, w_lfd=1.0)


def test_typo_in_api_teacher_and_student_params():
    with pytest.raises(ConfigError, match=TYPO):
        g2m.distill("cora", method="glnn", seeds=1, setting="tran", teacher_params={"hiden_channels": 7})
    with pytest.raises(ConfigError, match=TYPO):
        g2m.distill("cora", method="glnn", seeds=1, setting="tran", student_params={"hiden_channels": 7})
    with pytest.raises(ConfigError, match=TYPO):
        g2m.Distiller(method="mlp", student_params={"hiden_channels": 7}).fit("cora")
    with pytest.raises(ConfigError, match=TYPO):
        g2m.train_teacher("cora", hiden_channels=7)


def _best_json(path, target, params, method="glnn"):
    path.write_text(json.dumps({"target": target, "method": method if target == "student" else None,
                                "best_params": params}))
    return path


@pytest.mark.parametrize("target", ["student", "teacher"])
def test_typo_in_params_json(tmp_path, target):
    best = _best_json(tmp_path / "best.json", target, {"hiden_channels": 7})
    result = runner.invoke(app, ["distill", "-m", "glnn", "--setting", "tran", "--params", str(best),
                                 "-o", str(tmp_path / "run")])
    assert isinstance(result.exception, ConfigError) and "did you mean 'hidden_channels'" in str(result.exception)
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before training


def test_a_path_key_in_params_json_is_refused(tmp_path):
    """A parameter file never chooses where g2m writes (issue 31): outputs_dir is not a setting."""
    outside = tmp_path / "outside"
    best = _best_json(tmp_path / "best.json", "teacher", {"outputs_dir": str(outside), "inference_chunk_size": 500})
    result = runner.invoke(app, ["distill", "-m", "vqgraph", "--setting", "tran", "--params", str(best),
                                 "-o", str(tmp_path / "run")])
    assert isinstance(result.exception, ConfigError) and "'outputs_dir'" in str(result.exception)
    assert not outside.exists()


def test_typo_in_a_hand_edited_config_json_for_rerun(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config = {"dataset": "cora", "dataset_source": "bundled", "teacher": "sage", "methods": {"mlp": {}},
              "seeds": [0], "setting": ["tran"], "device": "cpu", "batch_size": None, "teacher_overrides": {},
              "student_overrides": {"hiden_channels": 7}}
    (run / "config.json").write_text(json.dumps(config))
    result = runner.invoke(app, ["rerun", str(run)])
    assert isinstance(result.exception, ConfigError) and "did you mean 'hidden_channels'" in str(result.exception)
    assert not (run / "rerun" / "checkpoints").exists()


def test_check_keys_message_in_full():
    with pytest.raises(ConfigError) as err:
        check_keys({"abcd": 1, "zz": 2}, ["abce", "abcf", "abcg", "abch", "q"], "toy")
    # the three closest (difflib: equal scores in reverse order), joined by "or"; unknown keys by commas; valid sorted
    assert str(err.value) == ("unknown toy setting(s): 'abcd' (did you mean 'abch' or 'abcg' or 'abcf'?), 'zz'. "
                              "Valid settings: abce, abcf, abcg, abch, q.")


def test_unknown_teachers_and_trainers():
    from g2m.config import teacher_settings

    message = "unknown teacher 'sag'; choose one of: sage, gcn, gat, appnp."
    for call in (lambda: teacher_settings("cora", "sag"), lambda: teacher_setting_keys("sag")):
        with pytest.raises(ConfigError) as err:
            call()
        assert str(err.value) == message
    assert teacher_setting_keys("sage", ["no-such-trainer"]) == teacher_setting_keys("sage")
    assert student_config("a-dataset-without-defaults") == {**TRAIN_DEFAULTS, **STUDENT_DEFAULTS}


def test_a_settings_class_of_ones_own():
    """`setting` makes a field with its default, its help and its check (what a method module's settings use)."""
    from dataclasses import dataclass, fields

    from g2m.config import Settings, setting

    @dataclass(frozen=True)
    class Own(Settings):
        what: ClassVar[str] = "own"
        width: int = setting(4, "a positive width", lambda v: v > 0)
        name: str = setting("x", "any name")

    assert Own().to_dict() == {"width": 4, "name": "x"} and Own.keys() == {"width", "name"}
    (width, name) = fields(Own)
    assert width.metadata["help"] == "a positive width" and name.metadata["check"] is None
    assert Own().replace(width=2).width == 2 and Own().replace(name=None).to_dict() == {"width": 4}
    with pytest.raises(ConfigError) as err:
        Own().replace(width=0)
    assert str(err.value) == "own setting width=0: a positive width."

    @dataclass(frozen=True)
    class Unresolved(Settings):
        what: "Local" = "unresolved"  # noqa: F821  (not ClassVar: it would become a setting)

    with pytest.raises(TypeError) as err:
        Unresolved()
    assert str(err.value) == ("Unresolved: declare `what: ClassVar[str]` with ClassVar imported at module level, "
                              "so that it is not a setting.")


def test_a_method_without_a_teacher_routes_every_key_to_the_student():
    from g2m.spec import method_setting_keys, route_params

    assert method_setting_keys("sage", "mlp")[0] == frozenset()
    assert route_params(["max_epochs=2", "lr=0.1"], "sage", "mlp") == ({}, {"max_epochs": 2, "lr": 0.1})
    assert route_params(["max_epochs=2"], None, "glnn") == ({}, {"max_epochs": 2})  # your own teacher: none either
    with pytest.raises(ConfigError, match="both the teacher and the student take 'max_epochs'"):
        route_params(["max_epochs=2"], "sage", "glnn")
