"""Pilot tests of the diff screen's colliding rows: the count of present rows that differ from live in the tables
and the totals, and the drill-down (enter on a label: its differing rows; enter on one: live beside the bundle,
field by field), with hostile labels and values shown as text, never markup."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from textual.widgets import DataTable, Static

from console.scenes import open_diff, settle
from console.screens.diff import DifferingRowsScreen, DiffScreen
from core import graph_store as gs
from core.datadir import DataDir, resolve
from tests.builders import node, write_bundle
from tests.tui_support import copy_demo, demo_cache, make
from widgets.confirm import ConfirmScreen, MessageScreen


@pytest.fixture(scope="module")
def demo_dd(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    return copy_demo(demo_cache(tmp_path_factory), tmp_path_factory.mktemp("differs"))


def plain(widget: Static) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


async def select_row(pilot: object, table: DataTable, key: str) -> None:
    table.focus()
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]


async def test_the_tables_and_totals_show_rows_that_differ_from_live(demo_dd: DataDir) -> None:
    app = make(demo_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        diff = await open_diff(pilot)  # the last bundle before the wipe: neo re-ingested its issues and PRs since
        assert diff.plan is not None
        labels = diff.query_one("#labels", DataTable)
        assert labels.get_cell("n:ISSUE", "present").plain == "1,017"
        assert labels.get_cell("n:ISSUE", "differs").plain == "1,017"
        assert labels.get_cell("n:PULL_REQUEST", "differs").plain == "711"
        assert labels.get_cell("n:AGENT_MEMORY", "differs").plain == "0"
        assert diff.query_one("#edges", DataTable).get_cell("e:SPAWNED_MEMORY", "differs").plain == "0"
        assert diff.query_one("#chroma", DataTable).get_cell("c:memories", "differs").plain == "0"
        totals = plain(diff.query_one("#totals", Static))
        assert "differ from live graph 1,728" in totals and "merge keeps the live rows" in totals
        await pilot.press("R")  # the confirm says what preserve-live keeps before the operator says yes
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "keeps   1,728 live row(s) that differ from the bundle's, as they are" in \
            plain(app.screen.query_one("#body", Static))
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("m")  # replace: nothing is live after the truncation, nothing differs
        await pilot.pause()
        assert labels.get_cell("n:ISSUE", "differs").plain == "0"
        assert "differ from live" not in plain(diff.query_one("#totals", Static))


async def test_enter_lists_the_differing_rows_and_shows_one_field_by_field(demo_dd: DataDir) -> None:
    app = make(demo_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        diff = await open_diff(pilot)
        await select_row(pilot, diff.query_one("#labels", DataTable), "n:AGENT_MEMORY")
        assert isinstance(app.screen, DiffScreen)  # nothing of it differs: no list, a note
        await select_row(pilot, diff.query_one("#labels", DataTable), "n:ISSUE")
        rows = app.screen
        assert isinstance(rows, DifferingRowsScreen) and rows.page is not None
        assert [r.id for r in rows.page.rows[:3]] == ["issue-10000", "issue-10001", "issue-10002"]
        assert len(rows.page.rows) == 200 and rows.page.more  # a page at a time
        assert "1,017 present row(s) differ from live" in plain(rows.query_one("#dr-head", Static))
        await pilot.press("n")
        await settle(pilot)
        assert rows.page.offset == 200 and rows.page.rows[0].id == "issue-10200"
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        shown = app.screen
        assert isinstance(shown, MessageScreen)
        body = plain(shown.query_one("#body", Static))
        assert 'properties.state        bundle "open"  live "closed"' in body
        assert "A merge keeps the live row" in body and "Live:" in body and "Bundle:" in body
        await pilot.press("escape")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is diff


def hostile(tmp_path: Path) -> DataDir:
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    live = node("x[b]", "odd[/]label", name="[bold]live", note="\x1b[31mred")
    conn = gs.connect(dd.graph_db, create=True)
    gs.load(conn, [(live["id"], None, orjson.dumps(live).decode())], [])
    conn.close()
    write_bundle(dd.backup_root, nodes=[node("x[b]", "odd[/]label", name="[red]bundle[/]", note="\u202eevil")])
    return dd


async def test_a_hostile_label_and_values_in_the_drill_down_are_text(tmp_path: Path) -> None:
    dd = hostile(tmp_path)
    app = make(dd)
    async with app.run_test(size=(100, 30)) as pilot:
        diff = await open_diff(pilot, row=0)
        labels = diff.query_one("#labels", DataTable)
        assert labels.get_cell("n:odd[/]label", "differs").plain == "1"
        await select_row(pilot, labels, "n:odd[/]label")
        rows = app.screen
        assert isinstance(rows, DifferingRowsScreen) and rows.page is not None
        assert "label odd[/]label: 1 present row(s)" in plain(rows.query_one("#dr-head", Static))
        assert rows.query_one("#dr-table", DataTable).get_cell_at((0, 0)).plain == "x[b]"
        await pilot.press("enter")
        await settle(pilot)
        shown = app.screen
        assert isinstance(shown, MessageScreen)
        body = plain(shown.query_one("#body", Static))
        assert 'bundle "[red]bundle[/]"  live "[bold]live"' in body
        assert "\\u001b[31mred" in body and "\\u202eevil" in body  # escaped, never sent to the terminal
        assert "\x1b" not in body and "\u202e" not in body
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "[red]bundle[/]" in svg and "x[b]" in svg


async def test_a_wide_terminal_keeps_the_edge_bar_beside_the_differs_column(demo_dd: DataDir) -> None:
    app = make(demo_dd)
    async with app.run_test(size=(120, 40)) as pilot:
        diff = await open_diff(pilot)
        await pilot.press("3")
        await pilot.pause()
        edges = diff.query_one("#edges", DataTable)
        assert [c.label.plain for c in edges.columns.values()] == [
            "edge type", "backup", "live", "present", "differs", "insert", "filtered", "orphan", "bar"]
        assert set(edges.get_cell("e:CONTAINS", "bar").plain.strip()) <= {"░"}
        assert edges.get_cell("e:CONTAINS", "differs").plain == "0"
