"""GNN → MLP distillation: loss terms (``losses``), methods as term sets (``methods``), student training.

Importing a method module registers its loss terms and method name. The subpackage itself is callable:
``g2m.distill(...)`` is `g2m.api.distill` (multi-seed runs).
"""

from g2m.distill.losses import LOSSES, LossInput, register_loss
from g2m.distill.methods import METHODS, Method, register_method, resolve_method
from g2m.distill.student import StudentRun, train_student
from g2m.distill import vq_teacher  # noqa: F401,E402  (registers the "vq" teacher trainer)
from g2m.distill import vqgraph  # noqa: F401,E402  (registers "soft_code_kl" and "vqgraph")
from g2m.distill import ffg2m  # noqa: F401  (registers the lfd/hfd terms and the ffg2m method)
from g2m.distill import nosmog  # noqa: F401  (registers pos, rsd and adv)
from g2m.utils.modules import make_module_callable

__all__ = ["LOSSES", "LossInput", "register_loss", "METHODS", "Method", "register_method", "resolve_method",
           "StudentRun", "train_student"]


def _distill(*args, **kwargs):
    from g2m.api import distill  # g2m.api imports this package: resolve at call time

    return distill(*args, **kwargs)


make_module_callable(__name__, _distill)
