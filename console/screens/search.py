"""Search inside one bundle, each hit beside its live row; mark hits and restore just those.

The search streams the bundle in a worker and stops at the limit. Restoring the marked hits writes their
selection (with the edges and Memory Core rows they need) as a bundle under the state dir and plans it, in a
worker; the confirm restates that plan; the restore then runs on the restore screen like any other, with its
journal and undo (``core.ids_restore``).
"""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from console.messages import JobCancelled, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.bundle import BundleInfo, inspect_bundle
from core.errors import ConsoleError
from core.ids_restore import Selection, select, selection_options
from core.live_scan import scan_bundle
from core.plan import Plan, build_plan
from core.progress import Cancelled
from core.restore_model import RestoreOptions
from core.safetext import visible
from core.search import SearchHit, SearchResult, parse_line, search_bundle
from widgets.confirm import ConfirmScreen
from widgets.job_progress import TaskProgress
from widgets.records import changes_text, record_text
from widgets.table import DataTable

MARK = "●"
LIVE_WORDS = {"absent": ("not live", "green"), "identical": ("live, same", "dim"),
              "different": ("live, DIFFERS", "bold yellow"), "no-target": ("no live store", "dim"),
              "unchecked": ("?", "dim")}
PLACEHOLDER = "words · label:L · type:T · collection:C · field:K=V   (enter searches)"


