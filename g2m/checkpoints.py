"""The checkpoint format of node runs: `save_checkpoint` writes it, `load_model` rebuilds the model from it;
and evaluating a run's checkpoints again on their splits (`evaluate_run`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from g2m.datasets import load_dataset, node_split
from g2m.datasets.base import NodeDataset
from g2m.distill.student import evaluate_student
from g2m.errors import ConfigError
from g2m.evaluate import setting_metrics
from g2m.models import StudentMLP
from g2m.graph_inputs import as_model_input
from g2m.training import accuracy
from g2m.run_dir import read_run_config, recorded_files
from g2m.utils import resolve_device, save_torch_atomic, write_json_atomic
from g2m.utils.io import file_sha256, load_tensors


CHECKPOINT_KEYS = ("kind", "name", "kwargs", "in_channels", "out_channels", "seed", "setting", "state_dict")


def save_checkpoint(path: str | Path, model: torch.nn.Module, kind: str, name: str, kwargs: dict[str, Any],
                    dataset: NodeDataset, seed: int, setting: str, trainer: str = "standard",
                    positions: tuple[torch.Tensor, torch.Tensor] | None = None) -> Path:
    """Write ``model``'s checkpoint to ``path`` atomically: every key `load_model` needs to rebuild it.

    Args:
        kind: ``"teacher"`` or ``"student"``; ``name`` the teacher family or the student's method.
        kwargs: every keyword the model was built with (`TeacherRun.model_kwargs`, the student's model keys).
        dataset: the run's `NodeDataset` (its feature and class counts are recorded).
        trainer: the teacher trainer (``"vq"`` rebuilds a VQ tokenizer).
        positions: a position-aware student's ``(positions, observed)``: the observed nodes' positions, one row
            per ``observed`` global node id (it reads ``[features, positions]``).
    """
    ckpt = {"format": "g2m-node-checkpoint", "version": 1, "kind": kind, "name": name, "kwargs": kwargs,
            "trainer": trainer, "in_channels": dataset.num_features, "out_channels": dataset.num_classes,
            "seed": seed, "setting": setting, "state_dict": model.state_dict(),
            "dataset": dataset_fingerprint(dataset)}
    if dataset.class_labels is not None:  # predictions map back to the user's own labels
        ckpt["class_labels"] = list(dataset.class_labels)
    if positions is not None:
        table, observed = positions
        ckpt.update(in_channels=dataset.num_features + table.size(1), num_features=dataset.num_features,
                    positions=table.detach().cpu(), observed=observed.cpu())
    return save_torch_atomic(path, ckpt)


def dataset_fingerprint(dataset: NodeDataset) -> dict[str, Any]:
    """What tells a checkpoint's dataset apart from another of the same width: its name, node count and the sha256
    of its labels in node order (the splits follow from these and the seed)."""
    import hashlib

    labels = dataset.data.y.to(torch.int64).cpu().numpy().tobytes()
    return {"name": dataset.name, "num_nodes": dataset.num_nodes, "labels_sha256": hashlib.sha256(labels).hexdigest()}


def load_model(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a teacher or student from a g2m checkpoint file; returns ``(model, checkpoint)``.

    The file is read with ``weights_only=True`` (nothing in it can run code); a truncated, corrupt or
    foreign file, or weights that do not fit the recorded model, is a clear `ConfigError`.
    """
    try:
        ckpt = load_tensors(path)
    except Exception as exc:  # noqa: BLE001  (any unreadable file)
        raise ConfigError(f"cannot read checkpoint {path}: it is truncated, corrupt or not a torch file ({exc}).") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != "g2m-node-checkpoint":
        raise ConfigError(f"{path} is not a g2m node checkpoint (written by `g2m distill`/`g2m teacher`).")
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise ConfigError(f"{path} is an incomplete g2m checkpoint (missing {', '.join(missing)}).")
    def build() -> torch.nn.Module:
        if ckpt["kind"] == "teacher":
            from g2m.teacher import TEACHER_BUILDERS

            builder = TEACHER_BUILDERS.get(ckpt.get("trainer", "standard"))
            return builder(ckpt["in_channels"], ckpt["out_channels"], ckpt["name"], **ckpt["kwargs"])
        return StudentMLP(ckpt["in_channels"], out_channels=ckpt["out_channels"], **ckpt["kwargs"])

    try:
        with torch.device("meta"):  # the recorded model's shapes, allocating nothing
            shapes = {k: tuple(v.shape) for k, v in build().state_dict().items()}
        held = {k: tuple(v.shape) for k, v in ckpt["state_dict"].items() if isinstance(v, torch.Tensor)}
        if shapes != held:  # e.g. a declared width of 2e7 with small weights: refused before any allocation
            wrong = sorted(k for k in set(shapes) | set(held) if shapes.get(k) != held.get(k))[:3]
            raise ValueError(f"the recorded sizes make {', '.join(f'{k} {shapes.get(k)}' for k in wrong)}, the file "
                             f"holds {', '.join(f'{k} {held.get(k)}' for k in wrong)}")
        model = build()
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ConfigError(f"{path}: its weights do not fit the model it records ({exc}); the file was altered "
                          "or written by another version of g2m.") from exc
    model.eval()
    return model, ckpt


STUDENT_FILE = re.compile(r"student-(?P<method>.+)-(?P<setting>tran|ind)-seed(?P<seed>\d+)\.pt")


def student_checkpoint(path: str | Path, checkpoint: str | None = None) -> Path:
    """The student checkpoint to deploy: ``path`` itself when it is a file, else one from a run folder.

    In a run folder ``checkpoint`` names a file of ``DIR/checkpoints`` (``.pt`` optional). Without it,
    a run of one method gives its transductive student (else the inductive one) of the lowest seed;
    several methods, or files g2m did not name, are ambiguous: a `ConfigError` lists them.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} does not exist: pass a run folder written by `g2m distill` or a student checkpoint.")
    if path.is_file():
        if checkpoint is not None:
            raise ConfigError(f"--checkpoint chooses a file inside a run folder, but {path} is a file already.")
        return path
    folder = path / "checkpoints"
    if not folder.is_dir():
        raise ConfigError(f"{path} has no checkpoints/ folder: pass a run folder written by `g2m distill` "
                          "(with checkpoints) or a student checkpoint file.")
    students = sorted(folder.glob("student-*.pt"))
    names = ", ".join(f.stem for f in students)
    if checkpoint is not None:
        wanted = folder / (checkpoint if checkpoint.endswith(".pt") else f"{checkpoint}.pt")
        if wanted not in students:
            raise ConfigError(f"{folder} holds no student checkpoint {checkpoint!r}; choose one of: {names or 'none'}.")
        return wanted
    if not students:
        raise ConfigError(f"{folder} holds no student checkpoints (a `g2m teacher` run has none): "
                          "distill a student with `g2m distill` first.")
    parsed = [STUDENT_FILE.fullmatch(f.name) for f in students]
    if len(students) > 1 and (not all(parsed) or len({m["method"] for m in parsed}) > 1):
        raise ConfigError(f"{folder} holds students of several methods, or files g2m did not name ({names}): "
                          "choose one with --checkpoint NAME (or `checkpoint=` in Python).")
    if len(students) == 1:
        return students[0]
    return min(zip(parsed, students), key=lambda p: (p[0]["setting"] != "tran", int(p[0]["seed"])))[1]


def check_fits(path: Path, ckpt: dict[str, Any], dataset, config: dict[str, Any]) -> None:
    """A checkpoint evaluated in a run folder must come from that run's dataset and models."""
    features = ckpt.get("num_features", ckpt["in_channels"])  # position-aware students read more columns
    if (features, ckpt["out_channels"]) != (dataset.num_features, dataset.num_classes):
        raise ConfigError(f"{path} was trained on {features} features / {ckpt['out_channels']} classes, "
                          f"but this run's dataset {dataset.name!r} has {dataset.num_features} / {dataset.num_classes}: "
                          "it comes from another dataset; remove it from the run folder.")
    recorded = ckpt.get("dataset")  # checkpoints written before the fingerprint have none
    if recorded is not None and recorded != dataset_fingerprint(dataset):
        raise ConfigError(f"{path} was trained on {recorded['name']!r} ({recorded['num_nodes']} nodes), not on this "
                          f"run's {dataset.name!r} ({dataset.num_nodes} nodes, or other labels): the same widths, "
                          "another graph. Evaluate it on its own dataset, or remove it from the run folder.")
    if ckpt["kind"] == "student" and ckpt["name"] not in (config.get("methods") or {}):
        raise ConfigError(f"{path} is a {ckpt['name']!r} student, but this run trained "
                          f"{', '.join(config.get('methods') or {}) or 'no student'}: remove it from the run folder.")
    if ckpt["kind"] == "teacher" and ckpt["name"] not in run_teacher_families(config.get("teacher")):
        raise ConfigError(f"{path} is a {ckpt['name']!r} teacher, but this run's teacher is {config.get('teacher')!r}.")


def run_teacher_families(teacher: Any) -> set[str]:
    """The families a run's teacher checkpoints may hold: the run's family, or a committee's members (``auto``
    keeps the family it chose)."""
    from g2m.teacher_committee import parse_committee

    committee = parse_committee(teacher) if isinstance(teacher, str) else None
    return set(committee.members) if committee else {teacher}


def dataset_of_run(config: dict[str, Any], root: str | Path | None = None):
    """The dataset a run's ``config.json`` names (a user's folder by its recorded absolute path), with the run's
    split (a split file by its recorded path; a split passed in memory cannot be rebuilt: refused)."""
    from g2m.datasets.splits import with_split

    source = config.get("dataset_source") or ""
    if source.startswith("files:"):
        dataset = load_dataset(Path(source.removeprefix("files:")))
    else:
        dataset = load_dataset(config["dataset"], root=root or config.get("data_root"))
    split = config.get("split_source")
    if split == "in-memory":
        raise ConfigError("this run's split was passed in memory (a mapping of node ids), which its folder does not "
                          "hold: save it as a JSON file and pass --split FILE.")
    return with_split(dataset, split or config.get("split_protocol"))


@torch.no_grad()
def evaluate_run(run_dir: str | Path, root: str | Path | None = None, device: str = "auto",
                 output: str | Path | None = None) -> dict[str, Any]:
    """Re-evaluate every checkpoint under ``run_dir/checkpoints`` on its seed's split.

    Teachers are evaluated as in training (observed graph for observed test nodes, full graph for
    held-out ones); students from features alone. Writes ``evaluation.json`` to ``output``, else ``run_dir``.
    """
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    files = sorted((run_dir / "checkpoints").glob("*.pt"))
    if not files:
        raise ConfigError(f"{run_dir}/checkpoints holds no .pt files to evaluate.")
    dataset = dataset_of_run(config, root)
    dev = resolve_device(device)
    recorded = recorded_files(run_dir, config.get("seeds") or [])
    lost = sorted(rel for rel in recorded or {} if rel.startswith("checkpoints/") and not (run_dir / rel).is_file())
    if lost:  # the run wrote them: numbers over the rest would silently cover fewer seeds
        raise ConfigError(f"{run_dir} lacks {len(lost)} checkpoint(s) the run wrote ({', '.join(lost[:3])}"
                          f"{', …' if len(lost) > 3 else ''}): restore them, or rerun the run (g2m rerun {run_dir}).")
    runs: dict[str, dict[str, list]] = {}
    for file in files:
        if recorded is not None:  # the run's seed records list every checkpoint it wrote, with its sha256
            rel = file.relative_to(run_dir).as_posix()
            if rel not in recorded or not file.is_file() or recorded[rel] != file_sha256(file):
                raise ConfigError(f"{file} is {'not a checkpoint this run wrote' if rel not in recorded else 'not the file this run wrote (its sha256 differs)'}: "
                                  "its numbers would not be this run's. Remove it, or rerun the run.")
        model, ckpt = load_model(file)
        check_fits(file, ckpt, dataset, config)
        model = model.to(dev)
        split = node_split(dataset, ckpt["seed"], ckpt["setting"])
        if ckpt["kind"] == "teacher":
            obs, local = split.observed_graph(dataset.data)
            logits = model(as_model_input(obs.x).to(dev), obs.edge_index.to(dev))
            test = local[split.test].to(dev)
            m = {"test": accuracy(logits[test], obs.y.to(dev)[test])}
            if split.test_ind is not None:
                full = model(as_model_input(dataset.data.x).to(dev), dataset.data.edge_index.to(dev))
                m["test_ind"] = accuracy(full[split.test_ind], dataset.data.y.to(dev)[split.test_ind])
            trainer = ckpt.get("trainer", "standard")
            key = f"teacher ({ckpt['name']})" if trainer == "standard" else f"teacher ({ckpt['name']}, {trainer})"
        else:
            positions = ckpt.get("positions")
            m = evaluate_student(model, dataset, split, dev, None if positions is None else positions.to(dev))
            key = f"student ({ckpt['name']})"
        runs.setdefault(key, {}).setdefault(ckpt["setting"], []).append(m)
    result = {"dataset": dataset.name, "models": {k: setting_metrics(v) for k, v in runs.items()}}
    write_json_atomic(Path(output or run_dir) / "evaluation.json", result)
    return result
