"""Diff / plan: what a restore of one bundle would do, per label and edge type, recounted on every tick.

The one slow pass (``core.plan.scan_bundle``) runs in a thread worker; after it, ``build_plan`` is in-memory
and instant, so every checkbox tick recounts the whole plan on the UI thread. Enter on a label or edge type whose
present rows differ from live lists them (``core.collisions``, in a worker), a page at a time, and one of them live
beside the bundle, field by field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Footer,
    Input,
    RadioButton,
    RadioSet,
    SelectionList,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.selection_list import Selection
from textual.worker import get_current_worker

from console.format import describe_error, location_label
from console.messages import GuardChecked, JobCancelled, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.browse import EDGE, NODE
from core.bundle import BundleInfo
from core.collisions import PAGE, CollidingPage, CollidingRow, Collision, colliding_rows, collision
from core.command_line import CommandLine, restore_command
from core.datadir import DataDir
from core.guard import guard
from core.live_scan import CollectionScan
from core.plan import EdgeTypeRow, Filters, FlatPlan, LabelRow, Plan, Scan, build_plan, scan_bundle
from core.presets import PRESETS
from core.progress import Cancelled
from core.restore_model import RestoreOptions
from core.safetext import visible
from core.substrates import BACKED_UP, FLAT_TARGETS, PLAN_COLLECTIONS, TEMPORAL
from widgets.bars import legend, split_bar
from widgets.command_bar import CommandBar, copy_command
from widgets.confirm import ConfirmScreen, MessageScreen
from widgets.job_progress import TaskProgress
from widgets.records import changes_text, record_text
from widgets.table import DataTable
from widgets.toggles import CheckList, Radio

# the substrates a restore can select, in the order the Options tab lists them
SUBSTRATES = BACKED_UP
SUBSTRATE_HELP = {"kb": "knowledge base (Chroma)", "mc": "the memory collections",
                  "graph": "native graph (SQLite)", "concepts": "concept files", "trajectories": "RLAIF file",
                  "mailbox": "sent-to-cull file", "ledgers": "neo's incident ledgers"}
CHROMA = tuple(c.key for c in PLAN_COLLECTIONS)


def chroma_keys(collections: Mapping[str, CollectionScan]) -> tuple[str, ...]:
    """The collections the Chroma tab lists: temporal summaries only when the bundle or the live store has some
    (neo's backup does not export them yet: a row of zeros on every bundle would say nothing)."""
    return tuple(k for k in CHROMA if k != TEMPORAL.key or collections[k].backup or collections[k].live)


def num(value: int) -> Text:
    return Text(f"{value:,}", justify="right")


def differs(value: int) -> Text:
    """The present rows whose live row holds other content: loud when there are some."""
    return Text(f"{value:,}", justify="right", style="bold yellow" if value else "")


def wide_edges(width: int) -> bool:
    """The edge table has room for its bar beside the differs column (at 80 columns it has not)."""
    return width >= 100


def flat_text(value: FlatPlan | None) -> Text:
    """A flat substrate's plan entry in words: copy / skip / overwrite counts, or why nothing happens."""
    if value is None:
        return Text("?")
    if not value.selected:
        return Text("not selected", style="dim")
    parts: list[tuple[str, str]] = []
    overwrite = sum(1 for f in value.files if f.action == "overwrite")
    copy = value.would_copy - overwrite
    if copy > 0:
        parts.append((f"copy {copy} file(s)", "green"))
    if overwrite:
        parts.append((f"OVERWRITE {overwrite} file(s)", "bold red"))
    if value.would_skip:
        parts.append((f"skip {value.would_skip} (present live)", ""))
    if value.note:
        parts.append((visible(value.note), "dim"))
    if not parts:
        parts.append(("nothing to do", "dim"))
    text = Text()
    for i, (word, style) in enumerate(parts):
        if i:
            text.append(" · ", style="dim")
        text.append(word, style=style)
    return text


class DiffScreen(BaseScreen):
    SCREEN_TITLE = "Diff"

    BINDINGS = [
        Binding("R", "restore", "Restore…", key_display="R", id="restore"),
        Binding("m", "toggle_mode", "Mode", id="mode"),
        Binding("y", "copy_command", "Copy", id="copy-command", tooltip="Copy the equivalent command (OSC 52)"),
        Binding("3", "preset('incident default')", "Incident", id="preset-incident"),
        Binding("1", "preset('filesystem mirror')", "Filesystem mirror", show=False),
        Binding("2", "preset('gap noise')", "Gap noise", show=False),
        Binding("0", "preset('none')", "No filters", show=False),
        Binding("right_square_bracket", "tab(1)", "Next tab", key_display="]", show=False),
        Binding("left_square_bracket", "tab(-1)", "Previous tab", key_display="[", show=False),
        Binding("escape", "back", "Back", id="back"),
        *COMMON_BINDINGS,
    ]

    def __init__(self, bundle: BundleInfo) -> None:
        super().__init__()
        self.bundle = bundle
        self.scan: Scan | None = None
        self.plan: Plan | None = None
        self.plan_error: str | None = None
        self.mode = "merge"
        self._suspend = False  # no recount while a preset ticks many boxes
        self._chroma_keys: tuple[str, ...] = CHROMA
        self._label_keys: list[str] = []
        self._type_keys: list[str] = []
        self._recount_pending = False
        self._had_plan = False
        self._cells: dict[tuple[str, str, str], str] = {}  # (table, row, column) -> plain text shown
        self._edge_columns: tuple[str, ...] = ()
        self._awaiting_guard: tuple[ConfirmScreen, RestoreOptions] | None = None  # the replace dialog

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield self.make_header()
        title = Text()
        title.append("Plan ", style="bold")
        title.append(visible(self.bundle.name))
        title.append(" → live", style="dim")
        if self.bundle.meta_state != "valid":
            title.append(f"  meta {self.bundle.meta_state.upper()}", style="bold red")
        if self.bundle.reason is not None:
            title.append(f"  ({visible(self.bundle.reason)})", style="magenta")
        yield Static(title, id="diff-title", classes="screen-title")
        yield Static(Text("Scanning…", style="dim"), id="totals")
        yield CommandBar(id="command", hint="")
        with Vertical(id="scan"):
            yield TaskProgress("scan", title="scan", clock=self.rc.clock, id="scan-progress")
            yield Static(Text("One pass over the bundle's graph against the live DB; after it, every filter "
                              "change recounts instantly.", style="dim"), id="scan-status")
        with TabbedContent(id="tabs"):
            with TabPane("Labels", id="tab-labels"):
                yield Static(legend(("insert", "present", "filtered")), classes="legend")
                yield DataTable(id="labels", cursor_type="row", zebra_stripes=True)
            with TabPane("Edge types", id="tab-edges"):
                if wide_edges(self.app.size.width or 80):
                    yield Static(legend(("insert", "present", "filtered", "orphaned")), classes="legend")
                yield DataTable(id="edges", cursor_type="row", zebra_stripes=True)
            with TabPane("Filters", id="tab-filters"), Horizontal(id="filters"):
                with Vertical(id="presets"):
                    yield Static(Text("Presets", style="bold"))
                    yield Button("1 filesystem mirror", id="preset-filesystem-mirror", compact=True)
                    yield Button("2 gap noise", id="preset-gap-noise", compact=True)
                    yield Button("3 incident default", id="preset-incident-default", compact=True)
                    yield Button("0 none", id="preset-none", compact=True)
                    yield Static(Text("Ticked = left out of the restore. Edges to a left-out node are "
                                      "kept when the node exists live (neo's orphan rule).", style="dim"),
                                 id="filters-help")
                with Vertical(classes="filter-col"):
                    yield Static(Text("Labels to leave out", style="bold"))
                    yield CheckList[str](id="filter-labels")
                with Vertical(classes="filter-col"):
                    yield Static(Text("Edge types to leave out", style="bold"))
                    yield CheckList[str](id="filter-edges")
            with TabPane("Chroma & files", id="tab-chroma"), VerticalScroll():
                yield Static(Text("Chroma collections: merge adds only the ids missing live", style="bold"))
                yield DataTable(id="chroma", cursor_type="none", show_cursor=False)
                yield Static(Text("Flat files: copied only when absent live (replace overwrites)",
                                  style="bold"), id="flat-title")
                yield DataTable(id="flat", cursor_type="none", show_cursor=False)
                yield Static(Text(""), id="plan-notes")
            with TabPane("Options", id="tab-options"), VerticalScroll(id="options"):
                with Horizontal(id="options-top"):
                    with Vertical(id="substrates-col"):
                        yield Static(Text("Substrates to restore", style="bold"))
                        yield CheckList[str](
                            *(Selection(Text.assemble(s, (f"  {SUBSTRATE_HELP[s]}", "dim")), s, True)
                              for s in SUBSTRATES),
                            id="substrates",
                        )
                    with Vertical(id="mode-col"):
                        yield Static(Text("Mode", style="bold"))
                        with RadioSet(id="mode"):
                            yield Radio(Text("merge: keep every live row"), value=True, id="mode-merge")
                            yield Radio(Text("replace: truncate, then load"), id="mode-replace")
                        yield CheckList[str](
                            Selection(Text("keep read receipts (replace)"), "preserve-read-state", False),
                            id="read-state",
                        )
                with Horizontal(id="hook-row"):
                    with Vertical(id="hook-col"):
                        yield Static(Text("Post-restore hook", style="bold"))
                        with RadioSet(id="hook"):
                            yield Radio(Text("none"), value=True, id="hook-none")
                            yield Radio(Text("filesystem-ingestor"), id="hook-filesystem-ingestor")
                    with Vertical(id="workspace-col"):
                        yield Static(Text("Workspace (for the hook)", style="bold"))
                        yield Input(placeholder="path to the neo.mjs checkout", id="workspace")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        labels = self.query_one("#labels", DataTable)
        for col in ("label", "backup", "live", "present", "differs", "insert", "filtered", "bar"):
            labels.add_column(col, key=col)
        edges = self.query_one("#edges", DataTable)
        self._edge_columns = ("backup", "live", "present", "differs", "insert", "filtered", "orphan",
                              *(("bar",) if wide_edges(self.app.size.width or 80) else ()))
        for col in ("edge type", *self._edge_columns):
            edges.add_column(col, key=col)
        chroma = self.query_one("#chroma", DataTable)
        for col in ("collection", "backup", "live", "present", "differs", "insert", "bar"):
            chroma.add_column(col, key=col)
        flat = self.query_one("#flat", DataTable)
        flat.add_column("substrate", key="substrate")
        flat.add_column("plan", key="plan", width=max(30, (self.app.size.width or 80) - 22))
        self.query_one("#tabs").display = False
        self.query_one("#workspace", Input).disabled = True
        self._scan_worker()

    # ------------------------------------------------------------------ the scan

    @work(thread=True, exclusive=True, exit_on_error=False, group="scan", description="Scanning the bundle")
    def _scan_worker(self) -> None:
        worker = get_current_worker()
        try:
            scan = scan_bundle(self.rc.dd, self.bundle.path,
                               on_progress=lambda p: self.post_message(JobProgressed("scan", p)),
                               cancel=worker.cancelled_event)
        except Cancelled:
            self.post_message(JobCancelled("scan", "scan stopped"))
            return
        self.post_message(JobFinished("scan", scan))

    def on_job_progressed(self, message: JobProgressed) -> None:
        if message.job == "scan":
            p = message.progress
            self.query_one("#scan-progress", TaskProgress).update_progress(p.done, p.total, unit=p.unit,
                                                                           rate=p.rate)

    def on_job_cancelled(self, message: JobCancelled) -> None:
        if message.job == "scan":
            self.query_one("#scan-progress", TaskProgress).finish("stopped", note="cancelled")

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job != "scan" or not isinstance(message.result, Scan):
            return
        self.scan = message.result
        self.query_one("#scan-progress", TaskProgress).finish("done")
        self._first_plan()

    def job_failed(self, group: str, error: str) -> None:
        if group == "scan":
            self.query_one("#scan-progress", TaskProgress).finish("failed", note="FAILED")
            self.query_one("#scan-status", Static).update(
                Text.assemble(("The bundle could not be scanned: ", "bold red"), visible(error),
                              "\nNothing was changed. esc goes back."))
            self.query_one("#totals", Static).update(Text("No plan: the scan failed.", style="bold red"))
        super().job_failed(group, error)

    def _first_plan(self) -> None:
        assert self.scan is not None
        first = build_plan(self.scan, Filters())
        label_rows: Mapping[str, LabelRow] = first.graph.labels
        type_rows: Mapping[str, LabelRow] = first.graph.edge_types
        # biggest first: what an operator decides about is at the top
        self._label_keys = sorted(label_rows, key=lambda k: (-label_rows[k].backup, str(k)))
        self._type_keys = sorted(type_rows, key=lambda k: (-type_rows[k].backup, str(k)))
        self._suspend = True
        fl = self.query_one("#filter-labels", SelectionList)
        fl.clear_options()
        fl.add_options([Selection(self._prompt(k, label_rows[k]), k, False) for k in self._label_keys])
        fe = self.query_one("#filter-edges", SelectionList)
        fe.clear_options()
        fe.add_options([Selection(self._prompt(k, type_rows[k]), k, False) for k in self._type_keys])
        for lst in (fl, fe):  # as a list built with its options: space ticks the first row at once
            if lst.option_count and lst.highlighted is None:
                lst.highlighted = 0
        labels = self.query_one("#labels", DataTable)
        labels.clear()
        for k in self._label_keys:
            labels.add_row(*([Text(visible(k))] + [Text("")] * 7), key=f"n:{k}")
        edges = self.query_one("#edges", DataTable)
        edges.clear()
        for k in self._type_keys:
            edges.add_row(*([Text(visible(k))] + [Text("")] * len(self._edge_columns)), key=f"e:{k}")
        chroma = self.query_one("#chroma", DataTable)
        chroma.clear()
        self._chroma_keys = chroma_keys(self.scan.collections)
        for k in self._chroma_keys:
            chroma.add_row(*([Text(k)] + [Text("")] * 6), key=f"c:{k}")
        self._suspend = False
        self.query_one("#scan").display = False
        self.query_one("#tabs").display = True
        self.recount()
        self.query_one("#labels", DataTable).focus()

    @staticmethod
    def _prompt(key: str, row: LabelRow) -> Text:
        return Text.assemble(visible(key), (f" {row.backup:,}", "dim"))

    # ------------------------------------------------------------------ the plan

    def filters(self) -> tuple[frozenset[str], frozenset[str]]:
        labels = frozenset(self.query_one("#filter-labels", SelectionList).selected)
        types = frozenset(self.query_one("#filter-edges", SelectionList).selected)
        return labels, types

    def only_substrate(self) -> list[str] | None:
        chosen = list(self.query_one("#substrates", SelectionList).selected)
        if set(chosen) == set(SUBSTRATES):
            return None
        return [s for s in SUBSTRATES if s in chosen]

    def hook(self) -> str | None:
        pressed = self.query_one("#hook", RadioSet).pressed_button
        if pressed is None or pressed.id == "hook-none":
            return None
        return "filesystem-ingestor"

    def workspace(self) -> str | None:
        value = self.query_one("#workspace", Input).value.strip()
        return value or None

    def recount(self) -> None:
        if self.scan is None or self._suspend:
            return
        labels, types = self.filters()
        try:
            self.plan = build_plan(self.scan, Filters(labels, types), only_substrate=self.only_substrate(),
                                   mode=self.mode, force=self.mode == "replace")
            self.plan_error = None
        except Exception as exc:
            self.plan = None
            self.plan_error = describe_error(exc)
        self._show_totals()
        self._show_command()
        self._show_tables()
        has_plan = self.plan is not None
        if has_plan != self._had_plan:  # the footer recomposes on refresh: only when restore's state flips
            self._had_plan = has_plan
            self.refresh_bindings()

    def _show_totals(self) -> None:
        totals = self.query_one("#totals", Static)
        if self.plan_error or self.plan is None:
            totals.update(Text.assemble(("No plan: ", "bold red"), visible(self.plan_error or "none")))
            return
        t = self.plan.graph.totals
        line = Text()
        line.append("graph ", style="dim")
        line.append("would insert ", style="bold")
        line.append(f"{t.would_insert:,}", style="bold green")
        line.append("  already present ", style="dim")
        line.append(f"{t.already_present:,}", style="bold")
        line.append("  filtered out ", style="dim")
        line.append(f"{t.filtered_out:,}", style="bold yellow")
        line.append("\nchroma ", style="dim")
        for i, key in enumerate(self._chroma_keys):
            if i:
                line.append("  ")
            line.append(f"{key} +{self.plan.collection(key).would_insert:,}")
        line.append("   mode ", style="dim")
        line.append(self.mode.upper() if self.mode == "replace" else self.mode,
                    style="bold reverse red" if self.mode == "replace" else "bold")
        only = self.only_substrate()
        if only is not None:
            line.append("  only ", style="dim")
            line.append(",".join(only) if only else "NOTHING", style="bold yellow")
        differ = [("graph", t.already_present_differs)] + [(k, self.plan.collection(k).already_present_differs)
                                                           for k in self._chroma_keys]
        if any(n for _k, n in differ):
            line.append("\ndiffer from live ", style="dim")
            line.append("  ".join(f"{k} {n:,}" for k, n in differ if n), style="bold yellow")
            line.append("  merge keeps the live rows; enter lists them", style="dim")
        totals.update(line)

    def equivalent_command(self) -> CommandLine | None:
        """The headless restore this plan describes (what the confirm dialog and the copy key give)."""
        if self.plan is None:
            return None
        return restore_command(self.rc.dd, self.bundle.path, self.restore_options())

    def _show_command(self) -> None:
        self.query_one("#command", CommandBar).show(self.equivalent_command())

    def action_copy_command(self) -> None:
        copy_command(self.app, self.equivalent_command(), self.query_one("#command", CommandBar))

    def _set(self, table: DataTable, row: str, col: str, cell: Text) -> None:
        key = (str(table.id), row, col)
        if self._cells.get(key) == cell.plain and key[2] != "bar":
            return
        if key[2] == "bar" and self._cells.get(key) == cell.plain + repr(cell.spans):
            return
        self._cells[key] = cell.plain if col != "bar" else cell.plain + repr(cell.spans)
        table.update_cell(row, col, cell, update_width=True)

    def _show_tables(self) -> None:
        plan = self.plan
        label_rows: Mapping[str, LabelRow] = plan.graph.labels if plan else {}
        type_rows: Mapping[str, EdgeTypeRow] = plan.graph.edge_types if plan else {}
        none, no_edge = LabelRow(), EdgeTypeRow()  # what a row shows without a plan: zeros
        wide = (self.app.size.width or 80) >= 100
        bar_w = 10 if wide else 7
        label_bar_w = 10 if wide else 4  # at 80 columns the label table's bar leaves room for the differs column
        labels = self.query_one("#labels", DataTable)
        scale = max([r.backup for r in label_rows.values()] or [1])
        for k in self._label_keys:
            r = label_rows.get(k, none)
            cells = [num(r.backup), num(r.live), num(r.already_present), differs(r.already_present_differs),
                     num(r.would_insert), num(r.filtered),
                     split_bar([("insert", r.would_insert), ("present", r.already_present),
                                ("filtered", r.filtered)], scale, label_bar_w)]
            for col, cell in zip(("backup", "live", "present", "differs", "insert", "filtered", "bar"), cells,
                                 strict=True):
                self._set(labels, f"n:{k}", col, cell)
        edges = self.query_one("#edges", DataTable)
        scale = max([r.backup for r in type_rows.values()] or [1])
        for k in self._type_keys:
            e = type_rows.get(k, no_edge)
            cells = [num(e.backup), num(e.live), num(e.already_present), differs(e.already_present_differs),
                     num(e.would_insert), num(e.filtered), num(e.orphaned),
                     split_bar([("insert", e.would_insert), ("present", e.already_present), ("filtered", e.filtered),
                                ("orphaned", e.orphaned)], scale, bar_w)]
            for col, cell in zip(self._edge_columns, cells, strict=False):  # the bar only when it fits
                self._set(edges, f"e:{k}", col, cell)
        chroma = self.query_one("#chroma", DataTable)
        collections = {k: plan.collection(k) for k in self._chroma_keys} if plan else {}
        scale = max([c.backup for c in collections.values()] or [1])
        for k in self._chroma_keys:
            c = collections.get(k)
            backup, live, present, differ, insert = (c.backup, c.live, c.already_present, c.already_present_differs,
                                                     c.would_insert) if c else (0, 0, 0, 0, 0)
            cells = [num(backup), num(live), num(present), differs(differ), num(insert),
                     split_bar([("insert", insert), ("present", present)], scale, bar_w)]
            for col, cell in zip(("backup", "live", "present", "differs", "insert", "bar"), cells, strict=True):
                self._set(chroma, f"c:{k}", col, cell)
        flat = self.query_one("#flat", DataTable)
        flat.clear()
        for k, v in (plan.flat if plan else {}).items():
            flat.add_row(Text(visible(k)), flat_text(v), key=f"f:{k}", height=None)
        notes = Text()
        divergent = plan.kb.natural_key_divergent if plan else None
        if divergent:
            notes.append(f"kb: {divergent:,} bundle row(s) share a natural key with a "
                         "different live id: a merge of kb is refused (neo's divergence rule); restore without "
                         "kb or use replace.\n", style="bold yellow")
        for w in plan.warnings if plan else ():
            notes.append(f"note: {visible(w)}\n", style="yellow")
        self.query_one("#plan-notes", Static).update(notes)

    # ------------------------------------------------------------------ events

    @on(SelectionList.SelectedChanged, "#filter-labels, #filter-edges, #substrates")
    def _ticked(self) -> None:
        # a preset ticks many boxes at once: coalesce their messages into one recount
        if not self._recount_pending:
            self._recount_pending = True
            self.call_later(self._deferred_recount)

    def _deferred_recount(self) -> None:
        self._recount_pending = False
        self.recount()

    @on(RadioSet.Changed, "#mode")
    def _mode_changed(self, event: RadioSet.Changed) -> None:
        self.mode = "replace" if event.pressed.id == "mode-replace" else "merge"
        self.recount()

    @on(RadioSet.Changed, "#hook")
    def _hook_changed(self, event: RadioSet.Changed) -> None:
        self.query_one("#workspace", Input).disabled = event.pressed.id == "hook-none"
        self._show_command()

    @on(Input.Changed, "#workspace")
    def _workspace_changed(self) -> None:
        self._show_command()

    @on(Button.Pressed, "#presets Button")
    def _preset_button(self, event: Button.Pressed) -> None:
        name = (event.button.id or "").removeprefix("preset-").replace("-", " ")
        self.action_preset(name)

    def apply_filters(self, labels: Iterable[str], types: Iterable[str]) -> None:
        """Tick exactly these (names absent from the bundle are ignored: they have nothing to filter)."""
        want_l, want_t = set(labels), set(types)
        self._suspend = True
        try:
            fl = self.query_one("#filter-labels", SelectionList)
            fe = self.query_one("#filter-edges", SelectionList)
            fl.deselect_all()
            fe.deselect_all()
            for k in self._label_keys:
                if k in want_l:
                    fl.select(k)
            for k in self._type_keys:
                if k in want_t:
                    fe.select(k)
        finally:
            self._suspend = False
        self.recount()

    def action_preset(self, name: str) -> None:
        if self.scan is None or name not in PRESETS:
            return
        self.apply_filters(PRESETS[name].labels, PRESETS[name].edge_types)

    def action_toggle_mode(self) -> None:
        rs = self.query_one("#mode", RadioSet)
        target = "mode-merge" if self.mode == "replace" else "mode-replace"
        self.query_one(f"#{target}", RadioButton).value = True
        rs.refresh()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        if not tabs.display:
            return
        ids = ["tab-labels", "tab-edges", "tab-filters", "tab-chroma", "tab-options"]
        current = tabs.active if tabs.active in ids else ids[0]
        # drop focus first: a focused widget in the pane being hidden would pull focus (and with it the
        # active tab) somewhere else; the activated pane then focuses its own main widget
        self.set_focus(None)
        tabs.active = ids[(ids.index(current) + step) % len(ids)]

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # keys act on what is shown: focus the pane's main widget
        target = {"tab-labels": "#labels", "tab-edges": "#edges", "tab-filters": "#filter-labels",
                  "tab-chroma": "#chroma", "tab-options": "#substrates"}.get(event.pane.id or "")
        if target:
            self.call_after_refresh(self.query_one(target).focus)

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowSelected, "#labels, #edges")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a label or edge type: its present rows whose live row holds other content."""
        key = str(event.row_key.value or "")
        if self.plan is None or key[:2] not in ("n:", "e:"):
            return
        kind, group = (NODE, key[2:]) if key.startswith("n:") else (EDGE, key[2:])
        rows: Mapping[str, LabelRow] = self.plan.graph.labels if kind == NODE else self.plan.graph.edge_types
        row = rows.get(group)
        if row is None or not row.already_present_differs:
            self.notify("No present row of this one differs from live (enter lists those that do).", timeout=4)
            return
        self.app.push_screen(DifferingRowsScreen(self.rc.dd, self.bundle.path, kind, group, row.already_present_differs))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restore" and (self.plan is None or self.rc.busy):
            return None
        if action in ("preset", "toggle_mode") and self.scan is None:
            return None
        if action == "copy_command" and self.plan is None:
            return None
        return super().check_action(action, parameters)

    # ------------------------------------------------------------------ restore

    def restore_options(self) -> RestoreOptions:
        labels, types = self.filters()
        ws = self.workspace()
        return RestoreOptions(
            mode=self.mode, force=self.mode == "replace", yes=True, filters=Filters(labels, types),
            only_substrate=self.only_substrate(), post_restore_hook=self.hook(),
            workspace=Path(ws).expanduser() if ws else None, preserve_read_state=self.preserve_read_state(),
        )

    def preserve_read_state(self) -> bool:
        """neo's --preserve-read-state: only a replace truncates the graph, so only a replace asks for it."""
        ticked = "preserve-read-state" in self.query_one("#read-state", SelectionList).selected
        return ticked and self.mode == "replace"

    def action_restore(self) -> None:
        if self.rc.readonly or self.plan is None or self.rc.busy:
            return
        hook = self.hook()
        if hook is not None and not self.workspace():
            self.rc.show_error("Workspace needed",
                               "The filesystem-ingestor hook walks a workspace: type its path in Options "
                               "(or choose no hook). Nothing was changed.")
            return
        opts = self.restore_options()
        cmd = self.equivalent_command()
        if self.mode == "merge":
            dialog = ConfirmScreen("Restore with this plan?", self._confirm_body(opts), yes_label="Restore",
                                   command=cmd)
        else:
            # the guard reads the backup root: it runs in a worker, and the dialog (open at once, Replace
            # disabled) shows its answer when it arrives
            dialog = ConfirmScreen("REPLACE live data?", self._confirm_body(opts), yes_label="Replace",
                                   danger=True, require_typed=self.rc.dd.root.name, yes_enabled=False,
                                   command=cmd)
            self._awaiting_guard = (dialog, opts)
            self._guard_worker(self.rc.now())
        self.app.push_screen(dialog, lambda yes: self._confirmed(yes, opts))

    def _confirm_body(self, opts: RestoreOptions, guard_answer: tuple[bool, str] | None = None) -> Text:
        """The plan restated for the confirm dialog; a replace's says what the backup guard answered (or that
        it is still checking: ``guard_answer`` None)."""
        assert self.plan is not None  # the restore key needs a plan
        plan = self.plan
        t = plan.graph.totals
        labels, types = self.filters()
        only = self.only_substrate()
        subs = list(SUBSTRATES) if only is None else only
        body = Text()
        if self.mode == "replace":
            # what is at stake first: the dialog may scroll at 80x24
            body.append("REPLACE truncates ", style="bold red")
            body.append(", ".join(subs) or "nothing", style="bold")
            body.append(" in ", style="bold red")
            body.append(location_label(self.rc.dd), style="bold")
            body.append(", then loads the bundle: rows written live since the backup are lost.\n",
                        style="bold red")
            body.append("First it takes a safety bundle of every substrate it replaces (reason pre-restore) in ")
            body.append(visible(f"{self.rc.dd.backup_root.name}/"), style="bold")
            body.append("; restoring that bundle undoes this.\n")
            if guard_answer is None:
                body.append("Checking the backup guard…\n", style="bold yellow")
            elif not guard_answer[0]:
                body.append("The backup guard refuses a replace now:\n", style="bold red")
                body.append(visible(guard_answer[1], newlines=True) + "\n")
                body.append("Take a fresh backup first (b on the bundles screen).\n", style="bold")
            body.append("\n")
        body.append("Restore ", style="bold")
        body.append(visible(self.bundle.name), style="bold")
        body.append(" into ")
        body.append(location_label(self.rc.dd), style="bold")
        body.append(f" ({self.mode})\n\n")
        if "graph" in subs:
            body.append("graph   ", style="dim")
            body.append(f"insert {t.would_insert:,}", style="bold green")
            body.append(f" · skip {t.already_present:,} already present · leave out {t.filtered_out:,}\n")
            if t.already_present_differs:  # what preserve-live keeps, said before the operator says yes
                body.append("keeps   ", style="dim")
                body.append(f"{t.already_present_differs:,} live row(s) that differ from the bundle's, as they are\n",
                            style="yellow")
            body.append("filters ", style="dim")
            body.append("labels " + (visible(", ".join(sorted(labels))) or "none"))
            body.append("; edge types " + (visible(", ".join(sorted(types))) or "none") + "\n")
        chroma = [c.key for c in PLAN_COLLECTIONS if c.substrate in subs and c.key in self._chroma_keys]
        if chroma:
            body.append("chroma  ", style="dim")
            body.append(" · ".join(f"{k} +{plan.collection(k).would_insert:,}" for k in chroma) + "\n")
        flat = [s for s in FLAT_TARGETS if s in subs]
        if flat:
            body.append("files   ", style="dim")
            body.append(" · ".join(f"{s} {flat_text(plan.flat.get(s)).plain}" for s in flat) + "\n")
        body.append("only    ", style="dim")
        body.append(", ".join(subs) if subs else "NOTHING (restores nothing)")
        if opts.preserve_read_state and "graph" in subs:
            body.append("\nreceipts", style="dim")
            body.append(" live DELIVERED_TO readAt/archivedAt put back after the graph replace")
        body.append("\nhook    ", style="dim")
        body.append(visible(f"{opts.post_restore_hook} on {opts.workspace}") if opts.post_restore_hook else "none")
        if self.mode == "merge":
            body.append("\n\nMerge keeps every live row untouched. You can cancel between batches and resume by "
                        "running the same restore again.", style="dim")
        return body

    @work(thread=True, exclusive=True, exit_on_error=False, group="guard", description="Backup guard")
    def _guard_worker(self, now: datetime) -> None:
        try:
            g = guard(self.rc.dd, now=now)
        except Exception as exc:
            self.post_message(GuardChecked(False, describe_error(exc)))
            return
        self.post_message(GuardChecked(bool(g.ok), visible(g.message, newlines=True), read=bool(g.reads)))

    def on_guard_checked(self, message: GuardChecked) -> None:
        if message.read:
            self.rc.refresh_bundles()  # the guard verified a bundle: every look can say so now
        if self._awaiting_guard is None:
            return
        dialog, opts = self._awaiting_guard
        self._awaiting_guard = None
        if dialog in self.app.screen_stack:  # still open: the operator has not answered it yet
            dialog.update(self._confirm_body(opts, (message.ok, message.text)), yes_enabled=message.ok)

    def _confirmed(self, yes: bool | None, opts: RestoreOptions) -> None:
        self._awaiting_guard = None
        if yes and self.plan is not None:
            self.rc.open_restore(self.bundle, opts, self.plan)


