"""What every console screen shares: the status header, help and quit keys, read-only gating, worker errors."""

from __future__ import annotations

from typing import ClassVar, cast

from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from console.format import describe_error
from console.nav import ConsoleApp
from widgets.status_header import HeaderState, StatusHeader

# actions that write to the data dir; --readonly disables every one of them (shown dimmed in the footer)
WRITE_ACTIONS = frozenset({"backup", "restore", "prune", "undo", "resume"})


# every main screen ends its BINDINGS with these, so the footer lists the screen's own keys first
COMMON_BINDINGS: list[BindingType] = [
    Binding("question_mark", "app.help", "Help", key_display="?", id="help"),
    Binding("q", "app.quit", "Quit", id="quit"),
]


class BaseScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = []

    SCREEN_TITLE = "recovery console"

    @property
    def rc(self) -> ConsoleApp:
        """The app, as the one seam screens may use (console/nav.py)."""
        return cast(ConsoleApp, self.app)

    def make_header(self) -> StatusHeader:
        return StatusHeader(self.SCREEN_TITLE)

    def on_mount(self) -> None:
        self.watch(self.app, "header_state", self._header_changed, init=True)

    def _header_changed(self, state: HeaderState) -> None:
        for header in self.query(StatusHeader):
            header.state = state

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS and self.rc.readonly:
            return None  # shown dimmed: visible, but does nothing
        return True

    def data_changed(self) -> None:
        """The app re-read the backup root (listing, retention, guard) or the live census: redraw what depends
        on it."""

    def job_failed(self, group: str, error: str) -> None:
        """A worker of this screen raised; screens show the error where the job was shown."""
        self.rc.show_error(f"{group} failed", error)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.job_failed(event.worker.group, describe_error(event.worker.error))
