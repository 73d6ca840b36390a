"""The deploy tutorial (docs/deploy.md) runs as written: its `g2m distill/export/predict` commands and its
Python blocks, in order, in a fresh folder."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
STEPS = ("g2m distill", "g2m export", "g2m predict")


def blocks(page: str) -> list[tuple[str, str]]:
    return re.findall(r"```(bash|python)\n(.*?)```", page, flags=re.S)


def test_deploy_tutorial_runs_as_written(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    import g2m
    from g2m.cli import app

    monkeypatch.chdir(tmp_path)
    x = g2m.load_dataset("cora").data.x
    x = (x.to_dense() if x.is_sparse or x.layout != torch.strided else x).numpy().astype(np.float32)
    np.save("x.npy", x)  # the feature files the page predicts on
    torch.save(torch.from_numpy(x[:50]), "x.pt")
    np.savetxt("new_nodes.csv", x[:5], delimiter=",")
    namespace = {"g2m": g2m, "features": x[:10], "np": np}
    page = (REPO / "docs" / "deploy.md").read_text()
    ran = {"bash": 0, "python": 0}
    for lang, body in blocks(page):
        if lang == "bash":
            for line in body.splitlines():
                line = line.split("  #")[0].strip()
                if not line.startswith(STEPS):
                    continue
                args = shlex.split(line)[1:]
                r = CliRunner().invoke(app, args)
                assert r.exit_code == 0, f"{line}\n{r.output}"
                ran["bash"] += 1
        elif "pip install" not in body:
            exec(compile(body, "docs/deploy.md", "exec"), namespace)  # noqa: S102 - our own docs
            ran["python"] += 1
    assert ran["bash"] >= 6 and ran["python"] >= 4
    assert Path("predictions.csv").is_file() and np.load("probabilities.npy").shape == (50, 7)
