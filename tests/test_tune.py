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


def _scores_by_trial(table):
    """A fake `validation_score` returning ``table[trial][i]`` for the i-th seed of each trial (a trial starts with
    the first seed), and the list of its calls."""
    calls = []

    def fake(ds, target, method, teacher, seed, setting, params, device, teachers):
        if calls and seed != calls[0]["seed"]:
            trial, i = calls[-1]["trial"], calls[-1]["i"] + 1
        else:
            trial, i = (calls[-1]["trial"] + 1 if calls else 0), 0
        calls.append(dict(target=target, method=method, teacher=teacher, seed=seed, setting=setting, device=device,
                          teachers=teachers, trial=trial, i=i))
        return table[trial][i]
    return fake, calls


def test_tune_prunes_from_the_fourth_trial_only_before_the_last_seed_and_scores_the_mean(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    import g2m.tune as tune_mod

    # trials 0-2 are the pruner's startup trials; trial 3 is below their median after seed 0 (pruned there);
    # trial 4 is above it after seed 0 and, even at its best running mean, below it after the last seed
    # (completed all the same: no pruning after the last seed)
    fake, calls = _scores_by_trial([[10, 90], [20, 100], [30, 110], [5, 5], [40, 40]])
    monkeypatch.setattr(tune_mod, "validation_score", fake)
    result = tune_mod.tune("cora", tmp_path / "s", method="mlp", trials=5, seeds=[0, 1])
    states = [(t["state"], t["value"]) for t in result["trials"]]
    assert states[3][0] == "PRUNED" and states[4] == ("COMPLETE", 40.0)
    assert [s for _, s in states[:3]] == [50.0, 60.0, 70.0]
    assert [c["seed"] for c in calls] == [0, 1] * 3 + [0] + [0, 1]


def test_tune_records_its_identity_and_refuses_another_teacher_seeds_or_setting(tmp_path, monkeypatch):
    optuna = pytest.importorskip("optuna")
    import time

    import g2m.tune as tune_mod
    from g2m.datasets import load_dataset

    ds = load_dataset("cora")
    fake, calls = _scores_by_trial([[1.0], [2.0], [3.0]])
    monkeypatch.setattr(tune_mod, "validation_score", fake)
    out = tmp_path / "a" / "b"  # parents are created
    start = time.perf_counter()
    result = tune_mod.tune(ds, out, target="teacher", teacher="gcn", trials=2, seeds=[3], setting="inductive",
                           device="auto")
    wall = time.perf_counter() - start
    assert {k: result[k] for k in ("dataset", "target", "method", "teacher", "seeds", "setting")} == {
        "dataset": "cora", "target": "teacher", "method": None, "teacher": "gcn", "seeds": [3], "setting": "ind"}
    assert result["best_trial"] == 1 and result["best_validation"] == 2.0 and result["study"] == "study.journal"
    assert result["search_space"] == {k: list(v) for k, v in tune_mod.search_space("teacher").items()}
    assert 0 < result["trial_seconds_total"] <= wall and 0 <= result["seconds_this_call"] <= wall
    assert "[3]" in result["objective"] and "setting ind" in result["objective"]
    assert json.loads((out / "best.json").read_text()) == result
    from g2m.utils import resolve_device

    auto = str(resolve_device("auto"))  # resolved once, before any trial (a GPU where there is one)
    assert all(c["target"] == "teacher" and c["teacher"] == "gcn" and c["device"] == auto and c["setting"] == "ind"
               for c in calls)
    assert all(c["teachers"] is calls[0]["teachers"] and isinstance(c["teachers"], dict) for c in calls)
    study = optuna.load_study(study_name="g2m-tune", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "study.journal"))))
    assert study.user_attrs["search_space"] == result["search_space"]
    # asking for fewer trials than the study holds runs nothing (trials=1 is allowed)
    assert tune_mod.tune(ds, out, target="teacher", teacher="gcn", trials=1, seeds=[3], setting="ind")["trials"] == \
        result["trials"] and len(calls) == 2
    for change in ({"teacher": "sage"}, {"seeds": [4]}, {"setting": "tran"}):
        kw = {"target": "teacher", "teacher": "gcn", "trials": 1, "seeds": [3], "setting": "ind", **change}
        with pytest.raises(ConfigError, match="holds a study .* Use another --output folder"):
            tune_mod.tune(ds, out, **kw)


