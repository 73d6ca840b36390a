"""Export a trained student as a self-contained TorchScript or ONNX model.

The exported model needs neither g2m, PyG nor the graph: it takes float32 node features ``x`` of
shape ``[N, in_features]`` (any N) and returns two tensors, ``logits`` and ``probabilities`` (the
softmax of the logits), both ``[N, num_classes]``. ONNX takes dense ``x`` (ONNX has no sparse CSR
input); TorchScript takes dense or torch sparse CSR ``x`` (its first layer is then one CSR × dense
product: what pays on bag-of-words features). ``quantize="int8"`` (ONNX) writes a dynamically
quantized model, after measuring what it costs on the run's validation and test nodes (`g2m.quantize`).
A ``g2m.json`` record (the source checkpoint, method, seed, setting, widths, and for int8 the
accuracy change) travels inside the file: TorchScript as an extra file, ONNX as model metadata.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from g2m.checkpoints import load_model, student_checkpoint
from g2m.errors import ConfigError, G2MError
from g2m.models.mlp import StudentMLP
from g2m.quantize import (DEFAULT_MAX_DROP, QUANTIZE_CHOICES, SCHEME, accuracy_change, check_drop, check_max_drop,
                          quantize_int8)
from g2m.utils.io import _atomic, refuse_links

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
EXPORT_FORMAT = "g2m-exported-student"
OUTPUT_NAMES = ("logits", "probabilities")
ONNX_OPSET = 17
ONNX_EXTRA = 'ONNX needs the optional packages onnx and onnxruntime: pip install "g2m[onnx]".'


class ExportedStudent(nn.Module):
    """A plain-torch copy of a student MLP: ``forward(x)`` returns ``(logits, probabilities)``."""

    def __init__(self, body: nn.Sequential):
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.body(x)
        return logits, torch.softmax(logits, dim=-1)


def plain_student(student: StudentMLP) -> ExportedStudent:
    """Rebuild ``student`` (in eval mode) from torch layers only: Linear, BatchNorm1d and the activation."""
    if student.act_first:
        raise ConfigError("students that apply the activation before the normalisation cannot be exported.")
    if student.act is not None and not type(student.act).__module__.startswith("torch.nn"):
        raise ConfigError(f"cannot export a student with activation {type(student.act).__name__}.")
    layers: list[nn.Module] = []
    for i, lin in enumerate(student.lins):
        plain = nn.Linear(lin.in_channels, lin.out_channels, bias=lin.bias is not None)
        with torch.no_grad():
            plain.weight.copy_(lin.weight)
            if lin.bias is not None:
                plain.bias.copy_(lin.bias)
        layers.append(plain)
        if i == len(student.lins) - 1 and student.plain_last:
            break
        layers.append(_plain_norm(student.norms[i]))
        if student.act is not None:
            layers.append(copy.deepcopy(student.act))
    module = ExportedStudent(nn.Sequential(*(m for m in layers if not isinstance(m, nn.Identity)))).eval()
    return module.requires_grad_(False)  # for inference: outputs convert with .numpy() directly


def _plain_norm(norm: nn.Module) -> nn.Module:
    if isinstance(norm, (nn.Identity, nn.BatchNorm1d)):
        return copy.deepcopy(norm)
    inner = getattr(norm, "module", None)  # PyG's BatchNorm wraps a torch BatchNorm1d (eval: just that)
    if type(norm).__name__ == "BatchNorm" and isinstance(inner, nn.BatchNorm1d):
        return copy.deepcopy(inner)
    raise ConfigError(f"cannot export a student with {type(norm).__name__} normalisation "
                      "(supported: none, batch_norm).")


def export_student(path: Any, format: str = "onnx", output: str | Path | None = None,
                   checkpoint: str | None = None, quantize: str | None = None,
                   max_drop: float | None = DEFAULT_MAX_DROP, root: str | Path | None = None) -> Path:
    """Export a student to ``output`` and return its path.

    Args:
        path: a run folder written by `g2m distill` (see `g2m.checkpoints.student_checkpoint` for which
            student is chosen), a student checkpoint file, or a student in memory: a fitted `g2m.Distiller` or
            its ``student_model_`` (a `StudentMLP`; then ``output`` is required).
        format: ``"onnx"`` (needs the ``onnx`` extra; dynamic batch dimension) or ``"torchscript"``.
        output: the file to write (atomically); default ``RUN_DIR/export/<checkpoint>.onnx`` or
            ``.torchscript.pt``.
        checkpoint: in a run folder, the checkpoint's file name (e.g. ``student-glnn-ind-seed3``).
        quantize: ``"int8"``: an ONNX model with int8 matrix products (`g2m.quantize`). Its accuracy and the
            float32 student's on the validation and test nodes of the student's own split are measured first
            and recorded in the file's metadata (``quantization``); needs that data: a checkpoint inside a run
            folder, or a fitted `g2m.Distiller`.
        max_drop: with ``quantize``, refuse (write nothing) when validation accuracy drops by more than this
            many percentage points; None: never refuse.
        root: the data root to read the run's dataset from (``quantize`` only; default the run's own).

    The exported model is checked against the g2m student on a probe batch before this returns.

    Examples:
        ```python
        g2m.export_student("runs/glnn-cora", format="onnx")   # runs/glnn-cora/export/student-glnn-tran-seed0.onnx
        g2m.export_student(distiller.student_model_, output="student.onnx")
        ```
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; choose one of: {', '.join(FORMATS)}.")
    if quantize is not None:
        if quantize not in QUANTIZE_CHOICES:
            raise ConfigError(f"unknown quantization {quantize!r}; choose one of: {', '.join(QUANTIZE_CHOICES)}.")
        if format != "onnx":
            raise ConfigError("--quantize int8 writes an ONNX model (onnxruntime's integer operators): use --format "
                              "onnx, or export TorchScript in float32.")
        check_max_drop(max_drop)
    from g2m.api import Distiller

    if isinstance(path, Distiller) and not hasattr(path, "student_model_"):
        raise ConfigError("this Distiller is not fitted yet: call .fit(dataset) first.")
    if isinstance(path, (nn.Module, Distiller)):
        return _export_in_memory(path, format, output, checkpoint, quantize, max_drop)
    source = student_checkpoint(path, checkpoint)
    if output is None and source.parent.name == "checkpoints":  # into RUN/export/: never through a planted link
        refuse_links(source.parent.parent, ("export",))
    out = Path(output) if output is not None else default_output(source, format)
    _check_output(out, source, format)
    if format == "onnx":
        require_onnx()
    student, ckpt = load_model(source)
    if ckpt["kind"] != "student":
        raise ConfigError(f"{source} is a {ckpt['name']!r} teacher checkpoint: only graph-free students can be "
                          "exported (a teacher needs the graph).")
    meta = {"source": source.name, "method": ckpt["name"], "seed": ckpt["seed"], "setting": ckpt["setting"]}
    if "class_labels" in ckpt:
        meta["class_labels"] = list(ckpt["class_labels"])
    check = None
    if quantize is not None:
        check = _run_data(source, ckpt, root)
    return _write(student, format, out, meta, quantize, max_drop, check)


