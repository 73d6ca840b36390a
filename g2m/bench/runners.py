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
from g2m.graph_inputs import SPARSE_MIN_ROWS, graph_input, select_rows


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


class PositionInputs:
    """A position-aware student's input for ``nodes``: their feature rows and their positions — a node's own
    when it was in the training graph, else the mean over its training-graph neighbours (read from the graph
    in memory, held as a CSR by target node, like the teacher's; rule of `g2m.distill.position`)."""

    def __init__(self, x: Tensor, ckpt: dict[str, Any], edge_index: Tensor, num_nodes: int):
        from torch_geometric.utils import sort_edge_index

        self.x = x
        observed, positions = ckpt["observed"], ckpt["positions"].float()
        self.table = torch.zeros(num_nodes, positions.size(1))
        self.table[observed] = positions
        self.known = torch.zeros(num_nodes, dtype=torch.bool)
        self.known[observed] = True
        target, source = sort_edge_index(edge_index.flip(0), num_nodes=num_nodes)  # grouped by target
        self.source = source
        self.degree = torch.bincount(target, minlength=num_nodes)
        self.ptr = torch.cat([self.degree.new_zeros(1), self.degree.cumsum(0)])

    def positions(self, nodes: Tensor) -> Tensor:
        from torch_geometric.utils import scatter

        counts = self.degree[nodes]
        owner = torch.repeat_interleave(torch.arange(nodes.numel()), counts)
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
        neighbours = self.source[self.ptr[nodes][owner] + offsets]
        keep = self.known[neighbours]
        mean = scatter(self.table[neighbours[keep]], owner[keep], dim=0, dim_size=nodes.numel(), reduce="mean")
        return torch.where(self.known[nodes].unsqueeze(1), self.table[nodes], mean)

    def __call__(self, nodes: Tensor) -> Tensor:
        return torch.cat([self.x[nodes], self.positions(nodes)], dim=1)


def student_runtimes(run: RunModels, runtimes: list[str], x: Tensor, threads: int,
                     tmp: Path) -> tuple[dict[str, StudentRunner], dict[str, dict[str, Any]]]:
    """The requested student runtimes (exported to ``tmp`` by `g2m.export`), and those skipped with a reason.

    ``x`` holds the features as g2m keeps them (`g2m.graph_inputs.as_model_input`: sparse CSR when mostly zeros):
    eager and TorchScript read them so (a batch of fewer than `SPARSE_MIN_ROWS` rows: dense rows);
    ``torchscript-dense`` reads the same features dense (only timed when they are sparse); ONNX and int8 ONNX read
    dense rows (ONNX has no CSR input). A
    position-aware student reads dense ``[features, positions]`` rows in every runtime: its cold-start call also
    computes the batch's positions (`PositionInputs`); its full-graph input is prepared once, untimed."""
    from g2m.export import export_student, quiet_deprecations
    from g2m.predict import onnx_session

    runners: dict[str, StudentRunner] = {}
    skipped: dict[str, dict[str, Any]] = {}
    sparse = x.layout == torch.sparse_csr
    dense = x.to_dense() if sparse else x
    dense_rows: Callable[[Tensor], Tensor] = dense.__getitem__
    rows = dense_rows
    if sparse:  # CSR rows for batches where a sparse product pays, else dense rows (a copy kept for them)
        def rows(nodes: Tensor) -> Tensor:
            return select_rows(x, nodes) if nodes.numel() >= SPARSE_MIN_ROWS else dense[nodes]
    if run.student_ckpt.get("positions") is not None:
        data = run.dataset.data
        rows = dense_rows = PositionInputs(dense, run.student_ckpt, data.edge_index, data.num_nodes)
        x = dense = rows(torch.arange(data.num_nodes))
        sparse = False
    dense_np = dense.numpy()
    if "eager" in runtimes:
        model = run.student.eval()
        runners["eager"] = StudentRunner(lambda nodes: model(rows(nodes)).softmax(-1),
                                         lambda _=None: model(x).softmax(-1))
    if "torchscript" in runtimes or "torchscript-dense" in runtimes:
        path = export_student(run.student_path, "torchscript", output=tmp / "student.torchscript.pt")
        with quiet_deprecations():
            module = torch.jit.load(str(path), map_location="cpu").eval()
        if "torchscript" in runtimes:
            runners["torchscript"] = StudentRunner(lambda nodes: module(rows(nodes)), lambda _=None: module(x))
        if "torchscript-dense" in runtimes:
            if sparse:
                runners["torchscript-dense"] = StudentRunner(lambda nodes: module(dense_rows(nodes)),
                                                             lambda _=None: module(dense))
            else:
                skipped["torchscript-dense"] = {"skipped": "the features are dense already (torchscript reads them so)"}
    for name in ("onnx", "onnx-int8"):
        if name not in runtimes:
            continue
        reason = _onnx_missing()
        if reason:
            skipped[name] = {"skipped": reason}
            continue
        quantize = "int8" if name == "onnx-int8" else None
        exported = export_student(run.student_path, "onnx", output=tmp / f"{name}.onnx", quantize=quantize,
                                  max_drop=None)
        session = onnx_session(exported, threads)
        runners[name] = StudentRunner(
            lambda nodes, s=session: s.run(["probabilities"], {"x": dense_rows(nodes).numpy()}),
            lambda _=None, s=session: s.run(["probabilities"], {"x": dense_np}))
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
