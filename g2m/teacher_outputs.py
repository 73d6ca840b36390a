"""A teacher g2m did not train: the user's own trained GNN, or the outputs it saved.

A real pipeline already has its teacher. `as_teacher` turns what the user passes as ``teacher=`` into one of:

- a built-in family name (``"sage"``, ...): g2m trains it (`g2m.teacher`);
- a `TeacherCommittee` (``"auto"``, or ``"sage+appnp"``): g2m trains several families and distills the best on
  validation or their average (`g2m.teacher_committee`);
- a `ModelTeacher`: any trained ``torch.nn.Module`` called as ``model(x, edge_index)`` that returns the logits,
  or ``(logits, hidden)``; g2m computes its outputs on each split's observed graph, in eval mode;
- `TeacherOutputs`: logits (and optionally a hidden layer), one row per node in node-id order, from tensors,
  arrays, a mapping, or a file (``.npy``, ``.npz``, ``.pt`` read with ``weights_only=True``, or a folder of
  ``logits.npy``/``hidden.npy`` as g2m's own ``teacher-outputs/`` layout, memory-mapped).

Both are trained by the ``"external"`` teacher trainer, which computes nothing but the outputs and the teacher's
accuracy on the split. Methods that train their own teacher (VQGraph's tokenizer) cannot use them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import NodeSplit
from g2m.errors import ConfigError, G2MWarning
from g2m.config import teacher_setting_keys
from g2m.teacher import TEACHER_TRAINERS, TeacherRun
from g2m.teacher_committee import COMMITTEE, TeacherCommittee, parse_committee
from g2m.training import accuracy
from g2m.utils.io import file_sha256, load_tensors

EXTERNAL = "external"  # the teacher trainer of a user's model or outputs
OUTPUTS_ARE = ("auto", "logits", "probabilities")
OUTPUT_KEYS = ("logits", "hidden")
CHECK_ROWS = 65536  # rows checked at a time (memory-mapped outputs are never read whole)


def _tensor(value: Any, what: str) -> Tensor:
    """A float32 2-D tensor view of a tensor or array (a memory-mapped array stays on disk)."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise ConfigError(f"the teacher's {what}: an array of Python objects; pass numbers.")
        with warnings.catch_warnings():  # read-only memory maps: torch warns that writes are undefined; none happen
            warnings.simplefilter("ignore", UserWarning)
            value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        raise ConfigError(f"the teacher's {what} must be a tensor or an array, got {type(value).__name__}.")
    if value.dim() != 2:
        raise ConfigError(f"the teacher's {what} must be 2-D (one row per node), got shape {list(value.shape)}.")
    if value.is_sparse or value.layout != torch.strided:
        value = value.to_dense()
    if not (value.is_floating_point() or value.dtype in (torch.int32, torch.int64)):
        raise ConfigError(f"the teacher's {what} must hold numbers, got {value.dtype}.")
    return value if value.dtype == torch.float32 else value.float()


def _check_finite(t: Tensor, what: str) -> None:
    for start in range(0, t.size(0), CHECK_ROWS):
        bad = ~torch.isfinite(t[start:start + CHECK_ROWS]).all(dim=1)
        if bool(bad.any()):
            nodes = bad.nonzero().view(-1) + start
            shown = ", ".join(str(int(i)) for i in nodes[:5]) + (f" (and {nodes.numel() - 5} more)" if nodes.numel() > 5 else "")
            raise ConfigError(f"NaN or inf in the teacher's {what} at node(s) {shown}: the student cannot learn "
                              "from them; fix the teacher, or drop those nodes from the graph.")


def _look_like_probabilities(logits: Tensor) -> bool:
    """Every row non-negative and summing to 1 (within 1e-3)."""
    for start in range(0, logits.size(0), CHECK_ROWS):
        rows = logits[start:start + CHECK_ROWS]
        if bool((rows < 0).any()) or not torch.allclose(rows.sum(1), torch.ones(rows.size(0)), atol=1e-3):
            return False
    return logits.size(0) > 0


