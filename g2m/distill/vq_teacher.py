"""VQGraph's teacher trainer (``"vq"``): the teacher GNN and its tokenizer trained jointly.

Loss: ``CE + w_feat * MSE + w_struct * BCE + commitment``: decoders reconstruct the node features and the local
structure (observed edges vs uniformly sampled non-edges: linear in the number of edges, no dense N×N matrix)
from the quantized codes. The tokenizer model: `g2m.models.vq_tokenizer`; its settings: `g2m.config.VQSettings`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from g2m.config import VQ_DEFAULTS, teacher_config, vq_config
from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import NodeSplit
from g2m.errors import ConfigError
from g2m.graph_inputs import as_model_input, graph_input, sample_fan_out, select_rows, subgraph_inputs
from g2m.models import TEACHERS, build_teacher
from g2m.models.vq_tokenizer import CODE_LAYERS, VQ_MODEL_KEYS, VQTokenizerGNN, build_vq_model
from g2m.teacher import MODEL_KEYS, TEACHER_BUILDERS, TEACHER_TRAINERS, TeacherRun, _local, inference_chunk, train_teacher
from g2m.training import accuracy, fit

LABEL_SOURCES = ("auto", "quantized", "plain")


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