def test_tune_defaults_and_reproducible_sampler(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    import g2m.tune as tune_mod

    fake, calls = _scores_by_trial([[float(i), float(i)] for i in range(20)])
    monkeypatch.setattr(tune_mod, "validation_score", fake)
    result = tune_mod.tune("cora", tmp_path / "d")
    assert (result["method"], result["teacher"], result["seeds"], result["setting"]) == ("glnn", "sage", [0, 1], "tran")
    assert result["trials_complete"] + result["trials_pruned"] == 20 and {c["device"] for c in calls} == {"cpu"}
    fake, _ = _scores_by_trial([[float(i), float(i)] for i in range(3)])
    monkeypatch.setattr(tune_mod, "validation_score", fake)
    again = tune_mod.tune("cora", tmp_path / "e", trials=3, sampler_seed=0)
    assert [t["params"] for t in again["trials"]] == [t["params"] for t in result["trials"][:3]]
    assert tune_mod.search_space("student") == tune_mod.search_space("student", "glnn")


def test_tune_skips_failed_trials_stops_on_timeout_and_errors_clearly(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    import sys
    import time
    from types import SimpleNamespace

    import g2m.tune as tune_mod
    from g2m.errors import TrainingError

    n = []

    def flaky(ds, target, method, teacher, seed, setting, params, device, teachers):
        n.append(seed)
        if len(n) == 1:
            raise TrainingError("diverged")
        return 1.0

    monkeypatch.setattr(tune_mod, "validation_score", flaky)
    result = tune_mod.tune("cora", tmp_path / "f", method="mlp", trials=2, seeds=[0])
    assert result["trials_complete"] == 1 and [t["number"] for t in result["trials"]] == [1]

    def slow(*args):
        time.sleep(0.3)
        return 1.0

    monkeypatch.setattr(tune_mod, "validation_score", slow)
    result = tune_mod.tune("cora", tmp_path / "t", method="mlp", trials=5, seeds=[0], timeout=0.2)
    assert result["trials_complete"] == 1  # the timeout stops the study after the trial that passed it

    def broken(*args):
        raise TrainingError("diverged")

    monkeypatch.setattr(tune_mod, "validation_score", broken)
    with pytest.raises(TrainingError, match="no trial of the study in .* finished"):
        tune_mod.tune("cora", tmp_path / "g", method="mlp", trials=1, seeds=[0])
    with pytest.raises(ConfigError, match="trials must be at least 1, got 0"):
        tune_mod.tune("cora", tmp_path / "h", trials=0)
    with pytest.raises(ConfigError, match="tune on one setting, tran or ind .*got 'both'"):
        tune_mod.tune("cora", tmp_path / "h", setting="both")
    with pytest.raises(ConfigError, match="^tune needs at least one seed.$"):
        tune_mod.tune("cora", tmp_path / "h", seeds=[])
    roots = []
    monkeypatch.setattr(tune_mod, "load_dataset", lambda name, root: roots.append(root) or SimpleNamespace(name=name))
    with pytest.raises(ConfigError, match="'mutag' is a graph-classification dataset"):
        tune_mod.tune("mutag", tmp_path / "h", root="/data/here")
    assert roots == ["/data/here"]
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ConfigError, match=r"^g2m tune needs Optuna: pip install"):
        tune_mod.tune("cora", tmp_path / "h")


def test_suggest_passes_each_kind_and_bound_to_optuna():
    from g2m.tune import suggest

    class Recorder:
        def __init__(self):
            self.calls = []

        def suggest_categorical(self, name, options):
            self.calls.append(("choice", name, options))
            return options[0]

        def suggest_int(self, name, low, high):
            self.calls.append(("int", name, low, high))
            return low

        def suggest_float(self, name, low, high, log=False):
            self.calls.append(("float", name, low, high, log))
            return low

    trial = Recorder()
    space = {"a": ("int", 2, 9), "b": ("log", 1e-3, 1.0), "c": ("float", 0.0, 0.5), "d": ("choice", [7, 8])}
    assert suggest(trial, space) == {"a": 2, "b": 1e-3, "c": 0.0, "d": 7}
    assert trial.calls == [("int", "a", 2, 9), ("float", "b", 1e-3, 1.0, True), ("float", "c", 0.0, 0.5, False),
                           ("choice", "d", [7, 8])]


def test_validation_score_uses_the_seeds_split_its_val_accuracy_and_one_teacher_per_seed(monkeypatch):
    import torch

    from g2m import teacher as teacher_mod
    from g2m.datasets import load_dataset, node_split
    from g2m.distill import student as student_mod
    from g2m.tune import validation_score

    ds = load_dataset("cora")
    seen = []

    def run(kind, *args, **kw):
        seen.append((kind, args, kw, torch.rand(1).item()))
        return SimpleNamespace(metrics={"val": 12.5, "test": 99.0}, kind=kind)

    from types import SimpleNamespace

    monkeypatch.setattr(teacher_mod, "train_teacher", lambda *a, **kw: run("teacher", *a, **kw))
    monkeypatch.setitem(teacher_mod.TEACHER_TRAINERS._items, "standard", lambda *a, **kw: run("kd-teacher", *a, **kw))
    monkeypatch.setattr(student_mod, "train_student", lambda *a, **kw: run("student", *a, **kw))

    def draw(seed):
        torch.manual_seed(seed)
        return torch.rand(1).item()

    def same_split(split, seed, setting):
        want = node_split(ds, seed, setting)
        return split.setting == setting and torch.equal(split.train, want.train) and torch.equal(split.test, want.test)

    assert validation_score(ds, "teacher", "glnn", "gcn", 3, "ind", {"lr": 0.01}, "cuda:7", {}) == 12.5
    kind, args, kw, r = seen.pop()
    assert kind == "teacher" and args[0] is ds and same_split(args[1], 3, "ind") and args[2] == "gcn"
    assert kw == {"device": "cuda:7", "lr": 0.01} and r == draw(3)
    teachers = {}
    for seed in (1, 1, 2):
        assert validation_score(ds, "student", "glnn", "gcn", seed, "tran", {"lam": 0.5}, "cuda:7", teachers) == 12.5
    assert [s[0] for s in seen] == ["kd-teacher", "student", "student", "kd-teacher", "student"]
    t1, s1, s1b, t2, s2 = seen
    assert t1[1][0] is ds and same_split(t1[1][1], 1, "tran") and t1[1][2] == "gcn" and t1[2] == {"device": "cuda:7"}
    assert t1[3] == draw(1) and t2[3] == draw(2) and s1[3] == draw(1) and s2[3] == draw(2)
    assert s1[1][0] is ds and same_split(s1[1][1], 1, "tran") and s1[1][2].name == "glnn"
    assert s1[1][3].kind == "kd-teacher" and s1[1][3] is s1b[1][3] and s2[1][3] is not s1[1][3]
    assert s1[2] == {"device": "cuda:7", "lam": 0.5}


def test_read_params_refuses_anything_but_a_tune_result(tmp_path):
    from g2m.tune import read_params

    path = tmp_path / "best.json"
    with pytest.raises(ConfigError, match="cannot read .* as a g2m tune result"):
        read_params(path)
    for data in ([], {"target": "student", "best_params": [1]}, {"target": "tokenizer", "best_params": {}}):
        path.write_text(json.dumps(data))
        with pytest.raises(ConfigError, match=r"is not a `g2m tune` best.json \(it needs 'target' and 'best_params'\)"):
            read_params(path)
    path.write_text(json.dumps({"target": "student", "method": "mlp+pos", "best_params": {"lr": 0.01}}))
    with pytest.raises(ConfigError, match=r"tuned for method 'mlp\+pos', not 'glnn': tune this method, or pass"):
        read_params(path, "glnn")
    assert read_params(path) == ("student", {"lr": 0.01})
    with pytest.raises(ConfigError, match="unknown tuning target 'tokenizer'; use student or teacher"):
        from g2m.tune import search_space

        search_space("tokenizer")


def test_tune_resumes_a_shipped_study_without_running_a_trial(tmp_path, monkeypatch):
    """The study name, identity and search space stay readable: a shipped study resumes and gives its choice."""
    pytest.importorskip("optuna")
    import shutil
    from pathlib import Path

    import g2m.tune as tune_mod

    shipped = Path(__file__).resolve().parents[1] / "docs" / "results" / "tune" / "cora-glnn+ffg2m+pos"
    best = json.loads((shipped / "best.json").read_text())
    shutil.copy(shipped / "study.journal", tmp_path / "study.journal")
    monkeypatch.setattr(tune_mod, "validation_score", lambda *a: pytest.fail("a finished study ran a trial"))
    result = tune_mod.tune("cora", tmp_path, method=best["method"], teacher=best["teacher"], seeds=best["seeds"],
                           setting=best["setting"], trials=len(best["trials"]))
    assert result["best_params"] == best["best_params"] and result["trials"] == best["trials"]
    assert result["search_space"] == best["search_space"]


def test_a_truncated_journal_record_is_dropped_with_a_warning_and_the_study_goes_on(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    import g2m.tune as tune_mod
    from g2m.errors import G2MWarning

    monkeypatch.setattr(tune_mod, "validation_score", lambda ds, target, method, *a: 50.0)
    out = tmp_path / "s"
    tune_mod.tune("cora", out, method="mlp", trials=2, seeds=[0])
    journal = out / "study.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole[:-7])  # a write cut short (full disk, kill): half a record
    with pytest.warns(G2MWarning, match="last record was cut short"):
        result = tune_mod.tune("cora", out, method="mlp", trials=3, seeds=[0])
    assert result["trials_complete"] == 3  # the cut trial ran again
    assert (out / "study.journal.damaged").read_bytes() == whole[:-7]  # kept as it was
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join(lines[:2] + [b"garbage"] + lines[3:]))
    with pytest.raises(ConfigError, match="damaged at record 3 .*Move the file away"):
        tune_mod.tune("cora", out, method="mlp", trials=4, seeds=[0])


def test_a_trial_is_not_started_when_its_result_could_not_be_recorded(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    import shutil
    from collections import namedtuple

    import g2m.tune as tune_mod
    from g2m.errors import OutputError

    ran = []
    monkeypatch.setattr(tune_mod, "validation_score", lambda *a: ran.append(1) or 50.0)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))  # a full disk
    with pytest.raises(OutputError, match="only 1000 bytes are free .*run the same command again"):
        tune_mod.tune("cora", tmp_path / "s", method="mlp", trials=2, seeds=[0])
    assert not ran


