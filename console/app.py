"""The recovery console: a thin Textual shell over ``core``.

The App holds what every screen shares (the data dir, the read-only switch, the injected clock and ``now``,
the latest bundle listing with its retention verdicts, the header's freshness line, the live graph census)
and the workers that read them, and it is the one place that decides which screen comes next: screens ask it
through ``console.nav.ConsoleApp`` and never import each other. Every engine call runs in a worker: thread
workers report back with ``post_message`` only; the census is an async worker on aiosqlite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.clock import Clock
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from console.format import age_text, describe_error, location_label, neo_alerts
from console.livegraph import GraphCensus, graph_census
from console.messages import BundlesLoaded
from console.screens.base import BaseScreen
from console.screens.bundle_diff import BundleDiffScreen
from console.screens.bundles import BundlesScreen
from console.screens.compose import ComposeScreen
from console.screens.diff import DiffScreen
from console.screens.help import HelpScreen
from console.screens.restore import RestoreScreen
from console.screens.retention import RetentionScreen
from console.screens.search import SearchScreen
from console.screens.timeline import TimelineScreen
from core.bundle import BundleInfo, Listing
from core.datadir import DataDir
from core.errors import ConsoleError
from core.guard import GuardResult
from core.neo_lease import NeoLease
from core.plan import Plan
from core.receipt import RootReceipt
from core.restorability import State
from core.restore_model import RestoreOptions
from core.retention import BundleVerdict, RetentionReport
from core.safetext import visible
from core.status import default_max_age_hours, root_status
from core.substrates import RECOVERY_SUBSTRATES
from core.verify import VerifyResult
from widgets.confirm import ConfirmScreen, MessageScreen
from widgets.status_header import Freshness, HeaderState


def configured_guard_hours(dd: DataDir) -> float:
    """The guard's max age as the config sets it (`[guard] max_age`, else 24 h): what the header flags as STALE
    until the first guard answer arrives. A config the guard refuses says so in that answer; until then, 24 h."""
    try:
        return default_max_age_hours(dd)
    except ConsoleError:
        return 24.0


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
        self.retention: RetentionReport | None = None
        self.guard: GuardResult | None = None
        self.receipt: RootReceipt | None = None
        self.lease: NeoLease | None = None
        self.listing_error: str | None = None
        self.census: GraphCensus | None = None
        self.verify_results: dict[str, VerifyResult] = {}
        self.busy: str = ""  # "restore", "backup", "undo" while a write runs
        self.guard_hours = configured_guard_hours(dd)
        self.header_state = HeaderState(location=location_label(dd), readonly=readonly, loading=True)

    # ------------------------------------------------------------------ basics

    def now(self) -> datetime:
        return self._now().astimezone(UTC)

    def get_default_screen(self) -> Screen:
        return BundlesScreen()

    def on_mount(self) -> None:
        self.refresh_bundles()
        if self.dd.notice:  # the operator named the dir above .neo-ai-data: say which dir this console shows
            self.notify(self.dd.notice, title="Data dir", timeout=20, markup=False)

    def set_busy(self, what: str) -> None:
        self.busy = what
        self.header_state = dataclasses.replace(self.header_state, readonly=self.readonly, busy=what)

    # ------------------------------------------------------------------ navigation (console/nav.py)

    def open_diff(self, bundle: BundleInfo) -> None:
        self.push_screen(DiffScreen(bundle))

    def open_restore(self, bundle: BundleInfo, opts: RestoreOptions, plan: Plan, *, autostart: bool = True,
                     composition: Mapping[str, object] | None = None) -> None:
        self.push_screen(RestoreScreen(bundle.name, bundle.path, opts, plan, autostart=autostart,
                                       composition=composition))

    def open_compose(self, at: BundleInfo | None) -> None:
        self.push_screen(ComposeScreen(at))

    def open_retention(self) -> None:
        self.push_screen(RetentionScreen())

    def open_timeline(self) -> None:
        self.push_screen(TimelineScreen())

    def open_bundle_diff(self, a: BundleInfo, b: BundleInfo) -> None:
        self.push_screen(BundleDiffScreen(a, b))

    def open_search(self, bundle: BundleInfo, query: str = "") -> None:
        self.push_screen(SearchScreen(bundle, query))

    def open_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(readonly=self.readonly))

    def go_home(self) -> None:
        while len(self.screen_stack) > 1 and not isinstance(self.screen, BundlesScreen):
            self.pop_screen()

    def show_error(self, title: str, text: str) -> None:
        self.push_screen(MessageScreen(title, Text(visible(text, newlines=True)), error=True))

    # ------------------------------------------------------------------ the backup root and the live graph

    def refresh_bundles(self) -> None:
        self._load_bundles()
        self._load_census()

    @work(thread=True, exclusive=True, exit_on_error=False, group="listing", description="Reading bundles")
    def _load_bundles(self) -> None:
        # one read of the backup root answers the listing, retention and the guard
        self.post_message(BundlesLoaded(root_status(self.dd, now=self.now())))

    def on_bundles_loaded(self, message: BundlesLoaded) -> None:
        status = message.status
        self.listing = status.listing
        self.retention = status.retention
        self.guard = status.guard
        self.receipt, self.lease = status.receipt, status.lease
        self.listing_error = status.error
        if status.max_age_hours is not None:
            self.guard_hours = status.max_age_hours
        self.header_state = HeaderState(
            location=location_label(self.dd), freshness=self.freshness(), readonly=self.readonly,
            loading=False, busy=self.busy, unverified=self.listing.unverified,
            alerts=neo_alerts(status.receipt, status.lease),
        )
        self._notify_screens()

    @work(exclusive=True, exit_on_error=False, group="census", description="Counting the live graph")
    async def _load_census(self) -> None:
        # an async worker: aiosqlite does the reading on its own thread, the event loop only awaits it
        self.census = await graph_census(self.dd.graph_db)
        self._notify_screens()

    def show_census(self) -> None:
        self._census_by_label()

    @work(exclusive=True, exit_on_error=False, group="census-labels", description="Counting the live graph")
    async def _census_by_label(self) -> None:
        census = await graph_census(self.dd.graph_db, by_label=True)
        self.push_screen(MessageScreen("Live graph", census_table(self.dd, census)))

    def _notify_screens(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, BaseScreen):
                screen.data_changed()

    def freshness(self) -> tuple[Freshness, ...]:
        """Per recovery substrate, the age of the newest restorable (verified or claimed) bundle, and whether that
        copy is only claimed (its rows not read yet)."""
        now = self.now()
        out = []
        bundles = {b.name: b for b in (self.listing.bundles if self.listing is not None else ())}
        for sub in RECOVERY_SUBSTRATES:
            newest: BundleInfo | None = None
            if self.retention is not None:
                name = self.retention.substrates[sub].newest_restorable
                newest = bundles.get(name) if name is not None else None
            else:
                newest = next((b for b in bundles.values() if b.restorable(sub)), None)
            age = (now - newest.time).total_seconds() / 3600 if newest is not None else None
            if self.retention is not None:
                age = self.retention.substrates[sub].age_hours
            stale = age is None or age > self.guard_hours
            claimed = newest is not None and newest.answer(sub).state is State.CLAIMED
            out.append(Freshness(sub, None if age is None else age_text(age), stale, claimed))
        return tuple(out)

    def bundle_verdict(self, name: str) -> BundleVerdict | None:
        return self.retention.verdict(name) if self.retention is not None else None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            if event.worker.group == "listing":
                self.listing_error = describe_error(event.worker.error)
                self.header_state = HeaderState(location=location_label(self.dd), readonly=self.readonly,
                                                loading=False, busy=self.busy)
                self._notify_screens()
            self.show_error(f"{event.worker.description or event.worker.name} failed",
                            describe_error(event.worker.error))

    # ------------------------------------------------------------------ actions

    def action_help(self) -> None:
        self.open_help()

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
        yield SystemCommand("Help", "Keys, symbols and what each screen does", self.action_help)
        yield SystemCommand("Refresh bundles", "Read the backup root again", self.refresh_bundles)
        yield SystemCommand("Live graph census", "Nodes per label and edges per type in the live graph, now",
                            self.show_census)
        home = next((s for s in self.screen_stack if isinstance(s, BundlesScreen)), None)
        if home is not None and screen is home:
            yield SystemCommand("Timeline", "Every bundle's counts over time, drops marked", home.action_timeline)
            yield SystemCommand("Search in bundle", "Find records inside the selected bundle", home.action_search)
            yield SystemCommand("Retention", "Policy, verdicts, coverage timeline, prune", home.action_retention)
            yield SystemCommand("Verify bundle", "Stream the selected bundle and check every line",
                                home.action_verify)
            yield SystemCommand("Verify every unverified bundle", "Newest first, in the background (V); esc stops",
                                home.action_verify_all)
            if not self.readonly:
                yield SystemCommand("Back up now", "Take a bundle of every substrate", home.action_backup)


def census_table(dd: DataDir, census: GraphCensus) -> Table | Text:
    """The live graph per label and edge type, biggest first (labels and types are data: never markup)."""
    if census.error is not None:
        return Text(f"The live graph could not be read: {visible(census.error)}")
    if not census.exists:
        return Text(visible(f"No live graph database at {dd.graph_db}."))
    table = Table(box=None, show_header=True, padding=(0, 1), expand=True)
    table.add_column("node label")
    table.add_column("nodes", justify="right")
    table.add_column("edge type")
    table.add_column("edges", justify="right")
    labels = sorted(census.labels.items(), key=lambda kv: (-kv[1], kv[0]))
    types = sorted(census.edge_types.items(), key=lambda kv: (-kv[1], kv[0]))
    for i in range(max(len(labels), len(types))):
        label, nodes = labels[i] if i < len(labels) else ("", None)
        etype, edges = types[i] if i < len(types) else ("", None)
        table.add_row(Text(visible(label)), "" if nodes is None else f"{nodes:,}",
                      Text(visible(etype)), "" if edges is None else f"{edges:,}")
    table.add_row(Text("total", style="bold"), Text(f"{census.nodes:,}", style="bold"),
                  Text("total", style="bold"), Text(f"{census.edges:,}", style="bold"))
    return table

