"""Bundle against bundle: per node label, edge type and collection, only in A, only in B, identical, different.

One worker streams both bundles into the on-disk index (``core.bundle_diff``); the screen keeps it while it is
open, so drill-down asks it for a page of ids, or for both versions of one row, field by field (each in a
worker). Closing the screen removes the index.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from console.messages import JobCancelled, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.browse import EDGE, NODE
from core.bundle import BundleInfo
from core.bundle_diff import BundleDiff, BundleIndex, DiffRow, IdPage, RowPair
from core.progress import Cancelled
from core.safetext import visible
from widgets.bars import compact
from widgets.confirm import MessageScreen
from widgets.job_progress import TaskProgress
from widgets.records import changes_text, record_text
from widgets.table import DataTable

TABLES = (("labels", NODE, "label"), ("edges", EDGE, "edge type"), ("collections", "", "collection"))
COLUMNS = ("A", "B", "only A", "only B", "same", "differ")
CELL_WORDS = {"onlyInA": "only in A", "onlyInB": "only in B", "different": "different", "identical": "identical"}
CELL_KEYS = {"a": "onlyInA", "b": "onlyInB", "x": "different", "i": "identical"}
PAGE = 200


def _num(n: int, style: str = "") -> Text:
    return Text(compact(n) if n else "·", justify="right", style=style if n else "dim")


class BundleDiffScreen(BaseScreen):
    SCREEN_TITLE = "Bundle diff"

    BINDINGS = [
        Binding("enter", "drill", "Ids", priority=True, id="drill"),
        Binding("right_square_bracket", "tab(1)", "Next tab", key_display="]", show=False),
        Binding("left_square_bracket", "tab(-1)", "Previous tab", key_display="[", show=False),
        Binding("escape", "back", "Back", id="back"),
        *COMMON_BINDINGS,
    ]

    def __init__(self, a: BundleInfo, b: BundleInfo) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.index: BundleIndex | None = None
        self.diff: BundleDiff | None = None

    def compose(self) -> ComposeResult:
        yield self.make_header()
        title = Text()
        title.append("A ", style="bold magenta")
        title.append(visible(self.a.name))
        title.append("  B ", style="bold magenta")
        title.append(visible(self.b.name))
        yield Static(title, id="bd-title", classes="screen-title")
        yield Static(Text("Streaming both bundles into an index on disk…", style="dim"), id="bd-totals")
        with Vertical(id="bd-scan"):
            yield TaskProgress("index", title="index", clock=self.rc.clock, id="bd-progress")
        with TabbedContent(id="bd-tabs"):
            for key, _kind, _head in TABLES:
                with TabPane({"labels": "Labels", "edges": "Edge types", "collections": "Collections"}[key],
                             id=f"bd-tab-{key}"):
                    yield DataTable(id=f"bd-{key}", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        for key, _kind, head in TABLES:
            table = self.query_one(f"#bd-{key}", DataTable)
            table.add_column(head, key="name")
            for col in COLUMNS:
                table.add_column(col, key=col)
        self.query_one("#bd-tabs").display = False
        self._build()

    def on_unmount(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None

    @work(thread=True, exclusive=True, exit_on_error=False, group="bundle-diff", description="Diffing the bundles")
    def _build(self) -> None:
        worker = get_current_worker()
        index = BundleIndex(self.a.path, self.b.path)
        try:
            index.build(on_progress=lambda p: self.post_message(JobProgressed("bundle-diff", p)),
                        cancel=worker.cancelled_event)
            diff = index.diff()
        except Cancelled:
            index.close()
            self.post_message(JobCancelled("bundle-diff", "stopped"))
            return
        except BaseException:
            index.close()
            raise
        self.post_message(JobFinished("bundle-diff", diff, {"index": index}))

    def on_job_progressed(self, message: JobProgressed) -> None:
        if message.job == "bundle-diff":
            p = message.progress
            bar = self.query_one("#bd-progress", TaskProgress)
            bar.query_one(".task-name", Label).update(Text(visible(p.task)[:12]))
            bar.update_progress(p.done, p.total, unit=p.unit, rate=p.rate)

    def on_job_cancelled(self, message: JobCancelled) -> None:
        if message.job == "bundle-diff":
            self.query_one("#bd-progress", TaskProgress).finish("stopped", note="cancelled")

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job != "bundle-diff" or not isinstance(message.result, BundleDiff):
            return
        index = message.extra.get("index")
        if not self.is_mounted:  # left before the index was ready: nothing will ask it
            if isinstance(index, BundleIndex):
                index.close()
            return
        self.index = index if isinstance(index, BundleIndex) else None
        self.diff = message.result
        self.query_one("#bd-scan").display = False
        self.query_one("#bd-tabs").display = True
        self.show()
        self.query_one("#bd-labels", DataTable).focus()

    def job_failed(self, group: str, error: str) -> None:
        if group == "bundle-diff":
            self.query_one("#bd-progress", TaskProgress).finish("failed", note="FAILED")
            self.query_one("#bd-totals", Static).update(
                Text.assemble(("The bundles could not be compared: ", "bold red"), visible(error)))
        super().job_failed(group, error)

    def show(self) -> None:
        d = self.diff
        assert d is not None
        t = d.totals
        line = Text()
        line.append("only in A ", style="dim")
        line.append(f"{t.only_a:,}", style="bold")
        line.append("  only in B ", style="dim")
        line.append(f"{t.only_b:,}", style="bold red" if t.only_b else "bold")
        line.append("  identical ", style="dim")
        line.append(f"{t.identical:,}")
        line.append("  different ", style="dim")
        line.append(f"{t.different:,}", style="bold yellow" if t.different else "")
        line.append(f"\nA {compact(d.a.records)} records · B {compact(d.b.records)} records · enter lists the ids",
                    style="dim")
        for side, name in ((d.a, "A"), (d.b, "B")):
            if side.unreadable:
                line.append(f" · {name}: {side.unreadable:,} unreadable line(s) left out", style="yellow")
        self.query_one("#bd-totals", Static).update(line)
        for key, kind, _head in TABLES:
            rows: Mapping[str, DiffRow] = d.labels if kind == NODE else d.edge_types if kind == EDGE else d.collections
            table = self.query_one(f"#bd-{key}", DataTable)
            table.clear()
            for name, r in rows.items():
                table.add_row(Text(visible(name)), _num(r.in_a), _num(r.in_b), _num(r.only_a, "bold"),
                              _num(r.only_b, "bold red"), _num(r.identical), _num(r.different, "bold yellow"),
                              key=f"{kind or name}\x00{name}")

    # ------------------------------------------------------------------ drill-down

    def selected(self) -> tuple[str, str, DiffRow] | None:
        if self.diff is None:
            return None
        tabs = self.query_one("#bd-tabs", TabbedContent)
        key = (tabs.active or "bd-tab-labels").removeprefix("bd-tab-")
        table = self.query_one(f"#bd-{key}", DataTable)
        row_key = table.cursor_row_key()
        if row_key is None:
            return None
        kind, _, group = row_key.partition("\x00")
        rows = self.diff.labels if kind == NODE else self.diff.edge_types if kind == EDGE else self.diff.collections
        row = rows.get(group)
        return (kind, group, row) if row is not None else None

    def action_drill(self) -> None:
        got = self.selected()
        if got is None or self.index is None:
            return
        kind, group, row = got
        first = next((c for c in ("different", "onlyInB", "onlyInA", "identical") if row.cell(c)), "identical")
        self.app.push_screen(IdsScreen(self.index, kind, group, row, first))

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#bd-tabs", TabbedContent)
        if not tabs.display:
            return
        ids = [f"bd-tab-{k}" for k, _, _ in TABLES]
        current = tabs.active if tabs.active in ids else ids[0]
        self.set_focus(None)
        tabs.active = ids[(ids.index(current) + step) % len(ids)]

    @on(TabbedContent.TabActivated, "#bd-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        key = (event.pane.id or "").removeprefix("bd-tab-")
        if key:
            self.call_after_refresh(self.query_one(f"#bd-{key}").focus)

    def action_back(self) -> None:
        self.app.pop_screen()


class IdsScreen(ModalScreen[None]):
    """The ids of one cell, a page at a time; enter shows one row in both bundles, field by field."""

    DEFAULT_CSS = """
    IdsScreen { align: center middle; background: $background 60%; }
    IdsScreen > #ids-dialog { width: 90%; height: 90%; border: thick $primary; background: $surface; }
    IdsScreen #ids-head { height: auto; padding: 0 1; }
    IdsScreen #ids-table { height: 1fr; }
    IdsScreen #ids-foot { height: 1; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Back"),
        Binding("a", "cell('onlyInA')", "Only in A"),
        Binding("b", "cell('onlyInB')", "Only in B"),
        Binding("x", "cell('different')", "Different"),
        Binding("i", "cell('identical')", "Identical"),
        Binding("n", "page(1)", "Next page"),
        Binding("p", "page(-1)", "Previous page"),
        Binding("enter", "pair", "Field by field", priority=True),
    ]

    def __init__(self, index: BundleIndex, kind: str, group: str, row: DiffRow, cell: str) -> None:
        super().__init__()
        self.index, self.kind, self.group, self.row, self.cell = index, kind, group, row, cell
        self.page_offset = 0
        self.page: IdPage | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="ids-dialog"):
            yield Static(Text(""), id="ids-head")
            yield DataTable(id="ids-table", cursor_type="row", zebra_stripes=True)
            yield Static(Text("a b x i cell · n p page · enter the row · esc", style="dim"), id="ids-foot")

    def on_mount(self) -> None:
        self.query_one("#ids-table", DataTable).add_column("id", key="id")
        self.query_one("#ids-table", DataTable).focus()
        self.load()

    def where(self) -> str:
        word = "label" if self.kind == NODE else "edge type" if self.kind == EDGE else "collection"
        return f"{word} {visible(self.group)}"

    def load(self) -> None:
        head = Text()
        head.append(self.where(), style="bold")
        head.append("   ")
        for key, cell in CELL_KEYS.items():
            style = "bold reverse" if cell == self.cell else ""
            head.append(f"[{key}] {CELL_WORDS[cell]} {self.row.cell(cell):,}", style=style)
            head.append("  ")
        self.query_one("#ids-head", Static).update(head)
        self._page(self.cell, self.page_offset)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ids", description="Listing ids")
    def _page(self, cell: str, offset: int) -> None:
        self.post_message(JobFinished("ids", self.index.ids(self.kind, self.group, cell, offset=offset, limit=PAGE)))

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job == "ids" and isinstance(message.result, IdPage):
            self.page = message.result
            table = self.query_one("#ids-table", DataTable)
            table.clear()
            for i, rid in enumerate(self.page.ids):
                table.add_row(Text(visible(rid)), key=str(i))
            p = self.page
            shown = f"{p.offset + 1:,}-{p.offset + len(p.ids):,} of {p.total:,}" if p.ids else "none"
            foot = Text(f"{CELL_WORDS[self.cell]} {shown} · a b x i cell · n p page · enter the row · esc",
                        style="dim")
            self.query_one("#ids-foot", Static).update(foot)
        elif message.job == "pair" and isinstance(message.result, RowPair):
            self.app.push_screen(MessageScreen(f"{visible(message.result.id)}", pair_text(message.result)))

    def action_cell(self, cell: str) -> None:
        self.cell, self.page_offset = cell, 0
        self.load()

    def action_page(self, step: int) -> None:
        total = self.page.total if self.page is not None else 0
        offset = self.page_offset + step * PAGE
        if 0 <= offset < max(total, 1):
            self.page_offset = offset
            self._page(self.cell, offset)

    def action_pair(self) -> None:
        key = self.query_one("#ids-table", DataTable).cursor_row_key()
        if self.page is not None and key is not None:
            self._pair(self.page.ids[int(key)])

    @work(thread=True, exclusive=True, exit_on_error=False, group="pair", description="Reading the row")
    def _pair(self, rid: str) -> None:
        self.post_message(JobFinished("pair", self.index.pair(self.kind, rid)))


def pair_text(p: RowPair) -> Text:
    t = Text()
    if p.a is not None and p.b is not None:
        t.append("In both bundles; what differs (A → B):\n", style="bold")
        t.append_text(changes_text(p.changes, left="A", right="B"))
        t.append("\n\nA:\n", style="bold")
        t.append_text(record_text(p.a))
        return t
    side = "A" if p.a is not None else "B"
    t.append(f"Only in {side}:\n", style="bold")
    t.append_text(record_text(p.a if p.a is not None else p.b))
    return t
