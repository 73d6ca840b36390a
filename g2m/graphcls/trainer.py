"""Training one graph classifier, with model selection on validation graphs only.

Two selection rules are tracked in one run, and the test graphs are scored once per rule, after training:

- ``converged`` (reported): the epoch with the best validation score from ``select_from`` of the epochs on
  (ties → lower validation loss), i.e. a model that has trained, not one caught before it learnt anything;
- ``reference``: Mirage's released code — the first epoch with the best validation score, from the first
  epoch on. On ogbg-molhiv this picks nearly untrained models; it is reported beside, never instead.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from g2m import progress
from g2m.errors import ConfigError, TrainingError
from g2m.graphcls.store import GraphStore

SELECTIONS = ("converged", "reference")
SAMPLING = ("frequency", "uniform")


@dataclass(frozen=True)
class GraphTrainConfig:
    """Hyper-parameters of graph-classifier training (the same for full data, subsets and distilled sets).

    ``lr`` is halved every ``lr_step`` epochs (0: constant), as in the GIN paper. Distilled sets draw
    ``samples_per_epoch`` sets per epoch with replacement, by frequency (``sampling="frequency"``, each set
    ∝ the number of training graphs holding it) or uniformly (``"uniform"``)."""

    hidden_channels: int = 64
    num_layers: int = 3
    pool: str = "sum"
    dropout: float = 0.5
    lr: float = 0.01
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 100
    lr_step: int = 50
    eval_every: int = 1
    patience: int | None = None
    select_from: float = 0.25
    samples_per_epoch: int = 512
    sampling: str = "frequency"
    class_balance: bool = False
    eval_batch_size: int = 2048

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.hidden_channels < 1:
            raise ConfigError("epochs, batch_size and hidden_channels must be positive.")
        if not 0.0 <= self.select_from < 1.0:
            raise ConfigError(f"select_from is a share of the epochs in [0, 1), got {self.select_from}.")
        if self.sampling not in SAMPLING:
            raise ConfigError(f"unknown sampling {self.sampling!r}; use one of {', '.join(SAMPLING)}.")

    def replace(self, **changes: Any) -> "GraphTrainConfig":
        known = set(asdict(self))
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {unknown}; known: {', '.join(sorted(known))}.")
        return GraphTrainConfig(**{**asdict(self), **changes})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainingSet:
    """What a model trains on: graphs ``ids`` of ``store``, or (``weights`` given) a distilled set whose
    samples are drawn with replacement ∝ ``weights``."""

    store: GraphStore
    ids: Tensor
    weights: Tensor | None = None

    def epoch_batches(self, cfg: GraphTrainConfig, gen: torch.Generator) -> list[Tensor]:
        if self.weights is None:
            order = self.ids[torch.randperm(len(self.ids), generator=gen)]
        else:
            w = torch.ones_like(self.weights) if cfg.sampling == "uniform" else self.weights
            pick = torch.multinomial(w.double(), cfg.samples_per_epoch, replacement=True, generator=gen)
            order = self.ids[pick]
        return [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]


@dataclass
class FitResult:
    """Validation-selected checkpoints (``states[rule]``), their epochs and scores, and the curve."""

    states: dict[str, dict[str, Tensor]]
    epochs: dict[str, int]
    val: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)


def score(y_true: np.ndarray, proba: np.ndarray, metric: str) -> float:
    """Accuracy or ROC-AUC (binary, positive class 1) in percent."""
    if metric == "accuracy":
        return float((proba.argmax(1) == y_true).mean() * 100.0)
    if metric == "roc_auc":
        from sklearn.metrics import roc_auc_score

        if len(np.unique(y_true)) < 2:
            return float("nan")
        return float(roc_auc_score(y_true, proba[:, 1]) * 100.0)
    raise ConfigError(f"unknown metric {metric!r}; use accuracy or roc_auc.")


@torch.no_grad()
def evaluate(model: nn.Module, batches: list, metric: str, device: torch.device) -> tuple[float, float]:
    """``(score, mean cross-entropy)`` of ``model`` on pre-built batches."""
    model.eval()
    ys, logits = [], []
    for b in batches:
        logits.append(model(b.to(device)).cpu())
        ys.append(b.y.view(-1).cpu())
    y, z = torch.cat(ys), torch.cat(logits)
    loss = float(F.cross_entropy(z, y))
    return score(y.numpy(), F.softmax(z, -1).numpy(), metric), loss


def _better(rule: str, val: float, loss: float, best: tuple[float, float] | None) -> bool:
    if best is None:
        return True
    if math.isnan(val):
        return False
    if rule == "reference":
        return val > best[0]
    return val > best[0] or (val == best[0] and loss <= best[1])


def fit(model: nn.Module, train: TrainingSet, val_batches: list, metric: str, cfg: GraphTrainConfig,
        device: torch.device | str = "cpu", seed: int = 0, name: str = "graph classifier") -> FitResult:
    """Train ``model`` on ``train``; keep the validation-selected checkpoint of each rule in `SELECTIONS`."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, 0.5) if cfg.lr_step else None
    start = max(1, math.ceil(cfg.select_from * cfg.epochs))
    best: dict[str, tuple[float, float] | None] = {r: None for r in SELECTIONS}
    result = FitResult({}, {}, {})
    since, best_seen = 0, float("nan")
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, count = 0.0, 0
        for ids in train.epoch_batches(cfg, gen):
            if len(ids) < 2:  # batch norm needs two graphs; a lone last graph is dropped this epoch
                continue
            batch = train.store.batch(ids).to(device)
            opt.zero_grad()
            loss = F.cross_entropy(model(batch), batch.y)
            if not torch.isfinite(loss.detach()):
                raise TrainingError(f"{name}: epoch {epoch}: the loss became {loss.item()}; lower the learning "
                                    f"rate (now {cfg.lr}).")
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * len(ids), count + len(ids)
        if sched is not None:
            sched.step()
        if epoch % cfg.eval_every and epoch != cfg.epochs:
            progress.epoch(name, epoch, cfg.epochs)
            continue
        v, vloss = evaluate(model, val_batches, metric, device)
        result.curve.append({"epoch": epoch, "train_loss": total / max(count, 1), "val": v, "val_loss": vloss})
        improved = False
        for rule in SELECTIONS:
            if rule == "converged" and epoch < start:
                continue
            if _better(rule, v, vloss, best[rule]):
                best[rule] = (v, vloss)
                result.states[rule] = copy.deepcopy(model.state_dict())
                result.epochs[rule], result.val[rule] = epoch, v
                improved |= rule == "converged"
        if math.isnan(best_seen) or v > best_seen:  # the best validation score so far, for progress lines
            best_seen = v
        progress.epoch(name, epoch, cfg.epochs, v, best_seen)
        if epoch >= start:
            since = 0 if improved else since + cfg.eval_every
            if cfg.patience is not None and since >= cfg.patience:
                break
    if "converged" not in result.states:  # training stopped before select_from: use the last epoch
        result.states["converged"] = copy.deepcopy(model.state_dict())
        result.epochs["converged"], result.val["converged"] = epoch, v
    return result
