"""Load the checkpoints a run wrote and evaluate them again on their splits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from g2m.datasets import load_dataset, node_split
from g2m.distill.student import evaluate_student
from g2m.errors import ConfigError
from g2m.evaluate import setting_metrics
from g2m.models import StudentMLP, build_teacher
from g2m.training import accuracy, as_model_input
from g2m.utils import resolve_device, write_json_atomic


def load_model(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a teacher or student from a g2m checkpoint file; returns ``(model, checkpoint)``."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unreadable file)
        raise ConfigError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != "g2m-node-checkpoint":
        raise ConfigError(f"{path} is not a g2m node checkpoint (written by `g2m distill`/`g2m teacher`).")
    if ckpt["kind"] == "teacher" and ckpt.get("trainer", "standard") != "standard":
        from g2m.teacher import TEACHER_TRAINERS

        builder = getattr(TEACHER_TRAINERS.get(ckpt["trainer"]), "build_model", None)
        if builder is None:
            raise ConfigError(f"{path}: teachers of trainer {ckpt['trainer']!r} cannot be rebuilt from a checkpoint.")
        model = builder(ckpt["in_channels"], ckpt["out_channels"], ckpt["name"], **ckpt["kwargs"])
    elif ckpt["kind"] == "teacher":
        model = build_teacher(ckpt["name"], ckpt["in_channels"], ckpt["out_channels"], **ckpt["kwargs"])
    else:
        model = StudentMLP(ckpt["in_channels"], out_channels=ckpt["out_channels"], **ckpt["kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt


@torch.no_grad()
def evaluate_run(run_dir: str | Path, root: str | Path | None = None, device: str = "auto",
                 output: str | Path | None = None) -> dict[str, Any]:
    """Re-evaluate every checkpoint under ``run_dir/checkpoints`` on its seed's split.

    Teachers are evaluated as in training (observed graph for observed test nodes, full graph for
    held-out ones); students from features alone. Writes ``evaluation.json`` to ``output``, else ``run_dir``.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise ConfigError(f"{run_dir} has no config.json: pass a folder written by `g2m distill` or `g2m teacher`.")
    config = json.loads(config_path.read_text())
    files = sorted((run_dir / "checkpoints").glob("*.pt"))
    if not files:
        raise ConfigError(f"{run_dir}/checkpoints holds no .pt files to evaluate.")
    source = config.get("dataset_source") or ""
    if source.startswith("files:"):  # a user's folder of files, recorded with its absolute path
        dataset = load_dataset(Path(source.removeprefix("files:")))
    else:
        dataset = load_dataset(config["dataset"], root=root or config.get("data_root"))
    dev = resolve_device(device)
    runs: dict[str, dict[str, list]] = {}
    for file in files:
        model, ckpt = load_model(file)
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
            m = evaluate_student(model, dataset, split, dev)
            key = f"student ({ckpt['name']})"
        runs.setdefault(key, {}).setdefault(ckpt["setting"], []).append(m)
    result = {"dataset": dataset.name, "models": {k: setting_metrics(v) for k, v in runs.items()}}
    write_json_atomic(Path(output or run_dir) / "evaluation.json", result)
    return result
