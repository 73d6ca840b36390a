"""NOSMOG's three additions (Tian et al., ICLR 2023), each composable with ``glnn``, ``ffg2m`` and ``vqgraph``:

* ``pos`` — position features: the student reads ``[features, DeepWalk positions]``
  (`g2m.distill.position`); not a loss term but an extra student input.
* ``rsd`` — representation-similarity distillation: within a batch, the student's pairwise similarities
  of its (projected) hidden representations match the teacher's: ``mean((S_t − S_s)²)`` with
  ``S = Ĥ Ĥᵀ`` over unit-normalised rows (cosine similarities, so the weight means the same whatever the
  teacher's embedding scale; NOSMOG uses raw dot products). The teacher side never gets gradients.
* ``adv`` — adversarial feature augmentation: the soft-label KL of the student on features perturbed
  within an L∞ ball of radius ``adv_eps`` by ``adv_steps`` steps of projected gradient ascent
  (random start; step ``adv_eps / 2``). The perturbation is found without touching the student's
  gradients, then the student is trained to resist it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from g2m.config import Settings, setting
from g2m.distill.losses import LossInput, LossTerm, kl_with_temperature, register_loss
from g2m.distill.methods import Method, register_method
from g2m.distill.position import PositionSettings
from g2m.errors import ConfigError
from g2m.graph_inputs import select_rows

RSD_MAX_NODES = 2048  # rows of the similarity matrices per step (a random subset of a larger batch)


def similarity_loss(student_h: Tensor, teacher_h: Tensor) -> Tensor:
    """``mean((S_t − S_s)²)`` of the cosine-similarity matrices of the rows; ``teacher_h`` is a fixed target."""
    s = F.normalize(student_h, dim=-1)
    t = F.normalize(teacher_h.detach(), dim=-1)
    return ((t @ t.T - s @ s.T) ** 2).mean()


def _rsd_projection(student: nn.Module, knowledge: dict[str, Tensor]) -> nn.Module:
    """The student's map from its hidden layer to the teacher's hidden width (NOSMOG's projection)."""
    if "hidden" not in knowledge:
        raise ConfigError("rsd needs the teacher's hidden representations, and this teacher has none: pass outputs "
                          "with a hidden layer (hidden=..., hidden.npy) or a model that returns (logits, hidden); an "
                          "average of teachers (-t sage+appnp) has none either: use one family or -t auto.")
    return nn.Linear(student.hidden_channels, knowledge["hidden"].size(1))


def rsd(inp: LossInput, projection: nn.Module | None = None) -> Tensor:
    """Representation-similarity distillation on the batch (at most `RSD_MAX_NODES` random rows of it); the
    student's hidden rows pass through ``projection`` first (none: compared as they are)."""
    if inp.student_hidden is None:
        raise ConfigError("rsd needs the student's hidden representation.")
    rows = torch.arange(inp.nodes.numel(), device=inp.nodes.device)
    if rows.numel() > RSD_MAX_NODES:
        rows = rows[torch.randperm(rows.numel(), device=rows.device)[:RSD_MAX_NODES]]
    proj = projection if projection is not None else nn.Identity()
    return similarity_loss(proj(inp.student_hidden[rows]), inp.teacher["hidden"][inp.nodes[rows]])


@register_loss("rsd")
class RepresentationSimilarity(LossTerm):
    """`rsd` with the student's projection to the teacher's hidden width as a trainable sub-module."""

    def __init__(self, projection: nn.Module | None = None):
        super().__init__()
        self.projection = projection

    @classmethod
    def build(cls, student: nn.Module, knowledge: Mapping[str, Tensor], settings: Mapping[str, Any]) -> LossTerm:
        return cls(_rsd_projection(student, knowledge))

    def forward(self, inp: LossInput) -> Tensor:
        return rsd(inp, self.projection)


def adversarial_delta(student: nn.Module, x: Tensor, target_logits: Tensor, eps: float, steps: int,
                      tau: float = 1.0) -> Tensor:
    """A perturbation ``δ`` with ``|δ|∞ ≤ eps`` that raises KL(teacher ‖ student(x + δ)): PGD from a random start.

    Gradients are taken with respect to ``δ`` only (the student's own gradients are untouched)."""
    if eps < 0 or steps < 0:
        raise ConfigError(f"adv_eps and adv_steps must not be negative, got {eps} and {steps}.")
    delta = (torch.rand_like(x) * 2 - 1) * eps
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = kl_with_temperature(student(x + delta), target_logits, tau)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + eps / 2 * grad.sign()).clamp(-eps, eps)
    return delta.detach()


def adversarial_kl(inp: LossInput, eps: float = 0.05, steps: int = 3) -> Tensor:
    """The soft-label KL of the student on the batch's features under an adversarial perturbation
    (`adversarial_delta` of radius ``eps``, ``steps`` PGD steps)."""
    student, x = inp.student, inp.x
    if student is None or x is None:
        raise ConfigError("adversarial_kl needs the student and its input features (LossInput.student and .x).")
    xb = select_rows(x, inp.nodes)
    xb = xb.to_dense() if xb.layout == torch.sparse_csr else xb
    target = inp.teacher["logits"][inp.nodes]
    delta = adversarial_delta(student, xb, target, eps, steps, inp.temperature)
    return kl_with_temperature(student(xb + delta), target, inp.temperature)


@register_loss("adversarial_kl")
class AdversarialKL(LossTerm):
    """`adversarial_kl` with its radius and step count."""

    def __init__(self, eps: float = 0.05, steps: int = 3):
        super().__init__()
        self.eps, self.steps = float(eps), int(steps)

    @classmethod
    def build(cls, student: nn.Module, knowledge: Mapping[str, Tensor], settings: Mapping[str, Any]) -> LossTerm:
        return cls(settings.get("adv_eps", 0.05), settings.get("adv_steps", 3))

    def forward(self, inp: LossInput) -> Tensor:
        return adversarial_kl(inp, self.eps, self.steps)


# NOSMOG's weight 0.1 for its adversarial term and for cora's similarity term, an eps between its per-dataset
# values (0.04-0.1).
@dataclass(frozen=True)
class RSDSettings(Settings):
    what: ClassVar[str] = "rsd"
    w_rsd: float = setting(0.1, "weight of the representation-similarity term")


@dataclass(frozen=True)
class AdversarialSettings(Settings):
    what: ClassVar[str] = "adv"
    w_adversarial_kl: float = setting(0.1, "weight of the adversarial soft-label KL")
    adv_eps: float = setting(0.05, "radius of the feature perturbation (max-norm)")
    adv_steps: int = setting(3, "PGD steps that build the perturbation")


register_method(Method("pos", {}, needs_teacher=False, inputs=("position",),
                       description="position features: DeepWalk embeddings of the observed graph as extra inputs",
                       settings=PositionSettings))
register_method(Method("rsd", {"rsd": 1.0}, description="representation-similarity distillation",
                       settings=RSDSettings))
register_method(Method("adv", {"adversarial_kl": 1.0}, description="adversarial feature augmentation",
                       settings=AdversarialSettings))
