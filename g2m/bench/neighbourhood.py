"""What a teacher GNN must gather before it can answer for a batch of nodes: their L-hop neighbourhood.

Exact: PyG's ``k_hop_subgraph`` (every edge a node's output reads). Sampled: at most ``fan_out`` incoming
edges per node reached, drawn hop by hop as the teacher's training sampler draws them
(`g2m.graph_inputs.sample_around`). Both start from the graph held in memory as a COO ``edge_index``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from g2m.graph_inputs import computation_subgraph, sample_around


@dataclass
class Neighbourhood:
    """A computation subgraph: ``subset`` (global node ids, ascending), ``edge_index`` among them
    (relabelled to ``0..len(subset)-1``) and ``position`` (where the requested nodes sit in ``subset``)."""

    subset: Tensor
    edge_index: Tensor
    position: Tensor

    @property
    def num_nodes(self) -> int:
        return self.subset.numel()

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)


def gather_neighbourhood(edge_index: Tensor, nodes: Tensor, num_hops: int, num_nodes: int,
                         fan_out: int | None = None) -> Neighbourhood:
    """The ``num_hops``-hop computation subgraph of ``nodes``: exact when ``fan_out`` is None or 0, else
    with at most ``fan_out`` sampled incoming edges per node (one draw per node, from torch's global RNG).

    Edges point source → target (row 0 → row 1), as in PyG; a GNN run on the subgraph gives, at
    ``position``, its output for ``nodes`` (exactly, or as under the sampled neighbourhoods).
    """
    if num_hops < 1:
        raise ValueError(f"num_hops must be at least 1, got {num_hops}.")
    if not fan_out:
        subset, sub_edge_index, position = computation_subgraph(edge_index, nodes, num_hops, num_nodes)
        return Neighbourhood(subset, sub_edge_index, position)
    sampled = sample_around(edge_index, nodes, num_hops, num_nodes, fan_out)
    subset = torch.cat([nodes, sampled.view(-1)]).unique()  # sorted
    relabelled = torch.searchsorted(subset, sampled)
    return Neighbourhood(subset, relabelled, torch.searchsorted(subset, nodes))
