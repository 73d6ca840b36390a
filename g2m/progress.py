"""Progress of long runs: what every training loop reports, and who hears it.

Training loops call `epoch` once per epoch and runs call `task` around each model they train; nothing is shown
unless a listener is installed with `listening` (the command line installs one; the library's ``verbose=True``
installs `PlainLines`). Listeners hear at most one epoch per `EPOCH_INTERVAL` seconds per process (and every
first epoch), so a loop of millisecond epochs pays nothing for it. Worker processes forward what they hear to the
parent's listener (`forwarding`, `forward_to`).

    with g2m.progress.listening(g2m.progress.PlainLines()):
        g2m.distill("cora", seeds=3)
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TextIO

EPOCH_INTERVAL = 0.25  # seconds between two epochs a listener hears (per process)


@dataclass(frozen=True)
class Event:
    """One report. ``kind``: ``"epoch"`` (a training loop finished an epoch), ``"task"`` (a model's training
    starts) or ``"note"`` (a free line, e.g. a finished fold or trial). ``best`` is the best validation score so
    far; ``val``/``best`` are None where the loop does not validate that epoch."""

    kind: str
    label: str
    epoch: int = 0
    max_epochs: int = 0
    val: float | None = None
    best: float | None = None

    def line(self) -> str:
        """The event as one plain line."""
        if self.kind != "epoch":
            return self.label
        score = "" if self.val is None else f", val {self.val:.2f} (best {self.best:.2f})"
        return f"{self.label}: epoch {self.epoch}/{self.max_epochs}{score}"


Listener = Callable[[Event], None]
_listeners: list[Listener] = []
_tasks: list[str] = []
_last_epoch = [0.0]


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """Send every report made inside the block to ``listener`` (innermost listener only)."""
    _listeners.append(listener)
    try:
        yield listener
    finally:
        _listeners.remove(listener)


def is_listened() -> bool:
    return bool(_listeners)


@contextlib.contextmanager
def task(label: str) -> Iterator[None]:
    """Name the model trained inside the block (e.g. ``"teacher sage seed 0 tran"``); its epochs carry it."""
    _tasks.append(label)
    _last_epoch[0] = 0.0  # the first epoch of every task is heard
    _send(Event("task", label))
    try:
        yield
    finally:
        _tasks.pop()


def epoch(name: str, number: int, max_epochs: int, val: float | None = None, best: float | None = None) -> None:
    """Report that epoch ``number`` (1-based) of at most ``max_epochs`` of the loop ``name`` finished."""
    if not _listeners:
        return
    now = time.monotonic()
    if number > 1 and now - _last_epoch[0] < EPOCH_INTERVAL and number != max_epochs:
        return
    _last_epoch[0] = now
    label = f"{_tasks[-1]} · {name}" if _tasks else name
    _send(Event("epoch", label, number, max_epochs, val, best))


def note(text: str) -> None:
    """Report a free line (a finished fold, a finished trial)."""
    _send(Event("note", text))


def _send(event: Event) -> None:
    if _listeners:
        _listeners[-1](event)


class PlainLines:
    """A listener that prints plain lines to ``stream`` (default stderr): every note, and the latest epoch at
    most every ``every`` seconds (a task's first epoch always), each with the time since the listener was made."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0):
        self.stream, self.every = stream, every
        self.started = time.monotonic()
        self._shown = -float("inf")
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        if event.kind == "task":  # its first epoch names it
            return
        with self._lock:
            if event.kind == "epoch":
                if now - self._shown < self.every and event.epoch > 1:
                    return
                self._shown = now
            print(f"[{now - self.started:6.0f} s] {event.line()}", file=self.stream or sys.stderr, flush=True)


def lines_if(verbose: bool) -> contextlib.AbstractContextManager:
    """The library's ``verbose=True``: `PlainLines` on stderr for the block (every 10 s); nothing otherwise."""
    return listening(PlainLines()) if verbose else contextlib.nullcontext()


@contextlib.contextmanager
def forwarding(context: Any) -> Iterator[Any]:
    """For a pool of worker processes made with multiprocessing ``context``: yields a queue to hand each worker
    (`forward_to` in its initializer) whose reports reach this process's listener; None when nobody listens."""
    if not _listeners:
        yield None
        return
    queue, listener = context.Queue(), _listeners[-1]

    def drain() -> None:
        while (event := queue.get()) is not None:
            listener(event)

    reader = threading.Thread(target=drain, name="g2m-progress", daemon=True)
    reader.start()
    try:
        yield queue
    finally:
        queue.put(None)
        reader.join(timeout=5)


def forward_to(queue: Any) -> None:
    """In a worker process: send every report to ``queue`` (from `forwarding`; nothing when it is None)."""
    if queue is not None:
        _listeners.append(queue.put)
