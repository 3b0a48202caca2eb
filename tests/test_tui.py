"""Pilot tests of the console on the generated May-10 incident: the guided restore, cancel and resume,
read-only mode, hostile strings from a bundle, errors from workers, quitting during a restore."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, SelectionList, Static

import console.screens.diff as diff_screen
from console.scenes import open_diff, settle
from console.screens.bundles import BundlesScreen
from console.screens.diff import DiffScreen
from console.screens.help import HelpScreen
from console.screens.restore import RestoreScreen
from console.screens.retention import RetentionScreen
from core.datadir import DataDir, resolve
from core.plan import Plan
from core.wire import encode
from tests.tui_support import NOW, copy_demo, demo_cache, make
from widgets.confirm import ConfirmScreen, MessageScreen
from widgets.status_header import Freshness, HeaderState, StatusHeader

INCIDENT = {"wouldInsert": 11_589, "alreadyPresent": 3_580, "filteredOut": 22_756}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def shared_dd(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataDir]:
    """One copy for the tests that only read. Its stores never change, so its one slow scan is reused (the
    tests that write scan their own copy for real)."""
    dd = copy_demo(demo, tmp_path_factory.mktemp("ro"))
    real = diff_screen.scan_bundle
    cache: dict[str, Any] = {}

    def cached(data_dir: DataDir, bundle: Any, **kwargs: Any) -> Any:
        if data_dir.root != dd.root:
            return real(data_dir, bundle, **kwargs)
        if str(bundle) not in cache:
            cache[str(bundle)] = real(data_dir, bundle, **kwargs)
        return cache[str(bundle)]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(diff_screen, "scan_bundle", cached)
        yield dd


@pytest.fixture
def fresh_dd(demo: Path, tmp_path: Path) -> DataDir:
    """A private copy for a test that writes."""
    return copy_demo(demo, tmp_path)


def plain(widget: Static) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


# ---------------------------------------------------------------- home


async def test_home_lists_bundles_residue_and_freshness(shared_dd: DataDir) -> None:
    app = make(shared_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BundlesScreen)
        table = screen.query_one("#bundles", DataTable)
        keys = [str(k.value) for k in table.rows]
        # the routine backup after the wipe is the newest; the last one before it comes next
        assert keys[:2] == ["backup-2026-05-10T09-11-23.456Z", "backup-2026-05-10T01-11-23.456Z"]
        assert sum(1 for k in keys if k.startswith("residue:")) == 1
        notes = {k: table.get_cell(k, "notes").plain for k in keys if not k.startswith("residue:")}
        # a substrate's word sits in its own cell (issue 10): the empty KB export reads ✗ empty there
        assert table.get_cell("backup-2026-05-09T01-11-23.456Z", "kb").plain.endswith("✗ empty")
        assert table.get_cell(keys[0], "graph").plain.endswith("✓?")  # claimed by the meta: nothing read yet
        assert "MALFORMED" in notes["backup-2026-05-07T01-11-23.456Z"]
        header = screen.query_one(StatusHeader).render().plain
        assert "kb 1h" in header and "graph 1h" in header and "STALE" not in header
        detail = plain(screen.query_one("#detail-text", Static))
        assert "integrity" in detail and "graph pass 7,845" in detail
        # the live graph beside the bundle, counted through aiosqlite: the wipe reads at a glance
        assert census_line(*graph_counts(shared_dd)) in detail
        assert census_line(3_545, 4_300) in detail


def census_line(nodes: int, edges: int) -> str:
    return f"live       graph {nodes + edges:,} rows: {nodes:,} nodes · {edges:,} edges"


async def test_the_live_census_per_label_on_demand(shared_dd: DataDir) -> None:
    """From the command palette: every label and edge type of the live graph, read-only, on the event loop."""
    import sqlite3

    conn = sqlite3.connect(shared_dd.graph_db)
    try:
        labels = dict(conn.execute("SELECT json_extract(data, '$.label'), count(*) FROM Nodes GROUP BY 1"))
        types = dict(conn.execute("SELECT type, count(*) FROM Edges GROUP BY 1"))
    finally:
        conn.close()
    app = make(shared_dd)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        app.show_census()
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        from tests.test_hostile_text import screen_text

        text = screen_text(app)
        top_label, top_nodes = max(labels.items(), key=lambda kv: (kv[1], kv[0]))
        top_type, top_edges = max(types.items(), key=lambda kv: (kv[1], kv[0]))
        assert f"{top_label} " in text and f"{top_nodes:,}" in text
        assert f"{top_type} " in text and f"{top_edges:,}" in text
        assert f"{sum(labels.values()):,}" in text and f"{sum(types.values()):,}" in text


async def test_a_row_drawn_before_the_table_measures_it_is_redrawn_at_its_width() -> None:
    """Textual's DataTable measures new rows when it next idles; a line drawn before that (a busy machine
    repaints in between) must not stay on screen at the header's width ("2026-0" for a bundle time)."""
    from rich.text import Text
    from textual.app import App, ComposeResult

    from widgets.table import DataTable as Table

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield Table()

    app = One()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(Table)
        table.add_column("bundle")
        await pilot.pause()
        table.add_row(Text("2026-05-10 01:11"))
        assert "".join(s.text for s in table.render_line(1)).strip() == "2026-0"  # drawn before measuring
        await pilot.pause()
        await pilot.pause(0.05)
        from tests.test_hostile_text import screen_text

        assert screen_text(app).splitlines()[1].strip() == "2026-05-10 01:11"  # what the terminal gets


