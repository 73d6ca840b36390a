"""FF-G2M (Wu et al., AAAI 2023): full-frequency GNN-to-MLP distillation.

Two loss terms over the edges of the *observed* graph (held-out inductive nodes and their edges are
already gone from ``LossInput.edge_index``):

* ``lfd`` (low-frequency distillation): for every edge ``(i, j)`` and every node with itself,
  ``KL(softmax(t_j / τ) ‖ softmax(s_i / τ))`` — the student at ``i`` matches the teacher at ``j``.
* ``hfd`` (high-frequency distillation): for every edge ``(i, j)`` (``i ≠ j``),
  ``KL(softmax(|t_i − t_j| / τ) ‖ softmax(|s_i − s_j| / τ))`` — the student's per-class logit
  differences to its neighbours match the teacher's.

``s`` are student logits, ``t`` teacher logits; both terms are averaged over their pairs and scaled by
``τ²`` like `g2m.distill.losses.kl_with_temperature`. The teacher side never receives gradients.
LFD regroups its pairs by student node (teacher probabilities summed over each node's neighbours). In
full-batch training the pairs and the teacher's side of both terms do not change between steps, so they
are computed once per run (``LossInput.cache``). HFD pairs beyond :data:`EDGE_CHUNK` are processed in
chunks, each recomputed during backward (activation checkpointing), so memory beyond the edge list itself
stays bounded by the chunk size.

In minibatch training the terms use the pairs whose source ``i`` is in the batch; the student is run
on the destination nodes outside the batch (``LossInput.student`` on rows of ``LossInput.x``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from g2m.config import Settings, setting
from g2m.distill.losses import LossInput, LossTerm, register_loss
from g2m.distill.methods import Method, register_method
from g2m.errors import ConfigError
from g2m.graph_inputs import select_rows
from g2m.utils.rows import take_rows

EDGE_CHUNK = 1 << 20  # pairs per chunk; above this, chunks are checkpointed


def _kl_rows_sum(student_logits: Tensor, teacher_logits: Tensor, tau: float) -> Tensor:
    """Σ over rows of KL(softmax(t/τ) ‖ softmax(s/τ))."""
    log_p_s = F.log_softmax(student_logits / tau, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / tau, dim=-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum()


def _chunked_mean(pair_sum: Callable[[Tensor], Tensor], num_pairs: int, chunk_size: int,
                  device: torch.device) -> Tensor:
    """Mean of ``pair_sum`` over ``num_pairs`` pairs, evaluated ``chunk_size`` pairs at a time."""
    if num_pairs == 0:
        return torch.zeros((), device=device)
    if chunk_size <= 0:
        raise ConfigError(f"edge chunk size must be positive, got {chunk_size}.")
    if num_pairs <= chunk_size:
        return pair_sum(torch.arange(num_pairs, device=device)) / num_pairs
    total = torch.zeros((), device=device)
    for start in range(0, num_pairs, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, num_pairs), device=device)
        total = total + checkpoint(pair_sum, rows, use_reentrant=False)
    return total / num_pairs


def low_frequency_targets(teacher: Tensor, s_src: Tensor, t_dst: Tensor, num_rows: int, tau: float = 1.0,
                          chunk_size: int = EDGE_CHUNK) -> tuple[Tensor, Tensor]:
    """The teacher side of `low_frequency_kl` (no gradient): ``(A, Σ_k Σ_c p log p)`` with
    ``A_i = Σ_{k: s_src[k]=i} p_t(t_dst[k])``, accumulated ``chunk_size`` pairs at a time."""
    if chunk_size <= 0:
        raise ConfigError(f"edge chunk size must be positive, got {chunk_size}.")
    with torch.no_grad():
        log_p_t = F.log_softmax(teacher.detach().float() / tau, dim=-1)
        p_t = log_p_t.exp()
        neg_entropy = (p_t * log_p_t).sum(-1)
        agg = torch.zeros(num_rows, p_t.size(1), dtype=p_t.dtype, device=teacher.device)
        const = torch.zeros((), dtype=p_t.dtype, device=teacher.device)
        for start in range(0, s_src.numel(), chunk_size):
            src, dst = s_src[start:start + chunk_size], t_dst[start:start + chunk_size]
            agg.index_add_(0, src, p_t[dst])
            const += neg_entropy[dst].sum()
    return agg, const


def low_frequency_kl(student: Tensor, s_src: Tensor, teacher: Tensor, t_dst: Tensor, tau: float = 1.0,
                     chunk_size: int = EDGE_CHUNK, targets: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Mean over pairs ``k`` of ``KL(softmax(teacher[t_dst[k]]/τ) ‖ softmax(student[s_src[k]]/τ)) · τ²``.

    Computed exactly without per-pair student tensors: KL = Σ p_t log p_t − Σ p_t log q_s, and the second
    sum regroups by student row as ``Σ_i <A_i, log q_s(i)>`` (`low_frequency_targets`, which ``targets``
    may pass precomputed: they do not change while the pairs and the teacher do not). Memory is linear in nodes.
    """
    num_pairs = s_src.numel()
    if num_pairs == 0:
        return student.sum() * 0.0
    agg, const = targets if targets is not None else low_frequency_targets(
        teacher, s_src, t_dst, student.size(0), tau, chunk_size)
    log_q_s = F.log_softmax(student / tau, dim=-1)
    return (const - (agg * log_q_s).sum()) / num_pairs * tau * tau


