"""Train an MLP student on one split from a teacher's knowledge with a (composed) distillation method."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from g2m.config import (check_keys, distill_config, student_config, student_setting_keys,
                        tuned_student_defaults)
from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import NodeSplit
from g2m.distill.losses import LOSSES, LossInput, label_ce
from g2m.distill.methods import Method, resolve_method
from g2m.distill.position import all_positions, cached_deepwalk, position_config
from g2m.distributed import average_gradients, share, sync_rng
from g2m.errors import ConfigError, TrainingError
from g2m.models import StudentMLP
from g2m.teacher import TeacherRun
from g2m.graph_inputs import as_model_input, select_rows
from g2m.training import FitResult, accuracy, fit

STUDENT_MODEL_KEYS = ("hidden_channels", "num_layers", "dropout", "norm")


@dataclass
class StudentRun:
    """A trained student, the method that made it, and its metrics (percent)."""

    model: nn.Module
    method: Method
    config: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    fit: FitResult | None = None
    seconds: float = 0.0
    # position-aware students (method input "position"): the observed nodes' positions, one row per
    # ``observed`` global node id; the student reads ``[features, positions]``
    positions: Tensor | None = None
    observed: Tensor | None = None


def teacher_knowledge(teacher: TeacherRun) -> dict[str, Tensor]:
    """Per-observed-node tensors a student may learn from, indexed by local node id."""
    knowledge = {"logits": teacher.logits}
    if teacher.hidden is not None:  # a user's outputs may have none
        knowledge["hidden"] = teacher.hidden
    knowledge.update(getattr(teacher, "extra_knowledge", {}) or {})
    return knowledge


def train_student(dataset: NodeDataset, split: NodeSplit, method: str | Method = "glnn",
                  teacher: TeacherRun | None = None, device: str | torch.device = "cpu",
                  batch_size: int | None = None, **overrides: Any) -> StudentRun:
    """Train a `StudentMLP` with ``method``'s loss on the observed nodes of ``split``.

    Loss: ``lam * CE(train labels) + (1 - lam) * sum_t w_t * term_t`` (``lam`` and ``temperature`` from
    `g2m.config.distill_config`, term weights from the method, both overridable). Settings a `g2m tune`
    study chose for this method and dataset (`g2m.config.TUNED_STUDENT_DEFAULTS`) apply under ``overrides``.
    The best epoch is chosen on validation accuracy (``report_test_selected=True`` also records, for
    comparison only, the best test accuracy over epochs: ``metrics["test_selected_on_test"]``).
    ``batch_size=None`` takes the dataset's default (`g2m.config`: GLNN's minibatches of 512 where validation
    preferred them); ``0`` trains full-batch. A method with the ``position`` input (``…+pos``) reads
    ``[features, DeepWalk positions]`` (`g2m.distill.position`).
    """
    method = resolve_method(method) if isinstance(method, str) else method
    check_keys(overrides, student_setting_keys(method), f"{method.name} student")
    overrides = {**tuned_student_defaults(dataset.name, method.name), **overrides}  # a study's choice, if any
    if method.needs_teacher and teacher is None:
        raise ConfigError(f"method {method.name!r} distills a teacher: pass teacher=train_teacher(...).")
    dkeys = {"lam", "temperature", *distill_config(dataset.name, method)}  # + the method's own settings
    dcfg = distill_config(dataset.name, method, **{k: overrides.pop(k) for k in dkeys if k in overrides})
    weights = dict(method.terms)
    for term in list(weights):
        weights[term] = overrides.pop(f"w_{term}", dcfg.get(f"w_{term}", weights[term]))
    dcfg = {k: v for k, v in dcfg.items() if not k.startswith("w_")}
    unknown = sorted(k for k in overrides if k.startswith("w_"))
    if unknown:
        raise ConfigError(f"{', '.join(unknown)}: method {method.name!r} has no such loss term "
                          f"(its terms: {', '.join(weights) or 'none'}).")
    cfg = student_config(dataset.name, **overrides)
    # The argument, else the method's own default (FF-G2M: full batch), else the dataset's student default.
    method_batch, dataset_batch = dcfg.pop("batch_size", None), cfg.pop("batch_size", None)
    batch_size = next((b for b in (batch_size, method_batch, dataset_batch) if b is not None), None)
    if batch_size is not None and batch_size < 0:
        raise ConfigError(f"the student batch size must be positive (or 0 for full batch), got {batch_size}.")
    batch_size = batch_size or None  # 0 → full batch
    lam = 1.0 if not method.terms else float(dcfg["lam"])
    if not 0.0 <= lam <= 1.0:
        raise ConfigError(f"lam must be in [0, 1], got {lam}.")
    device = torch.device(device)
    start = time.perf_counter()

    data = dataset.data
    obs_data, local = split.observed_graph(data)
    x_obs = as_model_input(obs_data.x).to(device)
    positions = None
    if "position" in method.inputs:  # DeepWalk on the observed graph, seeded by the run's seed
        positions = cached_deepwalk(obs_data.edge_index.to(device), obs_data.num_nodes, torch.initial_seed(),
                                    **position_config(dcfg))
        x_obs = with_positions(x_obs, positions)
    y_obs = obs_data.y.to(device)
    n_obs = obs_data.num_nodes
    train_mask = torch.zeros(n_obs, dtype=torch.bool, device=device)
    train_mask[local[split.train]] = True
    knowledge = {k: v.to(device) for k, v in teacher_knowledge(teacher).items()} if teacher is not None else {}
    # "cache": what a loss term may compute once per run (e.g. FF-G2M's teacher side in full batch)
    edge_index, cache = obs_data.edge_index.to(device), {}  # cache: what a term computes once per run

    net = StudentMLP(x_obs.size(1), out_channels=dataset.num_classes,
                     **{k: cfg[k] for k in STUDENT_MODEL_KEYS if k in cfg}).to(device)
    # The method's loss terms for this run; a term may hold trainable modules (e.g. a projection into a
    # codebook space): trained with the student, not part of it (checkpoints hold the student only).
    terms = nn.ModuleDict({name: LOSSES.get(name).build(net, knowledge, {**cfg, **dcfg})
                           for name in weights}).to(device)
    trainable = nn.ModuleDict({"student": net, "aux": terms}) if any(True for _ in terms.parameters()) else net
    val_local = local[split.val].to(device)

    all_nodes = torch.arange(n_obs, device=device)
    # Nodes that carry a loss: every observed node for distillation terms, only the labelled ones without.
    pool = all_nodes if terms else local[split.train].to(device)

    def loss_on(nodes: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        xb = x_obs if nodes is all_nodes else select_rows(x_obs, nodes)
        logits, hidden = net(xb, return_hidden=True)
        inp = LossInput(nodes=nodes, student_logits=logits, student_hidden=hidden, teacher=knowledge,
                        labels=y_obs, train_mask=train_mask, temperature=float(dcfg["temperature"]),
                        edge_index=edge_index, student=net, x=x_obs, cache=cache)
        parts = {"label_ce": label_ce(inp)} if lam > 0 else {}
        parts.update({name: term(inp) for name, term in terms.items()})
        loss = logits.sum() * 0.0 + sum((lam if name == "label_ce" else (1.0 - lam) * weights[name]) * value
                                        for name, value in parts.items())
        return loss, parts

    def step(opt: torch.optim.Optimizer) -> float:
        batches = ([pool] if batch_size is None
                   else pool[torch.randperm(pool.numel(), device=device)].split(batch_size))
        total = 0.0
        for nodes in batches:
            opt.zero_grad()
            loss, parts = loss_on(share(nodes))  # under torch.distributed: this process's part of the batch
            value = loss.item()
            if not math.isfinite(value):  # stop before the bad gradient reaches the weights
                bad = [f"{k} = {v.item()}" for k, v in parts.items() if not math.isfinite(v.item())]
                raise TrainingError(f"the loss became {value} ({', '.join(bad) or 'sum overflowed'}); lower "
                                    "the learning rate or this term's weight, or check the features.")
            loss.backward()
            average_gradients(trainable)  # a no-op in one process
            opt.step()
            total += value
        return total / len(batches)

    # the validation rows and labels, selected once rather than every epoch (the same for the test rows below)
    x_val, y_val = select_rows(x_obs, val_local), y_obs[val_local]

    def validate() -> float:
        return accuracy(net(x_val), y_val)

    test_accuracy = None
    if cfg["report_test_selected"]:  # recorded, never used to select
        test_local = local[split.test].to(device)
        x_test, y_test = select_rows(x_obs, test_local), y_obs[test_local]

        def test_accuracy() -> float:
            return accuracy(net(x_test), y_test)

    result = fit(trainable, step, validate, lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                 max_epochs=cfg["max_epochs"], patience=cfg["patience"], ties=cfg["ties"],
                 name=f"student ({method.name})", monitor=test_accuracy)
    metrics = evaluate_student(net, dataset, split, device, positions)
    if result.monitor_history:  # what selecting the epoch on test accuracy (VQGraph's released code) reports
        metrics["test_selected_on_test"] = max(result.monitor_history)
    config = {**cfg, **dcfg, "lam": lam, "terms": weights, "batch_size": batch_size}
    sync_rng()  # under torch.distributed: what runs next draws the same numbers on every process
    return StudentRun(model=net, method=method, config=config, metrics=metrics, fit=result,
                      seconds=time.perf_counter() - start, positions=positions,
                      observed=split.observed if positions is not None else None)


def with_positions(x: Tensor, positions: Tensor) -> Tensor:
    """``[x, positions]`` (as `as_model_input` stores it: sparse CSR when mostly zeros)."""
    dense = x.to_dense() if x.layout == torch.sparse_csr else x
    return as_model_input(torch.cat([dense, positions.to(dense.dtype)], dim=1))


@torch.no_grad()
def evaluate_student(net: nn.Module, dataset: NodeDataset, split: NodeSplit, device: torch.device,
                     positions: Tensor | None = None) -> dict[str, float]:
    """Student accuracy from features alone: ``val``, ``test`` and (inductive) ``test_ind``.

    A position-aware student (``positions``: the observed nodes' rows, in ``split.observed`` order) also
    reads positions; held-out nodes get theirs from their observed neighbours (`all_positions`)."""
    net.eval()
    x = as_model_input(dataset.data.x).to(device)
    if positions is not None:
        local = split.local_ids(dataset.data.num_nodes).to(device)
        x = with_positions(x, all_positions(positions, local, dataset.data.edge_index.to(device)))
    logits = net(x)
    y = dataset.data.y.to(device)
    out = {"val": accuracy(logits[split.val], y[split.val]), "test": accuracy(logits[split.test], y[split.test])}
    if split.test_ind is not None:
        out["test_ind"] = accuracy(logits[split.test_ind], y[split.test_ind])
    return out
