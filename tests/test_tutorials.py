"""The tutorials run as written.

Convention for executed pages: a line ``<!-- run -->`` (an HTML comment, invisible on the site) right
before a fenced ```` ```bash ```` or ```` ```python ```` block marks that block as part of the tutorial.
The marked blocks of a page run in order, in a fresh empty folder:

- a Python block runs with ``exec`` in one namespace shared by the page's blocks (like a notebook);
- a bash block runs line by line; every line must be a ``g2m ...`` command, which runs in-process through
  the Typer app and must exit with 0. Blank lines and ``#`` comments are skipped, a trailing ``  # ...``
  is dropped and a trailing ``\\`` continues the line.

A line ``<!-- expect ±TOL -->`` right before a fenced ```` ```text ```` block that follows a marked block shows
what that block prints: every line of it must appear, in order, among the lines the block printed, with the
same words and every number within ``TOL`` (seeds, thread timing and platforms move the last digits).

Blocks without the marker are illustrations (installation, full-size runs) and are not run. Each page in
``EXECUTED`` must have its marked blocks; a marker on a page missing from ``EXECUTED``, or a marker not
followed by a code block, fails ``test_run_markers_are_wellformed``.

``docs/deploy.md`` predates the convention: all its ``g2m distill/export/predict`` commands and Python
blocks run (``test_deploy_tutorial_runs_as_written``).
"""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
STEPS = ("g2m distill", "g2m export", "g2m predict")
MARKER = "<!-- run -->"
EXPECT = re.compile(r"^<!-- expect ±(?P<tol>[0-9.]+) -->[ \t]*\n```text\n(?P<body>.*?)^```", re.S | re.M)
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
# page → (marked bash blocks, marked python blocks) it must have, and files the run must leave behind
EXECUTED = {
    "quickstart.md": ((2, 1), ["runs/quick-glnn/metrics.json", "runs/quick-vqgraph/codebook_usage.png"]),
    "own-graph.md": ((2, 6), ["my_graph/edges.txt", "runs/my-graph/metrics.json", "runs/my-graph/evaluation.json",
                              "my_student.pt", "my_student.onnx"]),
    "condense-tutorial.md": ((2, 1), ["runs/mutag-short/distilled.pt", "runs/mutag-short/metrics.json"]),
    "vqgraph-tutorial.md": ((0, 5), ["runs/vq-inside/codebook_usage.png"]),
    "ffg2m-tutorial.md": ((0, 3), []),
    "development/own-method.md": ((1, 2), ["runs/probl2/metrics.json"]),
    "own-gnn.md": ((1, 6), ["gcn_logits.npy", "runs/own-gcn/metrics.json", "student.onnx"]),
}
# pages that read a benchmark's raw files: the folder the page reads them from → the files in the data root
NEEDS_DATA = {"own-gnn.md": ("data/Planetoid/CiteSeer/raw", "Planetoid/CiteSeer/raw")}


def blocks(page: str) -> list[tuple[str, str]]:
    return re.findall(r"```(bash|python)\n(.*?)```", page, flags=re.S)


def marked_blocks(page: str) -> list[tuple[str, str]]:
    """The ``(language, body)`` of every block right after a ``<!-- run -->`` line, in page order."""
    return re.findall(r"^<!-- run -->[ \t]*\n```(bash|python)[^\n]*\n(.*?)^```", page, flags=re.S | re.M)


def expectations(page: str) -> dict[int, tuple[float, str]]:
    """``{i: (tolerance, text)}``: the expected output of the i-th marked block (0-based), where one is shown."""
    runs = [m.end() for m in re.finditer(r"^<!-- run -->[ \t]*\n```(?:bash|python)[^\n]*\n.*?^```", page,
                                          flags=re.S | re.M)]
    out = {}
    for m in EXPECT.finditer(page):
        before = [i for i, end in enumerate(runs) if end <= m.start()]
        assert before and not page[runs[before[-1]]:m.start()].count("```"), \
            "an expect block must follow a run-marked block, with only prose between them"
        out[before[-1]] = (float(m.group("tol")), m.group("body"))
    return out


def skeleton(line: str) -> tuple[str, list[float]]:
    """A line's words with every number replaced by ``#`` (whitespace collapsed), and its numbers."""
    return " ".join(NUMBER.sub("#", line).split()), [float(v) for v in NUMBER.findall(line)]


def check_output(printed: str, expected: str, tol: float) -> None:
    """Each expected line matches a printed line, in order: same words, numbers within ``tol``."""
    lines = [skeleton(line) for line in printed.splitlines()]
    at = 0
    for want in filter(str.strip, expected.splitlines()):
        words, numbers = skeleton(want)
        for i in range(at, len(lines)):
            if lines[i][0] == words and all(abs(a - b) <= tol for a, b in zip(lines[i][1], numbers)):
                at = i + 1
                break
        else:
            raise AssertionError(f"expected output line not printed (±{tol}): {want!r}\nprinted:\n{printed}")