def high_frequency_targets(teacher: Tensor, t_src: Tensor, t_dst: Tensor, tau: float = 1.0) -> tuple[Tensor, Tensor]:
    """The teacher side of `high_frequency_kl` (no gradient): per pair ``p = softmax(|t_i − t_j|/τ)`` and
    ``Σ_k Σ_c p log p``."""
    with torch.no_grad():
        log_p_t = F.log_softmax((teacher[t_src] - teacher[t_dst]).abs().float() / tau, dim=-1)
        p_t = log_p_t.exp()
        return p_t, (p_t * log_p_t).sum()


def high_frequency_kl(student: Tensor, s_src: Tensor, s_dst: Tensor, teacher: Tensor, t_src: Tensor,
                      t_dst: Tensor, tau: float = 1.0, chunk_size: int = EDGE_CHUNK,
                      targets: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Mean over pairs ``k`` of ``KL(softmax(|t_i − t_j|/τ) ‖ softmax(|s_i − s_j|/τ)) · τ²``.

    ``s_i = student[s_src[k]]``, ``s_j = student[s_dst[k]]``, likewise for the teacher. ``targets``: the
    precomputed `high_frequency_targets` of these pairs (used when they fit in one chunk).
    """
    teacher = teacher.detach()
    num_pairs = s_src.numel()
    if targets is not None and 0 < num_pairs <= chunk_size:
        p_t, const = targets
        log_q = F.log_softmax((take_rows(student, s_src) - take_rows(student, s_dst)).abs() / tau, dim=-1)
        return (const - (p_t * log_q).sum()) / num_pairs * tau * tau

    def pair_sum(rows: Tensor) -> Tensor:
        s_diff = (take_rows(student, s_src[rows]) - take_rows(student, s_dst[rows])).abs()
        t_diff = (teacher[t_src[rows]] - teacher[t_dst[rows]]).abs()
        return _kl_rows_sum(s_diff, t_diff, tau)

    return _chunked_mean(pair_sum, num_pairs, chunk_size, student.device) * tau * tau


def _full_batch_cache(inp: LossInput, key: str, make: Callable[[], object]):
    """``make()``, computed once per training run when the batch is every observed node in the same order (full
    batch): then the edge pairs and the teacher's side of the FF-G2M terms are the same at every step. One batch
    of every node in a new order each epoch (a batch size above the node count) places the nodes at other rows:
    computed afresh."""
    cache = inp.cache
    if cache is None or inp.nodes.numel() != inp.teacher["logits"].size(0):
        return make()
    order = cache.setdefault("batch_order", inp.nodes)
    if order is not inp.nodes and not torch.equal(order, inp.nodes):
        return make()
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _positions(inp: LossInput, num_nodes: int) -> Tensor:
    """Map local node id → row of ``inp.student_logits`` (``-1`` outside the batch)."""
    pos = torch.full((num_nodes,), -1, dtype=torch.long, device=inp.nodes.device)
    pos[inp.nodes] = torch.arange(inp.nodes.numel(), device=inp.nodes.device)
    return pos


def batch_edges(inp: LossInput) -> tuple[Tensor, Tensor]:
    """Edges ``(i, j)`` of the observed graph with ``i`` in the batch and ``i ≠ j`` (local ids)."""
    if inp.edge_index is None:
        raise ConfigError("FF-G2M needs the observed graph: LossInput.edge_index is missing.")
    src, dst = inp.edge_index.to(inp.nodes.device)
    num_nodes = int(inp.teacher["logits"].size(0))
    keep = (src != dst) & (_positions(inp, num_nodes)[src] >= 0)
    return src[keep], dst[keep]


def _chunk(inp: LossInput) -> int:
    if inp.temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {inp.temperature}.")
    return int(EDGE_CHUNK if inp.edge_chunk is None else inp.edge_chunk)


def lfd(inp: LossInput) -> Tensor:
    """Low-frequency distillation: student at ``i`` vs teacher at ``j`` over edges plus self-pairs."""
    teacher, chunk = inp.teacher["logits"], _chunk(inp)

    def pairs() -> tuple[Tensor, Tensor]:
        pos = _positions(inp, teacher.size(0))
        src, dst = batch_edges(inp)
        return (torch.cat([pos[src], torch.arange(inp.nodes.numel(), device=pos.device)]),
                torch.cat([dst, inp.nodes]))

    s_src, t_dst = _full_batch_cache(inp, "lfd_pairs", pairs)
    targets = _full_batch_cache(inp, f"lfd_targets_{inp.temperature}", lambda: low_frequency_targets(
        teacher, s_src, t_dst, inp.student_logits.size(0), inp.temperature, chunk))
    return low_frequency_kl(inp.student_logits, s_src, teacher, t_dst, inp.temperature, chunk, targets)


def hfd(inp: LossInput) -> Tensor:
    """High-frequency distillation: |s_i − s_j| vs |t_i − t_j| (softmax over classes) over edges."""
    teacher, chunk = inp.teacher["logits"], _chunk(inp)
    pos = _positions(inp, teacher.size(0))
    src, dst = _full_batch_cache(inp, "edges", lambda: batch_edges(inp))
    student = inp.student_logits
    full_batch = inp.nodes.numel() == teacher.size(0)
    missing = dst[:0] if full_batch else torch.unique(dst[pos[dst] < 0])
    if missing.numel():  # minibatch: run the student on neighbours outside the batch
        net, x = inp.student, inp.x
        if net is None or x is None:
            raise ConfigError("minibatch FF-G2M needs LossInput.student and LossInput.x for neighbour logits.")
        student = torch.cat([student, net(select_rows(x, missing))])
        pos = pos.clone()
        pos[missing] = torch.arange(inp.nodes.numel(), student.size(0), device=pos.device)
    targets = (_full_batch_cache(inp, f"hfd_targets_{inp.temperature}",
                                 lambda: high_frequency_targets(teacher, src, dst, inp.temperature))
               if src.numel() <= chunk else None)
    return high_frequency_kl(student, pos[src], pos[dst], teacher, src, dst, inp.temperature, chunk, targets)


@register_loss("lfd")
class LowFrequencyKL(LossTerm):
    """`lfd` as a term."""

    def forward(self, inp: LossInput) -> Tensor:
        return lfd(inp)


@register_loss("hfd")
class HighFrequencyKL(LossTerm):
    """`hfd` as a term."""

    def forward(self, inp: LossInput) -> Tensor:
        return hfd(inp)


@dataclass(frozen=True)
class FFG2MSettings(Settings):
    """FF-G2M's settings (its defaults on every dataset; citeseer's lam 0.5, temperature 1.5 are in
    `g2m.config.METHOD_DATASET_DEFAULTS`). batch_size 0: its edge terms were tuned with full-batch students."""

    what: ClassVar[str] = "ffg2m"
    lam: float = setting(0.0, "weight of the label loss (1 - lam goes to distillation)")
    temperature: float = setting(1.0, "distillation temperature (applied inside both terms)")
    w_lfd: float = setting(1.0, "weight of the low-frequency (neighbour soft-label) KL")
    w_hfd: float = setting(1.0, "weight of the high-frequency (neighbour-difference) KL")
    batch_size: int = setting(0, "student nodes per minibatch (0: full batch)")


register_method(Method("ffg2m", {"lfd": 1.0, "hfd": 1.0},
                       description="FF-G2M: low-frequency (neighbour soft-label) + high-frequency "
                                   "(neighbour-difference) KL", settings=FFG2MSettings))
