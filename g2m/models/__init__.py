"""Teacher GNNs, the MLP student and (for VQGraph) the vector quantizer."""

from g2m.models.gnn import GAT, GCN, GNN, TEACHERS, APPNPNet, GraphSAGE, build_teacher
from g2m.models.mlp import StudentMLP

__all__ = ["GNN", "GraphSAGE", "GCN", "GAT", "APPNPNet", "TEACHERS", "build_teacher", "StudentMLP"]
