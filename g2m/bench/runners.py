"""The timed calls: a teacher over the graph in memory, a student in torch eager, TorchScript or onnxruntime."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from g2m.bench.neighbourhood import gather_neighbourhood
from g2m.bench.runs import RunModels
from g2m.bench.timing import Probe
from g2m.training import graph_input, select_rows


class TeacherRunner:
    """The teacher's cold-start and full-graph calls over the graph held in memory."""

    def __init__(self, run: RunModels, x: Tensor):
        self.model, self.x = run.teacher, x
        self.edge_index, self.num_nodes = run.dataset.data.edge_index, run.dataset.data.num_nodes
        self.hops = int(self.model.receptive_field)
        self._full_graph: Tensor | None = None

    def predict(self, nodes: Tensor, fan_out: int | None) -> tuple[Tensor, Probe]:
        """Probabilities for ``nodes`` from their gathered neighbourhood, and what the gathering cost."""
        start = time.perf_counter()
        sub = gather_neighbourhood(self.edge_index, nodes, self.hops, self.num_nodes, fan_out)
        x = select_rows(self.x, sub.subset)
        gathered = time.perf_counter() - start
        out = self.model(x, graph_input(self.model, sub.edge_index, sub.num_nodes))[sub.position]
        return out.softmax(-1), Probe(gathered, sub.num_nodes, sub.num_edges)

    def cold(self, fan_out: int | None) -> Callable[[Tensor], Probe]:
        return lambda nodes: self.predict(nodes, fan_out)[1]

    def full(self, _: Any = None) -> Tensor:
        if self._full_graph is None:  # prepared once, untimed (the first call is a warm-up)
            self._full_graph = graph_input(self.model, self.edge_index, self.num_nodes)
        return self.model(self.x, self._full_graph).softmax(-1)


@dataclass
class StudentRunner:
    """One student runtime: ``cold(nodes)`` reads the nodes' feature rows and runs; ``full()`` runs every node."""

    cold: Callable[[Tensor], None]
    full: Callable[[Any], None]


def student_runtimes(run: RunModels, runtimes: list[str], x: Tensor, threads: int,
                     tmp: Path) -> tuple[dict[str, StudentRunner], dict[str, dict[str, str]]]:
    """The requested student runtimes (exported to ``tmp`` by `g2m.export`), and those skipped with a reason."""
    from g2m.export import export_student, quiet_deprecations

    runners: dict[str, StudentRunner] = {}
    skipped: dict[str, dict[str, str]] = {}
    x_np = x.numpy()
    if "eager" in runtimes:
        model = run.student.eval()
        runners["eager"] = StudentRunner(lambda nodes: model(x[nodes]).softmax(-1),
                                         lambda _=None: model(x).softmax(-1))
    if "torchscript" in runtimes:
        path = export_student(run.student_path, "torchscript", output=tmp / "student.torchscript.pt")
        with quiet_deprecations():
            module = torch.jit.load(str(path), map_location="cpu").eval()
        runners["torchscript"] = StudentRunner(lambda nodes: module(x[nodes]), lambda _=None: module(x))
    if "onnx" in runtimes:
        reason = _onnx_missing()
        if reason:
            skipped["onnx"] = {"skipped": reason}
        else:
            session = onnx_session(export_student(run.student_path, "onnx", output=tmp / "student.onnx"), threads)
            runners["onnx"] = StudentRunner(lambda nodes: session.run(["probabilities"], {"x": x_np[nodes.numpy()]}),
                                            lambda _=None: session.run(["probabilities"], {"x": x_np}))
    return runners, skipped


def _onnx_missing() -> str | None:
    """Why ONNX cannot run here (`g2m.export`'s own check), or ``None``."""
    from g2m.errors import ConfigError
    from g2m.export import require_onnx

    try:
        require_onnx()
    except ConfigError as exc:
        return str(exc)
    return None


def onnx_session(path: Path, threads: int):
    """An onnxruntime CPU session with ``threads`` intra-op threads, one inter-op thread, sequential."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
