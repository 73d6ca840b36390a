"""Teacher GNNs, the MLP student, (for VQGraph) the vector quantizer, and graph classifiers."""

from g2m.models.gnn import GAT, GCN, GNN, TEACHERS, APPNPNet, GraphSAGE, build_teacher
from g2m.models.graph_classifier import GNNS, POOLS, FeatureSpec, GraphClassifier
from g2m.models.mlp import StudentMLP

__all__ = ["GNN", "GraphSAGE", "GCN", "GAT", "APPNPNet", "TEACHERS", "build_teacher", "StudentMLP",
           "GraphClassifier", "FeatureSpec", "GNNS", "POOLS"]
