"""The recovery console: a thin Textual shell over ``core``.

The App holds what every screen shares (the data dir, the read-only switch, the injected clock and ``now``,
the latest bundle listing with its retention verdicts and the header's freshness line) and the one worker
that reads the backup root. Each task has its own Screen; every engine call runs in a thread worker that
reports back with ``post_message`` only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.clock import Clock
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from console.messages import BundlesLoaded
from core.bundle import Listing, list_bundles
from core.datadir import DataDir
from core.safetext import visible
from core.substrates import RECOVERY_SUBSTRATES
from widgets.confirm import ConfirmScreen, MessageScreen
from widgets.status_header import Freshness, HeaderState

DEFAULT_GUARD_HOURS = 24.0


def describe_error(exc: BaseException | None) -> str:
    """An error as the operator reads it, with any control character from the data it names made visible
    (only the guard's refusal keeps its line breaks: it is laid out on lines by design)."""
    if exc is None:
        return "unknown error"
    from core.errors import GuardRefused

    describe = getattr(exc, "describe", None)
    if callable(describe):
        return visible(describe(), newlines=isinstance(exc, GuardRefused))
    return visible(f"{type(exc).__name__}: {exc}")


def guard_max_age_hours() -> float:
    """The guard's own default max age, so the header flags exactly what `recovery-console guard` refuses."""
    try:
        from core.retention import guard
    except ImportError:
        return DEFAULT_GUARD_HOURS
    default = inspect.signature(guard).parameters.get("max_age")
    value = getattr(default, "default", None)
    if isinstance(value, timedelta):
        return value.total_seconds() / 3600
    return DEFAULT_GUARD_HOURS


def location_label(dd: DataDir) -> str:
    """The data dir as the last two path parts (``incident/.neo-ai-data``): enough to tell two apart."""
    parts = dd.root.parts
    return visible("/".join(parts[-2:]) if len(parts) >= 2 else str(dd.root))


class RecoveryApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "recovery console"

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    header_state: reactive[HeaderState] = reactive(HeaderState)

    def __init__(
        self,
        dd: DataDir,
        *,
        readonly: bool = False,
        clock: Clock | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.dd = dd
        self.readonly = readonly
        self.clock = clock
        self._now = now or (lambda: datetime.now(UTC))
        self.listing: Listing | None = None
        self.retention: dict[str, Any] | None = None
        self.guard: dict[str, Any] | None = None
        self.listing_error: str | None = None
        self.verify_results: dict[str, Any] = {}
        self.busy: str = ""  # "restoring", "backing up", ... while a write runs
        self.guard_hours = guard_max_age_hours()
        self.header_state = HeaderState(location=location_label(dd), readonly=readonly, loading=True)

    # ------------------------------------------------------------------ basics

    def now(self) -> datetime:
        return self._now().astimezone(UTC)

    def get_default_screen(self) -> Screen:
        from console.screens.bundles import BundlesScreen

        return BundlesScreen()

    def on_mount(self) -> None:
        self.refresh_bundles()
        if self.dd.notice:  # the operator named the dir above .neo-ai-data: say which dir this console shows
            self.notify(self.dd.notice, title="Data dir", timeout=20, markup=False)

    def set_busy(self, what: str) -> None:
        self.busy = what
        self.header_state = HeaderState(
            location=self.header_state.location, freshness=self.header_state.freshness,
            readonly=self.readonly, loading=self.header_state.loading, busy=what,
        )

    # ------------------------------------------------------------------ the backup root

    def refresh_bundles(self) -> None:
        self._load_bundles()

    @work(thread=True, exclusive=True, exit_on_error=False, group="listing", description="Reading bundles")
    def _load_bundles(self) -> None:
        listing = list_bundles(self.dd.backup_root, count_rows=True)
        retention = guard_json = None
        error = None
        from core.guard import guard
        from core.retention import evaluate
        from core.wire import encode

        if True:
            try:
                retention = encode(evaluate(self.dd, now=self.now(), count_rows=False))
                guard_json = encode(guard(self.dd, now=self.now()))
            except Exception as exc:  # the listing stays useful when the policy cannot be evaluated
                error = f"retention could not be evaluated: {describe_error(exc)}"
        self.post_message(BundlesLoaded(listing, retention, guard_json, error))

    def on_bundles_loaded(self, message: BundlesLoaded) -> None:
        self.listing = message.listing
        self.retention = message.retention
        self.guard = message.guard
        self.listing_error = message.error
        self.header_state = HeaderState(
            location=location_label(self.dd), freshness=self.freshness(), readonly=self.readonly,
            loading=False, busy=self.busy,
        )
        self._notify_screens()

    def _notify_screens(self) -> None:
        from console.screens.base import BaseScreen

        for screen in self.screen_stack:
            if isinstance(screen, BaseScreen):
                screen.data_changed()

    def freshness(self) -> tuple[Freshness, ...]:
        """Per recovery substrate, the age of the newest restorable bundle (neo's rule: bytes and `pass`)."""
        now = self.now()
        out = []
        max_age = (self.guard or {}).get("maxAgeHours")
        if isinstance(max_age, (int, float)):
            self.guard_hours = float(max_age)
        for sub in RECOVERY_SUBSTRATES:
            age: float | None = None
            info = ((self.retention or {}).get("substrates") or {}).get(sub)
            if isinstance(info, dict) and "ageHours" in info:
                age = info["ageHours"] if isinstance(info["ageHours"], (int, float)) else None
            elif self.listing is not None:
                for b in self.listing.bundles:
                    s = b.substrates.get(sub)
                    if s is not None and s.restorable and b.meta_state == "valid":
                        age = (now - b.time).total_seconds() / 3600
                        break
            out.append(Freshness(sub, age, self.guard_hours))
        return tuple(out)

    def bundle_verdict(self, name: str) -> dict[str, Any] | None:
        for b in (self.retention or {}).get("bundles") or []:
            if isinstance(b, dict) and b.get("name") == name:
                return b
        return None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            if event.worker.group == "listing":
                self.listing_error = describe_error(event.worker.error)
                self.header_state = HeaderState(location=location_label(self.dd), readonly=self.readonly,
                                                loading=False, busy=self.busy)
                self._notify_screens()
            self.show_error(f"{event.worker.description or event.worker.name} failed",
                            describe_error(event.worker.error))

    def show_error(self, title: str, text: str) -> None:
        self.push_screen(MessageScreen(title, Text(visible(text, newlines=True)), error=True))

    # ------------------------------------------------------------------ actions

    def action_help(self) -> None:
        from console.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(readonly=self.readonly))

    async def action_quit(self) -> None:
        if not self.busy:
            self.exit(0)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                for worker in self.workers:
                    worker.cancelled_event.set()  # engines stop between batches
                self.exit(130)

        after = {
            "backup": "Quitting cancels it: a bundle is published only when complete, so nothing half-done is "
                      "left behind. Take it again later (b, or recovery-console backup).",
            "undo": "Quitting cancels it between batches; run the same undo again later to finish it "
                    "(recovery-console undo RUN_ID).",
        }.get(self.busy, "Quitting cancels it: it stops after the current batch, leaving every store "
                         "consistent. Nothing it wrote is lost. To finish later, run the same restore again "
                         "(merge skips what is already in), or from a shell: recovery-console restore ...")
        body = Text.assemble((f"A {self.busy} is running.", "bold"), "\n\n", after)
        self.push_screen(ConfirmScreen("Quit while a job is running?", body, yes_label="Quit",
                                       no_label="Keep running", danger=True), answer)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        from console.screens.bundles import BundlesScreen

        yield SystemCommand("Help", "Keys, symbols and what each screen does", self.action_help)
        yield SystemCommand("Refresh bundles", "Read the backup root again", self.refresh_bundles)
        home = next((s for s in self.screen_stack if isinstance(s, BundlesScreen)), None)
        if home is not None and screen is home:
            yield SystemCommand("Retention", "Policy, verdicts, coverage timeline, prune", home.action_retention)
            yield SystemCommand("Verify bundle", "Stream the selected bundle and check every line",
                                home.action_verify)
            if not self.readonly:
                yield SystemCommand("Back up now", "Take a bundle of every substrate", home.action_backup)
