"""Vector quantizer with an EMA-updated codebook, k-means initialisation and dead-code revival.

The codebook is **not** trained by gradient: after every training-mode forward pass it moves towards the
mean of the vectors assigned to each code with an exponential moving average (VQ-VAE, van den Oord et al.
2017, appendix; Laplace-smoothed counts). Encoder outputs receive gradients through the straight-through
estimator and the commitment loss ``||z - sg(q)||²``. Assignment and soft assignment use one similarity, the
negative squared Euclidean distance (`code_similarity` writes it plainly; `nearest_code` and `code_logits`
compute it without [N, K] temporaries), shared by the teacher and the student.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def code_similarity(z: Tensor, codebook: Tensor) -> Tensor:
    """Similarity of every row of ``z`` [N, D] to every code [K, D]: ``-||z - c||²`` ([N, K])."""
    z2 = (z * z).sum(-1, keepdim=True)
    c2 = (codebook * codebook).sum(-1)
    return -(z2 - 2.0 * z @ codebook.t() + c2).clamp_min(0.0)


def code_logits(z: Tensor, codebook: Tensor, temperature: float = 1.0) -> Tensor:
    """Logits whose softmax equals ``softmax(-||z - c||² / temperature)``: ``(2 z·cᵀ − ‖c‖²) / temperature``.

    The dropped ``−‖z‖²`` is the same for every code of a row, so softmax is unchanged; one ``addmm`` makes
    the [N, K] matrix (no [N, K] temporaries for ‖z‖², the clamp or the sign)."""
    c2 = (codebook * codebook).sum(-1)
    return torch.addmm(c2.unsqueeze(0), z, codebook.t(), beta=-1.0 / temperature, alpha=2.0 / temperature)


def soft_code_assignment(z: Tensor, codebook: Tensor, temperature: float = 1.0, log: bool = False) -> Tensor:
    """``softmax(-||z - c||² / temperature)`` over the codebook (or its log), via `code_logits`."""
    logits = code_logits(z, codebook, temperature)
    return F.log_softmax(logits, dim=-1) if log else F.softmax(logits, dim=-1)


def nearest_code(z: Tensor, codebook: Tensor, chunk: int = 512) -> Tensor:
    """Index of the nearest code (Euclidean) of every row of ``z``: ``argmax(z·cᵀ − ½‖c‖²)``, ``chunk`` rows
    at a time, so memory stays ``chunk × K`` whatever the number of rows."""
    neg_half = -0.5 * (codebook * codebook).sum(-1).unsqueeze(0)
    out = torch.empty(z.size(0), dtype=torch.long, device=z.device)
    for i in range(0, z.size(0), chunk):
        out[i:i + chunk] = torch.addmm(neg_half, z[i:i + chunk], codebook.t()).argmax(-1)
    return out


@torch.no_grad()
def kmeans(x: Tensor, num_clusters: int, iters: int = 10, generator: torch.Generator | None = None) -> Tensor:
    """Lloyd's k-means (k-means++-free, random rows as seeds; empty clusters keep their centre)."""
    n = x.size(0)
    idx = torch.randint(n, (num_clusters,), generator=generator, device="cpu").to(x.device) if n < num_clusters \
        else torch.randperm(n, generator=generator, device="cpu")[:num_clusters].to(x.device)
    centres = x[idx].clone()
    for _ in range(iters):
        assign = nearest_code(x, centres)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=num_clusters).to(x.dtype)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return centres


METRICS = ("euclidean", "cosine")