class DifferingRowsScreen(ModalScreen[None]):
    """The present rows of one label or edge type whose live row holds other content, a page at a time; enter
    shows one of them live beside the bundle, field by field."""

    DEFAULT_CSS = """
    DifferingRowsScreen { align: center middle; background: $background 60%; }
    DifferingRowsScreen > #dr-dialog { width: 90%; height: 90%; border: thick $primary; background: $surface; }
    DifferingRowsScreen #dr-head { height: auto; padding: 0 1; }
    DifferingRowsScreen #dr-table { height: 1fr; }
    DifferingRowsScreen #dr-foot { height: 1; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Back"),
        Binding("n", "page(1)", "Next page"),
        Binding("p", "page(-1)", "Previous page"),
        Binding("enter", "row", "Field by field", priority=True),
    ]

    def __init__(self, dd: DataDir, bundle: Path, kind: str, group: str, count: int) -> None:
        super().__init__()
        self.dd, self.bundle, self.kind, self.group, self.count = dd, bundle, kind, group, count
        self.page_offset = 0
        self.page: CollidingPage | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dr-dialog"):
            head = Text()
            head.append(f"{'label' if self.kind == NODE else 'edge type'} ", style="bold")
            head.append(visible(self.group), style="bold")
            head.append(f": {self.count:,} present row(s) differ from live; a merge keeps the live row",
                        style="yellow")
            yield Static(head, id="dr-head")
            yield DataTable(id="dr-table", cursor_type="row", zebra_stripes=True)
            yield Static(Text("Comparing with the live rows…", style="dim"), id="dr-foot")

    def on_mount(self) -> None:
        table = self.query_one("#dr-table", DataTable)
        table.add_column("id", key="id")
        table.focus()
        self._load(self.page_offset)

    @work(thread=True, exclusive=True, exit_on_error=False, group="differing", description="Comparing rows")
    def _load(self, offset: int) -> None:
        cancel = get_current_worker().cancelled_event
        page = colliding_rows(self.dd, self.bundle, self.kind, self.group, offset=offset, limit=PAGE, cancel=cancel)
        self.post_message(JobFinished("differing", page))

    @work(thread=True, exclusive=True, exit_on_error=False, group="differing-row", description="Reading the row")
    def _read(self, row: CollidingRow) -> None:
        self.post_message(JobFinished("differing-row", collision(self.dd, self.bundle, self.kind, row)))

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job == "differing" and isinstance(message.result, CollidingPage):
            self.page = p = message.result
            table = self.query_one("#dr-table", DataTable)
            table.clear()
            for i, r in enumerate(p.rows):
                table.add_row(Text(visible(r.id)), key=str(i))
            shown = f"{p.offset + 1:,}-{p.offset + len(p.rows):,}" if p.rows else "none"
            more = " (more: n)" if p.more else ""
            self.query_one("#dr-foot", Static).update(
                Text(f"{shown}{more} · n p page · enter: live beside the bundle · esc", style="dim"))
        elif message.job == "differing-row":
            if isinstance(message.result, Collision):
                c = message.result
                self.app.push_screen(MessageScreen(visible(c.record.id), collision_text(c)))
            else:
                self.app.push_screen(MessageScreen("Not found", "The bundle no longer holds this row."))

    def action_page(self, step: int) -> None:
        if self.page is None or (step > 0 and not self.page.more):
            return
        offset = self.page_offset + step * PAGE
        if offset >= 0:
            self.page_offset = offset
            self._load(offset)

    def action_row(self) -> None:
        key = self.query_one("#dr-table", DataTable).cursor_row_key()
        if self.page is not None and key is not None:
            self._read(self.page.rows[int(key)])


def collision_text(c: Collision) -> Text:
    """One row live beside the bundle: what differs (bundle → live), then the live row a merge keeps."""
    t = Text()
    if c.match.state != "different":
        t.append(f"Live now: {c.match.state} (it changed since the plan).\n\n", style="bold")
    else:
        t.append("A merge keeps the live row; what differs (bundle → live):\n", style="bold")
        t.append_text(changes_text(c.match.changes, left="bundle", right="live"))
        t.append("\n\n")
    t.append("Live:\n", style="bold")
    t.append_text(record_text(c.match.live))
    t.append("\n\nBundle:\n", style="bold")
    t.append_text(record_text(c.record.value))
    return t
