"""The graph-free student: PyG's ``MLP`` with the embedding before its last layer exposed."""

from __future__ import annotations

from torch import Tensor
from torch_geometric.nn import MLP


class StudentMLP(MLP):
    """``num_layers`` linear layers (``hidden_channels`` wide), ReLU, dropout; no graph needed.

    ``forward(x, return_hidden=True)`` returns ``(logits, hidden)``; ``x`` may be a sparse CSR matrix.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
                 dropout: float = 0.0, norm: str | None = None, act: str = "relu"):
        super().__init__(in_channels=in_channels, hidden_channels=hidden_channels, out_channels=out_channels,
                         num_layers=num_layers, dropout=dropout, norm=norm, act=act)
        self.hidden_channels = hidden_channels

    def forward(self, x: Tensor, return_hidden: bool = False):  # type: ignore[override]
        if return_hidden:
            return super().forward(x, return_emb=True)
        return super().forward(x)
