"""Progress reports (g2m/progress.py) and what the commands show with them, piped or on a terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from g2m import progress


@pytest.fixture
def clock(monkeypatch):
    """A settable `time.monotonic` for g2m.progress (no test here waits on the wall clock)."""
    now = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(progress, "_last_epoch", [0.0])
    return now


def test_nothing_is_reported_without_a_listener(clock):
    heard = []
    progress.epoch("loop", 1, 10, 50.0, 50.0)  # no listener: a no-op
    with progress.listening(heard.append):
        progress.note("hello")
    progress.note("after")
    assert [e.line() for e in heard] == ["hello"]


def test_epochs_are_heard_at_most_every_interval_with_their_task(clock):
    heard = []
    with progress.listening(heard.append):
        with progress.task("seed 0 tran"):
            for number in range(1, 11):
                progress.epoch("student (glnn)", number, 10, 60.0 + number, 70.0)
                clock[0] += progress.EPOCH_INTERVAL / 2
        with progress.task("seed 1 tran"):  # a new task: its first epoch is heard at once
            progress.epoch("student (glnn)", 1, 10, 40.0, 40.0)
    epochs = [e for e in heard if e.kind == "epoch"]
    assert [e.epoch for e in epochs] == [1, 3, 5, 7, 9, 10, 1]  # every other one, the last, then a new task's first
    assert epochs[0].line() == "seed 0 tran · student (glnn): epoch 1/10, val 61.00 (best 70.00)"
    assert [e.label for e in heard if e.kind == "task"] == ["seed 0 tran", "seed 1 tran"]
    assert progress.Event("epoch", "gin", 3, 100).line() == "gin: epoch 3/100"  # no validation that epoch


def test_the_innermost_listener_hears(clock):
    outer, inner = [], []
    with progress.listening(outer.append):
        with progress.listening(inner.append):
            progress.note("a")
        progress.note("b")
    assert [e.label for e in inner] == ["a"] and [e.label for e in outer] == ["b"]


def test_plain_lines_print_notes_and_an_epoch_every_period(clock):
    out = io.StringIO()
    lines = progress.PlainLines(out, every=10.0)
    for second, event in [(0, progress.Event("task", "seed 0 tran")),
                          (1, progress.Event("epoch", "t", 1, 50, 70.0, 70.0)),
                          (5, progress.Event("epoch", "t", 2, 50, 71.0, 71.0)),   # within 10 s: skipped
                          (12, progress.Event("epoch", "t", 9, 50, 72.0, 72.0)),
                          (13, progress.Event("note", "finished fold 0"))]:
        clock[0] = 1000.0 + second
        lines(event)
    assert out.getvalue().splitlines() == ["[     1 s] t: epoch 1/50, val 70.00 (best 70.00)",
                                           "[    12 s] t: epoch 9/50, val 72.00 (best 72.00)",
                                           "[    13 s] finished fold 0"]


def _report_from_worker(label: str) -> str:
    with progress.task(label):
        progress.epoch("loop", 1, 5, 10.0, 10.0)
    return label


def test_worker_processes_report_to_the_parents_listener():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    heard = []
    context = multiprocessing.get_context("spawn")
    with progress.listening(heard.append):
        with progress.forwarding(context) as queue, ProcessPoolExecutor(
                2, mp_context=context, initializer=progress.forward_to, initargs=(queue,)) as pool:
            assert list(pool.map(_report_from_worker, ["seed 0", "seed 1"])) == ["seed 0", "seed 1"]
    assert sorted(e.line() for e in heard if e.kind == "epoch") == ["seed 0 · loop: epoch 1/5, val 10.00 (best "
                                                                   "10.00)", "seed 1 · loop: epoch 1/5, val 10.00 "
                                                                   "(best 10.00)"]
    with progress.forwarding(context) as queue:  # nobody listens: nothing to forward
        assert queue is None


def test_the_library_prints_lines_when_verbose(capfd):
    import g2m

    g2m.distill("cora", seeds=1, setting="tran", verbose=True, teacher_params={"max_epochs": 3},
                student_params={"max_epochs": 3})
    err = capfd.readouterr().err
    assert "seed 0 tran · teacher (sage, label cross-entropy): epoch 1/3" in err
    assert "seed 0 tran · student (glnn): epoch 1/3" in err and "finished student glnn seed 0 tran" in err
    g2m.Distiller(teacher_params={"max_epochs": 2}, student_params={"max_epochs": 2}).fit("cora")
    assert "epoch" not in capfd.readouterr().err  # quiet unless asked


def _first_progress_line(args: list[str], tmp_path, terminal: bool = False) -> str:
    """Run ``g2m ARGS`` and return its output up to the first epoch report; then stop it."""
    env = {**os.environ, "COLUMNS": "160"}
    command = [sys.executable, "-m", "g2m", *args]
    if terminal:  # a pseudo-terminal: rich draws its live display
        import pty

        parent, child = pty.openpty()
        proc = subprocess.Popen(command, stdin=child, stdout=child, stderr=child, cwd=tmp_path, env=env)
        os.close(child)
        read = lambda: os.read(parent, 4096).decode(errors="replace")  # noqa: E731
    else:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
                                text=True)
        read = proc.stdout.readline
    seen = ""
    try:
        while "epoch" not in seen:
            try:
                chunk = read()
            except OSError:  # the pseudo-terminal closed: the process ended
                break
            if not chunk:
                break
            seen += chunk
    finally:
        proc.kill()
        proc.wait()
    return seen


@pytest.mark.parametrize("args", [
    ["distill", "-m", "glnn", "--seeds", "1", "--setting", "tran"],
    ["tune", "-m", "mlp", "--trials", "1", "--seeds", "1"],
    ["condense", "-d", "mutag", "--folds", "0", "--baselines", "random"],
    ["train-graph", "-d", "mutag", "--folds", "0"],
], ids=["distill", "tune", "condense", "train-graph"])
def test_long_commands_report_epochs_when_piped(args, tmp_path):
    if args[0] == "tune":
        pytest.importorskip("optuna")
    seen = _first_progress_line(args, tmp_path)
    assert "epoch 1/" in seen and "val " in seen, seen[-2000:]


def test_distill_on_a_terminal_shows_a_live_display(tmp_path):
    seen = _first_progress_line(["distill", "-m", "glnn", "--seeds", "1", "--setting", "tran"], tmp_path,
                                terminal=True)
    assert "models" in seen and "0/2" in seen and "epoch" in seen, seen[-2000:]
