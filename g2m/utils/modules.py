"""Callable subpackages: ``g2m.condense(...)`` runs a function while ``g2m.condense.X`` stays importable."""

from __future__ import annotations

import sys
import types
from typing import Any, Callable


def make_module_callable(module_name: str, target: Callable[..., Any]) -> None:
    """Make the already-imported module ``module_name`` callable: calling it calls ``target``.

    This keeps ``import g2m.condense as gc`` and ``from g2m.condense import X`` working next to the
    documented one-call API ``g2m.condense("mutag", gnn="gin")``.
    """

    class CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return target(*args, **kwargs)

    sys.modules[module_name].__class__ = CallableModule
