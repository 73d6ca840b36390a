"""Teacher GNNs (GraphSAGE, GCN, GAT, APPNP) built from PyG layers, with a PyG-like interface."""

from __future__ import annotations

import contextlib
from typing import ClassVar, Iterator, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import APPNP, GATConv, GCNConv, MLP
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.resolver import activation_resolver, normalization_resolver
from torch_geometric.utils import is_torch_sparse_tensor

from g2m.models.layers import GCNAggrSAGEConv, ProjectFirstSAGEConv
from g2m.registry import Registry

TEACHERS: Registry[type] = Registry("teacher")


class GNN(nn.Module):
    """A stack of ``num_layers`` message-passing layers; the last one outputs class logits.

    ``forward(x, edge_index, return_hidden=True)`` also returns the node embeddings fed to the last
    layer (what VQGraph quantizes). ``x`` may be a sparse CSR matrix.
    """

    conv_name = ""
    # Normalisations that read the *source* node's degree (GCN's symmetric one) need one more hop of
    # graph than there are layers for exact outputs on a subgraph (see `receptive_field`).
    needs_source_degree = False
    # Its outputs can be computed one layer at a time over chunks of nodes (`inference`).
    supports_layerwise: ClassVar[bool] = True

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
                 dropout: float = 0.0, act: str = "relu", norm: str | None = None, **conv_kwargs):
        super().__init__()
        if num_layers < 1:
            raise ValueError("num_layers must be at least 1")
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.dropout = num_layers, dropout
        self.act = activation_resolver(act)
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList(
            self.init_conv(dims[i], dims[i + 1], last=i == num_layers - 1, **conv_kwargs) for i in range(num_layers)
        )
        self.norms = nn.ModuleList(
            normalization_resolver(norm, hidden_channels) if norm else nn.Identity() for _ in range(num_layers - 1)
        )

    def init_conv(self, in_channels: int, out_channels: int, last: bool, **kwargs) -> nn.Module:
        raise NotImplementedError

    @property
    def receptive_field(self) -> int:
        """Hops of graph around a node that determine its output exactly (for computation subgraphs)."""
        return self.num_layers + int(self.needs_source_degree)

    def reset_parameters(self) -> None:
        for module in list(self.convs) + list(self.norms):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def hidden_layers(self, x: Tensor, edge_index: Tensor, start: int = 0, stop: int | None = None) -> Tensor:
        """Apply hidden layers ``start`` … ``stop - 1`` (conv → norm → activation → dropout) to ``x``."""
        stop = self.num_layers - 1 if stop is None else stop
        for conv, norm in zip(self.convs[start:stop], self.norms[start:stop]):
            x = conv(x, edge_index)
            x = self.act(norm(x))
            x = F.dropout(x, p=self.dropout, training=self.training)
        return x

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """Node embeddings after all but the last layer."""
        return self.hidden_layers(x, edge_index)

    def classify(self, h: Tensor, edge_index: Tensor) -> Tensor:
        """Class logits from embeddings (the last layer)."""
        return self.convs[-1](h, edge_index)

    def forward(self, x: Tensor, edge_index: Tensor, return_hidden: bool = False):
        h = self.encode(x, edge_index)
        out = self.classify(h, edge_index)
        return (out, h) if return_hidden else out

    def prepare_graph(self, graph: Tensor, num_nodes: int):
        """What ``forward`` should receive for ``graph`` when it reads the same graph many times (every epoch):
        whatever the layers would compute from it on each call, computed once. Here: ``graph`` itself."""
        return graph

    def edge_normalisation(self, layer: int) -> tuple | None:
        """How layer ``layer`` weights its edges from the *whole* graph (``None``: it needs no whole-graph
        weights); layers with the same value share them (`layer_edge_weight`)."""
        return None

    def layer_edge_weight(self, layer: int, edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor | None]:
        """``(edge_index, edge_weight)`` layer ``layer`` reads when applied to a part of the graph."""
        return edge_index, None

    def apply_layer(self, layer: int, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """Layer ``layer`` in eval mode (conv, then norm and activation unless it is the last), on ``x``'s nodes;
        ``edge_weight`` from `layer_edge_weight` when the layer needs whole-graph weights."""
        y = self.apply_conv(layer, x, edge_index, edge_weight)
        return y if layer == self.num_layers - 1 else self.act(self.norms[layer](y))

    def apply_conv(self, layer: int, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """Layer ``layer``'s message passing alone (`apply_layer` adds the norm and activation)."""
        return self.convs[layer](x, edge_index)

    @torch.no_grad()
    def inference(self, x: Tensor, edge_index: Tensor, chunk_size: int, out_dir: str | None = None,
                  layers: tuple[int, int] | None = None) -> tuple[Tensor, Tensor]:
        """``(logits, hidden)`` at every node computed layer by layer over chunks of ``chunk_size`` target
        nodes: equal to ``forward(x, edge_index, return_hidden=True)`` in eval mode, with memory bounded by a
        chunk (`g2m.inference.layerwise_inference`, which also explains ``out_dir`` and ``layers``)."""
        from g2m.inference import layerwise_inference

        return layerwise_inference(self, x, edge_index, chunk_size, out_dir=out_dir, layers=layers)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, {self.out_channels}, "
                f"num_layers={self.num_layers})")


@TEACHERS.register("sage")
class GraphSAGE(GNN):
    """GraphSAGE. ``aggr="mean"``: PyG's ``SAGEConv`` (neighbour mean + separate root weight, projected
    before aggregation); ``aggr="gcn"``: GLNN's teacher (`GCNAggrSAGEConv`, one weight, self counted in)."""

    supports_sparse_adj = True  # accepts a CSR adjacency (row = target) instead of edge_index

    def init_conv(self, in_channels, out_channels, last, aggr: str = "mean", **kwargs):
        if aggr == "gcn":
            return GCNAggrSAGEConv(in_channels, out_channels)
        if aggr != "mean":
            raise ValueError(f"unknown SAGE aggregator {aggr!r}; use 'mean' or 'gcn'")
        return ProjectFirstSAGEConv(in_channels, out_channels)


class NormalisedAdj(NamedTuple):
    """A sparse adjacency that already carries GCN's normalisation and self-loops (`GCN.prepare_graph`)."""

    adj: Tensor


@TEACHERS.register("gcn")
class GCN(GNN):
    """GCN (Kipf & Welling) with symmetric normalisation and self-loops."""

    supports_sparse_adj = True
    needs_source_degree = True

    def init_conv(self, in_channels, out_channels, last, **kwargs):
        return GCNConv(in_channels, out_channels)

    def prepare_graph(self, graph: Tensor, num_nodes: int):
        """A sparse adjacency normalised once (a `NormalisedAdj`) instead of by every layer on every call,
        computed as the layers compute it: the outputs are the same bit for bit. Other graphs come back as
        they are."""
        norm = self.edge_normalisation(0)
        if (not is_torch_sparse_tensor(graph) or norm is None
                or any(self.edge_normalisation(i) != norm for i in range(self.num_layers))):
            return graph
        return NormalisedAdj(self.layer_edge_weight(0, graph, num_nodes)[0])

    def forward(self, x: Tensor, edge_index, return_hidden: bool = False):
        """As `GNN.forward`; ``edge_index`` may also be a `NormalisedAdj` from `prepare_graph`."""
        if not isinstance(edge_index, NormalisedAdj):
            return super().forward(x, edge_index, return_hidden)
        with self._normalised_input():
            return super().forward(x, edge_index.adj, return_hidden)

    @contextlib.contextmanager
    def _normalised_input(self) -> Iterator[None]:
        """The layers skip their normalisation (their input already has it) inside this block."""
        before = [conv.normalize for conv in self.convs]
        for conv in self.convs:
            conv.normalize = False
        try:
            yield
        finally:
            for conv, flag in zip(self.convs, before):
                conv.normalize = flag

    def edge_normalisation(self, layer: int) -> tuple | None:
        conv = self.convs[layer]
        return (conv.improved, conv.add_self_loops) if conv.normalize else None

    def layer_edge_weight(self, layer: int, edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor | None]:
        """Symmetric normalisation reads every source's degree: the weights come from the whole graph."""
        norm = self.edge_normalisation(layer)
        if norm is None:
            return edge_index, None
        return gcn_norm(edge_index, None, num_nodes, *norm, dtype=torch.float)

    def apply_conv(self, layer: int, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        conv = self.convs[layer]
        if edge_weight is None:
            return conv(x, edge_index)
        conv.normalize = False  # the weights were normalised on the whole graph
        try:
            return conv(x, edge_index, edge_weight)
        finally:
            conv.normalize = True


@TEACHERS.register("gat")
class GAT(GNN):
    """GAT: ``heads`` attention heads concatenated in hidden layers, averaged in the last one."""

    def init_conv(self, in_channels, out_channels, last, heads: int = 8, attn_dropout: float = 0.3, **kwargs):
        if last:
            return GATConv(in_channels, out_channels, heads=1, concat=False, dropout=attn_dropout)
        if out_channels % heads:
            raise ValueError(f"hidden_channels ({out_channels}) must be divisible by heads ({heads})")
        return GATConv(in_channels, out_channels // heads, heads=heads, dropout=attn_dropout)


@TEACHERS.register("appnp")
class APPNPNet(nn.Module):
    """APPNP: an MLP predicts, personalised PageRank (``K`` steps, teleport ``alpha``) propagates."""

    supports_sparse_adj = True
    supports_layerwise: ClassVar[bool] = False  # K-hop propagation after the MLP: one full-graph pass

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
                 dropout: float = 0.5, act: str = "relu", norm: str | None = None, K: int = 10,
                 alpha: float = 0.1, **_):
        super().__init__()
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.num_layers, self.dropout = num_layers, dropout
        self.mlp = MLP([in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels], dropout=dropout,
                       act=act, norm=norm)
        self.prop = APPNP(K=K, alpha=alpha)

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()

    def encode(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.mlp(x, return_emb=True)[1]

    def classify(self, h: Tensor, edge_index: Tensor) -> Tensor:
        return self.prop(self.mlp.lins[-1](h), edge_index)

    def forward(self, x: Tensor, edge_index: Tensor, return_hidden: bool = False):
        h = self.encode(x, edge_index)
        out = self.classify(h, edge_index)
        return (out, h) if return_hidden else out


def build_teacher(name: str, in_channels: int, out_channels: int, **kwargs) -> nn.Module:
    """Instantiate a registered teacher (``sage``, ``gcn``, ``gat``, ``appnp``)."""
    cls = TEACHERS.get(name)
    kwargs.setdefault("hidden_channels", 128)
    return cls(in_channels=in_channels, out_channels=out_channels, **kwargs)
