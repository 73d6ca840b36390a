"""VQGraph's student side: soft-code-assignment distillation, and the ``vqgraph`` method.

The teacher (trainer ``"vq"``, `g2m.distill.vq_teacher`) quantizes its node embeddings against a codebook.
Term ``soft_code_kl``: the teacher's soft code assignment ``softmax(-||z - c||² / tau)`` is matched by the
student's (its hidden layer through a learned linear map into the code space, same similarity, same
temperature), looked up by local node id. Method ``vqgraph`` = soft labels + soft codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from g2m.config import Settings, setting
from g2m.distill.losses import LossInput, LossTerm, register_loss
from g2m.distill.methods import Method, register_method
from g2m.errors import ConfigError
from g2m.models.vq import code_logits


def _code_projection(student: nn.Module, knowledge: dict[str, Tensor]) -> nn.Module:
    """The student's map from its hidden layer into the teacher's code space (a linear layer)."""
    if "codebook" not in knowledge:
        raise ConfigError("soft_code_kl needs a VQ teacher (trainer 'vq'); use method 'vqgraph'.")
    return nn.Linear(student.hidden_channels, knowledge["codebook"].size(1))


# Teacher targets of at most this many floats (N × K) are computed once per run and kept (≈ 200 MB);
# larger ones are recomputed per batch, under no_grad, from the teacher's code vectors.
TEACHER_TARGET_CACHE_FLOATS = 50_000_000


def teacher_code_targets(code_z: Tensor, codebook: Tensor, tau: float, nodes: Tensor,
                         cache: dict | None = None) -> tuple[Tensor, Tensor]:
    """The teacher's soft code assignment ``p`` of ``nodes`` and its ``Σ p log p`` per node (fixed targets).

    With a ``cache`` dict and a small enough N × K, computed once for all nodes and reused every step."""
    @torch.no_grad()
    def targets(z: Tensor) -> tuple[Tensor, Tensor]:
        log_p = F.log_softmax(code_logits(z, codebook, tau), dim=-1)
        p = log_p.exp()
        return p, (p * log_p).sum(-1)

    if cache is None or code_z.size(0) * codebook.size(0) > TEACHER_TARGET_CACHE_FLOATS:
        return targets(code_z[nodes])
    key = ("soft_code_targets", tau, codebook.data_ptr(), code_z.data_ptr())
    if key not in cache:
        cache[key] = targets(code_z)
    p, neg_entropy = cache[key]
    return p[nodes], neg_entropy[nodes]


def soft_code_kl(inp: LossInput, projection: nn.Module | None = None, code_temperature: float = 3.0) -> Tensor:
    """KL(teacher ‖ student) of soft code assignments over the shared codebook, for the batch's node ids; the
    student's hidden rows pass through ``projection`` into the code space, similarities are divided by
    ``code_temperature``.

    = mean over the batch of ``Σ_k p_t log p_t − Σ_k p_t log p_s``: the teacher's side is fixed (computed
    once, `teacher_code_targets`), the student's log-assignments come from one matmul (`code_logits`)."""
    if "codebook" not in inp.teacher or "code_z" not in inp.teacher:
        raise ConfigError("soft_code_kl needs a VQ teacher (trainer 'vq'); use method 'vqgraph'.")
    if inp.student_hidden is None:
        raise ConfigError("soft_code_kl needs the student's hidden representation.")
    codebook = inp.teacher["codebook"]
    tau = float(code_temperature)
    if tau <= 0:
        raise ConfigError(f"code_temperature must be positive, got {tau}.")
    h = projection(inp.student_hidden) if projection is not None else inp.student_hidden
    if bool(inp.teacher.get("code_unit_norm", False)):  # a cosine codebook: the student maps to unit vectors too
        h = F.normalize(h, dim=-1)
    if h.size(-1) != codebook.size(1):
        raise ConfigError(f"student code dim {h.size(-1)} != codebook dim {codebook.size(1)}.")
    p_t, neg_entropy = teacher_code_targets(inp.teacher["code_z"], codebook, tau, inp.nodes, inp.cache)
    log_s = F.log_softmax(code_logits(h, codebook, tau), dim=-1)
    return (neg_entropy.sum() - (p_t * log_s).sum()) / h.size(0)


@register_loss("soft_code_kl")
class SoftCodeKL(LossTerm):
    """`soft_code_kl` with the student's projection into the code space as a trainable sub-module."""

    def __init__(self, projection: nn.Module | None = None, code_temperature: float = 3.0):
        super().__init__()
        self.projection, self.code_temperature = projection, float(code_temperature)

    @classmethod
    def build(cls, student: nn.Module, knowledge: Mapping[str, Tensor], settings: Mapping[str, Any]) -> LossTerm:
        return cls(_code_projection(student, knowledge),
                   settings.get("code_temperature", VQGraphSettings.code_temperature))

    def forward(self, inp: LossInput) -> Tensor:
        return soft_code_kl(inp, self.projection, self.code_temperature)


@dataclass(frozen=True)
class VQGraphSettings(Settings):
    """VQGraph's student side: label CE (lam), soft-label KL and soft-code KL weights, code temperature.
    Code temperature 3 > 1 on validation on all four CPF datasets (the sweeps in docs/results/vq_sweep/, seeds
    0-2 on cora/citeseer, 0-1 on the Amazon pair; exact splits, transductive); code weight 5 was no better
    than 1 on cora and citeseer. The tokenizer's settings: `g2m.config.VQSettings`."""

    what: ClassVar[str] = "vqgraph"
    lam: float = setting(0.0, "weight of the label loss (1 - lam goes to distillation)")
    temperature: float = setting(1.0, "soft-label distillation temperature")
    w_soft_label_kl: float = setting(1.0, "weight of the soft-label KL")
    w_soft_code_kl: float = setting(1.0, "weight of the soft-code KL")
    code_temperature: float = setting(3.0, "temperature of the soft code assignments (same similarity as the "
                                           "quantizer)")


register_method(Method("vqgraph", {"soft_label_kl": 1.0, "soft_code_kl": 1.0}, teacher_trainer="vq",
                       description="VQGraph: soft labels + soft code assignments from a VQ tokenizer teacher",
                       settings=VQGraphSettings))