def _run_data(source: Path, ckpt: dict[str, Any], root: str | Path | None) -> tuple[Any, Any, Any]:
    """The dataset, split and positions a checkpoint of a run folder was trained with (to measure int8's cost)."""
    from g2m.checkpoints import check_fits, dataset_of_run
    from g2m.datasets import node_split
    from g2m.run_dir import read_run_config

    run_dir = source.parent.parent
    if source.parent.name != "checkpoints" or not (run_dir / "config.json").is_file():
        raise ConfigError(f"--quantize int8 measures the accuracy it costs on the student's validation nodes, so it "
                          f"needs the run the student comes from: {source} is not inside a run folder's "
                          "checkpoints/. Export from the run folder (g2m export RUN_DIR --quantize int8), or from a "
                          "fitted g2m.Distiller in Python.")
    config = read_run_config(run_dir)
    dataset = dataset_of_run(config, root)
    check_fits(source, ckpt, dataset, config)
    return dataset, node_split(dataset, ckpt["seed"], ckpt["setting"]), ckpt.get("positions")


def _export_in_memory(student: Any, format: str, output: str | Path | None, checkpoint: str | None,
                      quantize: str | None = None, max_drop: float | None = DEFAULT_MAX_DROP) -> Path:
    """`export_student` of a fitted `g2m.Distiller` or a `StudentMLP`."""
    if checkpoint is not None:
        raise ConfigError("checkpoint= chooses a student in a run folder; a student in memory is exported as it is.")
    if output is None:
        raise ConfigError("exporting a student in memory needs output= (the file to write, e.g. student.onnx).")
    meta = {"source": "in-memory"}
    check = None
    if quantize is not None:
        if getattr(student, "dataset_", None) is None:
            raise ConfigError("--quantize int8 measures the accuracy it costs on the student's validation nodes: "
                              "export a Distiller fitted in this process (a loaded one or a bare StudentMLP does "
                              "not hold its data), or the run folder it was trained in.")
        check = (student.dataset_, student.split_, None)
    if hasattr(student, "student_model_"):  # a fitted (or loaded) Distiller
        run = getattr(student, "student_", None)
        if run is not None and run.positions is not None:
            raise ConfigError(f"the {run.method.name} student reads DeepWalk positions beside the features; export "
                              "it from a run folder (g2m distill -o DIR), where its positions are saved.")
        method = run.method.name if run is not None else student.method
        meta = {**meta, "method": method, "seed": student.seed, "setting": student.setting}
        if not np.array_equal(student.classes_, np.arange(len(student.classes_))):
            meta["class_labels"] = student.classes_.tolist()
        student = student.student_model_
    if not isinstance(student, StudentMLP):
        raise ConfigError(f"cannot export a {type(student).__name__}: pass a g2m student (Distiller.student_model_), "
                          "a fitted Distiller, a run folder or a student checkpoint.")
    out = Path(output)
    _check_output(out, None, format)
    if format == "onnx":
        require_onnx()
    return _write(student.eval(), format, out, meta, quantize, max_drop, check)