def as_logits(values: Tensor, outputs_are: str = "auto") -> Tensor:
    """Teacher outputs as logits: probabilities become their logarithm (``softmax(log p) = p``).

    Args:
        values: ``[num_nodes, num_classes]``.
        outputs_are: ``"logits"`` (taken as they are; log-probabilities are logits too), ``"probabilities"``
            (checked: non-negative rows that sum to 1), or ``"auto"``: rows that all look like probabilities are
            read as probabilities, with a warning saying so.
    """
    if outputs_are not in OUTPUTS_ARE:
        raise ConfigError(f"outputs_are={outputs_are!r}: use one of {', '.join(OUTPUTS_ARE)}.")
    if outputs_are == "logits":
        return values
    looks = _look_like_probabilities(values)
    if outputs_are == "probabilities" and not looks:
        raise ConfigError("outputs_are='probabilities', but some rows of the teacher's outputs are negative or do "
                          "not sum to 1: pass outputs_are='logits' (--outputs-are logits) if they are logits.")
    if not looks:
        return values
    if outputs_are == "auto":
        warnings.warn("every row of the teacher's outputs is non-negative and sums to 1, so g2m reads them as "
                      "probabilities (and distills from their logarithm). If they are logits, say so: "
                      "outputs_are='logits' (--outputs-are logits).", G2MWarning, stacklevel=3)
    return values.clamp_min(1e-12).log()


@dataclass(frozen=True)
class TeacherOutputs:
    """A teacher's outputs at every node of the graph (row ``i`` = node ``i``).

    Args:
        logits: ``[num_nodes, num_classes]`` (probabilities are accepted: see `as_logits`).
        hidden: optional ``[num_nodes, d]`` hidden layer (NOSMOG's ``rsd`` term needs it).
        source: where they came from (recorded in the run's ``config.json``).
    """

    logits: Tensor
    hidden: Tensor | None = None
    source: dict[str, Any] = field(default_factory=lambda: {"kind": "outputs"})
    name: str = field(default="user-outputs", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "logits", _tensor(self.logits, "logits"))
        if self.hidden is not None:
            object.__setattr__(self, "hidden", _tensor(self.hidden, "hidden layer"))
            if self.hidden.size(0) != self.logits.size(0):
                raise ConfigError(f"the teacher's hidden layer has {self.hidden.size(0)} rows but its logits have "
                                  f"{self.logits.size(0)}: give one row per node in both.")

    @classmethod
    def of(cls, value: Any, outputs_are: str = "auto", source: dict[str, Any] | None = None) -> "TeacherOutputs":
        """From logits (a tensor or array) or a mapping with ``logits`` and optionally ``hidden``."""
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(OUTPUT_KEYS))
            if unknown or "logits" not in value:
                raise ConfigError(f"teacher outputs: expected the keys 'logits' (and optionally 'hidden'), got "
                                  f"{sorted(value)}.")
            logits, hidden = value["logits"], value.get("hidden")
        else:
            logits, hidden = value, None
        logits = as_logits(_tensor(logits, "logits"), outputs_are)
        return cls(logits, hidden, {"kind": "outputs", "outputs_are": outputs_are, **(source or {})})

    @classmethod
    def load(cls, path: str | Path, outputs_are: str = "auto") -> "TeacherOutputs":
        """Read outputs saved by the user: see `read_outputs_file`; the file's path and sha256 are recorded."""
        path = Path(path)
        value, files = read_outputs_file(path)
        source = {"path": str(path.resolve()), "sha256": {f.name: file_sha256(f) for f in files}}
        return cls.of(value, outputs_are, source)

    def check(self, dataset: NodeDataset) -> None:
        """Refuse outputs that do not fit ``dataset``: rows, class count, NaN/inf."""
        rows, classes = self.logits.shape
        if rows != dataset.num_nodes:
            raise ConfigError(f"the teacher's outputs have {rows} rows but {dataset.name!r} has {dataset.num_nodes} "
                              "nodes: give one row per node, in node-id order (row i = node i).")
        if classes != dataset.num_classes:
            raise ConfigError(f"the teacher's outputs have {classes} columns but {dataset.name!r} has "
                              f"{dataset.num_classes} classes: give one logit per class, in class-id order.")
        _check_finite(self.logits, "logits")
        if self.hidden is not None:
            _check_finite(self.hidden, "hidden layer")


