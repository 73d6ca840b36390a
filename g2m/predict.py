"""Predict with a deployed student: from a run folder, a g2m checkpoint, an ONNX or a TorchScript file.

```python
student = g2m.load_student("runs/glnn-cora/export/student-glnn-tran-seed0.onnx")
student.predict(features)          # class ids, numpy int64 [N]
student.predict_proba(features)    # probabilities, numpy float32 [N, num_classes]
```
Features are node features only (no graph): numpy arrays, torch tensors (dense or sparse) or
SciPy sparse matrices of shape ``[N, in_features]``; `read_features` reads them from a file. Sparse
features stay sparse where the runtime takes them (a g2m checkpoint or TorchScript export: the first layer
is then one CSR × dense product); ONNX takes dense features. ``threads`` sets the runtime's intra-op threads.
"""

from __future__ import annotations

import json
import math
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from g2m.errors import ConfigError
from g2m.graph_inputs import prefer_sparse, quiet_sparse_csr, select_rows
from g2m.utils.io import load_tensors
from g2m.utils.threads import torch_threads

DEFAULT_BATCH_SIZE = 8192
FLOAT32 = np.dtype(np.float32)
FEATURE_SUFFIXES = (".npy", ".pt", ".csv")
MAX_LISTED_ROWS = 10
CHECK_ROWS = 65536  # rows checked for NaN/inf at a time (bounded extra memory)


@dataclass
class DeployedStudent:
    """A loaded student. ``kind`` is ``"checkpoint"``, ``"onnx"`` or ``"torchscript"``; ``in_features`` and
    ``num_classes`` are None when the file does not record them (a TorchScript file not written by g2m).
    ``run`` maps one batch (dense float32, or a torch CSR matrix where ``takes_sparse``) to probabilities."""

    path: Path
    kind: str
    in_features: int | None
    num_classes: int | None
    run: Callable[[Any], np.ndarray] = field(repr=False)  # a batch -> float32 probabilities
    metadata: dict[str, Any] = field(default_factory=dict)
    # a position-aware student's checkpoint: the training graph's positions, one row per ``observed`` node id
    positions: torch.Tensor | None = field(default=None, repr=False)
    observed: torch.Tensor | None = field(default=None, repr=False)
    takes_sparse: bool = False  # run accepts a torch sparse CSR batch (a g2m checkpoint or TorchScript export)

    @property
    def class_labels(self) -> np.ndarray | None:
        """The label of each class id in the user's own graph (recorded when its labels were not 0..C-1), else
        None: the class ids are the labels."""
        labels = self.metadata.get("class_labels")
        return None if labels is None else np.asarray(labels, dtype=np.int64)

    def labels_of(self, class_ids: np.ndarray) -> np.ndarray:
        """``class_ids`` (columns of `predict_proba`) as the training graph's own labels."""
        labels = self.class_labels
        return class_ids.astype(np.int64) if labels is None else labels[class_ids]

    def with_positions(self, x: Any, edges: Any) -> np.ndarray:
        """``[x, positions]`` for new nodes: each row's position is the mean position of the training-graph
        nodes it links to. ``edges`` is ``[2, E]``: (training-graph node id, row of ``x``) pairs; a row with
        no such edge gets the mean position (zeros)."""
        from g2m.distill.position import unseen_positions

        if self.positions is None:
            raise ConfigError(f"{self.path} does not read position features: predict from features alone.")
        x = as_features(x, self.in_features - self.positions.size(1))
        edges = torch.as_tensor(np.asarray(edges), dtype=torch.long)
        if edges.ndim != 2 or edges.size(0) != 2:
            raise ConfigError(f"edges must be an integer array of shape [2, E] (training-graph node id, new row), "
                              f"got shape {tuple(edges.shape)}.")
        n_known = int(self.observed.max()) + 1 if self.observed.numel() else 0
        if edges.numel() and (edges.min() < 0 or edges[0].max() >= n_known or edges[1].max() >= len(x)):
            raise ConfigError(f"edges hold ids out of range: sources must be training-graph node ids < {n_known}, "
                              f"targets rows of the {len(x)} new nodes.")
        table = torch.zeros(n_known + len(x), self.positions.size(1))
        table[self.observed] = self.positions.float()
        is_known = torch.zeros(n_known + len(x), dtype=torch.bool)
        is_known[self.observed] = True
        new = torch.arange(n_known, n_known + len(x))
        pos = unseen_positions(table, is_known, torch.stack([edges[0], edges[1] + n_known]), new)
        return np.concatenate([x, pos.numpy().astype(np.float32)], axis=1)

    def predict_proba(self, x: Any, batch_size: int = DEFAULT_BATCH_SIZE, edges: Any = None) -> np.ndarray:
        """Class probabilities, float32 ``[N, num_classes]``, computed ``batch_size`` rows at a time.

        The input is checked once per call (its shape; finite values with one sum of squares, row by row only
        when that is not finite). Sparse features stay sparse for runtimes that take them, where a sparse
        product pays (`g2m.graph_inputs.prefer_sparse`). A position-aware student (method ``…+pos``) also
        needs ``edges`` from the training graph's nodes to the new rows (`with_positions`); without them it
        refuses rather than guess."""
        if (type(x) is np.ndarray and x.dtype is FLOAT32 and x.ndim == 2 and x.shape[1] == self.in_features
                and 0 < x.shape[0] <= batch_size and edges is None and self.positions is None
                and x.flags.c_contiguous and math.isfinite(np.vdot(x, x))):
            return self._run(x)  # the common call, at the runtime's own speed: one batch, nothing to convert
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
        if self.positions is not None:
            if edges is None:
                raise ConfigError(f"{self.path} is a position-aware student: it reads node features and the "
                                  "positions of each node's neighbours in its training graph. Pass edges=[2, E] "
                                  "(training-graph node id, row of x) pairs (CLI: --edges FILE).")
            x = self.with_positions(x, edges)
        elif edges is not None:
            raise ConfigError(f"{self.path} predicts from features alone: it takes no edges.")
        sparse = sparse_features(x, self.in_features) if self.takes_sparse else None
        x = sparse if sparse is not None else as_features(x, self.in_features)
        if x.shape[0] == 0:
            return np.zeros((0, self.num_classes or 0), dtype=np.float32)
        if x.shape[0] <= batch_size:
            return self._run(x)
        n = x.shape[0]
        rows = (lambda a, b: select_rows(x, torch.arange(a, b))) if sparse is not None else (lambda a, b: x[a:b])
        return np.concatenate([self._run(rows(start, min(start + batch_size, n))) for start in range(0, n, batch_size)])

    def _run(self, batch: Any) -> np.ndarray:
        try:
            return self.run(batch)
        except Exception as exc:  # noqa: BLE001  (a foreign model may reject the input in its own words)
            raise ConfigError(f"{self.path} failed on features of shape {tuple(batch.shape)}: "
                              f"{_first_line(exc)}") from None

    def predict(self, x: Any, batch_size: int = DEFAULT_BATCH_SIZE, edges: Any = None) -> np.ndarray:
        """Predicted labels, int64 ``[N]``: class ids, or the training graph's own labels where it had others
        (`labels_of`)."""
        return self.labels_of(self.predict_proba(x, batch_size, edges).argmax(-1))