def _write(student: StudentMLP, format: str, out: Path, meta: dict[str, Any], quantize: str | None = None,
           max_drop: float | None = DEFAULT_MAX_DROP, check: tuple[Any, Any, Any] | None = None) -> Path:
    """Export ``student`` with its ``g2m.json`` record (``meta`` plus format, version and widths), verified; with
    ``quantize``, its int8 model, once its accuracy on ``check`` (dataset, split, positions) is within
    ``max_drop`` points of the student's."""
    in_features = student.lins[0].in_channels
    meta = {"format": EXPORT_FORMAT, "version": 1, "g2m": _version(), **meta,
            "in_features": in_features, "num_classes": student.lins[-1].out_channels,
            "input": "x", "outputs": list(OUTPUT_NAMES)}
    module = plain_student(student)
    data = _onnx_bytes(module, meta) if format == "onnx" else _torchscript_bytes(module, meta)
    _verify(data, format, student, in_features)
    if quantize is not None:
        data = quantize_int8(data)
        change = accuracy_change(student, data, *check)
        check_drop(change, max_drop)
        meta["quantization"] = {"type": quantize, "scheme": SCHEME, "accuracy": change, "max_drop": max_drop}
        data = _with_onnx_metadata(data, meta)
    return _atomic(out, lambda fh: fh.write(data))