def read_outputs_file(path: Path) -> tuple[Any, list[Path]]:
    """The logits (or a ``{"logits", "hidden"}`` mapping) in ``path``, and the files read.

    ``.npy`` (the logits; ``allow_pickle=False``), ``.npz`` (arrays ``logits`` and optionally ``hidden``),
    ``.pt`` (a tensor or a dict of them; ``weights_only=True``: no code runs) or a folder holding ``logits.npy``
    and optionally ``hidden.npy`` (memory-mapped: rows are read from disk when used)."""
    if path.is_dir():
        files = [path / f"{k}.npy" for k in OUTPUT_KEYS if (path / f"{k}.npy").is_file()]
        if path / "logits.npy" not in files:
            raise ConfigError(f"{path} has no logits.npy: a folder of teacher outputs holds logits.npy (one row per "
                              "node) and optionally hidden.npy.")
        try:
            return {f.stem: np.load(f, mmap_mode="r", allow_pickle=False) for f in files}, files
        except ValueError as exc:
            raise ConfigError(f"cannot read the teacher outputs in {path} as numeric .npy arrays ({exc}).") from None
    if not path.is_file():
        raise ConfigError(f"no such teacher outputs file or folder: {path}.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), [path]
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                return {k: arrays[k] for k in arrays.files}, [path]
        if suffix == ".pt":
            return load_tensors(path), [path]
    except Exception as exc:  # noqa: BLE001 - a pickled object, a truncated or foreign file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot read the teacher outputs in {path}: {first}. g2m reads numbers only (no "
                          "pickled objects): save numbers with NumPy (np.save, np.savez) or tensors with torch.") from None
    raise ConfigError(f"teacher outputs file {path.name}: use .npy, .npz, .pt or a folder of .npy files.")


