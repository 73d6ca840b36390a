"""ogb 1.3.6 calls ``torch.load`` without opting out of weights-only loading; allow PyG's data classes."""

from __future__ import annotations

import torch


def register_safe_globals() -> None:
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import GlobalStorage

    torch.serialization.add_safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])
