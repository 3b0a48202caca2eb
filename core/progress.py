"""Progress events and cooperative cancellation shared by every long operation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Progress:
    """One progress report. ``total`` is None while unknown."""

    task: str
    done: int
    total: int | None = None
    unit: str = "rows"
    bytes_done: int = 0
    message: str = ""
    rate: float | None = None  # units per second since the task started
    # a snapshot of running counters, e.g. {"nodes": {"CONCEPT": {"inserted": 3, ...}}}, for live views
    counters: Mapping[str, object] | None = None


ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    return None


class Cancelled(Exception):
    """Raised between batches when the cancel token is set."""


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled by the operator")


@dataclass
class Ticker:
    """Rate-limits progress callbacks so a 1M-row loop does not flood the UI."""

    task: str
    total: int | None
    on_progress: ProgressFn
    unit: str = "rows"
    interval: float = 0.1
    started: float = field(default_factory=time.monotonic)
    _last: float = 0.0

    def update(self, done: int, *, bytes_done: int = 0, message: str = "", force: bool = False,
               counters: Mapping[str, object] | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else None
        self.on_progress(
            Progress(self.task, done, self.total, self.unit, bytes_done, message, rate, counters)
        )
