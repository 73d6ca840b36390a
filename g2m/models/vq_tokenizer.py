"""VQGraph's tokenizer: a teacher GNN whose node embeddings are quantized against a codebook, with decoders
that reconstruct node features and local structure from the codes.

The teacher's node embeddings ``h = gnn.encode(x, A)`` are projected to the code space (``z``), quantized
against an EMA codebook (`g2m.models.vq.VectorQuantizer`), projected back and read by the teacher's own
classifier (``gnn.classify``). Training: `g2m.distill.vq_teacher`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from g2m.errors import ConfigError
from g2m.models.gnn import build_teacher
from g2m.models.vq import VectorQuantizer
from g2m.utils.rows import take_rows

VQ_MODEL_KEYS = ("codebook_size", "code_dim", "code_metric", "code_layer")
CODE_LAYERS = ("embedding", "first")


class VQTokenizerGNN(nn.Module):
    """A teacher GNN whose classifier reads vector-quantized embeddings, plus feature/structure decoders.

    ``forward(x, edge_index)`` returns class logits (``return_hidden=True``: also the pre-quantization
    embeddings ``z`` in code space); `tokenize` returns everything the training loss needs.
    """

    def __init__(self, gnn: nn.Module, in_channels: int, codebook_size: int = 512, code_dim: int = 64,
                 ema_decay: float = 0.95, commitment: float = 0.25, dead_threshold: float = 1e-2,
                 revive_every: int = 10, code_metric: str = "euclidean", code_layer: str = "embedding"):
        super().__init__()
        if not (hasattr(gnn, "encode") and hasattr(gnn, "classify")):
            raise ConfigError(f"{type(gnn).__name__} has no encode/classify split; the VQ tokenizer needs one.")
        if code_layer not in CODE_LAYERS:
            raise ConfigError(f"code_layer must be one of {', '.join(CODE_LAYERS)}, got {code_layer!r}.")
        # "first" differs from "embedding" only for teachers with more than two layers
        self.split_at = 1 if code_layer == "first" and getattr(gnn, "num_layers", 2) > 2 else None
        if self.split_at is not None and not hasattr(gnn, "hidden_layers"):
            raise ConfigError(f"code_layer 'first' needs a layer-by-layer GNN; {type(gnn).__name__} is not one.")
        hidden = gnn.hidden_channels
        self.gnn, self.code_layer = gnn, code_layer
        self.in_channels, self.codebook_size, self.code_dim = in_channels, codebook_size, code_dim
        self.pre = nn.Linear(hidden, code_dim)
        self.quantizer = VectorQuantizer(codebook_size, code_dim, decay=ema_decay, beta=commitment,
                                         dead_threshold=dead_threshold, revive_every=revive_every,
                                         metric=code_metric)
        self.post = nn.Linear(code_dim, hidden)
        self.feature_decoder = nn.Linear(code_dim, in_channels)
        self.structure_decoder = nn.Linear(code_dim, code_dim)

    @property
    def codebook(self) -> Tensor:
        return self.quantizer.codebook

    @property
    def receptive_field(self) -> int | None:
        """Hops of graph that determine a node's output: its GNN's (codes are per node); None for APPNP."""
        return getattr(self.gnn, "receptive_field", None)

    def tokenize(self, x: Tensor, edge_index: Tensor, quantize: bool = True) -> dict[str, Tensor]:
        """``z`` (code-space embeddings), ``q`` (straight-through quantized), ``codes``, ``commit``, ``logits``.

        ``quantize=False`` (warm-up only) feeds ``z`` itself to the classifier and leaves the codebook alone.
        """
        h = (self.gnn.encode(x, edge_index) if self.split_at is None
             else self.gnn.hidden_layers(x, edge_index, 0, self.split_at))
        z = self.quantizer.prepare(self.pre(h))  # unit vectors for a cosine codebook
        if quantize:
            q, codes, commit = self.quantizer(z)
        else:
            q, codes, commit = z, z.new_zeros(z.size(0), dtype=torch.long), z.sum() * 0.0
        h = self.post(q)
        if self.split_at is not None:
            h = self.gnn.hidden_layers(h, edge_index, self.split_at)
        logits = self.gnn.classify(h, edge_index)
        return {"z": z, "q": q, "codes": codes, "commit": commit, "logits": logits}

    @torch.no_grad()
    def tokenize_layerwise(self, x: Tensor, edge_index: Tensor, chunk_size: int,
                           quantize: bool = True) -> dict[str, Tensor]:
        """`tokenize` in eval mode (``z``, ``codes``, ``logits``; ``quantize=False``: ``z`` only), computed layer
        by layer over chunks of ``chunk_size`` nodes (`g2m.inference.layerwise_inference`): the same outputs
        with the memory of a chunk and its one-hop neighbourhood. Results are on the CPU."""
        self.eval()
        device, last = self.pre.weight.device, self.gnn.num_layers - 1
        split = self.split_at if self.split_at is not None else last
        h = self.gnn.inference(x, edge_index, chunk_size, layers=(0, split))[0]
        z, codes, post = [], [], []
        for rows in torch.arange(h.size(0)).split(chunk_size):
            zc = self.quantizer.prepare(self.pre(h[rows].to(device)))
            z.append(zc.cpu())
            if quantize:
                q, c, _ = self.quantizer(zc)
                codes.append(c.cpu())
                post.append(self.post(q).cpu())
        if not quantize:
            return {"z": torch.cat(z)}
        h = torch.cat(post)
        if self.split_at is not None:
            h = self.gnn.inference(h, edge_index, chunk_size, layers=(split, last))[0]
        logits = self.gnn.inference(h, edge_index, chunk_size, layers=(last, last + 1))[0]
        return {"z": torch.cat(z), "codes": torch.cat(codes), "logits": logits}

    def edge_logits(self, q: Tensor, pairs: Tensor) -> Tensor:
        """Decoder score of node pairs ``[2, P]`` from their quantized codes (O(P), never N×N)."""
        s = self.structure_decoder(q)
        return (take_rows(s, pairs[0]) * take_rows(s, pairs[1])).sum(-1) / self.code_dim ** 0.5

    def forward(self, x: Tensor, edge_index: Tensor, return_hidden: bool = False):
        out = self.tokenize(x, edge_index)
        return (out["logits"], out["z"]) if return_hidden else out["logits"]


def build_vq_model(in_channels: int, out_channels: int, name: str, **kwargs: Any) -> VQTokenizerGNN:
    """Rebuild a VQ teacher from checkpoint kwargs (the GNN's ``teacher.MODEL_KEYS`` and ``VQ_MODEL_KEYS``)."""
    vq_kw = {k: kwargs.pop(k) for k in VQ_MODEL_KEYS if k in kwargs}
    gnn = build_teacher(name, in_channels, out_channels, **kwargs)
    return VQTokenizerGNN(gnn, in_channels, **vq_kw)