def load_student(path: str | Path, checkpoint: str | None = None, trust_torchscript: bool = False,
                 threads: int | None = None) -> DeployedStudent:
    """Load a student to predict with, from ``path``:

    - a run folder written by `g2m distill` (its student chosen as by `g2m.export.export_student`;
      ``checkpoint`` names another one) or a g2m student checkpoint: needs g2m and PyTorch;
    - a ``.onnx`` file (run with onnxruntime: the ``onnx`` extra);
    - a TorchScript file, only with ``trust_torchscript=True``.

    TorchScript archives hold code that ``torch.jit.load`` runs, while loading and while predicting, so
    g2m never loads one unless asked to: with ``trust_torchscript=True`` ``path`` is loaded as TorchScript
    (whatever it holds), without it a TorchScript file is refused with the reason. Checkpoints hold weights
    only (read with ``weights_only=True``) and ONNX files a graph of standard operators: neither runs code.

    Args:
        path: the model file or run folder.
        checkpoint: a checkpoint name inside a run folder.
        trust_torchscript: load ``path`` with ``torch.jit.load`` (only for files from a source you trust).
        threads: intra-op threads of the runtime (onnxruntime's ``intra_op_num_threads``, torch's
            ``set_num_threads`` during each call, restored after); default the runtime's own choice.

    A missing, truncated, corrupt or foreign file is a clear `ConfigError`.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no such model file or run folder: {path}.")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"threads must be a whole number of at least 1 (or None: the runtime's default), "
                          f"got {threads!r}.")
    if trust_torchscript:
        if path.is_dir() or checkpoint is not None or path.suffix.lower() == ".onnx":
            raise ConfigError("--trust-torchscript (trust_torchscript=True) loads one TorchScript file; "
                              f"{path} is a run folder, a checkpoint or an ONNX file: drop the option.")
        return _from_torchscript(path, threads)
    if path.is_dir() or checkpoint is not None:
        from g2m.checkpoints import student_checkpoint

        return _from_checkpoint(student_checkpoint(path, checkpoint), threads)
    if path.suffix.lower() == ".onnx":
        return _from_onnx(path, threads)
    if _is_torchscript(path):  # only to say why it is refused: its code is never run
        raise ConfigError(f"{path} is a TorchScript file: loading it runs the code it holds, so g2m does not "
                          "load it by default. Predict from the run folder or its ONNX export instead, or, if "
                          "you trust where the file comes from, pass --trust-torchscript "
                          "(load_student(..., trust_torchscript=True)).")
    return _from_checkpoint(path, threads)


def read_features(path: str | Path) -> np.ndarray | torch.Tensor:
    """Node features from a file, as float32 ``[N, F]``: a numpy array, or a torch sparse CSR matrix for a
    sparse ``.pt`` tensor sparse enough to stay so (densified by runtimes that need it).

    ``.npy`` (read with ``allow_pickle=False``), ``.pt`` (one tensor, read with ``weights_only=True``)
    or ``.csv`` (numbers separated by commas, one node per line, an optional header line).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such features file: {path}.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"cannot read {path} as a numeric .npy array ({_first_line(exc)}).") from None
    elif suffix == ".pt":
        try:
            x = load_tensors(path)  # a crafted sparse tensor is refused, not densified out of bounds
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"cannot read {path}: it is truncated, corrupt or not a torch file "
                              f"({_first_line(exc)}).") from None
        if not isinstance(x, torch.Tensor):
            raise ConfigError(f"{path} holds a {type(x).__name__}, not a tensor: save the features alone "
                              "(torch.save(x, path)).")
        check_dense_size(x, path)  # also for features kept sparse: a few bytes must not declare a huge matrix
        sparse = sparse_features(x)
        if sparse is not None:
            return sparse
    elif suffix == ".csv":
        x = _read_csv(path)
    else:
        raise ConfigError(f"features file {path.name}: use one of {', '.join(FEATURE_SUFFIXES)}.")
    return as_features(x)


