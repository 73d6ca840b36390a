"""benchmarks/mutation_undecorate.py: decorated functions rewritten as ``def`` + ``name = (decorator)(name)``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SOURCE = '''
calls = []


def tag(label):
    def wrap(fn):
        calls.append((label, fn.__name__))
        return lambda *a: f"{label}({fn(*a)})"
    return wrap


@tag("outer")
@tag(
    "inner")
def f(x):
    @tag("nested")
    def g(y):
        return y * 2
    return g(x)


class C:
    @property
    def p(self):
        return 1

    @staticmethod
    @tag("static")
    def s():
        return "s"
'''


@pytest.fixture(scope="module")
def undecorate():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "mutation_undecorate.py"
    spec = importlib.util.spec_from_file_location("mutation_undecorate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.undecorate


def run(source: str) -> dict:
    namespace: dict = {}
    exec(compile(source, "<test>", "exec"), namespace)
    return namespace


def test_rewritten_functions_behave_as_decorated_ones(undecorate):
    rewritten, changed = undecorate(SOURCE)
    assert sorted(changed) == ["f", "g"]  # a @staticmethod function is left as written (mutmut handles it)
    assert '@tag("outer")' not in rewritten and '@tag("nested")' not in rewritten
    assert '@staticmethod\n    @tag("static")' in rewritten and "@property" in rewritten
    assert 'f = (tag(\n    "inner"))(f)' in rewritten  # a two-line decorator moved whole
    original, new = run(SOURCE), run(rewritten)
    assert new["f"](3) == original["f"](3) == "outer(inner(nested(6)))"  # innermost decorator applied first
    assert new["C"]().p == 1 and new["C"].s() == original["C"].s() == "static(s)"
    # the same decorators applied to the same functions in the same order
    assert new["calls"] == original["calls"] == [("inner", "f"), ("outer", "<lambda>"), ("static", "s"),
                                                 ("nested", "g")]

def test_a_module_without_decorators_is_unchanged(undecorate):
    source = "def f():\n    return 1\n"
    assert undecorate(source) == (source, [])
