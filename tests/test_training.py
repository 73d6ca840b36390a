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
