"""Exact teacher outputs for graphs that do not fit a full-batch forward pass: layer by layer, chunk by chunk.

`layerwise_inference` computes a teacher GNN's outputs one layer at a time for every node, the nodes of
each layer in chunks: a chunk of target nodes is computed from all of its in-edges (full neighbourhoods, no
sampling) and the previous layer's outputs of their sources. So it equals a full-batch forward pass, while
the memory a chunk needs is bounded by the chunk and its one-hop neighbourhood, not the graph. With
``out_dir`` every layer's output lives in a memory-mapped ``.npy`` file on disk instead of in memory.

`export_teacher_outputs` writes a teacher's soft labels (logits) and embeddings that way, and
`load_teacher_outputs` maps them back as tensors backed by the files: a student reads the rows of its batch
without ever holding the graph or all of the teacher's outputs in memory.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.utils import sort_edge_index

from g2m.errors import ConfigError
from g2m.graph_inputs import select_rows

DEFAULT_CHUNK = 65_536  # target nodes per chunk


def _buffer(shape: tuple[int, int], path: Path | None) -> Tensor | np.ndarray:
    if path is None:
        return torch.empty(shape)
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)


def _as_tensor(buffer: Tensor | np.ndarray) -> Tensor:
    if isinstance(buffer, Tensor):
        return buffer
    with warnings.catch_warnings():  # a read-write memmap is writable; torch warns for read-only ones only
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(buffer)


@torch.no_grad()
def layerwise_inference(net: nn.Module, x: Tensor, edge_index: Tensor, chunk_size: int = DEFAULT_CHUNK,
                        out_dir: str | Path | None = None,
                        layers: tuple[int, int] | None = None) -> tuple[Tensor, Tensor]:
    """``(logits, hidden)`` of a teacher GNN (eval mode) at every node, equal to ``net(x, edge_index,
    return_hidden=True)``, computed one layer at a time over chunks of ``chunk_size`` target nodes.

    ``layers=(start, stop)`` applies only layers ``start … stop - 1`` to ``x`` (the input of layer ``start``):
    the result is then ``(output of layer stop - 1, its input)``, e.g. ``(0, num_layers - 1)`` gives the
    embeddings ``net.encode`` computes and ``(num_layers - 1, num_layers)`` applies the classifier layer.

    ``x`` may be sparse CSR. Chunks are computed on ``net``'s device; the outputs are kept on the CPU. With
    ``out_dir``, each layer's output is a memory-mapped file there (``layer{i}.npy``; the returned tensors are
    backed by them). Supports the message-passing teachers (SAGE, GCN, GAT); APPNP propagates over K hops
    and is refused. The model does its own layer work (`g2m.models.gnn.GNN`: ``apply_layer``,
    ``edge_normalisation``, ``layer_edge_weight``); this function only chunks the nodes and keeps the outputs.
    """
    if not getattr(net, "supports_layerwise", False):
        raise ConfigError(f"layer-wise inference needs a stack of message-passing layers; {type(net).__name__} "
                          "(APPNP: K-hop propagation) has none: compute its outputs full-batch.")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be at least 1, got {chunk_size}.")
    num_layers = net.num_layers
    start_layer, stop_layer = layers if layers is not None else (0, num_layers)
    if not 0 <= start_layer <= stop_layer <= num_layers:
        raise ConfigError(f"layers {layers} is not a range of the {num_layers} layers.")
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    net.eval()
    device = next(net.parameters()).device
    edge_index = edge_index.cpu()  # the bookkeeping (sorting, chunk graphs) runs on the CPU
    n = x.size(0)
    h: Tensor = x
    hidden = None
    by_target: dict[tuple | None, tuple] = {}  # edges sorted by target, once per normalisation, for every layer
    for i in range(start_layer, stop_layer):
        # a layer whose edge weights read the whole graph (GCN's symmetric normalisation) gets them here once
        norm = net.edge_normalisation(i)
        if norm not in by_target:
            ei, weight = net.layer_edge_weight(i, edge_index, n)
            target, source, weight = _by_target(ei, weight, n)
            ptr = torch.cat([target.new_zeros(1), torch.bincount(target, minlength=n).cumsum(0)])
            by_target[norm] = target, source, weight, ptr
        target, source, weight, ptr = by_target[norm]
        result = None  # allocated at the first chunk, when the layer's output width is known
        where = torch.full((n,), -1, dtype=torch.long)  # global id -> row of the chunk's local graph
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            lo, hi = int(ptr[start]), int(ptr[stop])
            src, dst = source[lo:hi], target[lo:hi]
            sources = src.unique()
            # the local graph: the chunk's targets first (rows 0 .. stop-start-1), then their other sources
            nodes = torch.cat([torch.arange(start, stop), sources[(sources < start) | (sources >= stop)]])
            where[nodes] = torch.arange(nodes.numel())
            local_ei = torch.stack([where[src], where[dst]])
            where[nodes] = -1
            h_local = select_rows(h, nodes).to(device)
            w_local = weight[lo:hi].to(device) if weight is not None else None
            y = net.apply_layer(i, h_local, local_ei.to(device), w_local)[: stop - start].cpu()
            if result is None:
                result = _buffer((n, y.size(1)), out / f"layer{i}.npy" if out is not None else None)
            result[start:stop] = y if isinstance(result, Tensor) else y.numpy()
        if isinstance(result, np.ndarray):
            result.flush()
        if i == stop_layer - 2:
            hidden = result
        h = _as_tensor(result)
    if hidden is None:  # one layer: the embedding is the input
        hidden = x.to_dense() if x.layout == torch.sparse_csr else x
    return h, _as_tensor(hidden)


def _by_target(edge_index: Tensor, weight: Tensor | None, n: int):
    if weight is None:
        target, source = sort_edge_index(edge_index.flip(0), num_nodes=n)
        return target, source, None
    (target, source), weight = sort_edge_index(edge_index.flip(0), weight, num_nodes=n)
    return target, source, weight



def export_teacher_outputs(net: nn.Module, x: Tensor, edge_index: Tensor, out_dir: str | Path,
                           chunk_size: int = DEFAULT_CHUNK) -> Path:
    """Write ``logits.npy`` and ``hidden.npy`` (float32, one row per node) of ``net`` to ``out_dir`` with
    `layerwise_inference`, memory-mapped: the last layer's file becomes ``logits.npy`` and the one before it
    ``hidden.npy`` (renamed once complete, not copied); earlier layers' files are removed. Returns ``out_dir``."""
    out = Path(out_dir)
    work = out / "layers"
    logits, hidden = layerwise_inference(net, x, edge_index, chunk_size, work)
    num_layers = net.num_layers
    if num_layers == 1:  # the embedding is the input itself: write it
        target = np.lib.format.open_memmap(work / "hidden.npy", mode="w+", dtype=np.float32, shape=tuple(hidden.shape))
        for start in range(0, hidden.size(0), chunk_size):
            target[start:start + chunk_size] = hidden[start:start + chunk_size].numpy()
        target.flush()
        del target
    del logits, hidden  # release the memory maps before the files move
    hidden_file = work / ("hidden.npy" if num_layers == 1 else f"layer{num_layers - 2}.npy")
    hidden_file.replace(out / "hidden.npy")
    (work / f"layer{num_layers - 1}.npy").replace(out / "logits.npy")
    for file in work.glob("*.npy"):
        file.unlink()
    work.rmdir()
    return out


def load_teacher_outputs(out_dir: str | Path) -> dict[str, Tensor]:
    """``{"logits", "hidden"}`` tensors backed by the memory-mapped files of `export_teacher_outputs`
    (read-only: rows are read from disk when indexed)."""
    out = Path(out_dir)
    tensors = {}
    for name in ("logits", "hidden"):
        path = out / f"{name}.npy"
        if not path.is_file():
            raise ConfigError(f"{out} has no {name}.npy: write it with g2m.inference.export_teacher_outputs.")
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        with warnings.catch_warnings():  # read-only memory: torch warns that writes are undefined; none happen
            warnings.simplefilter("ignore", UserWarning)
            tensors[name] = torch.from_numpy(array)
    return tensors
