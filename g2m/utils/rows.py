"""Row gathers whose gradient is the same on every run."""

from __future__ import annotations

from torch import Tensor


def take_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for a 1-D ``index`` that may repeat rows (edge endpoints), with a reproducible gradient.

    The backward of ``x[index]`` accumulates with ``index_put_``, whose sum order over repeated rows varies
    between runs on a multi-threaded CPU; ``index_select``'s backward (``index_add_``) does not.
    """
    return x.index_select(0, index)