def read_edges(path: str | Path) -> np.ndarray:
    """Edges to new nodes from a ``.npy`` or ``.csv`` of E rows ``(training-graph node id, new node row)``,
    as int64 ``[2, E]``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such edges file: {path}.")
    try:
        if path.suffix.lower() == ".npy":
            e = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".csv":
            e = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        else:
            raise ConfigError(f"edges file {path.name}: use .npy or .csv.")
    except ValueError as exc:
        raise ConfigError(f"cannot read {path} as rows of two integer ids: {_first_line(exc)}") from None
    e = np.asarray(e)
    if e.size == 0:
        return np.zeros((2, 0), dtype=np.int64)
    if e.ndim != 2 or e.shape[1] != 2 or e.dtype.kind not in "iuf" or not np.all(e == np.round(e)):
        raise ConfigError(f"{path} must hold E rows of two integer ids (training-graph node, new node row), "
                          f"got an array of shape {tuple(e.shape)} and type {e.dtype}.")
    return e.astype(np.int64).T


MAX_DENSE_GROWTH = 1000  # a sparse file may stand for at most this many times its bytes once dense (or 1 GiB)


def check_dense_size(x: torch.Tensor, path: Path) -> None:
    """Refuse a sparse tensor whose dense form would be far larger than its file (a few KB declaring a huge
    shape): at most `MAX_DENSE_GROWTH` times the file's size, or 1 GiB, whichever is more."""
    if x.layout == torch.strided:
        return
    dense = 4 * x.shape.numel()
    allowed = max(1 << 30, MAX_DENSE_GROWTH * path.stat().st_size)
    if dense > allowed:
        raise ConfigError(f"{path} is a sparse tensor of shape {list(x.shape)}: {dense / 2**30:.1f} GiB once dense, "
                          f"from a file of {path.stat().st_size} bytes. Save the features densely (.npy), or in "
                          "files of fewer rows.")


