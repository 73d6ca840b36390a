"""The library API: plain functions and a scikit-learn-style `Distiller`; no global state."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor
from torch_geometric import seed_everything
from torch_geometric.data import Data

from g2m import progress
from g2m.datasets import load_dataset, node_split
from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import NodeSplit, canonical_setting, with_split
from g2m.distill.student import StudentRun, train_student
from g2m.errors import ConfigError
from g2m.teacher import TEACHER_TRAINERS, TeacherRun
from g2m.teacher import train_teacher as _train_teacher
from g2m.graph_inputs import as_model_input
from g2m.utils import resolve_device


def _node_dataset(dataset: str | NodeDataset | Data, root: str | Path | None, download: bool = False) -> NodeDataset:
    ds = dataset if isinstance(dataset, NodeDataset) else load_dataset(dataset, root=root, download=download)
    if getattr(ds, "task", None) != "node":
        raise ConfigError(f"{ds.name!r} is a graph-classification dataset; use g2m.condense for it.")
    return ds


def train_teacher(dataset: str | NodeDataset | Data, model: str = "sage", seed: int = 0, setting: str = "tran",
                  split: NodeSplit | None = None, device: str = "auto", root: str | Path | None = None,
                  **overrides: Any) -> TeacherRun:
    """Train one teacher GNN (seeded) and return it with its metrics and knowledge.

    Examples:
        ```python
        run = g2m.train_teacher("cora", model="sage", seed=0)
        run.metrics["test"]   # percent
        ```
    """
    ds = _node_dataset(dataset, root)
    split = split or node_split(ds, seed, setting)
    seed_everything(seed)
    return _train_teacher(ds, split, model, device=resolve_device(device), **overrides)


def distill(dataset: str | NodeDataset | Data, teacher: Any = "sage", method: str = "glnn",
            seeds: int | str | Iterable[int] = 10, setting: str = "both",
            teacher_params: dict[str, Any] | None = None, student_params: dict[str, Any] | None = None,
            verbose: bool = False, **options: Any) -> dict[str, Any]:
    """Multi-seed distillation; returns the ``metrics.json`` dict (and writes the run when ``output`` is set).

    Args:
        dataset: a dataset name, a folder of user files, a PyG ``Data`` or a loaded `NodeDataset`.
        teacher: the teacher family g2m trains (``sage``, ``gcn``, ``gat``, ``appnp``; ``auto`` for the best of
            them on validation, ``sage+appnp+gat`` for their average), or your own: a trained
            ``torch.nn.Module`` called as ``model(x, edge_index)`` (returning logits, or ``(logits, hidden)``),
            its outputs (a `g2m.TeacherOutputs`, a tensor/array of logits, or a mapping with ``logits`` and
            optionally ``hidden``; one row per node) or a path to saved outputs (``.npy``, ``.npz``, ``.pt``,
            or a folder of ``logits.npy``/``hidden.npy``). See docs/own-gnn.md.
        method: a method or a composition such as ``glnn+ffg2m``.
        seeds: a count, a list or a range spec.
        setting: ``tran``, ``ind`` or ``both``.
        teacher_params: settings of the teacher (and its trainer; `g2m.config`); an unknown key is a
            `ConfigError` naming the nearest valid ones.
        student_params: settings of the student and the method, checked the same way.
        verbose: print progress lines on stderr (each model's epochs every 10 s, each finished model).
        **options: the other fields of `g2m.spec.NodeRunSpec`: ``split`` (e.g. ``"masks"``: the ``Data``'s
            own ``train_mask``/``val_mask``/``test_mask``), ``outputs_are`` (``auto``, ``logits`` or
            ``probabilities``: how your teacher's outputs are read), ``device``, ``root``, ``output``,
            ``batch_size``, ``jobs`` (seeds in worker processes), ``download``, ``overwrite``, ``resume``.

    Examples:
        ```python
        m = g2m.distill("cora", teacher="sage", method="glnn", seeds=10)
        m["student"]["transductive"]["mean"]
        ```
    """
    from g2m.pipeline import run_node_experiment
    from g2m.run_dir import run_metrics
    from g2m.spec import NodeRunSpec

    spec = NodeRunSpec.from_options(dataset, teacher=teacher, methods=(method,), seeds=seeds, setting=setting,
                                    teacher_overrides=teacher_params or {}, student_overrides=student_params or {},
                                    **options)
    with progress.lines_if(verbose) as lines:
        return run_metrics(run_node_experiment(spec, on_step=(lambda label: progress.note(f"finished {label}"))
                                               if lines else None))


class Distiller:
    """Teacher → student distillation with the scikit-learn estimator contract.

    ```python
    d = g2m.Distiller(teacher="sage", method="glnn").fit("cora")
    d.predict(x_new)          # class ids from node features alone
    d.metrics_["student"]     # val / test accuracy (percent)
    d.student_model_          # the student: a plain torch.nn.Module (x → logits)
    ```

    Args:
        teacher: a teacher family g2m trains, or your own trained model or its outputs (as in `g2m.distill`).
        split: ``None`` (the dataset's own protocol), ``"masks"`` (your ``Data``'s ``train_mask``/``val_mask``/
            ``test_mask``), another protocol name, a mapping of node ids or a JSON file of them.
        outputs_are: how your teacher's outputs are read: ``auto``, ``logits`` or ``probabilities``.
        verbose: print the teacher's and the student's epochs on stderr (every 10 s) while fitting.

    Fitted attributes: ``dataset_``, ``split_``, ``teacher_`` (`TeacherRun`, None for ``mlp``),
    ``student_`` (`StudentRun`), ``student_model_`` (its network, in eval mode), ``metrics_``, ``classes_``
    (the label of each output column: your graph's own labels) and ``n_features_in_``.

    `get_params`/`set_params` make it a scikit-learn estimator (``sklearn.base.clone`` works); `save` writes the
    student as a g2m checkpoint (``g2m predict``, ``g2m export`` and `Distiller.load` read it), `export` writes
    it as ONNX or TorchScript.
    """

    def __init__(self, teacher: Any = "sage", method: str = "glnn", seed: int = 0, setting: str = "tran",
                 device: str = "auto", teacher_params: dict[str, Any] | None = None,
                 student_params: dict[str, Any] | None = None, batch_size: int | None = None,
                 split: Any = None, outputs_are: str = "auto", verbose: bool = False):
        self.teacher = teacher
        self.method = method
        self.seed = seed
        self.setting = setting
        self.device = device
        self.teacher_params = teacher_params
        self.student_params = student_params
        self.batch_size = batch_size
        self.split = split
        self.outputs_are = outputs_are
        self.verbose = verbose

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments (scikit-learn's estimator contract; ``deep`` has nothing to descend into)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Distiller":
        """Set constructor arguments by name (scikit-learn's contract); an unknown name is a `ConfigError`."""
        from g2m.config import check_keys

        check_keys(params, frozenset(self._param_names()), "Distiller")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """The arguments that differ from the defaults, as scikit-learn shows an estimator."""
        plain = (str, int, float, bool, type(None), dict, list, tuple)
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = []
        for name, value in self.get_params().items():
            if isinstance(value, plain):
                if value != defaults[name]:
                    shown.append(f"{name}={value!r}")
            else:  # a model, tensor or array of your own: its type, not its contents
                shape = getattr(value, "shape", None)
                shown.append(f"{name}=<{type(value).__name__}{'' if shape is None else ' ' + str(list(shape))}>")
        return f"Distiller({', '.join(shown)})"

    def fit(self, dataset: str | NodeDataset | Data, root: str | Path | None = None) -> "Distiller":
        """Train the teacher (unless the method needs none, or it is yours) and the student on ``dataset``."""
        with progress.lines_if(self.verbose):
            return self._fit(dataset, root)

    def _fit(self, dataset: str | NodeDataset | Data, root: str | Path | None) -> "Distiller":
        from g2m.distill.methods import resolve_method
        from g2m.teacher_outputs import TeacherOutputs, as_teacher, trainer_for

        method = resolve_method(self.method)
        teacher = as_teacher(self.teacher, self.outputs_are)
        self.dataset_ = with_split(_node_dataset(dataset, root), self.split)
        if isinstance(teacher, TeacherOutputs):
            teacher.check(self.dataset_)
        self.split_ = node_split(self.dataset_, self.seed, self.setting)
        device = resolve_device(self.device)
        self.teacher_ = None
        if method.needs_teacher:
            seed_everything(self.seed)
            trainer = TEACHER_TRAINERS.get(trainer_for(teacher, method))  # e.g. VQGraph's tokenizer teacher
            self.teacher_ = trainer(self.dataset_, self.split_, teacher, device=device,
                                    **(self.teacher_params or {}))
        seed_everything(self.seed)
        self.student_: StudentRun = train_student(self.dataset_, self.split_, method, self.teacher_, device=device,
                                                  batch_size=self.batch_size, **(self.student_params or {}))
        self.student_model_ = self.student_.model.eval()
        self.metrics_ = {"teacher": self.teacher_.metrics if self.teacher_ else None,
                         "student": self.student_.metrics}
        labels = self.dataset_.class_labels
        self.classes_ = np.asarray(labels if labels is not None else range(self.dataset_.num_classes), dtype=np.int64)
        self.n_features_in_ = self.dataset_.num_features
        return self

    def save(self, path: str | Path) -> Path:
        """Write the fitted student to ``path`` as a g2m student checkpoint (weights only, written whole) that
        `Distiller.load`, `g2m.load_student`, ``g2m predict`` and ``g2m export`` read; returns the path."""
        from g2m.checkpoints import save_checkpoint
        from g2m.distill.student import STUDENT_MODEL_KEYS

        self._check_fitted()
        if not hasattr(self, "student_"):
            raise ConfigError("this Distiller was loaded from a checkpoint: it is already saved there.")
        run = self.student_
        kwargs = {k: run.config[k] for k in STUDENT_MODEL_KEYS if k in run.config}
        positions = None if run.positions is None else (run.positions, run.observed)
        return save_checkpoint(path, run.model, "student", run.method.name, kwargs, self.dataset_, self.seed,
                               canonical_setting(self.setting), positions=positions)

    @classmethod
    def load(cls, path: str | Path) -> "Distiller":
        """A Distiller whose student is read from a checkpoint `save` (or ``g2m distill``) wrote: it predicts
        and exports; ``metrics_`` and the training data are not in the file (None)."""
        from g2m.checkpoints import load_model

        model, ckpt = load_model(path)
        if ckpt["kind"] != "student":
            raise ConfigError(f"{path} is a {ckpt['name']!r} teacher checkpoint: Distiller.load reads a student.")
        if ckpt.get("positions") is not None:
            raise ConfigError(f"{path} is a position-aware student (it reads its training graph's positions): "
                              "predict with g2m.load_student(path), which takes the new nodes' edges.")
        self = cls(method=ckpt["name"], seed=ckpt["seed"], setting=ckpt["setting"])
        self.student_model_, self.metrics_ = model, None
        self.classes_ = np.asarray(ckpt.get("class_labels") or range(ckpt["out_channels"]), dtype=np.int64)
        self.n_features_in_ = int(ckpt["in_channels"])
        return self

    def export(self, path: str | Path, format: str = "onnx", quantize: str | None = None,
               max_drop: float | None = 0.5) -> Path:
        """Write the student as a graph-free ONNX or TorchScript model (`g2m.export_student`: ``quantize="int8"``
        measures its accuracy change on this fit's validation and test nodes); returns the path."""
        from g2m.export import export_student

        self._check_fitted()
        return export_student(self, format=format, output=path, quantize=quantize, max_drop=max_drop)

    def _check_fitted(self) -> None:
        if not hasattr(self, "student_model_"):
            raise ConfigError("this Distiller is not fitted yet: call .fit(dataset) first.")

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> Tensor:
        """Class probabilities of the student for node features ``x`` (``[n, num_features]``)."""
        self._check_fitted()
        x = torch.as_tensor(x, dtype=torch.float32)
        expected = self.n_features_in_
        if x.dim() != 2 or x.size(1) != expected:
            raise ConfigError(f"x must have shape [n, {expected}] (the dataset's feature count), got {tuple(x.shape)}.")
        model = self.student_model_.eval()
        device = next(model.parameters()).device
        return model(as_model_input(x).to(device)).softmax(-1).cpu()

    def predict(self, x: Tensor) -> Tensor:
        """Predicted labels for node features ``x``: ``classes_`` of the most probable column (your graph's own
        labels; 0..C-1 on the bundled datasets)."""
        ids = self.predict_proba(x).argmax(-1)  # checks that it is fitted, and x
        return torch.from_numpy(self.classes_)[ids]