class SearchScreen(BaseScreen):
    SCREEN_TITLE = "Search"

    BINDINGS = [
        Binding("slash", "focus_query", "Query", key_display="/", id="query"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("R", "restore", "Restore marked…", key_display="R", id="restore"),
        Binding("escape", "back", "Back", id="back"),
        *COMMON_BINDINGS,
    ]

    def __init__(self, bundle: BundleInfo, query: str = "") -> None:
        super().__init__()
        self.bundle = bundle
        self.initial = query
        self.result: SearchResult | None = None
        self.marked: set[tuple[str, str]] = set()  # (kind, id)
        self._searching = False

    def compose(self) -> ComposeResult:
        yield self.make_header()
        title = Text()
        title.append("Search in ", style="bold")
        title.append(visible(self.bundle.name))
        yield Static(title, id="se-title", classes="screen-title")
        yield Input(value=self.initial, placeholder=PLACEHOLDER, id="se-query")
        yield Static(Text("Type what to find; each hit shows whether its id is live.", style="dim"),
                     id="se-status")
        with Vertical(id="se-job"):
            yield TaskProgress("search", title="search", clock=self.rc.clock, id="se-progress")
        yield DataTable(id="se-hits", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="se-detail"):
            yield Static(Text(""), id="se-detail-text")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        hits = self.query_one("#se-hits", DataTable)
        for col in (" ", "kind", "label / type", "id", "live"):
            hits.add_column(col, key=col)
        self.query_one("#se-job").display = False
        if self.initial:
            self.run_search(self.initial)
        else:
            self.query_one("#se-query", Input).focus()

    # ------------------------------------------------------------------ searching

    @on(Input.Submitted, "#se-query")
    def _submitted(self, event: Input.Submitted) -> None:
        self.run_search(event.value)

    def run_search(self, line: str) -> None:
        try:
            q = parse_line(line)
        except ConsoleError as exc:
            self.query_one("#se-status", Static).update(Text(visible(exc.describe()), style="bold red"))
            return
        self._searching = True
        self.marked.clear()
        self.query_one("#se-job").display = True
        self.query_one("#se-progress", TaskProgress).reset("search")
        self.query_one("#se-status", Static).update(Text("Searching…", style="dim"))
        self._search(q)

    @work(thread=True, exclusive=True, exit_on_error=False, group="search", description="Searching the bundle")
    def _search(self, q: object) -> None:
        worker = get_current_worker()
        try:
            res = search_bundle(self.rc.dd, self.bundle.path, q,  # type: ignore[arg-type]
                                on_progress=lambda p: self.post_message(JobProgressed("search", p)),
                                cancel=worker.cancelled_event)
        except Cancelled:
            self.post_message(JobCancelled("search", "stopped"))
            return
        self.post_message(JobFinished("search", res))

    def on_job_progressed(self, message: JobProgressed) -> None:
        if message.job == "search":
            p = message.progress
            self.query_one("#se-progress", TaskProgress).update_progress(p.done, p.total, unit=p.unit, rate=p.rate)

    def on_job_cancelled(self, message: JobCancelled) -> None:
        self._searching = False
        self.query_one("#se-job").display = False

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job == "search" and isinstance(message.result, SearchResult):
            self._searching = False
            self.query_one("#se-job").display = False
            self.result = message.result
            self.show()
        elif message.job == "select" and isinstance(message.result, tuple):
            sel, plan, info = message.result
            if isinstance(sel, Selection) and isinstance(plan, Plan) and isinstance(info, BundleInfo):
                self.confirm(sel, plan, info)

    def job_failed(self, group: str, error: str) -> None:
        if group in ("search", "select"):
            self._searching = False
            self.query_one("#se-job").display = False
            self.query_one("#se-status", Static).update(Text.assemble((f"{group} failed: ", "bold red"),
                                                                      visible(error)))
        super().job_failed(group, error)

    # ------------------------------------------------------------------ drawing

    def show(self) -> None:
        r = self.result
        assert r is not None
        status = Text()
        status.append(f"{r.hit_count} hit{'' if r.hit_count == 1 else 's'}", style="bold")
        if not r.complete:
            status.append(f" (stopped at {r.query.limit}; more match)", style="yellow")
        status.append(f" · {r.lines_scanned:,} lines read · space marks · R restores the marked", style="dim")
        self.query_one("#se-status", Static).update(status)
        table = self.query_one("#se-hits", DataTable)
        table.clear()
        for i, h in enumerate(r.hits):
            word, style = LIVE_WORDS.get(h.live, (h.live, ""))
            table.add_row(self.mark_cell(h), Text(h.kind), Text(visible(h.group)), Text(visible(h.id)),
                          Text(word, style=style), key=str(i))
        if r.hits:
            table.focus()
        self.show_detail()

    def mark_cell(self, h: SearchHit) -> Text:
        return Text(MARK, style="bold magenta") if (h.kind, h.id) in self.marked else Text(" ")

    def selected_hit(self) -> SearchHit | None:
        key = self.query_one("#se-hits", DataTable).cursor_row_key()
        return self.result.hits[int(key)] if self.result is not None and key is not None else None

    @on(DataTable.RowHighlighted, "#se-hits")
    def _highlighted(self) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        h = self.selected_hit()
        t = Text()
        if h is not None:
            t.append(f"{h.kind} {visible(h.group)} ", style="bold")
            t.append(visible(h.id), style="bold")
            t.append(f"  {visible(h.file)}:{h.line}, matched in {h.matched}", style="dim")
            if h.embedding_dimension is not None:
                t.append(f" · vector of {h.embedding_dimension}", style="dim")
            if h.live == "different":
                t.append("\nlive differs (a merge keeps the live row), bundle → live:\n", style="bold yellow")
                t.append_text(changes_text(h.live_changes, left="bundle", right="live"))
            t.append("\n")
            t.append_text(record_text(h.record))
        self.query_one("#se-detail-text", Static).update(t)

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restore" and (self.result is None or not self.result.hits or self.rc.busy):
            return None
        return super().check_action(action, parameters)

    def action_focus_query(self) -> None:
        self.query_one("#se-query", Input).focus()

    def action_mark(self) -> None:
        h = self.selected_hit()
        if h is None or self.result is None:
            return
        key = (h.kind, h.id)
        self.marked.symmetric_difference_update({key})
        table = self.query_one("#se-hits", DataTable)
        for i, hit in enumerate(self.result.hits):
            if (hit.kind, hit.id) == key:
                table.update_cell(str(i), " ", self.mark_cell(hit))

    def action_restore(self) -> None:
        if self.rc.readonly or self.result is None:
            return
        picked = self.marked or ({(h.kind, h.id)} if (h := self.selected_hit()) is not None else set())
        if not picked:
            return
        self.query_one("#se-status", Static).update(Text("Writing the selection and planning its restore…",
                                                         style="dim"))
        self._select(frozenset(picked))

    @work(thread=True, exclusive=True, exit_on_error=False, group="select", description="Planning the selection")
    def _select(self, wanted: frozenset[tuple[str | None, str]]) -> None:
        worker = get_current_worker()
        try:
            sel = select(self.rc.dd, self.bundle.path, wanted, cancel=worker.cancelled_event)
            opts = selection_options(sel, RestoreOptions(yes=True))
            scan = scan_bundle(self.rc.dd, sel.bundle, cancel=worker.cancelled_event)
        except Cancelled:
            return
        plan = build_plan(scan, opts.filters, opts.only_substrate)
        # the restore screen names it by where the records come from, not by the selection's folder
        info = dataclasses.replace(inspect_bundle(sel.bundle), name=f"{sel.source}: {sel.found} picked")
        self.post_message(JobFinished("select", (sel, plan, info)))

    def confirm(self, sel: Selection, plan: Plan, info: BundleInfo) -> None:
        opts = selection_options(sel, RestoreOptions(yes=True))
        g = plan.graph.totals
        body = Text()
        body.append(f"Restore {sel.found} picked id{'' if sel.found == 1 else 's'} from ", style="bold")
        body.append(visible(sel.source), style="bold")
        body.append(" (merge: every live row stays as it is)\n\n")
        body.append("picked   ", style="dim")
        body.append(sel.picked.words() + "\n")
        body.append("restores ", style="dim")
        body.append(sel.records.words() + " (edges: those touching a picked node)\n")
        if plan.graph.selected:
            orphaned = plan.graph.filter_stats.orphan_edges
            body.append("graph    ", style="dim")
            body.append(f"insert {g.would_insert:,}", style="bold green")
            body.append(f" · skip {g.already_present:,} already present · leave out {orphaned:,} edge(s) whose "
                        "other end exists nowhere\n")
        chroma = [(k, plan.collection(k)) for k in ("memories", "summaries", "kb") if plan.collection(k).selected]
        if chroma:
            body.append("chroma   ", style="dim")
            body.append(" · ".join(f"{k} +{c.would_insert:,} (skip {c.already_present:,})" for k, c in chroma))
        body.append("\n\nIts own run: journaled, and undone by its run id like any restore.", style="dim")

        def answer(yes: bool | None) -> None:
            if yes:
                self.rc.open_restore(info, opts, plan)

        self.app.push_screen(ConfirmScreen("Restore just these?", body, yes_label="Restore"), answer)
        self.query_one("#se-status", Static).update(Text("Selection planned.", style="dim"))

    def action_back(self) -> None:
        self.app.pop_screen()