def _with_onnx_metadata(data: bytes, meta: dict[str, Any]) -> bytes:
    import onnx

    model = onnx.load_from_string(data)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {"g2m": json.dumps(meta)})
    return model.SerializeToString()


def default_output(source: Path, format: str) -> Path:
    """``RUN_DIR/export/<stem><suffix>`` for a checkpoint in a run folder, else beside the checkpoint."""
    folder = source.parent.parent / "export" if source.parent.name == "checkpoints" else source.parent
    return folder / f"{source.stem}{SUFFIXES[format]}"


def _check_output(out: Path, source: Path | None, format: str) -> None:
    """Refuse an output that would overwrite ``source`` (the checkpoint; None in memory), a folder, or a name
    whose suffix does not say the format."""
    if source is not None and out.exists() and out.resolve() == source.resolve():
        raise ConfigError(f"the output {out} is the checkpoint being exported; choose another -o.")
    if out.is_dir():
        example = out / f"student{SUFFIXES[format]}"
        raise ConfigError(f"the output {out} is a folder; pass a file name (e.g. {example}).")
    if (format == "onnx") != (out.suffix.lower() == ".onnx"):
        raise ConfigError(f"name {'an ONNX' if format == 'onnx' else 'a TorchScript'} file "
                          f"{'*.onnx' if format == 'onnx' else '*.pt (not *.onnx)'}: `g2m predict` tells "
                          f"the formats apart by it (got {out.name}).")
    if out.parent.name == "checkpoints" and (out.parent.parent / "config.json").exists():
        raise ConfigError(f"{out} is inside a run's checkpoints/ folder, where `g2m evaluate` would read it as "
                          "a checkpoint; choose another -o.")


def require_onnx() -> None:
    """A clear `ConfigError` (the ``onnx`` extra to install) when onnx or onnxruntime is missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"{ONNX_EXTRA} ({exc})") from None


def _version() -> str:
    from g2m import __version__

    return __version__


@contextlib.contextmanager
def quiet_deprecations():
    """torch 2.13 marks TorchScript and the TorchScript-based ONNX exporter deprecated; both still work and
    still run on every torch g2m supports (the newer exporter would also need onnxscript)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _torchscript_bytes(module: ExportedStudent, meta: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    with quiet_deprecations():
        torch.jit.save(torch.jit.script(module), buf, _extra_files={"g2m.json": json.dumps(meta)})
    return buf.getvalue()


def _onnx_bytes(module: ExportedStudent, meta: dict[str, Any]) -> bytes:
    import onnx

    buf = io.BytesIO()
    probe = torch.zeros(2, meta["in_features"])
    axes = {name: {0: "batch"} for name in ("x", *OUTPUT_NAMES)}
    with quiet_deprecations():
        torch.onnx.export(module, (probe,), buf, dynamo=False, input_names=["x"], output_names=list(OUTPUT_NAMES),
                          dynamic_axes=axes, opset_version=ONNX_OPSET)
    model = onnx.load_from_string(_with_onnx_metadata(buf.getvalue(), meta))
    model.doc_string = ("g2m student: x float32 [batch, in_features] -> logits, probabilities "
                        "float32 [batch, num_classes]")
    onnx.checker.check_model(model)
    return model.SerializeToString()


@torch.no_grad()
def _verify(data: bytes, format: str, student: StudentMLP, in_features: int, atol: float = 1e-5) -> None:
    """The exported bytes must give the student's probabilities on a seeded probe batch."""
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(16, in_features, generator=gen) < 0.2).float()
    want = student(x).softmax(-1)
    if format == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(["probabilities"], {"x": x.numpy()})[0])
    else:
        with quiet_deprecations():
            got = torch.jit.load(io.BytesIO(data))(x)[1]
    if not torch.allclose(got, want, atol=atol):
        diff = float((got - want).abs().max())
        raise G2MError(f"the exported {format} model differs from the student by {diff:.2e} (> {atol}); "
                       "this is a bug in g2m's export, please report it.")
