"""int8 students: onnxruntime's post-training dynamic quantization of an exported ONNX student, and the accuracy it
costs, measured on the student's own validation and test nodes before anything is written.

Dynamic quantization stores each weight matrix as int8 (one scale per matrix) and quantizes each batch's
activations to uint8 as it runs (``DynamicQuantizeLinear`` → ``MatMulInteger``): no calibration data, a file about
4× smaller, and integer matrix products (VNNI on recent x86 CPUs). Softmax and the biases stay float32.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from g2m.errors import ConfigError

QUANTIZE_CHOICES = ("int8",)
DEFAULT_MAX_DROP = 0.5  # percentage points of validation accuracy an int8 student may lose
SCHEME = "onnxruntime quantize_dynamic: int8 weights (one scale per matrix), uint8 activations quantized per batch"


def quantize_int8(onnx_bytes: bytes) -> bytes:
    """The ONNX model ``onnx_bytes`` with its matrix products dynamically quantized to int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="g2m-int8-") as tmp, _quiet_root_logger():
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(onnx_bytes)
        quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        return target.read_bytes()


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizer advises, on the root logger, a shape-inference pre-pass that a chain of
    matrix products does not need; keep it off the user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class OnnxLogits:
    """An ONNX student called like a torch module (``eval()``, ``(x) -> logits``), for `evaluate_student`."""

    def __init__(self, onnx_bytes: bytes):
        from g2m.predict import onnx_session

        self.session = onnx_session(onnx_bytes)

    def eval(self) -> "OnnxLogits":
        return self

    def __call__(self, x: Tensor) -> Tensor:
        dense = x.to_dense() if x.layout != torch.strided else x
        return torch.from_numpy(self.session.run(["logits"], {"x": dense.float().cpu().numpy()})[0])


def accuracy_change(student: nn.Module, int8_bytes: bytes, dataset, split, positions: Tensor | None = None,
                    ) -> dict[str, Any]:
    """Accuracy (%) of the float32 student and of its int8 model on ``split``'s validation and test nodes
    (`g2m.distill.student.evaluate_student`), and the drop in points (float32 − int8) on each."""
    from g2m.distill.student import evaluate_student

    cpu = torch.device("cpu")
    fp32 = evaluate_student(copy.deepcopy(student).cpu().eval(), dataset, split, cpu, positions)  # theirs untouched
    int8 = evaluate_student(OnnxLogits(int8_bytes), dataset, split, cpu, positions)  # type: ignore[arg-type]
    drop = {key: round(fp32[key] - int8[key], 4) for key in fp32}
    return {"fp32": fp32, "int8": int8, "drop": drop}


def check_drop(change: dict[str, Any], max_drop: float | None) -> None:
    """Refuse an int8 model that loses more than ``max_drop`` points of validation accuracy (None: never)."""
    if max_drop is not None and change["drop"]["val"] > max_drop:
        raise ConfigError(f"int8 quantization costs {change['drop']['val']:.2f} points of validation accuracy "
                          f"({change['fp32']['val']:.2f}% → {change['int8']['val']:.2f}%), more than the "
                          f"{max_drop:g} allowed: nothing was written. Export in float32 (no --quantize), or "
                          f"allow more with --max-drop (max_drop=).")


def check_max_drop(max_drop: float | None) -> None:
    if max_drop is not None and (not np.isfinite(max_drop) or max_drop < 0):
        raise ConfigError(f"max_drop (--max-drop) is the most validation accuracy, in percentage points, that int8 "
                          f"may lose: a number of at least 0, got {max_drop!r}.")