def sparse_features(x: Any, in_features: int | None = None) -> torch.Tensor | None:
    """``x`` as a float32 torch sparse CSR ``[N, F]`` when it is sparse (torch sparse or SciPy sparse) and a sparse
    product pays (`g2m.graph_inputs.prefer_sparse`), else None; checks the width and that every stored value is
    finite."""
    if isinstance(x, torch.Tensor) and x.layout in (torch.sparse_coo, torch.sparse_csr):
        x = x.detach().cpu()
        if x.ndim != 2:
            raise ConfigError(f"features must be a 2-D matrix [nodes, features], got shape {tuple(x.shape)}.")
        with quiet_sparse_csr():
            csr = (x if x.layout == torch.sparse_csr else x.coalesce().to_sparse_csr()).float()
    elif hasattr(x, "tocsr") and getattr(x, "ndim", 2) == 2:  # SciPy sparse
        m = x.tocsr()
        if m.dtype.kind not in "biuf":
            raise ConfigError(f"features must be numbers, got a sparse matrix of {m.dtype}.")
        m.sum_duplicates()
        with quiet_sparse_csr():
            csr = torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)),
                                          torch.from_numpy(m.indices.astype(np.int64)),
                                          torch.from_numpy(m.data.astype(np.float32)), size=m.shape)
    else:
        return None
    n, f = csr.shape
    if in_features is not None and f != in_features:
        raise ConfigError(f"the model expects {in_features} features per node, got {f} (features of shape {(n, f)}).")
    if not prefer_sparse(n, f, csr.values().numel()):
        return None  # dense enough, or few enough rows, that a dense product is faster: as_features densifies it
    bad = ~torch.isfinite(csr.values())
    if bool(bad.any()):
        row = torch.repeat_interleave(torch.arange(n), csr.crow_indices().diff())[bad].unique().numpy()
        _refuse_non_finite(row)
    return csr


def as_features(x: Any, in_features: int | None = None) -> np.ndarray:
    """``x`` as a contiguous float32 ``[N, F]`` array; checks the width and that every value is finite."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = (x.to_dense() if x.layout != torch.strided else x).numpy()
    elif hasattr(x, "toarray"):  # SciPy sparse
        x = x.toarray()
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ConfigError(f"features must be numbers, got an array of {x.dtype}.")
    if x.ndim == 1 and in_features is not None and len(x) == in_features:
        x = x[None, :]  # one node
    if x.ndim != 2:
        raise ConfigError(f"features must be a 2-D array [nodes, features], got shape {tuple(x.shape)}.")
    if in_features is not None and x.shape[1] != in_features:
        raise ConfigError(f"the model expects {in_features} features per node, got {x.shape[1]} "
                          f"(features of shape {tuple(x.shape)}).")
    x = np.ascontiguousarray(x, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(np.vdot(x, x)):  # one pass (BLAS): a NaN or an infinity anywhere makes it non-finite
            return x
    bad = np.concatenate([start + np.flatnonzero(~np.isfinite(x[start:start + CHECK_ROWS]).all(axis=1))
                          for start in range(0, len(x), CHECK_ROWS)] or [np.zeros(0, dtype=np.int64)])
    if len(bad):  # else large finite values whose sum overflowed: nothing to refuse
        _refuse_non_finite(bad)
    return x


def _refuse_non_finite(rows: np.ndarray) -> None:
    listed = ", ".join(str(i) for i in rows[:MAX_LISTED_ROWS])
    more = f" and {len(rows) - MAX_LISTED_ROWS} more" if len(rows) > MAX_LISTED_ROWS else ""
    raise ConfigError(f"features hold NaN or infinite values (or values too large for float32) in "
                      f"{len(rows)} row(s): {listed}{more} (0-based); fix or drop those rows.")


def _read_csv(path: Path) -> np.ndarray:
    with path.open() as fh:
        first = fh.readline()
    try:
        [float(v) for v in first.split(",")]
        skip = 0
    except ValueError:
        skip = 1  # a header line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": an error below
            x = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a numeric CSV (one node per line, numbers separated by commas, "
                          f"an optional header line): {_first_line(exc)}") from None
    if x.size == 0:
        raise ConfigError(f"{path} holds no rows of features.")
    return x


def _from_checkpoint(path: Path, threads: int | None = None) -> DeployedStudent:
    from g2m.checkpoints import load_model

    model, ckpt = load_model(path)
    if ckpt["kind"] != "student":
        raise ConfigError(f"{path} is a {ckpt['name']!r} teacher checkpoint: predicting from features alone needs "
                          "a student (`g2m distill`).")

    model.eval()

    @torch.no_grad()
    def run(batch: np.ndarray | torch.Tensor) -> np.ndarray:
        with torch_threads(threads):
            return model(_tensor(batch)).softmax(-1).numpy()

    meta = {k: ckpt[k] for k in ("name", "seed", "setting", "class_labels") if k in ckpt}
    return DeployedStudent(path, "checkpoint", ckpt["in_channels"], ckpt["out_channels"], run, meta,
                           ckpt.get("positions"), ckpt.get("observed"), takes_sparse=True)


def _tensor(batch: np.ndarray | torch.Tensor) -> torch.Tensor:
    return batch if isinstance(batch, torch.Tensor) else torch.from_numpy(batch)


def onnx_session(path: str | Path | bytes, threads: int | None = None):
    """An onnxruntime CPU session: ``threads`` intra-op threads (None: onnxruntime's default), one inter-op
    thread, operators run in sequence (a student is a chain), every graph optimisation on."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path if isinstance(path, bytes) else str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])


def _from_onnx(path: Path, threads: int | None = None) -> DeployedStudent:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ConfigError(f'running {path} needs onnxruntime: pip install "g2m[onnx]".') from None
    try:
        session = onnx_session(path, threads)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot read {path} as an ONNX model: it is truncated, corrupt or not ONNX "
                          f"({_first_line(exc)}).") from None
    inputs, outputs = session.get_inputs(), [o.name for o in session.get_outputs()]
    if len(inputs) != 1 or len(inputs[0].shape) != 2:
        raise ConfigError(f"{path} is not a student model: it should take one input [N, features], "
                          f"it takes {[(i.name, i.shape) for i in inputs]}.")
    name = inputs[0].name
    width = inputs[0].shape[1] if isinstance(inputs[0].shape[1], int) else None
    meta = _json(session.get_modelmeta().custom_metadata_map.get("g2m"))
    run_session = _direct_run(session)
    if "probabilities" in outputs and session.get_outputs()[outputs.index("probabilities")].type == "tensor(float)":
        fetch = ["probabilities"]

        def run(batch: np.ndarray) -> np.ndarray:
            return run_session(fetch, {name: batch}, None)[0]
    else:
        first = [outputs[0]]

        def run(batch: np.ndarray) -> np.ndarray:
            return _softmax(np.asarray(run_session(first, {name: batch}, None)[0], dtype=np.float32))
    return DeployedStudent(path, "onnx", width, meta.get("num_classes"), run, meta)


