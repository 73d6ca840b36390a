"""Train a teacher GNN on one split and collect what students learn from (its outputs on observed nodes)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from g2m.config import teacher_config
from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import NodeSplit
from g2m.distributed import average_gradients, share, world_size
from g2m.errors import ConfigError
from g2m.models import TEACHERS, build_teacher
from g2m.registry import Registry
from g2m.training import (FitResult, accuracy, as_model_input, fit, graph_input, neighbor_loader,
                          subgraph_inputs)

MODEL_KEYS = ("hidden_channels", "num_layers", "dropout", "norm", "heads", "attn_dropout", "K", "alpha",
              "aggr", "codebook_size", "code_dim", "code_metric")

# How a method's teacher is trained: "standard" is plain supervised training; a method such as VQGraph
# registers its own (teacher + tokenizer). Signature: (dataset, split, model, device, **overrides).
TEACHER_TRAINERS: Registry = Registry("teacher trainer")


@dataclass
class TeacherRun:
    """A trained teacher and its knowledge.

    ``logits`` and ``hidden`` are the teacher's outputs on the observed graph, one row per observed node
    (row ``i`` is global node ``split.observed[i]``); students index them by that local id.
    """

    model: nn.Module
    name: str
    config: dict[str, Any]
    split: NodeSplit
    logits: Tensor
    hidden: Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    fit: FitResult | None = None
    seconds: float = 0.0
    extra_knowledge: dict[str, Tensor] = field(default_factory=dict)
    extra_metrics: dict[str, Any] = field(default_factory=dict)


def _local(local: Tensor, idx: Tensor) -> Tensor:
    out = local[idx]
    assert (out >= 0).all(), "a split index points at a held-out node"
    return out


@TEACHER_TRAINERS.register("standard")
def train_teacher(dataset: NodeDataset, split: NodeSplit, model: str = "sage", device: str | torch.device = "cpu",
                  **overrides: Any) -> TeacherRun:
    """Train teacher ``model`` on ``split``'s observed graph with validation-based early stopping.

    Metrics (percent): ``val``, ``test`` (observed test nodes) and, in the inductive setting,
    ``test_ind`` (held-out nodes, evaluated with the full graph).
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

    fan_out = int(cfg.get("fan_out") or 0)
    num_obs = x.size(0)
    graph = graph_input(net, edge_index, num_obs)
    batch_size = cfg.get("batch_size")
    # Only the training nodes' outputs enter the loss: each step computes them on their computation subgraph
    # (the whole graph for APPNP), with freshly sampled edges when fan_out > 0.
    my_train = share(train_idx)  # under torch.distributed: this process's part of the training nodes
    fixed_train = None if fan_out else subgraph_inputs(net, x, edge_index, my_train)
    val_inputs = subgraph_inputs(net, x, edge_index, val_idx)

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
    with torch.no_grad():
        logits, hidden = net(x, graph, return_hidden=True)
        metrics = {"val": accuracy(logits[val_idx], y[val_idx]), "test": accuracy(logits[test_idx], y[test_idx])}
        if split.test_ind is not None:
            full_graph = graph_input(net, data.edge_index.to(device), data.num_nodes)
            full_logits = net(as_model_input(data.x).to(device), full_graph)
            ind = split.test_ind.to(device)
            metrics["test_ind"] = accuracy(full_logits[ind], data.y.to(device)[ind])
    return TeacherRun(model=net, name=model, config=cfg, split=split, logits=logits.detach(), hidden=hidden.detach(),
                      metrics=metrics, fit=result, seconds=time.perf_counter() - start)


def _minibatch_step(net: nn.Module, model: str, obs_data, train_idx: Tensor, batch_size: int, fan_out: int,
                    device: torch.device):
    """One epoch of NeighborLoader minibatches over the training nodes (``fan_out`` neighbours per hop)."""
    if model == "appnp":
        raise ConfigError("APPNP propagates over K hops; train it full-batch (leave the teacher batch size unset).")
    if batch_size < 1:
        raise ConfigError(f"the teacher batch size must be at least 1, got {batch_size}.")
    if world_size() > 1:
        raise ConfigError("teacher minibatches (--teacher-batch-size) do not run under torch.distributed yet: "
                          "leave the teacher batch size unset (full-batch steps are shared between processes).")
    num_layers = getattr(net, "num_layers", 2)
    loader = neighbor_loader(obs_data, train_idx.cpu(), [fan_out or -1] * num_layers, batch_size)

    def step(opt: torch.optim.Optimizer) -> float:
        total, seen = 0.0, 0
        for batch in loader:
            batch = batch.to(device)
            opt.zero_grad()
            out = net(as_model_input(batch.x), batch.edge_index)[: batch.batch_size]
            loss = F.cross_entropy(out, batch.y[: batch.batch_size])
            loss.backward()
            opt.step()
            total, seen = total + loss.item() * batch.batch_size, seen + batch.batch_size
        return total / max(seen, 1)

    return step
