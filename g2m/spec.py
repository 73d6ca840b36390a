"""A node-classification run, specified and checked once.

The CLI and the library build a `NodeRunSpec`; building it loads the dataset and checks every choice
(teacher, methods, seeds, settings, device, worker count) and every setting key against the typed settings
(`g2m.config`), so a bad option fails before anything trains. `g2m.pipeline.run_node_experiment` takes
the spec and checks nothing again.

```python
spec = NodeRunSpec("cora", teacher="sage", methods=("glnn",), seeds=3, setting="tran")
result = run_node_experiment(spec)
```
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from g2m.config import check_keys, student_setting_keys
from g2m.datasets import load_dataset
from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import SPLIT_PROTOCOLS, with_split
from g2m.distill.methods import Method, resolve_method
from g2m.errors import ConfigError, DatasetError
from g2m.teacher_outputs import (TeacherOutputs, accepted_teacher_keys, as_teacher, is_external, plain_trainer,
                                 refuse_teacher_settings, teacher_name, trainer_for)
from g2m.datasets.splits import SETTINGS, canonical_setting
from g2m.utils import parse_seeds, resolve_device


def parse_settings(setting: str | Iterable[str]) -> tuple[str, ...]:
    """``"tran"`` (or ``"transductive"``), ``"ind"`` (``"inductive"``) or ``"both"``, or a sequence of the first
    two, as a tuple of settings."""
    if isinstance(setting, str):
        if setting == "both":
            return SETTINGS
        return (canonical_setting(setting),)
    return tuple(canonical_setting(s) for s in setting)


@dataclass(frozen=True)
class NodeRunSpec:
    """What a node-classification run is. Built once; every field is normalised and checked on construction.

    Args:
        dataset: a name, a folder of user files, a PyG ``Data`` or a loaded `NodeDataset` (becomes the loaded
            dataset, with ``split`` applied).
        teacher: the teacher family (``sage``, ``gcn``, ``gat``, ``appnp``), a committee of them (``auto``, or
            an average such as ``sage+appnp``: `g2m.teacher_committee`), or the user's own: a trained
            ``torch.nn.Module``, its outputs or a path to them (`g2m.teacher_outputs.as_teacher`; becomes a
            `TeacherCommittee`, `ModelTeacher` or `TeacherOutputs`).
        methods: method specs such as ``"glnn"`` or ``"glnn+ffg2m"`` (become resolved `Method` objects).
        seeds: a count, a list or a range spec (`g2m.utils.parse_seeds`; becomes a tuple of seeds).
        setting: ``tran``, ``ind`` or ``both`` (becomes a tuple of ``tran``/``ind``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (becomes the resolved device's name).
        root: the data root (raw files), else ``$G2M_DATA_ROOT`` or the cache.
        output: the run folder (none: nothing is written).
        teacher_overrides: settings of the teacher and its trainer (e.g. VQGraph's tokenizer), checked against
            the typed settings.
        student_overrides: settings of the students and their methods, checked the same way.
        batch_size: the students' minibatch size (``None``: each method's or dataset's default).
        save_checkpoints: write every model's checkpoint into ``output``.
        force_teacher: train the plain teacher even when no method needs it (a teacher-only run).
        jobs: seeds run in this many worker processes.
        overwrite: replace a run already in ``output``.
        resume: continue a run already in ``output`` (only its unfinished seeds run).
        download: fetch missing raw files first.
        split: the split protocol (``cpf``, ``random``, ``public``, ``official``, ``masks``: the user's own masks),
            a mapping of ``train``/``val``/``test`` node ids or masks, or a JSON file of them; ``None``: the
            dataset's own (`g2m.datasets.splits.with_split`).
        outputs_are: how a user's teacher outputs are read: ``auto``, ``logits`` or ``probabilities``
            (`g2m.teacher_outputs.as_logits`).
        on_load_step: told each step of reading a folder of user files (large graphs take seconds).
    """

    dataset: Any
    teacher: str = "sage"
    methods: tuple[Any, ...] = ("glnn",)
    seeds: Any = (0,)
    setting: Any = "both"
    device: str = "auto"
    root: str | Path | None = None
    output: str | Path | None = None
    teacher_overrides: Mapping[str, Any] = field(default_factory=dict)
    student_overrides: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    save_checkpoints: bool = True
    force_teacher: bool = False
    jobs: int = 1
    overwrite: bool = False
    resume: bool = False
    download: bool = False
    split: Any = None
    outputs_are: str = "auto"
    on_load_step: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    load_seconds: float = field(default=0.0, init=False, compare=False)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if isinstance(self.methods, (str, Method)):
            put("methods", (self.methods,))
        put("seeds", tuple(parse_seeds(list(self.seeds) if isinstance(self.seeds, (list, tuple)) else self.seeds)))
        put("setting", parse_settings(self.setting))
        put("device", str(resolve_device(self.device)))
        put("teacher", as_teacher(self.teacher, self.outputs_are))
        put("methods", tuple(m if isinstance(m, Method) else resolve_method(m) for m in self.methods))
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise ConfigError(f"jobs must be at least 1, got {self.jobs}.")
        if self.overwrite and self.resume:
            raise ConfigError("--overwrite and --resume exclude each other: replace the run, or continue it.")
        put("output", None if self.output is None else Path(self.output))
        put("teacher_overrides", dict(self.teacher_overrides or {}))
        put("student_overrides", dict(self.student_overrides or {}))
        # every key checked before anything trains (a typo, or a key such as a path, is refused)
        if is_external(self.teacher):
            refuse_teacher_settings(self.teacher_overrides)
        else:
            check_keys(self.teacher_overrides, accepted_teacher_keys(self.teacher, self.trainers or ["standard"]),
                       f"{teacher_name(self.teacher)} teacher")
        check_keys(self.student_overrides, frozenset().union(*(student_setting_keys(m) for m in self.methods)),
                   "student" if len(self.methods) != 1 else f"{self.methods[0].name} student")
        if not isinstance(self.dataset, NodeDataset):
            started = time.perf_counter()
            put("dataset", load_dataset(self.dataset, root=self.root, download=self.download,
                                        on_step=self.on_load_step))
            put("load_seconds", time.perf_counter() - started)
        if getattr(self.dataset, "task", None) != "node":
            raise DatasetError(f"{self.dataset.name!r} is a graph-classification dataset: use "
                               f"`g2m condense --dataset {self.dataset.name}`.")
        put("dataset", with_split(self.dataset, self.split))
        if isinstance(self.teacher, TeacherOutputs):
            self.teacher.check(self.dataset)  # rows, classes, NaN: before anything trains

    @property
    def split_source(self) -> str | None:
        """Where a user's split came from when a protocol name cannot say it: a JSON file's absolute path, or
        ``"in-memory"`` (a mapping); ``None`` otherwise."""
        if self.split is None or (isinstance(self.split, str) and self.split in SPLIT_PROTOCOLS):
            return None
        return "in-memory" if isinstance(self.split, Mapping) else str(Path(self.split).resolve())

    @property
    def teacher_name(self) -> str:
        """The teacher's family name, or ``user-model`` / ``user-outputs`` for the user's own."""
        return teacher_name(self.teacher)

    @property
    def teacher_source(self) -> dict[str, Any] | None:
        """Where the user's teacher came from (kind, path and sha256 of saved outputs); ``None`` for g2m's own."""
        return self.teacher.source if is_external(self.teacher) else None

    @property
    def trainers(self) -> list[str]:
        """The teacher trainers the run needs (``"standard"``: plain supervised training)."""
        needed = sorted({trainer_for(self.teacher, m) for m in self.methods if m.needs_teacher})
        plain = [plain_trainer(self.teacher)] if self.force_teacher else []
        return plain + needed

    @property
    def num_steps(self) -> int:
        """Progress steps of the whole run: one per teacher and student, per seed and setting."""
        return len(self.seeds) * len(self.setting) * (len(self.trainers) + len(self.methods))

    @classmethod
    def from_options(cls, dataset: Any, **options: Any) -> "NodeRunSpec":
        """``NodeRunSpec(dataset, **options)`` with an unknown option refused by name (nearest ones suggested)."""
        known = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in ("dataset", "load_seconds")]
        unknown = [k for k in options if k not in known]
        if unknown:
            near = {k: difflib.get_close_matches(k, known, n=2) for k in unknown}
            raise ConfigError("unknown run option(s): " + ", ".join(
                f"{k!r}" + (f" (did you mean {' or '.join(map(repr, near[k]))}?)" if near[k] else "") for k in unknown)
                + f". Options: {', '.join(known)}.")
        return cls(dataset, **options)


def method_setting_keys(teacher: str | None, method: str) -> tuple[frozenset[str], frozenset[str]]:
    """``(teacher keys, student keys)``: every setting a run of ``method`` with ``teacher`` takes on each side
    (the teacher family's and its trainer's; the student's and the method's). ``teacher=None`` (the user's own
    teacher) and a method without a teacher (``mlp``) take no teacher settings."""
    resolved = resolve_method(method)
    trainers = [resolved.teacher_trainer] if resolved.needs_teacher else []
    teacher_keys = frozenset() if teacher is None or not resolved.needs_teacher else \
        accepted_teacher_keys(as_teacher(teacher), trainers)
    return teacher_keys, student_setting_keys(resolved)


def route_params(pairs: Iterable[str], teacher: str | None, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``KEY=VALUE`` pairs (the CLI's ``--param``) as ``(teacher settings, student settings)``.

    A key goes to whichever side declares it: the student of ``method`` (its settings, the method's and its
    terms' weights) or the teacher (its family's and its trainer's, e.g. VQGraph's tokenizer). A key both
    declare (``lr``, ``dropout``, ...) needs a ``teacher.`` or ``student.`` prefix. Values are read as JSON
    (``0.5``, ``true``, ``"cosine"``), else kept as text.
    """
    import json

    teacher_keys, student_keys = method_setting_keys(teacher, method)
    who = f"{teacher} teacher" if teacher else "your teacher (which takes no settings)"
    sides: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for pair in pairs:
        key, sep, text = str(pair).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param {pair!r}: write KEY=VALUE, e.g. --param code_temperature=2.0.")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        side, _, bare = key.rpartition(".")
        if side not in ("", "teacher", "student"):
            raise ConfigError(f"--param {key!r}: the prefix is 'teacher.' or 'student.', not {side!r}.")
        in_student, in_teacher = bare in student_keys, bare in teacher_keys
        if not side and in_student and in_teacher:
            raise ConfigError(f"--param {bare}: both the teacher and the student take {bare!r}; write "
                              f"teacher.{bare}=... or student.{bare}=...")
        if not side:
            check_keys([bare], student_keys | teacher_keys, f"{who} or {method} student")
        target = side or ("student" if in_student else "teacher")
        check_keys([bare], student_keys if target == "student" else teacher_keys,
                   f"{method} student" if target == "student" else who)
        chosen = sides[1] if target == "student" else sides[0]
        if bare in chosen:
            raise ConfigError(f"--param {bare} is given twice.")
        chosen[bare] = value
    return sides
