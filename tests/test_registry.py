"""Registries: complete whatever is imported first; `import g2m` changes no process-wide state."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from g2m.errors import ConfigError
from g2m.registry import Registry


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter; its stdout."""
    # (timeout: a hang guard only, generous for a loaded machine)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_vq_checkpoint_loads_through_g2m_checkpoints_alone(tmp_path):
    import g2m
    from g2m.checkpoints import save_checkpoint
    from g2m.models.vq_tokenizer import build_vq_model

    cora = g2m.load_dataset("cora")
    kwargs = {"hidden_channels": 8, "num_layers": 3, "codebook_size": 4, "code_dim": 2, "code_layer": "first"}
    model = build_vq_model(cora.num_features, cora.num_classes, "sage", **dict(kwargs))
    path = save_checkpoint(tmp_path / "teacher-vq-tran-seed0.pt", model, "teacher", "sage", kwargs, cora, 0, "tran",
                           trainer="vq")
    out = _fresh(f"from g2m.checkpoints import load_model; m, c = load_model({str(path)!r}); "
                 "print(type(m).__name__, m.code_layer)")
    assert out == "VQTokenizerGNN first"


@pytest.mark.parametrize("code, expected", [
    ("from g2m.teacher import TEACHER_TRAINERS; print(sorted(TEACHER_TRAINERS))", "['committee', 'external', 'standard', 'vq']"),
    ("from g2m.distill.losses import LOSSES; print(LOSSES.get('hfd').__name__)", "HighFrequencyKL"),
    ("from g2m.distill.methods import resolve_method; print(resolve_method('glnn+ffg2m+pos').inputs)", "('position',)"),
])
def test_registries_are_complete_whatever_is_imported_first(code, expected):
    assert _fresh(code) == expected


def test_import_g2m_changes_no_warning_filter_or_matplotlib_backend():
    # (matplotlib.get_backend() itself imports pyplot: the backend setting is read without resolving it)
    code = ("import warnings, sys, matplotlib, torch, torch_geometric, numpy, scipy, torch_geometric.nn; "
            "state = lambda: (list(warnings.filters), dict.__getitem__(matplotlib.rcParams, 'backend'), "
            "torch.get_num_threads(), torch.get_default_dtype()); "
            "before = state(); "
            "import g2m, g2m.cli, g2m.distill, g2m.condense, g2m.pipeline; "
            "after = state(); "
            "print(before == after, 'matplotlib.pyplot' in sys.modules)")
    assert _fresh(code) == "True False"


def test_providers_are_imported_once_before_the_first_lookup(monkeypatch):
    imported = []
    monkeypatch.setattr("importlib.import_module", lambda name: imported.append(name))
    reg: Registry[int] = Registry("thing", providers=("a.b", "c"))
    reg.add("x", 1)
    assert imported == []  # adding does not load
    assert reg.get("X") == 1 and imported == ["a.b", "c"]
    assert "x" in reg and reg.names() == ["x"] and list(reg) == ["x"] and dict(reg.items()) == {"x": 1}
    assert imported == ["a.b", "c"]  # once
    with pytest.raises(ConfigError, match=r"unknown thing 'y'; choose one of: x\."):
        reg.get("y")
    with pytest.raises(ValueError, match="already registered"):
        reg.add("x", 2)
    reg.add("y", 3)
    with pytest.raises(ConfigError) as err:
        reg.get("z")
    assert str(err.value) == "unknown thing 'z'; choose one of: x, y."


def test_a_method_with_an_unknown_term_is_refused_and_not_registered():
    from g2m.distill.methods import METHODS, Method, register_method

    with pytest.raises(ConfigError, match="unknown loss 'no_such_term'"):
        register_method(Method("test_only_broken", {"no_such_term": 1.0}))
    assert "test_only_broken" not in METHODS
    assert torch.get_num_threads() >= 1
