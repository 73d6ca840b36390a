"""Shared fixtures: the shared data root (tests skip with a reason when it is absent) and a tmp cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path | None:
    """``G2M_DATA_ROOT``, else ``../shared/datasets`` relative to the repo root, else None."""
    env = os.environ.get("G2M_DATA_ROOT")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "datasets")
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = shared_data_root()
    if root is None:
        pytest.skip("no shared datasets: set G2M_DATA_ROOT or place them at ../shared/datasets")
    return root


@pytest.fixture
def no_data_root(monkeypatch, tmp_path):
    """No G2M_DATA_ROOT and an empty cache: only bundled datasets are available."""
    monkeypatch.delenv("G2M_DATA_ROOT", raising=False)
    monkeypatch.setenv("G2M_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def reference_splits_dir() -> Path | None:
    """The GLNN/VQGraph reference splits: ``G2M_REFERENCE_ROOT/splits``, else ``../shared/reference/splits``."""
    env = os.environ.get("G2M_REFERENCE_ROOT")
    candidates = [Path(env) / "splits"] if env else []
    candidates.append(REPO.parent / "shared" / "reference" / "splits")
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    return None


@pytest.fixture(scope="session")
def cora_with_fake_teacher():
    """``make(setting)`` → ``(cora, its seed-0 split, a TeacherRun of seeded random logits and 4-wide hidden
    vectors)``: a teacher's knowledge without training one, for tests of the student's loss."""
    import torch

    from g2m.datasets import load_dataset, node_split
    from g2m.teacher import TeacherRun

    def make(setting: str):
        ds = load_dataset("cora")
        split = node_split(ds, 0, setting)
        g = torch.Generator().manual_seed(0)
        n = split.observed.numel()
        teacher = TeacherRun(model=torch.nn.Identity(), name="fake", config={}, split=split,
                             logits=3 * torch.randn(n, ds.num_classes, generator=g), hidden=torch.randn(n, 4, generator=g))
        return ds, split, teacher

    return make



@pytest.fixture
def same_gradient_every_time():
    """``check(loss_of, x)``: ``loss_of(x)``'s gradient with respect to ``x``, computed 8 times with 2 torch
    threads (where sum orders can vary between runs), is bitwise the same every time."""
    import torch

    def check(loss_of, x):
        threads = torch.get_num_threads()
        torch.set_num_threads(2)
        try:
            grads = []
            for _ in range(8):
                leaf = x.detach().clone().requires_grad_(True)
                loss_of(leaf).backward()
                grads.append(leaf.grad)
        finally:
            torch.set_num_threads(threads)
        assert grads[0].abs().sum() > 0
        assert all(torch.equal(grads[0], g) for g in grads[1:]), "the gradient differs between identical runs"

    return check


@pytest.fixture(scope="session")
def cora_mlp_run(tmp_path_factory) -> Path:
    """A tiny plain-MLP run on bundled cora: tran and ind students of seed 0 (no teacher: fast). Shared by the
    export and predict tests, which read it and write only beside it or into its export/ folder."""
    import g2m

    out = tmp_path_factory.mktemp("run")  # a short path: the CLI test reads printed paths on one line
    g2m.distill("cora", method="mlp", seeds=1, setting="both", output=out,
                student_params={"max_epochs": 15, "patience": 5})
    return out
