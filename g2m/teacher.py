"""Train a teacher GNN on one split and collect what students learn from (its outputs on observed nodes)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from g2m.config import LARGE_GRAPH_EDGES, teacher_config
from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import NodeSplit
from g2m.distributed import average_gradients, rank, share, sync_rng, world_size
from g2m.errors import ConfigError
from g2m.models import TEACHERS, build_teacher
from g2m.registry import Registry
from g2m.graph_inputs import as_model_input, graph_input, neighbor_loader, subgraph_inputs
from g2m.training import FitResult, accuracy, fit

# The settings that shape a teacher family's network (the rest are training settings).
MODEL_KEYS = ("hidden_channels", "num_layers", "dropout", "norm", "heads", "attn_dropout", "K", "alpha", "aggr")

# How a method's teacher is trained: "standard" is plain supervised training; a method such as VQGraph
# registers its own (teacher + tokenizer). Signature: (dataset, split, model, device, **overrides).
# TEACHER_BUILDERS rebuilds a trainer's network from a checkpoint: (in_channels, out_channels, name, **kwargs).
BUILTIN_TRAINERS = ("g2m.distill.vq_teacher", "g2m.teacher_outputs", "g2m.teacher_committee")
TEACHER_TRAINERS: Registry = Registry("teacher trainer", providers=BUILTIN_TRAINERS)
TEACHER_BUILDERS: Registry = Registry("teacher builder", providers=BUILTIN_TRAINERS)


def rebuild_teacher(in_channels: int, out_channels: int, name: str, **kwargs: Any) -> nn.Module:
    """A plain teacher from checkpoint keywords (the ``"standard"`` trainer's builder)."""
    return build_teacher(name, in_channels, out_channels, **kwargs)


TEACHER_BUILDERS.add("standard", rebuild_teacher)


@dataclass
class TeacherRun:
    """A trained teacher and its knowledge.

    ``logits`` and ``hidden`` are the teacher's outputs on the observed graph, one row per observed node
    (row ``i`` is global node ``split.observed[i]``); students index them by that local id.
    """

    model: nn.Module | None  # None: the user's saved outputs (`g2m.teacher_outputs`)
    name: str
    config: dict[str, Any]
    split: NodeSplit
    logits: Tensor
    hidden: Tensor | None  # None: a user's outputs without a hidden layer
    metrics: dict[str, float] = field(default_factory=dict)
    fit: FitResult | None = None
    seconds: float = 0.0
    extra_knowledge: dict[str, Tensor] = field(default_factory=dict)
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    # every keyword the trainer built ``model`` with: a checkpoint stores them to rebuild the same network
    model_kwargs: dict[str, Any] = field(default_factory=dict)


def _local(local: Tensor, idx: Tensor) -> Tensor:
    out = local[idx]
    assert (out >= 0).all(), "a split index points at a held-out node"
    return out


def inference_chunk(cfg: dict[str, Any], num_edges: int, net: nn.Module | None = None) -> int:
    """Target nodes per chunk of the teacher's final (exact, layer-wise) inference; 0 = one full-graph pass.

    ``inference_chunk_size`` when set (0 forces the full-graph pass); otherwise chunks of
    `g2m.inference.DEFAULT_CHUNK` nodes on graphs with more than ``LARGE_GRAPH_EDGES`` edges, for teachers
    made of message-passing layers (APPNP's K-hop propagation always takes one pass; asking it for chunks is
    an error, raised before any training)."""
    from g2m.inference import DEFAULT_CHUNK

    layered = net is None or getattr(net, "supports_layerwise", False)
    chunk = cfg.get("inference_chunk_size")
    if chunk is None:
        return DEFAULT_CHUNK if num_edges > LARGE_GRAPH_EDGES and layered else 0
    if int(chunk) < 0:
        raise ConfigError(f"the teacher inference chunk size must be 0 (one full-graph pass) or positive, got {chunk}.")
    if int(chunk) and not layered:
        raise ConfigError(f"this teacher ({type(net).__name__}) has no message-passing layers (K-hop propagation), "
                          "so its outputs cannot be computed layer by layer: leave the teacher inference chunk "
                          "size (--teacher-chunk-size) unset or 0.")
    return int(chunk)


@TEACHER_TRAINERS.register("standard")
def train_teacher(dataset: NodeDataset, split: NodeSplit, model: str = "sage", device: str | torch.device = "cpu",
                  outputs_dir: str | Path | None = None, **overrides: Any) -> TeacherRun:
    """Train teacher ``model`` on ``split``'s observed graph with validation-based early stopping.

    Metrics (percent): ``val``, ``test`` (observed test nodes) and, in the inductive setting,
    ``test_ind`` (held-out nodes, evaluated with the full graph). The outputs students learn from are
    computed in one full-graph pass, or layer by layer in chunks (`inference_chunk`: the
    ``inference_chunk_size`` setting, automatic on large graphs), exactly; chunked outputs are written
    memory-mapped to ``outputs_dir`` (``logits.npy``, ``hidden.npy``) when it is given.
    """
    if model not in TEACHERS:
        TEACHERS.get(model)  # raises the standard unknown-name error
    cfg = teacher_config(dataset.name, model, **overrides)
    device = torch.device(device)
    start = time.perf_counter()
    data = dataset.data
    obs_data, local = split.observed_graph(data)
    x = as_model_input(obs_data.x).to(device)
    edge_index = obs_data.edge_index.to(device)
    y = obs_data.y.to(device)
    train_idx, val_idx, test_idx = (_local(local, i).to(device) for i in (split.train, split.val, split.test))

    model_kwargs = {k: cfg[k] for k in MODEL_KEYS if k in cfg}
    try:
        net = build_teacher(model, dataset.num_features, dataset.num_classes, **model_kwargs).to(device)
    except ValueError as exc:
        raise ConfigError(f"invalid {model} teacher settings: {exc}") from exc

    chunk = inference_chunk(cfg, edge_index.size(1), net)  # checked before training
    fan_out = int(cfg.get("fan_out") or 0)
    graph = None if chunk else graph_input(net, edge_index, x.size(0))  # for the one-pass outputs only
    batch_size = cfg.get("batch_size")
    # Only the training nodes' outputs enter the loss: each step computes them on their computation subgraph
    # (the whole graph for APPNP), with freshly sampled edges when fan_out > 0.
    my_train = share(train_idx)  # under torch.distributed: this process's part of the training nodes
    fixed_train = None if fan_out else _reused(net, subgraph_inputs(net, x, edge_index, my_train))
    val_inputs = _reused(net, subgraph_inputs(net, x, edge_index, val_idx))

    def full_batch_step(opt: torch.optim.Optimizer) -> float:
        xb, gb, _, pos = subgraph_inputs(net, x, edge_index, my_train, fan_out) if fan_out else fixed_train
        opt.zero_grad()
        loss = F.cross_entropy(net(xb, gb)[pos], y[my_train])
        loss.backward()
        average_gradients(net)  # a no-op in one process
        opt.step()
        return loss.item()

    step = (_minibatch_step(net, model, obs_data, train_idx, int(batch_size), fan_out, device) if batch_size
            else full_batch_step)

    def validate() -> float:
        xv, gv, _, pos = val_inputs
        return accuracy(net(xv, gv)[pos], y[val_idx])

    result = fit(net, step, validate, lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                 max_epochs=cfg["max_epochs"], patience=cfg["patience"], ties=cfg["ties"],
                 name=f"teacher ({model}, label cross-entropy)")
    logits, hidden = _outputs(net, x, edge_index, graph, chunk, outputs_dir)

    def acc(out: Tensor, idx: Tensor, labels: Tensor) -> float:  # chunked outputs stay on the CPU
        return accuracy(out[idx.to(out.device)].to(labels.device), labels[idx])

    with torch.no_grad():
        metrics = {"val": acc(logits, val_idx, y), "test": acc(logits, test_idx, y)}
        if split.test_ind is not None:
            full_logits = full_graph_logits(net, cfg, data, device)
            metrics["test_ind"] = acc(full_logits, split.test_ind.to(device), data.y.to(device))
    sync_rng()  # under torch.distributed: what runs next draws the same numbers on every process
    return TeacherRun(model=net, name=model, config=cfg, split=split, logits=logits, hidden=hidden,
                      metrics=metrics, fit=result, seconds=time.perf_counter() - start, model_kwargs=model_kwargs)


def _reused(net: nn.Module, inputs: tuple) -> tuple:
    """`subgraph_inputs`' ``(x, graph, edge_index, position)`` with the graph prepared once for a model that
    reads it every epoch (`g2m.models.gnn.GNN.prepare_graph`: e.g. GCN's normalisation, computed once)."""
    xb, graph, ei, pos = inputs
    prepare = getattr(net, "prepare_graph", None)
    return xb, (prepare(graph, xb.size(0)) if prepare is not None else graph), ei, pos


@torch.no_grad()
def full_graph_logits(net: nn.Module, cfg: dict[str, Any], data, device: str | torch.device) -> Tensor:
    """``net``'s logits at every node of the full graph (held-out nodes and their edges included), in one pass
    or in chunks as ``cfg`` says (`inference_chunk`)."""
    full_ei = data.edge_index.to(device)
    chunk = inference_chunk(cfg, full_ei.size(1), net)
    full_graph = None if chunk else graph_input(net, full_ei, data.num_nodes)
    return _outputs(net, as_model_input(data.x).to(device), full_ei, full_graph, chunk)[0]


@torch.no_grad()
def _outputs(net: nn.Module, x: Tensor, edge_index: Tensor, graph, chunk: int,
             outputs_dir: str | Path | None = None) -> tuple[Tensor, Tensor]:
    """``(logits, hidden)`` of ``net`` (eval mode) at every node: one pass over ``graph``, or with ``chunk`` > 0
    layer by layer in chunks (`g2m.inference`), memory-mapped in ``outputs_dir`` when given."""
    net.eval()
    if not chunk:
        logits, hidden = net(x, graph, return_hidden=True)
        return logits.detach(), hidden.detach()
    from g2m.inference import export_teacher_outputs, load_teacher_outputs

    if outputs_dir is None:
        return net.inference(x, edge_index, chunk)
    export_teacher_outputs(net, x, edge_index, outputs_dir, chunk)
    knowledge = load_teacher_outputs(outputs_dir)
    return knowledge["logits"], knowledge["hidden"]


def _minibatch_step(net: nn.Module, model: str, obs_data, train_idx: Tensor, batch_size: int, fan_out: int,
                    device: torch.device):
    """One epoch of NeighborLoader minibatches over the training nodes (``fan_out`` neighbours per hop).

    Under torch.distributed each process samples its part of every batch (PyTorch's ``DistributedSampler``:
    a fresh permutation each epoch, the same on every process, ``batch_size / processes`` nodes each, equal
    batch counts), and the gradients are averaged before each step."""
    if model == "appnp":
        raise ConfigError("APPNP propagates over K hops; train it full-batch (leave the teacher batch size unset).")
    if batch_size < 1:
        raise ConfigError(f"the teacher batch size must be at least 1, got {batch_size}.")
    num_layers = getattr(net, "num_layers", 2)
    sampler = None
    if world_size() > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(range(train_idx.numel()), num_replicas=world_size(), rank=rank(), shuffle=True,
                                     seed=torch.initial_seed() % 2**31)
        batch_size = -(-batch_size // world_size())
    loader = neighbor_loader(obs_data, train_idx.cpu(), [fan_out or -1] * num_layers, batch_size, sampler=sampler)
    epochs = itertools.count()

    def step(opt: torch.optim.Optimizer) -> float:
        if sampler is not None:
            sampler.set_epoch(next(epochs))  # a fresh permutation per epoch
        total, seen = 0.0, 0
        for batch in loader:
            batch = batch.to(device)
            opt.zero_grad()
            out = net(as_model_input(batch.x), batch.edge_index)[: batch.batch_size]
            loss = F.cross_entropy(out, batch.y[: batch.batch_size])
            loss.backward()
            average_gradients(net)  # a no-op in one process
            opt.step()
            total, seen = total + loss.item() * batch.batch_size, seen + batch.batch_size
        return total / max(seen, 1)

    return step
