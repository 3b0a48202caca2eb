"""Timeline: every bundle's counts from its meta, a sparkline per series, drops marked where they happened.

The look reads metas only (``core.timeline``), in a worker. The label and edge-type views count each bundle's
graph once (a worker with progress; kept in the state dir) and answer from that record afterwards. Enter opens
a bundle's diff against live; space marks up to two rows and d diffs them, bundle against bundle.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Label, Static
from textual.worker import get_current_worker

from console.format import age_between
from console.messages import JobCancelled, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.bundle import BundleInfo
from core.progress import Cancelled
from core.safetext import visible
from core.timeline import Drop, Timeline, TimelineRow, build_timeline, lineage_text
from widgets.bars import compact
from widgets.job_progress import TaskProgress
from widgets.table import DataTable

DROP = "▼"
MARK = "●"
VIEW_WORDS = {"substrates": "substrates", "collections": "collections", "labels": "node labels",
              "edge-types": "edge types"}
SERIES_SHOWN = 6  # lines of the series panel before it scrolls


def drop_words(d: Drop) -> str:
    return "to zero" if d.to_zero else f"{d.change:.0%}"


class TimelineScreen(BaseScreen):
    SCREEN_TITLE = "Timeline"

    BINDINGS = [
        Binding("enter", "open_diff", "Diff vs live", priority=True, id="diff"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("d", "diff_marked", "Diff marked", id="diff-marked"),
        Binding("s", "view('substrates')", "Substrates", id="view-substrates"),
        Binding("c", "view('collections')", "Collections", show=False, id="view-collections"),
        Binding("l", "view('labels')", "Labels", id="view-labels"),
        Binding("e", "view('edge-types')", "Edge types", show=False, id="view-edges"),
        Binding("escape", "back", "Back", id="back"),
        *COMMON_BINDINGS,
    ]

    def __init__(self, view: str = "substrates") -> None:
        super().__init__()
        self.view = view
        self.timeline: Timeline | None = None
        self.marked: list[str] = []  # bundle names, at most two, in the order marked
        self._ready = False

    def compose(self) -> ComposeResult:
        yield self.make_header()
        yield Static(Text("Reading every bundle's meta…", style="dim"), id="tl-title", classes="screen-title")
        with VerticalScroll(id="tl-series"):
            yield Static(Text(""), id="tl-series-text")
        with Vertical(id="tl-job"):
            yield TaskProgress("count", title="count", clock=self.rc.clock, id="tl-progress")
        yield DataTable(id="tl-rows", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#tl-job").display = False
        self.query_one("#tl-rows", DataTable).focus()
        self._ready = True
        self.load()

    # ------------------------------------------------------------------ the worker

    def load(self) -> None:
        counting = self.view in ("labels", "edge-types")
        self.query_one("#tl-job").display = counting
        if counting:
            self.query_one("#tl-progress", TaskProgress).reset("count")
        self._worker(self.view)

    @work(thread=True, exclusive=True, exit_on_error=False, group="timeline", description="Reading the timeline")
    def _worker(self, view: str) -> None:
        worker = get_current_worker()
        try:
            tl = build_timeline(self.rc.dd, view=view, count=True, now=self.rc.now(),
                                on_progress=lambda p: self.post_message(JobProgressed("timeline", p)),
                                cancel=worker.cancelled_event)
        except Cancelled:
            self.post_message(JobCancelled("timeline", "counting stopped"))
            return
        self.post_message(JobFinished("timeline", tl))

    def on_job_progressed(self, message: JobProgressed) -> None:
        if message.job == "timeline":
            p = message.progress
            progress = self.query_one("#tl-progress", TaskProgress)
            progress.query_one(".task-name", Label).update(Text(visible(p.task)[:12]))
            progress.update_progress(p.done, p.total, unit=p.unit, rate=p.rate)

    def on_job_cancelled(self, message: JobCancelled) -> None:
        if message.job == "timeline":
            self.query_one("#tl-job").display = False

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job != "timeline" or not isinstance(message.result, Timeline):
            return
        self.query_one("#tl-job").display = False
        self.timeline = message.result
        self.show()

    def data_changed(self) -> None:
        if self._ready and self.timeline is not None:
            self.show()  # ages and the bundles' info for enter / d follow the new listing

    # ------------------------------------------------------------------ drawing

    def show(self) -> None:
        tl = self.timeline
        if tl is None:
            return
        head = Text()
        head.append(f"{len(tl.rows)} bundles", style="bold")
        head.append(f" · {VIEW_WORDS[tl.view]} · {DROP} drop > {tl.threshold:.0%} or to zero · space marks, "
                    "d diffs two", style="dim")
        self.query_one("#tl-title", Static).update(head)
        self.query_one("#tl-series-text", Static).update(self.series_text(tl))
        table = self.query_one("#tl-rows", DataTable)
        selected = self.selected_name()
        table.clear(columns=True)
        table.add_column(" ", key="mark")
        table.add_column("bundle", key="bundle")
        table.add_column("age", key="age")
        for s in tl.series:
            table.add_column(Text(visible(s.key)), key=f"s:{s.key}")
        table.add_column("notes", key="notes")
        now = self.rc.now()
        for r in tl.rows:
            table.add_row(self.mark_cell(r.bundle), Text(r.time.strftime("%m-%d %H:%M")),
                          Text(age_between(r.time, now), justify="right"),
                          *(self.count_cell(r, s.key) for s in tl.series), self.notes(r), key=r.bundle)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))

    def series_text(self, tl: Timeline) -> Text:
        """A line per series: its sparkline (oldest left), newest and highest count, its newest drop."""
        t = Text(no_wrap=True, overflow="ellipsis")
        width = min(16, max([len(visible(s.key)) for s in tl.series] + [5]))
        for i, s in enumerate(tl.series):
            if i:
                t.append("\n")
            key = visible(s.key)
            t.append(f"{key if len(key) <= width else key[: width - 1] + '…':<{width}} ", style="bold")
            t.append(s.sparkline, style="cyan")
            newest = s.values[0] if s.values else None
            t.append(f" {compact(newest) if newest is not None else '?':>6}")
            t.append(f" of {compact(s.high) if s.high is not None else '?':<6}", style="dim")
            drops = [d for d in tl.drops if d.series == s.key]
            if drops:
                d = drops[0]  # the newest drop of this series
                t.append(f" {DROP} {drop_words(d)} at {self.bundle_time(d.bundle)}", style="bold red")
                t.append(f" ({compact(d.before)} → {compact(d.after)})", style="red")
                if len(drops) > 1:
                    t.append(f" +{len(drops) - 1}", style="red")
        if tl.uncounted:
            t.append(f"\n{len(tl.uncounted)} bundle(s) could not be counted (unreadable graph files): ?",
                     style="yellow")
        if not tl.rows:
            t.append("No bundles yet.", style="bold yellow")
        return t

    def bundle_time(self, name: str) -> str:
        tl = self.timeline
        row = next((r for r in tl.rows if r.bundle == name), None) if tl is not None else None
        return row.time.strftime("%m-%d %H:%M") if row is not None else visible(name)

    def mark_cell(self, name: str) -> Text:
        if name not in self.marked:
            return Text(" ")
        return Text(f"{MARK}{'AB'[self.marked_order().index(name)]}", style="bold magenta")

    def marked_order(self) -> list[str]:
        """The marked bundles newest first: A is the newer (the order of the rows)."""
        tl = self.timeline
        names = [r.bundle for r in tl.rows] if tl is not None else []
        return sorted(self.marked, key=lambda n: names.index(n) if n in names else len(names))

    @staticmethod
    def count_cell(r: TimelineRow, key: str) -> Text:
        v = r.counts.get(key)
        if v is None:
            return Text("?", justify="right", style="dim")
        if key in r.drops:
            return Text(f"{compact(v)} {DROP}", justify="right", style="bold red")
        return Text(compact(v), justify="right")

    @staticmethod
    def notes(r: TimelineRow) -> Text:
        t = Text()

        def add(word: str, style: str) -> None:
            if t.plain:
                t.append(" · ", style="dim")
            t.append(word, style=style)

        if r.meta_state != "valid":
            add(f"meta {r.meta_state.upper()}", "bold red")
        elif r.drops:
            add("drop: " + ", ".join(visible(k) for k in r.drops), "bold red")
        lost = [s for s, state in r.restorable.items() if state not in ("verified", "claimed")]
        if lost and r.meta_state == "valid":
            add(f"{','.join(lost)} ✗", "bold yellow")
        lineage = lineage_text(r.capture)
        if lineage:
            add(visible(lineage), "bold magenta")
        if r.reason is not None:
            add(visible(r.reason), "magenta")
        return t

    # ------------------------------------------------------------------ actions

    def selected_name(self) -> str | None:
        return self.query_one("#tl-rows", DataTable).cursor_row_key()

    def bundle_info(self, name: str) -> BundleInfo | None:
        listing = self.rc.listing
        return next((b for b in listing.bundles if b.name == name), None) if listing is not None else None

    def action_open_diff(self) -> None:
        name = self.selected_name()
        b = self.bundle_info(name) if name is not None else None
        if b is not None:
            self.rc.open_diff(b)

    def action_mark(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        if name in self.marked:
            self.marked.remove(name)
        else:
            self.marked.append(name)
            if len(self.marked) > 2:
                self.marked.pop(0)  # the oldest mark gives way
        table = self.query_one("#tl-rows", DataTable)
        for n in [r.bundle for r in self.timeline.rows] if self.timeline is not None else []:
            table.update_cell(n, "mark", self.mark_cell(n), update_width=True)
        self.refresh_bindings()

    def action_diff_marked(self) -> None:
        if len(self.marked) != 2:
            self.notify("Mark two bundles with space first (the newer is A).", timeout=4)
            return
        a, b = (self.bundle_info(n) for n in self.marked_order())
        if a is not None and b is not None:
            self.rc.open_bundle_diff(a, b)

    def action_view(self, view: str) -> None:
        if view == self.view and self.timeline is not None and self.timeline.view == view:
            return
        self.view = view
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#tl-rows")
    def _selected(self) -> None:
        self.action_open_diff()