def test_the_app_provides_everything_the_screens_may_ask_of_it(shared_dd: DataDir) -> None:
    """console/nav.py is the screens' whole view of the app: every attribute and method it names exists on
    the app, each method with the same parameters."""
    import inspect

    from console.nav import ConsoleApp

    app = make(shared_dd)
    attributes = set(ConsoleApp.__annotations__)
    methods = {name: f for name, f in vars(ConsoleApp).items() if inspect.isfunction(f) and not name.startswith("_")}
    assert {"dd", "readonly", "listing", "census", "busy"} <= attributes
    assert {"open_diff", "open_restore", "open_retention", "open_help", "go_home", "show_error"} <= set(methods)
    assert [a for a in attributes if not hasattr(app, a)] == []
    for name, proto in methods.items():
        real = getattr(type(app), name)
        assert list(inspect.signature(real).parameters) == list(inspect.signature(proto).parameters), name


def test_header_flags_stale_and_missing_in_words() -> None:
    header = StatusHeader("Bundles")
    header.state = HeaderState(location="x/.neo-ai-data", readonly=True, loading=False, freshness=(
        Freshness("kb", "3h", False), Freshness("mc", "30h", True), Freshness("graph", None, True)))
    text = header.render().plain
    assert "kb 3h" in text and "mc 30h STALE" in text and "graph NONE!" in text and "READ-ONLY" in text


# ---------------------------------------------------------------- diff


