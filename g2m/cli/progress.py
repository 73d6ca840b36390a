"""What a long command shows while it runs: a live display on a terminal, plain lines when piped.

Both show the models finished out of the total (with the time left, estimated from those finished) and the
latest epoch of the model in training (`g2m.progress`): rich redraws one display in place; piped output gets a
line per finished model, note and task, and the latest epoch at most every `PIPED_EVERY` seconds.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from g2m import progress

PIPED_EVERY = 10.0  # seconds between two epoch lines when the output is not a terminal


class PipedLines(progress.PlainLines):
    """`g2m.progress.PlainLines` plus a line per finished step, with the share done and the time left."""

    def __init__(self, console: Console, total: int | None):
        super().__init__(console.file, PIPED_EVERY)
        self.total, self.done = total, 0

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = "" if not self.total or self.done >= self.total else \
            f", about {elapsed / self.done * (self.total - self.done):.0f} s left"
        of = f"/{self.total}" if self.total else ""
        print(f"[{elapsed:6.0f} s] finished {self.done}{of}: {label}{left}", file=self.stream, flush=True)


class LiveView:
    """A rich display redrawn in place: finished steps out of the total (when known), elapsed and remaining
    time, and the latest report; finished steps and notes are printed above it."""

    def __init__(self, console: Console, total: int | None, what: str):
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=16), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[latest]}"),
                            console=console)
        self.task = self.bar.add_task(what, total=total, latest="starting")

    def step(self, label: str) -> None:
        self.bar.update(self.task, advance=1)
        self.bar.console.print(f"[dim]finished[/dim] {label}")

    def __call__(self, event: progress.Event) -> None:
        if event.kind == "note":
            self.bar.console.print(event.line())
        else:
            self.bar.update(self.task, latest=event.line())


@contextlib.contextmanager
def showing(console: Console, total: int | None = None, what: str = "models") -> Iterator[PipedLines | LiveView]:
    """Show the progress of the block: ``view.step(label)`` after each of ``total`` steps (when known)."""
    if not console.is_terminal:
        view = PipedLines(console, total)
        with progress.listening(view):
            yield view
        return
    live = LiveView(console, total, what)
    with live.bar, progress.listening(live):
        yield live
