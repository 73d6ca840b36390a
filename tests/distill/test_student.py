"""The student trainer: what it records beside the validation-selected model."""

from __future__ import annotations

import torch

from g2m.distill.student import train_student
from g2m.training import accuracy


def test_test_selected_record_is_the_best_test_accuracy_and_changes_nothing_else(cora_with_fake_teacher):
    """``report_test_selected`` records the best test accuracy over epochs; the model selected on validation,
    and its metrics, are the same with it and without it."""
    ds, split, teacher = cora_with_fake_teacher("tran")
    runs = []
    for record in (False, True):
        torch.manual_seed(0)
        runs.append(train_student(ds, split, "glnn", teacher, batch_size=0, hidden_channels=16, max_epochs=8,
                                  report_test_selected=record))
    plain, recorded = runs
    assert "test_selected_on_test" not in plain.metrics and not plain.fit.monitor_history
    assert len(recorded.fit.monitor_history) == recorded.fit.epochs_run == 8
    assert recorded.metrics["test_selected_on_test"] == max(recorded.fit.monitor_history)
    assert recorded.fit.val_history == plain.fit.val_history
    assert {k: v for k, v in recorded.metrics.items() if k != "test_selected_on_test"} == plain.metrics
    assert all(torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(),
                                                 recorded.model.state_dict().values()))


def test_validation_reads_the_validation_nodes(cora_with_fake_teacher):
    """The per-epoch validation score is the selected model's validation accuracy at its best epoch."""
    ds, split, teacher = cora_with_fake_teacher("tran")
    torch.manual_seed(0)
    run = train_student(ds, split, "glnn", teacher, batch_size=0, hidden_channels=16, max_epochs=5)
    run.model.eval()
    with torch.no_grad():
        val = accuracy(run.model(ds.data.x[split.val]), ds.data.y[split.val])
    assert run.fit.val_history[run.fit.best_epoch] == val == run.metrics["val"]