def test_ctrl_c_during_a_trial_keeps_the_study_and_marks_that_trial_failed(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    import optuna

    import g2m.tune as tune_mod
    from g2m.errors import RunInterrupted

    calls = []

    def score(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return 50.0 + len(calls)

    monkeypatch.setattr(tune_mod, "validation_score", score)
    with pytest.raises(RunInterrupted) as info:
        tune_mod.tune("cora", tmp_path / "s", method="mlp", trials=5, seeds=[0])
    assert str(info.value) == (f"interrupted. The study in {tmp_path / 's'} keeps its 2 finished trial(s) (the one that "
                               "was running is marked failed); run the same command to continue it.")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "s" / "study.journal")))
    states = [t.state.name for t in optuna.load_study(study_name="g2m-tune", storage=storage).trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL"]  # none left RUNNING
    result = tune_mod.tune("cora", tmp_path / "s", method="mlp", trials=5, seeds=[0])  # continues
    assert result["trials_complete"] == 5


def test_repair_journal_keeps_a_clean_journal_as_it_is_and_cuts_exactly_the_broken_last_record(tmp_path):
    import warnings

    from g2m.errors import G2MWarning
    from g2m.tune import repair_journal

    journal = tmp_path / "study.journal"
    clean = b'{"a": 1}\n{"b": 2}\n{"c": 3}\n'
    journal.write_bytes(clean)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repair_journal(journal)
    assert journal.read_bytes() == clean and not (tmp_path / "study.journal.damaged").exists()
    repair_journal(tmp_path / "none.journal")  # no journal yet: nothing to do
    journal.write_bytes(b"")
    repair_journal(journal)
    assert journal.read_bytes() == b""
    for broken in (clean + b'{"d": ', clean + b'{"d": 4\n'):  # cut inside the last record, or a bad last line
        journal.write_bytes(broken)
        with pytest.warns(G2MWarning) as caught:
            repair_journal(journal)
        assert journal.read_bytes() == clean
        cut = len(broken) - len(clean) - (1 if broken.endswith(b"\n") else 0)
        assert str(caught[0].message) == (
            f"{journal}: its last record was cut short ({cut} bytes, "
            "e.g. by a full disk) and is ignored; the file as it was is kept in study.journal.damaged. The trial it "
            "recorded runs again.")
    journal.write_bytes(b'{"a": 1}\nnot json\n{"c": 3}\n')
    with pytest.raises(ConfigError) as info:
        repair_journal(journal)
    assert str(info.value) == (f"{journal} is damaged at record 2 of 3 (not JSON): the study cannot be read. Move the "
                               "file away to start a new study.")


def test_the_journal_must_be_writable_with_room_to_spare(tmp_path, monkeypatch):
    import os
    import shutil
    from collections import namedtuple

    import g2m.tune as tune_mod
    from g2m.errors import OutputError

    journal = tmp_path / "study.journal"
    journal.write_text("")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(1 << 40, 0, tune_mod.JOURNAL_MIN_FREE))
    tune_mod.check_appendable(journal)  # exactly the minimum: fine
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(1 << 40, 0, tune_mod.JOURNAL_MIN_FREE - 1))
    with pytest.raises(OutputError) as info:
        tune_mod.check_appendable(journal)
    assert str(info.value) == (f"only {tune_mod.JOURNAL_MIN_FREE - 1} bytes are free where {journal} is: the trial's "
                               "result could not be recorded. Free some space, then run the same command again to "
                               "continue the study.")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(1 << 40, 0, 1 << 30))
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # e.g. a read-only file (root ignores modes)
    with pytest.raises(OutputError) as info:
        tune_mod.check_appendable(journal)
    assert str(info.value) == (f"cannot append to {journal} (not writable): the trial would be lost; fix its "
                               "permissions.")
    monkeypatch.setattr(tune_mod, "validation_score", lambda *a: 50.0)
    with pytest.raises(OutputError, match="not writable"):  # tune checks the journal itself before each trial
        tune_mod.tune("cora", tmp_path, method="mlp", trials=1, seeds=[0])


def test_a_study_folder_that_cannot_be_made_is_one_clear_error(tmp_path):
    pytest.importorskip("optuna")
    import g2m.tune as tune_mod
    from g2m.errors import OutputError

    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError) as info:
        tune_mod.tune("cora", tmp_path / "file" / "study", method="mlp", trials=1, seeds=[0])
    assert str(info.value).startswith(f"cannot create the study folder {tmp_path / 'file' / 'study'}: ")
    assert "a file is where a folder should be" in str(info.value)
