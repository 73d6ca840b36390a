"""GNN → MLP distillation: loss terms (``losses``), methods as term sets (``methods``), student training.

Importing a method module registers its loss terms and method name.
"""

from g2m.distill.losses import LOSSES, LossInput, register_loss
from g2m.distill.methods import METHODS, Method, register_method, resolve_method
from g2m.distill.student import StudentRun, train_student
from g2m.distill import vqgraph  # noqa: F401,E402  (registers the "vq" teacher trainer and "vqgraph")
from g2m.distill import ffg2m  # noqa: F401  (registers the lfd/hfd terms and the ffg2m method)

__all__ = ["LOSSES", "LossInput", "register_loss", "METHODS", "Method", "register_method", "resolve_method",
           "StudentRun", "train_student"]
