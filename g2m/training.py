"""The shared training loop: Adam, early stopping on validation accuracy, best-epoch restore."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn

from g2m import progress
from g2m.errors import ConfigError, TrainingError


@dataclass
class FitResult:
    best_epoch: int
    best_val: float
    epochs_run: int
    val_history: list[float] = field(default_factory=list)
    monitor_history: list[float] = field(default_factory=list)  # `fit`'s ``monitor`` per epoch (never selects)
    seconds: float = 0.0  # wall time of the training loop (validation included)


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Accuracy in percent."""
    if y.numel() == 0:
        return float("nan")
    return float((logits.argmax(-1) == y).float().mean().item() * 100.0)


def fit(model: nn.Module, step: Callable[[torch.optim.Optimizer], float], validate: Callable[[], float],
        lr: float, weight_decay: float, max_epochs: int, patience: int, ties: str = "latest",
        name: str = "model", monitor: Callable[[], float] | None = None) -> FitResult:
    """Train ``model`` with ``step(optimizer)`` once per epoch; keep the weights of the best ``validate()``.

    ``validate`` runs in eval mode without gradients; training stops after ``patience`` epochs without
    improvement. With ``ties="latest"`` (GLNN's rule) an epoch that equals the best validation score
    replaces it and restarts the patience count; with ``"earliest"`` only a strictly better one does.
    Model selection uses validation data only. A NaN or infinite loss stops training with a
    `TrainingError` naming ``name`` and the epoch (a step may raise it itself, naming the loss term).
    ``monitor`` (optional) is recorded after every epoch in ``monitor_history`` and plays no part in selection:
    it lets a benchmark show what another selection rule would have reported.
    """
    if ties not in ("latest", "earliest"):
        raise ConfigError(f"ties must be 'latest' or 'earliest', got {ties!r}.")
    started = time.perf_counter()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_val, best_epoch, best_state = -float("inf"), -1, None
    history: list[float] = []
    monitored: list[float] = []
    epoch = -1
    for epoch in range(max_epochs):
        model.train()
        try:
            loss = float(step(optimizer))
        except TrainingError as exc:
            raise TrainingError(f"{name}: epoch {epoch}: {exc}") from None
        if not math.isfinite(loss):
            raise TrainingError(f"{name}: the training loss became {loss} at epoch {epoch}; lower the learning "
                                "rate, or check the input features for extreme values.")
        model.eval()
        with torch.no_grad():
            val = float(validate())
        history.append(val)
        if monitor is not None:
            with torch.no_grad():
                monitored.append(float(monitor()))
        improved = val > best_val or (ties == "latest" and val == best_val)
        if improved:
            best_val, best_epoch = val, epoch
            best_state = copy.deepcopy(model.state_dict())
        progress.epoch(name, epoch + 1, max_epochs, val, best_val)
        if not improved and epoch - best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch=best_epoch, best_val=best_val, epochs_run=epoch + 1, val_history=history,
                     monitor_history=monitored, seconds=time.perf_counter() - started)