def command_lines(body: str) -> list[str]:
    """The commands of a bash block: comments dropped, ``\\`` continuations joined."""
    out, pending = [], ""
    for raw in body.splitlines():
        line = raw.split("  #")[0].rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            out.append(line)
    return out


def run_page(name: str) -> dict[str, int]:
    """Run the marked blocks of ``docs/NAME`` in the current folder; returns how many of each ran."""
    from typer.testing import CliRunner

    from g2m.cli import app

    import contextlib
    import io

    namespace: dict = {"__name__": f"docs.{name}"}
    ran = {"bash": 0, "python": 0}
    page = (DOCS / name).read_text()
    expected = expectations(page)
    for number, (lang, body) in enumerate(marked_blocks(page)):
        printed = io.StringIO()
        if lang == "python":
            with contextlib.redirect_stdout(printed):
                exec(compile(body, f"docs/{name}", "exec"), namespace)  # noqa: S102 - our own docs
        else:
            for line in command_lines(body):
                assert line.startswith("g2m "), f"docs/{name}: a run-marked bash line must be a g2m command: {line}"
                result = CliRunner().invoke(app, shlex.split(line)[1:])
                assert result.exit_code == 0, f"docs/{name}: {line}\n{result.output}\n{result.exception!r}"
                printed.write(result.output)
        if number in expected:
            check_output(printed.getvalue(), expected[number][1], expected[number][0])
        ran[lang] += 1
    return ran


def test_run_markers_are_wellformed():
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text()
        markers = text.count(MARKER)
        name = path.relative_to(DOCS).as_posix()
        assert markers == len(marked_blocks(text)), f"docs/{name}: a {MARKER} line not right before a code block"
        if markers:
            assert name in EXECUTED, f"docs/{name} has {MARKER} blocks but tests/test_tutorials.py does not run it"
    for name, ((n_bash, n_python), _) in EXECUTED.items():
        langs = [lang for lang, _ in marked_blocks((DOCS / name).read_text())]
        assert (langs.count("bash"), langs.count("python")) == (n_bash, n_python), name


def test_expected_output_is_compared_word_for_word_and_number_by_number():
    printed = "condense: fold 0 finished in 13 s\n  mirage    test 84.21 ± 0.00   2637 bytes\n  random    test 63.16 ± 0.00\n"
    check_output(printed, "  mirage    test 80.00 ± 0.00   2640 bytes\n\n  random test 63.16 ± 0.00\n", tol=5)
    for wrong in ("  mirage    test 70.00 ± 0.00   2637 bytes",          # a number out of tolerance
                  "  herding   test 84.21 ± 0.00   2637 bytes",          # another word
                  "  random    test 63.16 ± 0.00\n  mirage    test 84.21 ± 0.00   2637 bytes"):  # another order
        with pytest.raises(AssertionError):
            check_output(printed, wrong, tol=5)
    page = "<!-- run -->\n```bash\ng2m x\n```\n\nProse.\n\n<!-- expect ±0.5 -->\n```text\nok 1\n```\n"
    assert expectations(page) == {0: (0.5, "ok 1\n")}
    with pytest.raises(AssertionError, match="must follow"):
        expectations("<!-- expect ±1 -->\n```text\nok\n```\n")


@pytest.mark.parametrize("name", sorted(EXECUTED))
def test_tutorial_runs_as_written(name, tmp_path, monkeypatch, request):
    import shutil

    from g2m.distill.losses import LOSSES
    from g2m.distill.methods import METHODS

    monkeypatch.chdir(tmp_path)
    if name in NEEDS_DATA:  # a copy of the raw files where the page reads them (as PyG would download them)
        root = request.getfixturevalue("data_root")  # skips, saying why, without the shared datasets
        if name == "own-gnn.md":
            pytest.importorskip("onnxruntime")
        page_folder, in_root = NEEDS_DATA[name]
        shutil.copytree(root / in_root, tmp_path / page_folder)
        monkeypatch.setenv("G2M_DATA_ROOT", str(root))
    for registry in (LOSSES, METHODS):  # what a page registers is gone after it
        registry.names()
        monkeypatch.setattr(registry, "_items", dict(registry._items))
    (n_bash, n_python), outputs = EXECUTED[name]
    assert run_page(name) == {"bash": n_bash, "python": n_python}
    for out in outputs:
        assert Path(out).is_file(), f"docs/{name} did not write {out}"


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
