"""Data-parallel training over processes with PyTorch's own ``torch.distributed`` (DDP).

Launch g2m training with ``torchrun`` (``torchrun --nproc_per_node 2 $(which g2m) distill ...``): every process
holds the graph and trains the same model from the same seed; each takes its share of every batch of training
nodes and the gradients are averaged over the processes before each step (`average_gradients`: one
``all_reduce``, as ``DistributedDataParallel`` does), so a step sees the same nodes as one process would.
Validation runs on every process on identical weights, so early stopping decides the same everywhere. Only
process 0 writes files. Backend: ``nccl`` on GPUs, ``gloo`` on CPUs.

Nothing here is used unless a process group is running (``WORLD_SIZE`` > 1 under torchrun, or
`init_process_group` called by the user): one process trains exactly as before.
"""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist
from torch import Tensor, nn


def init_from_env(device: str | torch.device = "cpu") -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); True when one is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend)
    # Leave the group before the interpreter exits: a group still alive when Python tears down its objects
    # can abort the process at exit ("terminate called without an active exception") after its work is done.
    atexit.register(leave_group)
    return dist.get_world_size() > 1


def leave_group() -> None:
    """Destroy the process group this process joined, if one is running (idempotent)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process writes files and prints (process 0, or the only one)."""
    return rank() == 0


def share(nodes: Tensor) -> Tensor:
    """This process's part of a batch of nodes (the same batch on every process: same seed, same draw)."""
    if world_size() == 1:
        return nodes
    return nodes.tensor_split(world_size())[rank()]


def average_gradients(module: nn.Module) -> None:
    """Average ``module``'s gradients over the processes (one ``all_reduce`` of all of them, flattened): what
    ``DistributedDataParallel`` does after backward, here without its wrapper so that the trainable modules of
    loss terms (projections used outside the student's forward) are averaged too. A no-op in one process."""
    if world_size() == 1:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:  # every process must reduce the same tensors in the same order
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset:offset + p.numel()].view_as(p))
        offset += p.numel()


def sync_rng() -> None:
    """Give every process process 0's random state (CPU, and the current GPU's when one is used).

    Shared training draws different amounts of randomness on each process (dropout and neighbour sampling
    over each process's part of a batch), so the states drift apart; whatever runs next in the same process
    (e.g. the VQ tokenizer after its plain teacher) must draw the same numbers everywhere. A no-op in one
    process."""
    if world_size() == 1:
        return
    on_gpu = dist.get_backend() == "nccl"  # nccl moves GPU tensors only

    def broadcast(state: Tensor) -> Tensor:
        buffer = state.cuda() if on_gpu else state.clone()
        dist.broadcast(buffer, src=0)
        return buffer.cpu()

    torch.set_rng_state(broadcast(torch.get_rng_state()))
    if on_gpu:
        torch.cuda.set_rng_state(broadcast(torch.cuda.get_rng_state()))
