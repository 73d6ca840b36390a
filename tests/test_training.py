"""The shared training loop: best-validation weights restored, GLNN's tie rule, patience."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from g2m.errors import ConfigError
from g2m.training import fit


class Counter(nn.Module):
    """A 'model' whose single weight records how many optimizer steps ran (lr 1, gradient -1 per step)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))


def _run(scores: list[float], ties: str, patience: int = 10):
    model = Counter()
    it = iter(scores)

    def step(opt):
        opt.zero_grad()
        (-model.w.sum()).backward()
        opt.step()
        return 0.0

    result = fit(model, step, lambda: next(it), lr=1.0, weight_decay=0.0, max_epochs=len(scores), patience=patience,
                 ties=ties)
    return model, result


@pytest.mark.parametrize("ties,best", [("latest", 3), ("earliest", 1)])
def test_best_validation_weights_are_restored(ties, best):
    model, result = _run([50.0, 70.0, 60.0, 70.0, 65.0, 40.0], ties)
    assert result.best_epoch == best and result.best_val == 70.0
    # A constant gradient makes every Adam step move the weight by lr = 1: after epoch k (0-based) it is
    # k + 1. The restored weight is the best epoch's, not the last (6th) epoch's.
    assert result.epochs_run == 6
    assert float(model.w.detach()) == pytest.approx(best + 1, abs=1e-3)


def test_patience_stops_and_ties_restart_it():
    _, latest = _run([10.0, 10.0, 10.0, 9.0, 9.0, 9.0, 9.0], "latest", patience=2)
    _, earliest = _run([10.0, 10.0, 10.0, 9.0, 9.0, 9.0, 9.0], "earliest", patience=2)
    assert earliest.epochs_run == 3          # epochs 1 and 2 do not beat epoch 0: stop after epoch 2
    assert latest.epochs_run == 5 and latest.best_epoch == 2


def test_unknown_tie_rule_is_refused():
    with pytest.raises(ConfigError, match="ties"):
        _run([1.0], "middle")


# --- hand-checked helpers and fit's bookkeeping (issue 17 survivors) ---------------------------------------
def test_accuracy_by_hand():
    from g2m.training import accuracy

    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1, 0])) == pytest.approx(75.0)  # percent
    assert accuracy(logits[:1], torch.tensor([0])) == 100.0 and accuracy(logits[:1], torch.tensor([1])) == 0.0
    nan = accuracy(logits[:0], torch.zeros(0, dtype=torch.long))  # an empty split has no accuracy
    assert nan != nan


def _constant_step(model):
    def step(opt):
        opt.zero_grad()
        (-model.w.sum()).backward()
        opt.step()
        return 0.0
    return step


def test_fit_defaults_histories_and_monitor():
    model = Counter()
    scores = iter([50.0, 70.0, 70.0, 60.0])
    result = fit(model, _constant_step(model), lambda: next(scores), lr=1.0, weight_decay=0.0, max_epochs=4,
                 patience=10)  # default ties: "latest"
    assert result.best_epoch == 2 and result.val_history == [50.0, 70.0, 70.0, 60.0]
    assert result.monitor_history == []  # no monitor: an empty list
    model = Counter()
    scores, seen = iter([1.0, 2.0, 3.0]), iter([7.0, 8.0, 9.0])
    result = fit(model, _constant_step(model), lambda: next(scores), lr=1.0, weight_decay=0.0, max_epochs=3,
                 patience=10, monitor=lambda: next(seen))
    assert result.monitor_history == [7.0, 8.0, 9.0] and result.val_history == [1.0, 2.0, 3.0]


def test_fit_records_the_seconds_of_its_own_loop():
    """``seconds`` is the loop's wall time: positive and within the time the call took (no clock assumption)."""
    import time

    model = Counter()
    scores = iter([1.0, 2.0])
    before = time.perf_counter()
    result = fit(model, _constant_step(model), lambda: next(scores), lr=1.0, weight_decay=0.0, max_epochs=2,
                 patience=10)
    took = time.perf_counter() - before
    assert isinstance(result.seconds, float) and 0.0 < result.seconds <= took


def test_fit_without_epochs_or_without_a_valid_score():
    model = Counter()
    result = fit(model, _constant_step(model), lambda: 1.0, lr=1.0, weight_decay=0.0, max_epochs=0, patience=5)
    assert (result.epochs_run, result.best_epoch, result.val_history) == (0, -1, [])
    assert float(model.w.detach()) == 0.0
    # a validation score that is never a number (an empty validation set): patience counts from epoch −1
    model = Counter()
    result = fit(model, _constant_step(model), lambda: float("nan"), lr=1.0, weight_decay=0.0, max_epochs=10,
                 patience=3)
    assert result.epochs_run == 3 and result.best_epoch == -1 and result.best_val == -float("inf")
    assert float(model.w.detach()) == pytest.approx(3.0, abs=1e-3)  # nothing to restore: the last weights


def test_fit_applies_weight_decay():
    for decay, moved in ((0.0, False), (0.1, True)):
        model = Counter()
        with torch.no_grad():
            model.w.fill_(10.0)

        def step(opt):
            opt.zero_grad()
            (0.0 * model.w.sum()).backward()  # no gradient from the loss: only weight decay moves w
            opt.step()
            return 0.0

        fit(model, step, lambda: 1.0, lr=0.5, weight_decay=decay, max_epochs=1, patience=5)
        assert (float(model.w.detach()) < 9.9) is moved


def test_fit_errors_name_the_model_and_the_epoch():
    from g2m.errors import TrainingError

    model = Counter()
    losses = iter([1.0, 1.0, float("nan")])
    with pytest.raises(TrainingError, match=r"^model: the training loss became nan at epoch 2; lower the learning "
                                            r"rate, or check the input features for extreme values\.$"):
        fit(model, lambda opt: next(losses), lambda: 1.0, lr=1.0, weight_decay=0.0, max_epochs=5, patience=5)

    def failing(opt):
        raise TrainingError("the lfd term became inf")

    with pytest.raises(TrainingError, match=r"^teacher: epoch 0: the lfd term became inf$"):
        fit(model, failing, lambda: 1.0, lr=1.0, weight_decay=0.0, max_epochs=5, patience=5, name="teacher")
