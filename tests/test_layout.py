"""The tests mirror the code: tests/<package>/test_<module>.py tests g2m/<package>/<module>.py."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "g2m"
# test files that check a behaviour across modules, not one module
CROSS_CUTTING = {
    "test_bad_input.py": "every documented failure mode, end to end",
    "test_untrusted_files.py": "files that must never run code, wherever they are read",
    "test_docs.py": "the site builds and names no machine paths",
    "test_tutorials.py": "the tutorials run as written",
    "test_properties.py": "property-based checks of the loss terms and splits",
    "test_mutation_tools.py": "the mutation-testing scripts in benchmarks/",
    "test_layout.py": "this file",
    "datasets/test_loading.py": "every dataset loader against the shared raw files",
    "datasets/test_reference_splits.py": "g2m's splits against the reference code's node ids",
    "distill/test_plugins.py": "a method defined outside g2m, through the CLI and the API",
}


def test_every_test_file_names_a_module_or_says_why_not():
    stray = []
    for path in sorted(TESTS.rglob("test_*.py")):
        rel = path.relative_to(TESTS).as_posix()
        module = PACKAGE / path.parent.relative_to(TESTS) / (path.name.removeprefix("test_"))
        if rel not in CROSS_CUTTING and not module.is_file():
            stray.append(rel)
    assert not stray, f"test files that mirror no module of g2m (name them after one, or list them): {stray}"
    assert all((TESTS / rel).is_file() for rel in CROSS_CUTTING), "a listed cross-cutting file is gone"