async def test_diff_incident_preset_recounts_to_may10_figures(shared_dd: DataDir) -> None:
    app = make(shared_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        diff = await open_diff(pilot)
        assert diff.plan is not None and diff.plan.totals.would_insert > INCIDENT["wouldInsert"]
        await pilot.press("3")
        await pilot.pause()
        totals_json = encode(diff.plan.totals)
        assert isinstance(totals_json, dict)
        assert {k: totals_json[k] for k in INCIDENT} == INCIDENT
        assert totals_json["alreadyPresentDiffers"] == 1_728  # the issues and PRs neo re-ingested since
        totals = plain(diff.query_one("#totals", Static))
        assert "would insert 11,589" in totals and "already present 3,580" in totals
        assert "filtered out 22,756" in totals
        # untick FILE in the labels list: the plan recounts at once, with no worker
        labels = diff.query_one("#filter-labels", SelectionList)
        labels.deselect("FILE")
        await pilot.pause()
        assert diff.plan.totals.would_insert > INCIDENT["wouldInsert"]
        assert "FILE" not in diff.filters()[0]
        await pilot.press("0")
        await pilot.pause()
        assert diff.filters() == (frozenset(), frozenset())


async def test_diff_tables_show_rows_per_label_and_edge_type(shared_dd: DataDir) -> None:
    app = make(shared_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        diff = await open_diff(pilot)
        await pilot.press("3")
        await pilot.pause()
        labels = diff.query_one("#labels", DataTable)
        assert labels.get_cell("n:FILE", "filtered").plain == "8,299"
        assert labels.get_cell("n:FILE", "insert").plain == "0"
        edges = diff.query_one("#edges", DataTable)
        assert edges.get_cell("e:CONTAINS", "filtered").plain == "9,349"
        # every row's bar is text characters, not colour alone
        assert set(labels.get_cell("n:FILE", "bar").plain.strip()) <= {"░"}
        # at 80 columns the edge table's bar gives way to the differs column
        assert [c.label.plain for c in edges.columns.values()][-2:] == ["filtered", "orphan"]


async def test_ticked_and_unticked_read_from_the_glyphs_under_no_color(shared_dd: DataDir) -> None:
    """Under NO_COLOR (Textual's monochrome filter) a ticked box is ▐X▌ and an unticked one ▐ ▌; the chosen
    radio ▐●▌, the other ▐ ▌: read from the text the terminal receives, with no colour at all."""
    from console.scenes import Scene, app_environment
    from tests.test_hostile_text import screen_text

    with app_environment(Scene("nocolor", "", no_color=True)):
        app = make(shared_dd)
    assert app.no_color and "NO_COLOR" not in os.environ

    def line_of(text: str, needle: str) -> str:
        return next(line for line in text.splitlines() if f" {needle} " in line)

    async with app.run_test(size=(80, 24)) as pilot:
        diff = await open_diff(pilot)
        await pilot.press("3", "right_square_bracket", "right_square_bracket")
        await settle(pilot)
        text = screen_text(app)
        for ticked in ("FILE", "DIRECTORY", "KB_GAP", "CONTAINS", "EVALUATED_BY"):
            assert "▐X▌ " + ticked in line_of(text, ticked), text
        for unticked in ("CONCEPT", "ISSUE", "SENT_BY"):
            assert "▐ ▌ " + unticked in line_of(text, unticked), text
        await pilot.press("space")  # the highlighted first label, FILE
        await pilot.pause()
        assert "FILE" not in diff.filters()[0]
        assert "▐ ▌ FILE" in line_of(screen_text(app), "FILE")
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        text = screen_text(app)
        assert "▐●▌ merge:" in text and "▐ ▌ replace:" in text and "▐●▌ none" in text
        assert "▐X▌ kb" in text and "▐X▌ mailbox" in text
        await pilot.press("m")
        await pilot.pause()
        text = screen_text(app)
        assert diff.mode == "replace" and "▐ ▌ merge:" in text and "▐●▌ replace:" in text


async def test_the_replace_guard_runs_in_a_worker_and_the_dialog_shows_its_answer(
        shared_dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard reads the backup root: the dialog opens at once and stays live while it runs (off the UI
    thread), says it is checking, and shows the refusal when it arrives; Replace stays disabled throughout,
    even with the data dir's name typed."""
    from datetime import timedelta

    from textual.widgets import Button, Input

    real = diff_screen.guard
    entered, release = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []

    def slow_guard(dd: DataDir, *, now: Any) -> Any:
        threads.append(threading.current_thread())
        entered.set()
        release.wait(10)  # on the UI thread, this would freeze the console for the whole wait
        return real(dd, now=now, max_age=timedelta(minutes=30))  # the newest demo bundle is 1h old: refused

    monkeypatch.setattr(diff_screen, "guard", slow_guard)
    app = make(shared_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_diff(pilot)
        await pilot.press("m", "R")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert "Checking the backup guard…" in plain(dialog.query_one("#body", Static))
        assert await asyncio.to_thread(entered.wait, 10)
        assert threads and threads[0] is not threading.main_thread()
        dialog.query_one("#typed", Input).value = shared_dd.root.name  # the UI answers while the guard runs
        await pilot.pause()
        assert dialog.query_one("#yes", Button).disabled  # no answer from the guard yet
        release.set()
        await settle(pilot)
        body = plain(dialog.query_one("#body", Static))
        assert "Checking" not in body and "The backup guard refuses a replace now" in body
        assert "older than 30m" in body
        assert dialog.query_one("#yes", Button).disabled
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)


# ---------------------------------------------------------------- read-only


async def test_readonly_disables_every_write_visibly(shared_dd: DataDir) -> None:
    app = make(shared_dd, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        home = app.screen
        assert "READ-ONLY" in home.query_one(StatusHeader).render().plain
        assert home.check_action("backup", ()) is None  # dimmed in the footer, does nothing
        before = sorted(p.name for p in shared_dd.backup_root.iterdir())
        await pilot.press("b")
        await settle(pilot)
        assert sorted(p.name for p in shared_dd.backup_root.iterdir()) == before
        assert home.query_one("#job").display is False
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, RetentionScreen)
        assert app.screen.check_action("prune", ()) is None
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, RetentionScreen)  # no dry-run dialog
        await pilot.press("escape")
        diff = await open_diff(pilot)
        assert diff.check_action("restore", ()) is None
        await pilot.press("R")
        await pilot.pause()
        assert app.screen is diff  # no confirm dialog
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "READ-ONLY" in plain_help(app.screen)


def plain_help(screen: HelpScreen) -> str:
    from rich.console import Console

    con = Console(width=100, record=True)
    con.print(screen.query_one("#help-text", Static).content)
    return con.export_text()


# ---------------------------------------------------------------- hostile strings


def hostile_data_dir(tmp_path: Path) -> DataDir:
    """A small data dir whose bundle carries markup-looking labels, edge types, meta fields and reasons."""
    from core.backup import run_backup
    from tests.builders import add_rows, edge, insert_graph, node

    dd = resolve(tmp_path / "evil" / ".neo-ai-data", env={})
    nodes = [node("a", "odd[/]label", name="[bold]x"), node("b", "[link=x]boom", name="b"),
             node("c", "CONCEPT", name="c")]
    edges = [edge("e1", "a", "b", "REL[/]ATES"), edge("e2", "b", "c", "[red]T")]
    insert_graph(dd, nodes, edges)
    add_rows(dd, "memories", 3)
    add_rows(dd, "summaries", 1)
    add_rows(dd, "kb", 2)
    run_backup(dd, when=NOW.replace(hour=1), reason="odd[/]reason [b]")
    bundle = next(p for p in dd.backup_root.iterdir() if p.name.startswith("backup-"))
    meta_path = bundle / "bundle-meta.json"
    meta = json.loads(meta_path.read_text())
    meta["neoVersion"] = "[/]12"
    meta["gitSha"] = "[red]"
    meta_path.write_text(json.dumps(meta))
    # the live graph loses the hostile nodes, so the plan would insert them
    import sqlite3

    conn = sqlite3.connect(dd.graph_db)
    conn.execute("DELETE FROM Edges")
    conn.execute("DELETE FROM Nodes WHERE id != 'c'")
    conn.commit()
    conn.close()
    return dd


async def test_hostile_label_renders_exactly_and_does_not_crash(tmp_path: Path) -> None:
    dd = hostile_data_dir(tmp_path)
    app = make(dd)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        home = app.screen
        detail = plain(home.query_one("#detail-text", Static))
        assert "odd[/]reason [b]" in detail and "neo [/]12" in detail
        assert "odd[/]reason [b]" in app.export_screenshot().replace("&#160;", " ")
        diff = await open_diff(pilot)
        labels = diff.query_one("#labels", DataTable)
        assert labels.get_cell("n:odd[/]label", "label").plain == "odd[/]label"
        assert labels.get_cell("n:[link=x]boom", "label").plain == "[link=x]boom"
        edges = diff.query_one("#edges", DataTable)
        assert edges.get_cell("e:REL[/]ATES", "edge type").plain == "REL[/]ATES"
        fl = diff.query_one("#filter-labels", SelectionList)
        prompts = [fl.get_option_at_index(i).prompt for i in range(fl.option_count)]
        assert any(getattr(p, "plain", None) == "odd[/]label 1" for p in prompts), prompts
        fl.select("odd[/]label")
        await pilot.pause()
        assert diff.plan is not None and diff.plan.graph.labels["odd[/]label"].filtered == 1
        for _ in range(5):
            await pilot.press("right_square_bracket")
            await pilot.pause()
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "odd[/]label" in svg or "[link=x]boom" in svg


# ---------------------------------------------------------------- errors and quitting


async def test_a_failing_scan_is_shown_not_swallowed(shared_dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("disk on fire [/]")

    monkeypatch.setattr(diff_screen, "scan_bundle", boom)
    app = make(shared_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        assert "disk on fire [/]" in plain(app.screen.query_one("#body", Static))
        await pilot.press("enter")
        await pilot.pause()
        diff = app.screen
        assert isinstance(diff, DiffScreen) and diff.plan is None
        assert "disk on fire [/]" in plain(diff.query_one("#scan-status", Static))
        assert diff.check_action("restore", ()) is None


async def test_quit_during_a_write_asks_first_and_no_keeps_running(shared_dd: DataDir) -> None:
    app = make(shared_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.set_busy("restore")
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.focused is not None and app.screen.focused.id == "no"
        await pilot.press("enter")  # No is focused
        await pilot.pause()
        assert isinstance(app.screen, BundlesScreen) and app.is_running
        app.set_busy("")
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_verify_shows_the_verdict_in_the_detail_pane(shared_dd: DataDir) -> None:
    app = make(shared_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        status = plain(app.screen.query_one("#job-status", Static))
        assert status.startswith("RESTORABLE")
        assert "verified ✓" in plain(app.screen.query_one("#detail-text", Static))


# ---------------------------------------------------------------- the guided restore


def graph_counts(dd: DataDir) -> tuple[int, int]:
    import sqlite3

    conn = sqlite3.connect(dd.graph_db)
    try:
        return (conn.execute("SELECT count(*) FROM Nodes").fetchone()[0],
                conn.execute("SELECT count(*) FROM Edges").fetchone()[0])
    finally:
        conn.close()


def planned_graph(plan: Plan | None) -> tuple[int, int]:
    assert plan is not None
    return (sum(r.would_insert for r in plan.graph.labels.values()),
            sum(r.would_insert for r in plan.graph.edge_types.values()))


async def confirm_restore(pilot: Any, expect: str) -> RestoreScreen:
    app = pilot.app
    await pilot.press("R")
    await pilot.pause()
    dialog = app.screen
    assert isinstance(dialog, ConfirmScreen)
    assert dialog.focused is not None and dialog.focused.id == "no"
    assert expect in plain(dialog.query_one("#body", Static))
    await pilot.press("tab", "enter")  # from No to Restore
    for _ in range(20):  # the dialog's answer pushes the restore view; its mount starts the worker
        await pilot.pause()
        if isinstance(app.screen, RestoreScreen) and app.screen.is_mounted:
            return app.screen
    raise AssertionError(f"the restore view did not open: {app.screen!r}")


async def test_guided_merge_restore_reports_what_the_plan_predicted(
        fresh_dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    import console.screens.restore
    from core.journal import list_runs

    # the engine waits until the test has seen the view busy: a fast machine finished the whole restore before the
    # first look (CI), and a look that races the run proves nothing either way
    real = console.screens.restore.run_restore
    seen_busy = threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        seen_busy.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(console.screens.restore, "run_restore", held)
    live_before = graph_counts(fresh_dd)
    app = make(fresh_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        diff = await open_diff(pilot)
        await pilot.press("3")
        await pilot.pause()
        assert "would insert 11,589" in plain(diff.query_one("#totals", Static))
        planned = planned_graph(diff.plan)
        home = app.screen_stack[0]
        assert census_line(*live_before) in plain(home.query_one("#detail-text", Static))
        screen = await confirm_restore(pilot, "insert 11,589 · skip 3,580 already present · leave out 22,756")
        try:
            assert app.busy == "restore" and "RESTORE" in screen.query_one(StatusHeader).render().plain
        finally:
            seen_busy.set()
        await settle(pilot)
        assert screen.state == "done", plain(screen.query_one("#restore-status", Static))
        rows = {line.what: (line.result, line.plan) for line in screen.comparison()}
        assert rows["graph inserted"] == (11_589, 11_589)
        assert rows["graph skipped (present)"] == (3_580, 3_580)
        assert rows["graph left out"] == (22_756, 22_756)
        assert rows["graph failed"] == (0, 0)
        for key in ("memories", "summaries", "kb"):
            got, plan = rows[f"{key} inserted"]
            assert got == plan == diff.plan.collection(key).would_insert
        compare = screen.query_one("#compare", DataTable)
        assert all(compare.get_row_at(i)[3].plain == "= same" for i in range(compare.row_count))
        counters = screen.query_one("#counters", DataTable)
        assert counters.get_cell("nodes:CONCEPT", "inserted").plain == counters.get_cell("nodes:CONCEPT", "plan").plain
        assert counters.get_cell("nodes:CONCEPT", "match").plain == "="
        assert screen.result is not None and screen.result.run_id
        run_id = screen.result.run_id
        status = plain(screen.query_one("#restore-status", Static))
        assert status.startswith("Restore finished") and run_id in status
        assert app.busy == ""
        assert graph_counts(fresh_dd) == (live_before[0] + planned[0], live_before[1] + planned[1])
        assert [r.run_id for r in list_runs(fresh_dd) if r.run_id == run_id]
        assert screen.check_action("undo", ()) is True
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BundlesScreen)
        # the census was read again when the restore ended: the home screen shows the graph it left
        after = (live_before[0] + planned[0], live_before[1] + planned[1])
        assert census_line(*after) in plain(app.screen.query_one("#detail-text", Static))


async def test_cancel_stops_between_batches_and_resume_finishes_the_same_restore(
        fresh_dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.restore_graph

    # small batches, and the engine held inside its 30th batch (of 46) until the operator's cancel arrives: the
    # cancel lands mid-graph whatever the machine's load (the engine checks it before the next batch)
    monkeypatch.setattr(core.restore_graph, "GRAPH_WRITE_BATCH", 500)
    real = core.restore_graph.GraphRestore._chunk
    calls = {"n": 0, "hold": True}
    holding = threading.Event()

    def held(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 30 and calls["hold"] and self.s.cancel is not None:
            holding.set()
            self.s.cancel.wait(60)
        return real(self, *args)

    monkeypatch.setattr(core.restore_graph.GraphRestore, "_chunk", held)
    live_before = graph_counts(fresh_dd)
    app = make(fresh_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        diff = await open_diff(pilot)
        await pilot.press("3")
        substrates = diff.query_one("#substrates", SelectionList)
        for sub in ("kb", "mc", "concepts", "trajectories", "mailbox", "ledgers"):
            substrates.deselect(sub)
        await pilot.pause()
        assert diff.only_substrate() == ["graph"]
        planned = planned_graph(diff.plan)
        screen = await confirm_restore(pilot, "only    graph")
        assert await asyncio.to_thread(holding.wait, 120), "the engine never reached its 30th batch"
        await pilot.pause()
        assert screen.state == "running" and screen._tasks["graph"].done > 0
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "resume" in plain(app.screen.query_one("#body", Static)).lower()
        await pilot.press("tab", "enter")  # from Keep going to Cancel restore
        await settle(pilot)
        assert screen.state == "cancelled"
        calls["hold"] = False
        assert app.busy == ""
        status = plain(screen.query_one("#restore-status", Static))
        assert "To resume, press r" in status
        mid = graph_counts(fresh_dd)
        final = (live_before[0] + planned[0], live_before[1] + planned[1])
        assert mid[0] > live_before[0] and sum(mid) < sum(final)  # stopped part-way, between batches
        assert screen.check_action("resume", ()) is True
        await pilot.press("r")
        await settle(pilot)
        assert screen.state == "done", plain(screen.query_one("#restore-status", Static))
        rows = {line.what: (line.result, line.plan) for line in screen.comparison()}
        # compared with the re-plan: what the first attempt inserted is now already present
        assert rows["graph inserted"][0] == rows["graph inserted"][1] < 11_589
        assert rows["graph skipped (present)"][0] == rows["graph skipped (present)"][1] > 3_580
        assert "Resumed" in plain(screen.query_one("#restore-status", Static))
        # exactly the state of an uninterrupted run
        assert graph_counts(fresh_dd) == final
        # undo, from the end view: exactly what this (resumed) run inserted goes, the first attempt's stays
        assert screen.result is not None and screen.result.run_id
        run_id = screen.result.run_id
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and run_id in plain(app.screen.query_one("#body", Static))
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert screen.state == "undone", plain(screen.query_one("#restore-status", Static))
        assert graph_counts(fresh_dd) == mid


# ---------------------------------------------------------------- backup and prune


async def test_backup_with_progress_publishes_a_bundle(tmp_path: Path) -> None:
    dd = hostile_data_dir(tmp_path)  # small: the backup takes a moment
    before = {p.name for p in dd.backup_root.iterdir() if p.name.startswith("backup-")}
    app = make(dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        home = app.screen
        await pilot.press("b")
        await pilot.pause()
        assert home.query_one("#job").display is True
        await settle(pilot)
        assert home._job is None
        status = plain(home.query_one("#job-status", Static))
        after = {p.name for p in dd.backup_root.iterdir() if p.name.startswith("backup-")}
        (new,) = after - before
        assert status.startswith(f"Published {new}"), status
        assert new in [str(k.value) for k in home.query_one("#bundles", DataTable).rows]
        assert app.busy == ""


async def test_prune_previews_then_deletes_exactly_what_retention_marks(fresh_dd: DataDir) -> None:
    app = make(fresh_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.retention is not None
        doomed = [b.name for b in app.retention.bundles if not b.keep]
        assert doomed  # the demo has one bundle no policy keeps
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen) and dialog.focused.id == "no"
        body = plain(dialog.query_one("#body", Static))
        assert all(name in body for name in doomed) and "Dry run" in body
        assert all((fresh_dd.backup_root / name).exists() for name in doomed)  # a preview changes nothing
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MessageScreen)
        assert not any((fresh_dd.backup_root / name).exists() for name in doomed)
        kept = [b.name for b in app.retention.bundles]
        assert all((fresh_dd.backup_root / name).exists() for name in kept)


def test_screenshots_command_lists_its_scenes_and_checks_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    assert main(["screenshots", "--list"]) == 0
    out = capsys.readouterr().out
    for scene in ("bundles", "diff-labels", "restore-done", "retention", "help"):
        assert scene in out
    assert main(["screenshots", "--size", "80by24"]) == 2
    assert main(["screenshots", "--only", "nope"]) == 2