@dataclass(frozen=True)
class ModelTeacher:
    """A user's trained GNN, called as ``model(x, edge_index)`` (returning logits, or ``(logits, hidden)``)."""

    model: nn.Module
    outputs_are: str = "auto"
    name: str = field(default="user-model", init=False)

    @property
    def source(self) -> dict[str, Any]:
        cls = type(self.model)
        return {"kind": "module", "class": f"{cls.__module__}.{cls.__qualname__}", "outputs_are": self.outputs_are}

    @torch.no_grad()
    def outputs(self, x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(logits, hidden)`` at every node of the graph ``(x, edge_index)``, computed in eval mode on the model's
        own device (returned on the CPU)."""
        model = self.model
        device = next(model.parameters(), torch.empty(0)).device
        was_training = model.training
        if was_training:
            warnings.warn(f"your teacher ({type(model).__name__}) was in training mode: g2m computes its outputs in "
                          "eval mode (dropout off, normalisation statistics fixed) and puts it back in training "
                          "mode after.", G2MWarning, stacklevel=4)
        model.eval()
        try:
            out = model(x.to(device), edge_index.to(device))
        except Exception as exc:  # noqa: BLE001 - the user's code: say what g2m called it with
            raise ConfigError(
                f"calling your teacher as model(x, edge_index) failed ({type(exc).__name__}: {exc}). g2m calls it with "
                f"x: float32 [{x.size(0)}, {x.size(1)}] and edge_index: int64 [2, {edge_index.size(1)}] (undirected, "
                "no self-loops) on the model's device; a model with another signature needs a small wrapper module "
                "whose forward(x, edge_index) calls it.") from None
        finally:
            model.train(was_training)
        if isinstance(out, (tuple, list)) and len(out) == 2:
            logits, hidden = out
        elif isinstance(out, Tensor):
            logits, hidden = out, None
        else:
            raise ConfigError(f"your teacher returned {type(out).__name__}: forward(x, edge_index) must return the "
                              "logits, or a pair (logits, hidden).")
        logits = as_logits(_tensor(logits.detach().cpu(), "logits"), self.outputs_are)
        return logits, None if hidden is None else _tensor(hidden.detach().cpu(), "hidden layer")


Teacher = str | ModelTeacher | TeacherOutputs | TeacherCommittee


def as_teacher(teacher: Any, outputs_are: str = "auto") -> Teacher:
    """What ``teacher=`` names: a built-in family name (kept as it is), a `ModelTeacher` (a ``torch.nn.Module``),
    or `TeacherOutputs` (outputs; a mapping, tensor or array; or a path to saved outputs)."""
    if outputs_are not in OUTPUTS_ARE:
        raise ConfigError(f"outputs_are={outputs_are!r}: use one of {', '.join(OUTPUTS_ARE)}.")
    if isinstance(teacher, (ModelTeacher, TeacherOutputs)):
        return teacher
    if isinstance(teacher, nn.Module):
        return ModelTeacher(teacher, outputs_are)
    if isinstance(teacher, Path):
        return TeacherOutputs.load(teacher, outputs_are)
    if isinstance(teacher, (Mapping, Tensor, np.ndarray)):
        return TeacherOutputs.of(teacher, outputs_are)
    if isinstance(teacher, TeacherCommittee):
        return teacher
    if isinstance(teacher, str):
        from g2m.models import TEACHERS

        if teacher not in TEACHERS and Path(teacher).exists():
            return TeacherOutputs.load(Path(teacher), outputs_are)
        committee = parse_committee(teacher)
        if committee is not None:
            return committee
        TEACHERS.get(teacher)  # the standard unknown-name error
        return teacher
    raise ConfigError(f"teacher={type(teacher).__name__}: pass a teacher name (sage, gcn, gat, appnp, auto, or "
                      "several joined by +), a trained "
                      "torch.nn.Module, its outputs (TeacherOutputs, a tensor/array or a mapping of them) or a path "
                      "to saved outputs.")


def teacher_name(teacher: Teacher) -> str:
    """The teacher's family name, or ``user-model`` / ``user-outputs`` for the user's own."""
    return teacher if isinstance(teacher, str) else teacher.name


def is_external(teacher: Any) -> bool:
    """Whether ``teacher`` is the user's (a model or outputs), not a family g2m trains."""
    return isinstance(teacher, (ModelTeacher, TeacherOutputs))


def trainer_for(teacher: Teacher, method: Any) -> str:
    """The teacher trainer ``method`` (a `g2m.distill.methods.Method`) uses with ``teacher``; a method that trains
    its own teacher kind (VQGraph) is refused with a user's teacher or a committee."""
    if isinstance(teacher, TeacherCommittee):
        if method.teacher_trainer != "standard":
            raise ConfigError(f"method {method.name!r} trains its own teacher (its {method.teacher_trainer!r} "
                              f"trainer), one family at a time, so it cannot learn from the committee "
                              f"{teacher.name!r}. Give one family (-t sage, gcn, gat or appnp), or use a method that "
                              "distills a teacher's outputs (glnn, ffg2m, pos, adv, or a composition).")
        return COMMITTEE
    if not is_external(teacher):
        return method.teacher_trainer
    if method.teacher_trainer != "standard":
        raise ConfigError(f"method {method.name!r} trains its own teacher (its {method.teacher_trainer!r} trainer: "
                          "a GNN and a structure-aware tokenizer learnt together on the graph), so it cannot learn "
                          "from your model or outputs. Use a method that distills logits (glnn, ffg2m, pos, adv, "
                          "rsd with a hidden layer, or a composition), or let g2m train the teacher (-t sage).")
    return EXTERNAL


def plain_trainer(teacher: Teacher) -> str:
    """The trainer of ``teacher`` itself, for a run that trains only the teacher."""
    return EXTERNAL if is_external(teacher) else COMMITTEE if isinstance(teacher, TeacherCommittee) else "standard"


def accepted_teacher_keys(teacher: Teacher, trainers: list[str]) -> frozenset[str]:
    """The teacher settings a run with ``teacher`` takes: a family's and its trainers', the settings every
    member of a committee takes, none for a user's own teacher."""
    if is_external(teacher):
        return frozenset()
    if isinstance(teacher, TeacherCommittee):
        return teacher.setting_keys([t for t in trainers if t != COMMITTEE] or ["standard"])
    return teacher_setting_keys(teacher, trainers)


def refuse_teacher_settings(overrides: Mapping[str, Any]) -> None:
    """Teacher settings given with the user's own teacher are an error, not silently ignored."""
    if overrides:
        raise ConfigError(f"your teacher is already trained: teacher settings ({', '.join(sorted(overrides))}) "
                          "do not apply to it.")


@TEACHER_TRAINERS.register(EXTERNAL)
def external_teacher(dataset: NodeDataset, split: NodeSplit, model: ModelTeacher | TeacherOutputs,
                     device: str | torch.device = "cpu", **overrides: Any) -> TeacherRun:
    """The user's teacher on ``split``: its outputs on the observed nodes and its accuracy (percent).

    A `ModelTeacher` runs on the observed graph (held-out nodes and their edges removed) and, for the held-out
    nodes, on the full graph, as g2m's own teachers are evaluated. `TeacherOutputs` are taken as given: in the
    inductive setting their observed rows may have been computed with the held-out nodes in the graph (g2m cannot
    tell), which a warning says."""
    refuse_teacher_settings(overrides)
    device = torch.device(device)
    data = dataset.data
    y = data.y
    if isinstance(model, ModelTeacher):
        obs, _ = split.observed_graph(data)
        logits, hidden = model.outputs(obs.x, obs.edge_index)
        outputs = TeacherOutputs(logits, hidden)
        outputs.check(dataset if split.setting == "tran" else _observed(dataset, obs))
        full_logits = logits if split.test_ind is None else model.outputs(data.x, data.edge_index)[0]
    else:
        outputs = model
        outputs.check(dataset)
        if split.setting == "ind":
            warnings.warn("inductive run from saved teacher outputs: g2m uses only the observed nodes' rows, but "
                          "cannot tell whether they were computed with the held-out nodes in the graph; if they "
                          "were, the inductive numbers are optimistic. For a strict inductive run pass the model "
                          "(g2m computes its outputs on the observed graph).", G2MWarning, stacklevel=2)
        full_logits = outputs.logits
        if split.setting == "ind":  # the observed nodes' rows (transductive: all rows, memory-mapped ones stay so)
            keep = split.observed
            hidden = None if outputs.hidden is None else outputs.hidden[keep]
            outputs = TeacherOutputs(outputs.logits[keep], hidden)
    local = split.local_ids(data.num_nodes)
    metrics = {"val": accuracy(outputs.logits[local[split.val]], y[split.val]),
               "test": accuracy(outputs.logits[local[split.test]], y[split.test])}
    if split.test_ind is not None:
        metrics["test_ind"] = accuracy(full_logits[split.test_ind], y[split.test_ind])
    return TeacherRun(model=model.model if isinstance(model, ModelTeacher) else None, name=model.name,
                      config={"source": model.source}, split=split, logits=outputs.logits.to(device),
                      hidden=None if outputs.hidden is None else outputs.hidden.to(device), metrics=metrics)


def _observed(dataset: NodeDataset, obs) -> NodeDataset:
    """``dataset`` with only its observed graph (for checking outputs computed on it)."""
    return NodeDataset(dataset.name, obs, dataset.num_classes)
