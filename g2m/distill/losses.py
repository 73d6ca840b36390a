"""Distillation loss terms, registered by name so methods are compositions of terms.

Every term takes a `LossInput` (the student's outputs on a batch of observed nodes plus the
teacher's knowledge indexed by the same node ids) and returns a scalar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn.functional as F
from torch import Tensor

from g2m.registry import Registry

LOSSES: Registry[Callable[..., Tensor]] = Registry("loss")


def register_loss(name: str):
    """Decorator: ``@register_loss("soft_label_kl")`` makes a term available to methods and configs."""
    return LOSSES.register(name)


@dataclass
class LossInput:
    """What a loss term sees for one optimisation step.

    ``nodes`` are local ids (rows of the observed graph) of the batch; ``student_logits`` and
    ``student_hidden`` are the student's outputs for exactly those nodes, in that order. ``teacher``
    holds full per-node tensors (``logits``, ...) indexed by local id, never by batch position.
    """

    nodes: Tensor
    student_logits: Tensor
    student_hidden: Tensor | None
    teacher: dict[str, Tensor]
    labels: Tensor
    train_mask: Tensor
    temperature: float = 1.0
    extras: dict[str, Any] = field(default_factory=dict)


def kl_with_temperature(student_logits: Tensor, teacher_logits: Tensor, tau: float) -> Tensor:
    """KL(teacher ‖ student) of the softened distributions, averaged over rows, scaled by tau²."""
    log_p_s = F.log_softmax(student_logits / tau, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / tau, dim=-1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * tau * tau


@register_loss("label_ce")
def label_ce(inp: LossInput) -> Tensor:
    """Cross-entropy on the labelled (training) nodes of the batch; zero when the batch has none."""
    mask = inp.train_mask[inp.nodes]
    if not bool(mask.any()):
        return inp.student_logits.sum() * 0.0
    return F.cross_entropy(inp.student_logits[mask], inp.labels[inp.nodes][mask])


@register_loss("soft_label_kl")
def soft_label_kl(inp: LossInput) -> Tensor:
    """GLNN: the student's softened prediction matches the teacher's on every observed node."""
    return kl_with_temperature(inp.student_logits, inp.teacher["logits"][inp.nodes], inp.temperature)
