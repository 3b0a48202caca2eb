"""One progress row per task: name, a ProgressBar with percentage and ETA, rows done of total, and the rate."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.clock import Clock
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


def rate_text(rate: float | None, unit: str) -> str:
    if not rate:
        return ""
    if rate >= 10_000:
        return f"{rate / 1000:,.0f}k {unit}/s"
    return f"{rate:,.0f} {unit}/s"


class TaskProgress(Horizontal):
    """``graph  ▰▰▰▰▱▱▱  54%  0:00:03  20,480/37,925  9k rows/s``. The clock is injectable for tests."""

    DEFAULT_CSS = """
    TaskProgress {
        height: 1;
        width: 100%;
    }
    TaskProgress > .task-name {
        width: 12;
        text-style: bold;
    }
    TaskProgress > ProgressBar {
        width: 1fr;
    }
    TaskProgress > ProgressBar > Bar {
        width: 1fr;
    }
    TaskProgress > .task-count {
        width: 28;
        text-align: right;
    }
    TaskProgress.-done > .task-name {
        color: $success;
    }
    TaskProgress.-stopped > .task-name {
        color: $warning;
    }
    """

    def __init__(self, task: str, *, title: str | None = None, clock: Clock | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.task_name = task
        self._title = title or task
        self._clock = clock
        self.done = 0
        self.total: int | None = None
        self.unit = "rows"
        self.rate: float | None = None
        self.state = "waiting"  # waiting | running | done | stopped | skipped

    def compose(self) -> ComposeResult:
        yield Label(Text(self._title), classes="task-name")
        yield ProgressBar(total=1, show_eta=True, clock=self._clock)  # empty until the task reports
        yield Label(Text("waiting", style="dim"), classes="task-count")

    def reset(self, title: str | None = None) -> None:
        """Back to an empty, waiting bar (a resumed run, the next job)."""
        if title is not None:
            self._title = title
            self.query_one(".task-name", Label).update(Text(title))
        self.done, self.total, self.rate, self.state = 0, None, None, "waiting"
        self.set_class(False, "-done")
        self.set_class(False, "-stopped")
        self._show_eta(True)
        self.query_one(ProgressBar).update(total=1, progress=0)
        self.query_one(".task-count", Label).update(Text("waiting", style="dim"))

    def update_progress(self, done: int, total: int | None, *, unit: str = "rows",
                        rate: float | None = None) -> None:
        self.done, self.total, self.unit, self.rate = done, total, unit, rate
        if self.state == "waiting":
            self.state = "running"
        bar = self.query_one(ProgressBar)
        self._show_eta(True)
        if total is not None:
            bar.update(total=max(total, 1), progress=min(done, max(total, 1)))
        else:
            bar.update(total=None)
        self._refresh_label()

    def finish(self, state: str = "done", note: str = "") -> None:
        """Mark the task done (bar full), stopped (bar left where it was) or skipped."""
        self.state = state
        self.set_class(state == "done", "-done")
        self.set_class(state in ("stopped", "failed"), "-stopped")
        bar = self.query_one(ProgressBar)
        self._show_eta(False)  # an ETA of a finished or stopped task means nothing
        if state == "done":
            total = self.total if self.total is not None else self.done
            bar.update(total=max(total, 1), progress=max(total, 1))
        elif self.total is None:
            bar.update(total=1, progress=0)
        self._refresh_label(note)

    def _show_eta(self, show: bool) -> None:
        for eta in self.query("#eta"):
            eta.display = show

    def _refresh_label(self, note: str = "") -> None:
        label = self.query_one(".task-count", Label)
        text = Text()
        if self.state == "skipped":
            text.append(note or "skipped", style="dim")
        else:
            text.append(f"{self.done:,}" + (f"/{self.total:,}" if self.total is not None else ""))
            if self.state == "running" and self.rate:
                text.append(f" {rate_text(self.rate, self.unit)}", style="dim")
            elif self.state == "done":
                text.append(" ✓ done" if not note else f" {note}")
            elif self.state in ("stopped", "failed"):
                text.append(f" ■ {note or self.state}", style="bold")
        label.update(text)