class VectorQuantizer(nn.Module):
    """Quantize ``[N, embedding_dim]`` vectors against ``num_codes`` codes.

    ``forward(z)`` returns ``(q_st, codes, commit_loss)``: the straight-through quantized vectors, the index
    of the nearest code per row, and ``beta * ||z - sg(q)||²``. In training mode it also (1) initialises the
    codebook by k-means on the first batch it sees, (2) applies the EMA update with ``decay``, and
    (3) every ``revive_every`` updates, replaces codes whose EMA count fell below ``dead_threshold`` with
    random current encoder outputs (dead-code revival). ``metric="cosine"`` (the VQGraph reference code's
    codebook) quantizes unit vectors against unit-norm codes: inputs are L2-normalised first (`prepare`),
    codes are renormalised after every update, and the nearest code is the most cosine-similar one.
    """

    def __init__(self, num_codes: int, embedding_dim: int, decay: float = 0.99, beta: float = 0.25,
                 eps: float = 1e-5, kmeans_init: bool = True, kmeans_iters: int = 10, dead_threshold: float = 1e-2,
                 revive_every: int = 10, metric: str = "euclidean"):
        super().__init__()
        if num_codes < 1 or embedding_dim < 1:
            raise ValueError("num_codes and embedding_dim must be positive")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        self.metric = metric
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.num_codes, self.embedding_dim = num_codes, embedding_dim
        self.decay, self.beta, self.eps = decay, beta, eps
        self.kmeans_iters, self.dead_threshold, self.revive_every = kmeans_iters, dead_threshold, revive_every
        self.register_buffer("codebook", torch.randn(num_codes, embedding_dim) / math.sqrt(embedding_dim))
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("initialised", torch.tensor(not kmeans_init))
        self.register_buffer("num_updates", torch.tensor(0, dtype=torch.long))
        self.revived = 0  # codes revived so far (diagnostic)

    def prepare(self, z: Tensor) -> Tensor:
        """The vectors actually quantized: ``z`` itself, or ``z / ‖z‖`` for the cosine metric."""
        return F.normalize(z, dim=-1) if self.metric == "cosine" else z

    def _normalise_codes(self, codes: Tensor) -> Tensor:
        return F.normalize(codes, dim=-1) if self.metric == "cosine" else codes

    @torch.no_grad()
    def init_codebook(self, z: Tensor) -> None:
        """k-means initialisation from data ``z``."""
        z = self.prepare(z)
        centres = self._normalise_codes(kmeans(z.detach(), self.num_codes, iters=self.kmeans_iters))
        self.codebook.copy_(centres)
        counts = torch.bincount(self.assign(z), minlength=self.num_codes).to(z.dtype)
        self.ema_count.copy_(counts.clamp_min(1.0))
        self.ema_sum.copy_(centres * self.ema_count[:, None])
        self.initialised.fill_(True)

    def assign(self, z: Tensor) -> Tensor:
        """Index of the nearest code for every row of ``z`` (`nearest_code`, chunked; for unit vectors the
        nearest code is the most cosine-similar one)."""
        return nearest_code(self.prepare(z), self.codebook)

    @torch.no_grad()
    def ema_update(self, z: Tensor, codes: Tensor) -> None:
        """Move every used code towards the mean of the vectors assigned to it (EMA, Laplace smoothing)."""
        one_hot_count = torch.bincount(codes, minlength=self.num_codes).to(z.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, codes, z.detach())
        self.ema_count.mul_(self.decay).add_(one_hot_count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n
        self.codebook.copy_(self._normalise_codes(self.ema_sum / smoothed[:, None]))
        self.num_updates += 1
        if self.revive_every and int(self.num_updates) % self.revive_every == 0:
            self.revive_dead_codes(z)

    @torch.no_grad()
    def revive_dead_codes(self, z: Tensor) -> int:
        """Replace codes with EMA count below ``dead_threshold`` by random rows of ``z``; return how many."""
        dead = (self.ema_count < self.dead_threshold).nonzero().flatten()
        if dead.numel() == 0 or z.size(0) == 0:
            return 0
        rows = torch.randint(z.size(0), (dead.numel(),), device=z.device)
        new = self.prepare(z.detach()[rows])
        self.codebook[dead] = new
        self.ema_sum[dead] = new
        self.ema_count[dead] = 1.0
        self.revived += int(dead.numel())
        return int(dead.numel())

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if z.dim() != 2 or z.size(-1) != self.embedding_dim:
            raise ValueError(f"expected [N, {self.embedding_dim}] inputs, got {tuple(z.shape)}")
        if self.training and not bool(self.initialised):
            self.init_codebook(z)
        z = self.prepare(z)
        codes = self.assign(z.detach())
        q = self.codebook[codes]
        commit = self.beta * F.mse_loss(z, q.detach())
        if self.training:
            self.ema_update(z, codes)
        q_st = z + (q - z).detach()
        return q_st, codes, commit

    @torch.no_grad()
    def usage(self, codes: Tensor) -> dict[str, float]:
        """Codebook usage of ``codes``: perplexity, used and dead (never assigned) codes."""
        counts = torch.bincount(codes.flatten(), minlength=self.num_codes).float()
        p = counts / counts.sum().clamp_min(1.0)
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        used = int((counts > 0).sum())
        return {"perplexity": float(entropy.exp()), "used_codes": used, "dead_codes": self.num_codes - used,
                "num_codes": self.num_codes, "revived_codes": self.revived}

    def extra_repr(self) -> str:
        return f"{self.num_codes}, {self.embedding_dim}, decay={self.decay}, beta={self.beta}"
