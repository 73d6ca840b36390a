"""VQGraph: a structure-aware VQ tokenizer trained with the teacher GNN, and soft-code-assignment distillation.

Teacher side (trainer ``"vq"``): the teacher's node embeddings ``h = gnn.encode(x, A)`` are projected to the
code space (``z``), quantized against an EMA codebook (`g2m.models.vq.VectorQuantizer`), projected
back and read by the teacher's own classifier (``gnn.classify``). Decoders reconstruct the node features
and the local structure (observed edges vs uniformly sampled non-edges: linear in the number of edges, no
dense N×N matrix) from the quantized codes. Loss: ``CE + w_feat * MSE + w_struct * BCE + commitment``.

Student side (term ``soft_code_kl``): the teacher's soft code assignment ``softmax(-||z - c||² / tau)``
is matched by the student's (its hidden layer through a learned linear map into the code space, same
similarity, same temperature), looked up by local node id. Method ``vqgraph`` = soft labels + soft codes.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from g2m.config import VQ_DEFAULTS, Settings, setting, teacher_config, vq_config
from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import NodeSplit
from g2m.distill.losses import LossInput, LossTerm, register_loss
from g2m.distill.methods import Method, register_method
from g2m.errors import ConfigError
from g2m.models import TEACHERS, build_teacher
from g2m.models.vq import VectorQuantizer, code_logits
from g2m.teacher import MODEL_KEYS, TEACHER_BUILDERS, TEACHER_TRAINERS, TeacherRun, _local, inference_chunk, train_teacher
from g2m.training import (accuracy, as_model_input, fit, graph_input, sample_fan_out, select_rows,
                          subgraph_inputs)

VQ_MODEL_KEYS = ("codebook_size", "code_dim", "code_metric", "code_layer")
CODE_LAYERS = ("embedding", "first")
LABEL_SOURCES = ("auto", "quantized", "plain")


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
        return (s[pairs[0]] * s[pairs[1]]).sum(-1) / self.code_dim ** 0.5

    def forward(self, x: Tensor, edge_index: Tensor, return_hidden: bool = False):
        out = self.tokenize(x, edge_index)
        return (out["logits"], out["z"]) if return_hidden else out["logits"]


def structure_loss(model: VQTokenizerGNN, q: Tensor, edge_index: Tensor, num_nodes: int, neg_ratio: int = 1,
                   max_edges: int = 0, generator: torch.Generator | None = None) -> Tensor:
    """BCE of the decoder on observed edges (label 1) and uniformly sampled node pairs (label 0).

    Cost and memory are linear in the number of (sampled) edges; ``max_edges > 0`` subsamples edges.
    """
    if edge_index.numel() == 0:
        return q.sum() * 0.0
    pos = edge_index
    if max_edges and pos.size(1) > max_edges:
        pos = pos[:, torch.randperm(pos.size(1), device=pos.device)[:max_edges]]
    neg = torch.randint(num_nodes, (2, pos.size(1) * max(int(neg_ratio), 1)), device=pos.device)
    scores = model.edge_logits(q, torch.cat([pos, neg], dim=1))
    target = torch.cat([scores.new_ones(pos.size(1)), scores.new_zeros(neg.size(1))])
    return F.binary_cross_entropy_with_logits(scores, target)


def feature_loss(model: VQTokenizerGNN, q: Tensor, x: Tensor, recon_nodes: int = 0) -> Tensor:
    """MSE between decoded and true features on ``recon_nodes`` random nodes (all when 0)."""
    n = q.size(0)
    idx = torch.randperm(n, device=q.device)[:recon_nodes] if recon_nodes and recon_nodes < n \
        else torch.arange(n, device=q.device)
    target = select_rows(x, idx)
    target = target.to_dense() if target.layout != torch.strided else target
    return F.mse_loss(model.feature_decoder(q[idx]), target)


def build_vq_model(in_channels: int, out_channels: int, name: str, **kwargs: Any) -> VQTokenizerGNN:
    """Rebuild a VQ teacher from checkpoint kwargs (the GNN's ``teacher.MODEL_KEYS`` and ``VQ_MODEL_KEYS``)."""
    vq_kw = {k: kwargs.pop(k) for k in VQ_MODEL_KEYS if k in kwargs}
    gnn = build_teacher(name, in_channels, out_channels, **kwargs)
    return VQTokenizerGNN(gnn, in_channels, **vq_kw)


def _check_vq(cfg: dict[str, Any]) -> None:
    for key in ("codebook_size", "code_dim"):
        if not isinstance(cfg[key], int) or cfg[key] < 1:
            raise ConfigError(f"{key} must be a positive integer, got {cfg[key]!r}.")
    if not 0.0 <= float(cfg["ema_decay"]) < 1.0:
        raise ConfigError(f"ema_decay must be in [0, 1), got {cfg['ema_decay']}.")
    for key in ("commitment", "w_feat", "w_struct"):
        if float(cfg[key]) < 0:
            raise ConfigError(f"{key} must be non-negative, got {cfg[key]}.")
    if cfg.get("code_metric", "euclidean") not in ("euclidean", "cosine"):
        raise ConfigError(f"code_metric must be 'euclidean' or 'cosine', got {cfg['code_metric']!r}.")
    if int(cfg["neg_ratio"]) < 1:
        raise ConfigError(f"neg_ratio must be at least 1, got {cfg['neg_ratio']}.")
    if cfg["code_layer"] not in CODE_LAYERS:
        raise ConfigError(f"code_layer must be one of {', '.join(CODE_LAYERS)}, got {cfg['code_layer']!r}.")
    if cfg["label_source"] not in LABEL_SOURCES:
        raise ConfigError(f"label_source must be one of {', '.join(LABEL_SOURCES)}, got {cfg['label_source']!r}.")
    for key in ("tokenizer_fan_out", "tokenizer_batch_size"):
        if not isinstance(cfg[key], int) or cfg[key] < 0:
            raise ConfigError(f"{key} must be a non-negative integer (0 = all), got {cfg[key]!r}.")


def choose_label_source(mode: str, quantized_val: float, plain_val: float | None, margin: float) -> str:
    """Whose soft labels the student learns: ``"quantized"`` or ``"plain"``.

    ``mode="auto"``: the plain teacher's when the quantized teacher is more than ``margin`` points below it on
    validation (the tokenizer's codes are distilled either way); ``"quantized"``/``"plain"``: as named."""
    if mode == "auto":
        return "plain" if plain_val is not None and quantized_val < plain_val - margin else "quantized"
    return mode


@TEACHER_TRAINERS.register("vq")
def train_vq_teacher(dataset: NodeDataset, split: NodeSplit, model: str = "sage", device: str | torch.device = "cpu",
                     **overrides: Any) -> TeacherRun:
    """Train teacher ``model`` and the VQ tokenizer jointly on ``split``'s observed graph.

    With ``warm_start`` or a ``label_source`` other than ``"quantized"``, the plain teacher is trained first
    (`g2m.teacher.train_teacher`, the same model the ``"standard"`` trainer makes for this seed) and the
    tokenizer's GNN starts from its weights. Then: warm-up without quantization, k-means initialisation of the
    codebook, joint training; early stopping on validation accuracy of the quantized classifier throughout.
    The tokenizer trains full-batch, or on sampled computation subgraphs (``tokenizer_fan_out``,
    ``tokenizer_batch_size``). Knowledge for students (rows = local node ids): ``logits`` (of the teacher
    `choose_label_source` picks), ``code_z`` (embeddings in code space), ``codes``, ``codebook``.
    ``extra_metrics``: codebook usage (perplexity, used/dead codes), both teachers' accuracies, and
    ``plain_labels`` (1 when the student learns the plain teacher's labels).
    """
    if model not in TEACHERS:
        TEACHERS.get(model)
    vq_over = {k: overrides.pop(k) for k in list(overrides) if k in VQ_DEFAULTS}
    vcfg = vq_config(dataset.name, **vq_over)
    _check_vq(vcfg)
    cfg = {**teacher_config(dataset.name, model, **overrides), **vcfg}
    if vcfg["tokenizer_batch_size"] and not hasattr(TEACHERS.get(model), "receptive_field"):
        raise ConfigError(f"{model} propagates over the whole graph (e.g. APPNP): leave tokenizer_batch_size at 0.")
    device = torch.device(device)
    start = time.perf_counter()
    plain = (train_teacher(dataset, split, model, device=device, **overrides)
             if vcfg["warm_start"] or vcfg["label_source"] != "quantized" else None)
    data = dataset.data
    obs_data, local = split.observed_graph(data)
    x = as_model_input(obs_data.x).to(device)
    edge_index = obs_data.edge_index.to(device)
    y = obs_data.y.to(device)
    n = obs_data.num_nodes
    train_idx, val_idx, test_idx = (_local(local, i).to(device) for i in (split.train, split.val, split.test))

    model_kwargs = {k: cfg[k] for k in MODEL_KEYS if k in cfg}
    if plain is not None and vcfg["warm_start"]:
        gnn = copy.deepcopy(plain.model)
    else:
        try:
            gnn = build_teacher(model, dataset.num_features, dataset.num_classes, **model_kwargs)
        except ValueError as exc:
            raise ConfigError(f"invalid {model} teacher settings: {exc}") from exc
    net = VQTokenizerGNN(gnn, dataset.num_features, codebook_size=vcfg["codebook_size"], code_dim=vcfg["code_dim"],
                         ema_decay=vcfg["ema_decay"], commitment=vcfg["commitment"],
                         dead_threshold=vcfg["dead_threshold"], revive_every=vcfg["revive_every"],
                         code_metric=vcfg["code_metric"], code_layer=vcfg["code_layer"]).to(device)
    graph = graph_input(gnn, edge_index, n)  # CSR adjacency where the GNN supports it (same function, faster)
    # On large graphs (or with inference_chunk_size): whole-graph passes layer by layer in chunks, and validation
    # on the validation nodes' computation subgraph (the same logits: quantization is per node in eval mode).
    chunk = inference_chunk(cfg, edge_index.size(1), gnn)
    val_inputs = subgraph_inputs(gnn, x, edge_index, val_idx) if chunk else (x, graph, None, val_idx)

    def whole_graph(x_all: Tensor, ei: Tensor, graph_all, quantize: bool = True) -> dict[str, Tensor]:
        if not chunk:
            return net.tokenize(x_all, graph_all, quantize=quantize)
        return {k: v.to(device) for k, v in net.tokenize_layerwise(x_all, ei, chunk, quantize=quantize).items()}
    batches = _tokenizer_batches(gnn, x, edge_index, train_idx, y, vcfg["tokenizer_fan_out"],
                                 vcfg["tokenizer_batch_size"], graph)
    phase = {"quantize": True}

    def step(opt: torch.optim.Optimizer) -> float:
        total, count = 0.0, 0
        for xb, gb, eb, ce_pos, ce_y in batches():
            opt.zero_grad()
            out = net.tokenize(xb, gb, quantize=phase["quantize"])
            loss = out["commit"] + (F.cross_entropy(out["logits"][ce_pos], ce_y) if ce_pos.numel() else 0.0)
            if vcfg["w_feat"]:
                loss = loss + vcfg["w_feat"] * feature_loss(net, out["q"], xb, vcfg["recon_nodes"])
            if vcfg["w_struct"]:
                loss = loss + vcfg["w_struct"] * structure_loss(net, out["q"], eb, out["q"].size(0),
                                                                vcfg["neg_ratio"], vcfg["max_edges"])
            loss.backward()
            opt.step()
            total, count = total + loss.item(), count + 1
        return total / max(count, 1)

    def validate() -> float:
        xv, gv, _, pos = val_inputs
        return accuracy(net.tokenize(xv, gv, quantize=phase["quantize"])["logits"][pos], y[val_idx])

    if vcfg["warmup"]:  # phase 1: teacher + decoders without quantization, then k-means on its embeddings
        phase["quantize"] = False
        fit(net, step, validate, lr=cfg["lr"], weight_decay=cfg["weight_decay"], max_epochs=cfg["max_epochs"],
            patience=cfg["patience"], ties=cfg["ties"], name="VQ tokenizer (warm-up)")
        with torch.no_grad():
            net.quantizer.init_codebook(whole_graph(x, edge_index, graph, quantize=False)["z"])
        phase["quantize"] = True
    result = fit(net, step, validate, lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                 max_epochs=vcfg["vq_epochs"], patience=vcfg["vq_patience"], ties=cfg["ties"], name="VQ tokenizer")
    with torch.no_grad():
        out = whole_graph(x, edge_index, graph)
        logits = out["logits"]
        metrics = {"val": accuracy(logits[val_idx], y[val_idx]), "test": accuracy(logits[test_idx], y[test_idx])}
        if split.test_ind is not None:
            full_ei = data.edge_index.to(device)
            full_graph = None if chunk else graph_input(gnn, full_ei, data.num_nodes)
            full_logits = whole_graph(as_model_input(data.x).to(device), full_ei, full_graph)["logits"]
            ind = split.test_ind.to(device)
            metrics["test_ind"] = accuracy(full_logits[ind], data.y.to(device)[ind])
    source = choose_label_source(vcfg["label_source"], metrics["val"], plain.metrics["val"] if plain else None,
                                 float(vcfg["label_margin"]))
    usage = net.quantizer.usage(out["codes"])
    usage["code_counts"] = torch.bincount(out["codes"], minlength=net.codebook_size).tolist()
    usage.update({"quantized_val": metrics["val"], "quantized_test": metrics["test"],
                  "plain_labels": float(source == "plain")})
    if plain is not None:
        usage.update({"plain_val": plain.metrics["val"], "plain_test": plain.metrics["test"]})
    knowledge = {"code_z": out["z"].detach(), "codes": out["codes"], "codebook": net.codebook.detach().clone(),
                 "code_unit_norm": torch.tensor(vcfg["code_metric"] == "cosine")}
    label_logits = plain.logits if source == "plain" else logits.detach()
    return TeacherRun(model=net, name=model, config=cfg, split=split, logits=label_logits, hidden=out["z"].detach(),
                      metrics=metrics, fit=result, seconds=time.perf_counter() - start, extra_knowledge=knowledge,
                      extra_metrics=usage, model_kwargs={**model_kwargs, **{k: vcfg[k] for k in VQ_MODEL_KEYS}})


def _tokenizer_batches(gnn: nn.Module, x: Tensor, edge_index: Tensor, train_idx: Tensor, y: Tensor,
                       fan_out: int, batch_size: int, graph: Tensor):
    """A function yielding one epoch of tokenizer inputs ``(x, graph, edge_index, ce positions, ce labels)``.

    Full batch (``batch_size=0``): the whole observed graph, its edges re-sampled each epoch to ``fan_out``
    per node when ``fan_out > 0``. Minibatches: random seed nodes, each batch on its (sampled) computation
    subgraph; the label loss covers the training nodes among the seeds."""
    n = x.size(0)
    is_train = torch.zeros(n, dtype=torch.bool, device=x.device)
    is_train[train_idx] = True

    def epoch():
        if not batch_size:
            if fan_out:
                sampled = sample_fan_out(edge_index, n, fan_out)
                yield x, graph_input(gnn, sampled, n), sampled, train_idx, y[train_idx]
            else:
                yield x, graph, edge_index, train_idx, y[train_idx]
            return
        for seeds in torch.randperm(n, device=x.device).split(batch_size):
            xb, gb, eb, position = subgraph_inputs(gnn, x, edge_index, seeds, fan_out)
            labelled = is_train[seeds]
            yield xb, gb, eb, position[labelled], y[seeds[labelled]]

    return epoch


TEACHER_BUILDERS.add("vq", build_vq_model)


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
    p_t, neg_entropy = teacher_code_targets(inp.teacher["code_z"], codebook, tau, inp.nodes, inp.extras.get("cache"))
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