def _direct_run(session) -> Callable[..., list]:
    """The session's compiled ``run``, without the Python wrapper's per-call checks of the input feed (its names,
    graph capture, OrtValue ownership): g2m passes one numpy array under the model's own input name, checked
    once per call by `DeployedStudent.predict_proba`. About 1.5 µs a call, a tenth of a one-node batch. Falls
    back to the public ``InferenceSession.run`` where onnxruntime's internals differ."""
    inner = getattr(session, "_sess", None)
    return inner.run if callable(getattr(inner, "run", None)) else session.run


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold ``code/``; ``torch.save`` archives (g2m checkpoints) do not. Used only to
    explain a refusal: what is loaded is never chosen by content."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.split("/", 1)[-1].startswith("code/") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _from_torchscript(path: Path, threads: int | None = None) -> DeployedStudent:
    from g2m.export import quiet_deprecations

    extra = {"g2m.json": ""}
    try:
        with quiet_deprecations():
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot read {path} as a TorchScript model: it is truncated, corrupt or foreign "
                          f"({_first_line(exc)}).") from None
    module.eval()
    meta = _json(extra["g2m.json"])
    ours = meta.get("format") == "g2m-exported-student"

    @torch.no_grad()
    def run(batch: np.ndarray | torch.Tensor) -> np.ndarray:
        with torch_threads(threads):
            out = module(_tensor(batch))
        if ours:
            return out[1].numpy()
        logits = out[0] if isinstance(out, (tuple, list)) else out
        return logits.float().softmax(-1).numpy()

    # g2m's exports take sparse CSR features (their first layer is a torch Linear); a foreign model gets dense ones
    return DeployedStudent(path, "torchscript", meta.get("in_features"), meta.get("num_classes"), run, meta,
                           takes_sparse=ours)


def _json(text: str | bytes | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


__all__ = ["DeployedStudent", "load_student", "read_features", "as_features", "DEFAULT_BATCH_SIZE"]
