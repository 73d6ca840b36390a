"""`g2m tune`: validation-only Optuna studies that resume, prune bad trials and feed `g2m distill --params`."""

from __future__ import annotations

import json

import pytest

from g2m.errors import ConfigError


def test_tune_writes_a_study_that_a_second_call_resumes(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    from typer.testing import CliRunner

    from g2m.cli import app
    from g2m.tune import search_space

    out = tmp_path / "study"
    common = ["tune", "-d", "cora", "-m", "mlp+pos", "--seeds", "1", "-o", str(out)]
    tiny = {"max_epochs": 3}
    runner = CliRunner()
    import g2m.tune as tune_mod

    real = tune_mod.validation_score
    calls = []

    def quick(ds, target, method, teacher, seed, setting, params, device, teachers):
        calls.append(params)
        return real(ds, target, method, teacher, seed, setting, {**params, **tiny, "walk_length": 5}, device,
                    teachers)

    monkeypatch.setattr(tune_mod, "validation_score", quick)
    result = runner.invoke(app, common + ["--trials", "2"])
    assert result.exit_code == 0, result.output
    best = json.loads((out / "best.json").read_text())
    assert best["trials_complete"] + best["trials_pruned"] == 2 and len(calls) == 2
    assert set(best["best_params"]) == set(search_space("student", "mlp+pos"))
    assert "lam" not in best["best_params"]  # no distillation term: lam means nothing
    assert best["best_validation"] == max(t["value"] for t in best["trials"] if t["value"] is not None)
    assert (out / "study.journal").is_file()
    # the same command with 3 trials runs only the missing one, in the same study
    result = runner.invoke(app, common + ["--trials", "3"])
    assert result.exit_code == 0, result.output
    again = json.loads((out / "best.json").read_text())
    assert len(calls) == 3 and [t["number"] for t in again["trials"]] == [0, 1, 2]
    assert again["trials"][:2] == best["trials"]
    # another method or dataset in the same folder is refused, not mixed into the study
    result = runner.invoke(app, ["tune", "-d", "cora", "-m", "mlp", "--seeds", "1", "-o", str(out)])
    assert isinstance(result.exception, ConfigError) and "holds a study" in str(result.exception)
    # distill --params applies the chosen settings, and refuses them for another method
    from g2m.tune import read_params

    assert read_params(out / "best.json", "mlp+pos") == ("student", again["best_params"])
    with pytest.raises(ConfigError, match="tuned for method"):
        read_params(out / "best.json", "glnn")


def test_tune_search_spaces_follow_the_method():
    from g2m.tune import search_space

    assert {"w_rsd", "w_adversarial_kl", "adv_eps", "lam", "temperature"} <= set(search_space("student", "glnn+rsd+adv"))
    assert "w_lfd" in search_space("student", "glnn+ffg2m") and "w_lfd" not in search_space("student", "glnn")
    assert set(search_space("teacher")) == {"lr", "weight_decay", "dropout", "hidden_channels"}
    with pytest.raises(ConfigError, match="target"):
        search_space("tokenizer")


def test_tune_prunes_trials_below_the_median_after_their_first_seed(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    import g2m.tune as tune_mod

    seen = []

    def fake(ds, target, method, teacher, seed, setting, params, device, teachers):
        seen.append((params["lr"], seed))
        return params["lr"] * 1000  # a monotone, seed-independent score: low learning rates are bad trials

    monkeypatch.setattr(tune_mod, "validation_score", fake)
    result = tune_mod.tune("cora", tmp_path / "s", method="mlp", trials=12, seeds=[0, 1])
    pruned = [t for t in result["trials"] if t["state"] == "PRUNED"]
    assert pruned and result["trials_complete"] + len(pruned) == 12
    for t in pruned:  # stopped after seed 0, below the median of the earlier trials there
        assert [s for lr, s in seen if lr == t["params"]["lr"]] == [0]
        earlier = [u["params"]["lr"] for u in result["trials"] if u["number"] < t["number"]]
        assert t["params"]["lr"] < sorted(earlier)[len(earlier) // 2]
    best = max(result["trials"], key=lambda t: -1 if t["value"] is None else t["value"])
    assert result["best_params"] == best["params"]


def test_tuned_defaults_apply_to_their_method_and_dataset_under_explicit_overrides(monkeypatch):
    from g2m import config
    from g2m.datasets import load_dataset, node_split
    from g2m.distill import student as student_mod
    from g2m.training import FitResult

    ds = load_dataset("cora")
    split = node_split(ds, 0, "tran")
    monkeypatch.setitem(config.TUNED_STUDENT_DEFAULTS, ("cora", "mlp"), {"dropout": 0.123, "lr": 0.0042})
    monkeypatch.setattr(student_mod, "fit", lambda model, step, validate, **kw: FitResult(0, 0.0, 0))
    run = student_mod.train_student(ds, split, "mlp", None, lr=0.05)
    assert run.config["dropout"] == 0.123 and run.config["lr"] == 0.05  # tuned, then the explicit override
    run = student_mod.train_student(ds, split, "mlp+pos", None, position_dim=4, walks_per_node=1, walk_length=3)
    assert run.config["dropout"] == config.student_config("cora")["dropout"]  # another method: untouched


def test_shipped_tuned_defaults_are_the_studies_choices():
    from pathlib import Path

    from g2m import config

    results = Path(__file__).resolve().parents[1] / "docs" / "results" / "tune"
    for (dataset, method), params in config.TUNED_STUDENT_DEFAULTS.items():
        best = json.loads((results / f"{dataset}-{method}" / "best.json").read_text())
        assert (best["dataset"], best["method"]) == (dataset, method)
        assert params == best["best_params"]
