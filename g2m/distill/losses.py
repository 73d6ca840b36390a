"""Distillation loss terms, registered by name so methods are compositions of terms.

A term is a `LossTerm`: an ``nn.Module`` whose hyper-parameters are set in ``__init__`` and whose trainable
parts (e.g. a projection of the student's hidden layer) are its sub-modules, trained with the student and
not part of it (checkpoints hold the student only). ``build`` makes one for a run from the student, the
teacher's knowledge and the run's settings; ``forward`` takes a `LossInput` (the student's outputs on a
batch of observed nodes plus the teacher's knowledge indexed by the same node ids) and returns a scalar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch.nn.functional as F
from torch import Tensor, nn

from g2m.registry import Registry


class LossTerm(nn.Module):
    """A registered distillation loss term (torchdistill's pattern: a module with its hyper-parameters)."""

    @classmethod
    def build(cls, student: nn.Module, knowledge: Mapping[str, Tensor], settings: Mapping[str, Any]) -> "LossTerm":
        """The term for one run. Args: ``student`` (the MLP), ``knowledge`` (the teacher's per-node tensors),
        ``settings`` (the run's student and distillation settings). Terms without settings take none."""
        return cls()

    def forward(self, inp: "LossInput") -> Tensor:  # pragma: no cover - every term defines it
        raise NotImplementedError


LOSSES: Registry[type[LossTerm]] = Registry(
    "loss", providers=("g2m.distill.vqgraph", "g2m.distill.ffg2m", "g2m.distill.nosmog"))


def register_loss(name: str):
    """Class decorator: ``@register_loss("soft_label_kl")`` makes a `LossTerm` available to methods by name."""
    def deco(cls: type[LossTerm]) -> type[LossTerm]:
        if not (isinstance(cls, type) and issubclass(cls, LossTerm)):
            raise TypeError(f"loss {name!r}: register a LossTerm subclass, got {cls!r}")
        return LOSSES.register(name)(cls)

    return deco


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
    # the observed graph, for terms over edges (FF-G2M)
    edge_index: Tensor | None = None
    # the student and its input features (every observed node), for terms that run it on other rows
    student: nn.Module | None = None
    x: Tensor | None = None
    # what a term may compute once per training run and reuse (e.g. FF-G2M's teacher side in full batch)
    cache: dict[Any, Any] | None = None
    # FF-G2M's pairs per chunk (None: `g2m.distill.ffg2m.EDGE_CHUNK`)
    edge_chunk: int | None = None


def kl_with_temperature(student_logits: Tensor, teacher_logits: Tensor | None, tau: float,
                        teacher_log_probs: Tensor | None = None) -> Tensor:
    """KL(teacher ‖ student) of the softened distributions, averaged over rows, scaled by tau².

    ``teacher_log_probs``: ``log_softmax(teacher_logits / tau)`` when already computed (then ``teacher_logits``
    is not read)."""
    log_p_s = F.log_softmax(student_logits / tau, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / tau, dim=-1) if teacher_log_probs is None else teacher_log_probs
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * tau * tau


def label_ce(inp: LossInput) -> Tensor:
    """Cross-entropy on the labelled (training) nodes of the batch; zero when the batch has none."""
    mask = inp.train_mask[inp.nodes]
    if not bool(mask.any()):
        return inp.student_logits.sum() * 0.0
    return F.cross_entropy(inp.student_logits[mask], inp.labels[inp.nodes][mask])


def soft_label_kl(inp: LossInput) -> Tensor:
    """GLNN: the student's softened prediction matches the teacher's on every observed node.

    In full batch (the batch holds every observed node) the teacher's softened log-probabilities are computed
    once per run for all nodes (``inp.cache``) and read by row: the same values as computed per batch."""
    logits = inp.teacher["logits"]
    if inp.cache is None or inp.nodes.numel() != logits.size(0):
        return kl_with_temperature(inp.student_logits, logits[inp.nodes], inp.temperature)
    key = ("soft_label_kl", inp.temperature)
    if key not in inp.cache:
        inp.cache[key] = F.log_softmax(logits / inp.temperature, dim=-1)
    return kl_with_temperature(inp.student_logits, None, inp.temperature, teacher_log_probs=inp.cache[key][inp.nodes])


@register_loss("label_ce")
class LabelCE(LossTerm):
    """`label_ce` as a term."""

    def forward(self, inp: LossInput) -> Tensor:
        return label_ce(inp)


@register_loss("soft_label_kl")
class SoftLabelKL(LossTerm):
    """`soft_label_kl` as a term."""

    def forward(self, inp: LossInput) -> Tensor:
        return soft_label_kl(inp)
