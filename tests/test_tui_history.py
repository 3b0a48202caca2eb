"""Pilot tests of finding the moment and the right bundle on the May-10 demo: the timeline shows the wipe and the
empty KB run without opening a bundle, two marked bundles diff against each other with drill-down, and search
finds a lost memory and restores it alone, with its edge, through the one restore path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from console.scenes import open_bundle_diff, open_search, open_timeline, settle
from console.screens.bundle_diff import BundleDiffScreen, IdsScreen
from console.screens.diff import DiffScreen
from console.screens.restore import RestoreScreen
from console.screens.search import SearchScreen
from core.datadir import DataDir
from tests.builders import graph_state
from tests.tui_support import copy_demo, demo_cache, make
from widgets.confirm import ConfirmScreen, MessageScreen

WIPE = "backup-2026-05-10T09-11-23.456Z"
BEFORE = "backup-2026-05-10T01-11-23.456Z"
EMPTY_KB = "backup-2026-05-09T01-11-23.456Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_cache(tmp_path_factory)


@pytest.fixture
def dd(demo: Path, tmp_path: Path) -> DataDir:
    return copy_demo(demo, tmp_path)


def plain(widget: Static) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def cell(table: DataTable[Any], row: str, col: str) -> str:
    return str(table.get_cell(row, col).plain)


async def test_the_timeline_shows_the_wipe_and_the_empty_kb_run_at_a_glance(dd: DataDir) -> None:
    app = make(dd)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_timeline(pilot)
        rows = screen.query_one("#tl-rows", DataTable)
        assert [str(k.value) for k in rows.rows][:3] == [WIPE, BEFORE, EMPTY_KB]
        assert cell(rows, WIPE, "s:graph") == "7,845 ▼" and cell(rows, BEFORE, "s:graph") == "37.9k"
        assert cell(rows, WIPE, "s:mc") == "1,133 ▼" and cell(rows, EMPTY_KB, "s:kb") == "0 ▼"
        series = plain(screen.query_one("#tl-series-text", Static))
        assert "▼ -79% at 05-10 09:11" in series and "▼ to zero at 05-09 01:11" in series
        # on demand, per node label: counted once, then kept
        await pilot.press("l")
        await settle(pilot)
        assert screen.timeline is not None and screen.timeline.view == "labels"
        assert cell(rows, WIPE, "s:nodes") == "3,545 ▼" and cell(rows, BEFORE, "s:nodes") == "22.7k"
        assert "▼ -84% at 05-10 09:11" in plain(screen.query_one("#tl-series-text", Static))
        assert (dd.state_dir / "bundle-census.json").is_file()
        # enter opens the bundle's diff against live
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen) and app.screen.bundle.name == BEFORE


async def test_two_marked_bundles_diff_with_drill_down_to_one_row(dd: DataDir) -> None:
    app = make(dd)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_bundle_diff(pilot)
        assert (screen.a.name, screen.b.name) == (WIPE, BEFORE)  # the newer is A
        assert screen.diff is not None
        lost = screen.diff.labels
        assert (lost["FILE"].only_b, lost["CONCEPT"].only_b, lost["KB_GAP"].only_b) == (7_792, 4_216, 395)
        assert lost["ISSUE"].different == 1_017  # re-ingested with newer data: in both, different
        index_path = screen.index.path if screen.index is not None else None
        assert index_path is not None and index_path.exists()
        labels = screen.query_one("#bd-labels", DataTable)
        labels.move_cursor(row=list(lost).index("ISSUE"))
        await pilot.press("enter")
        await settle(pilot)
        ids = app.screen
        assert isinstance(ids, IdsScreen) and ids.cell == "different"
        table = ids.query_one("#ids-table", DataTable)
        assert table.row_count == 200 and cell(table, "0", "id") == "issue-10000"
        await pilot.press("n")
        await settle(pilot)
        assert cell(table, "0", "id") == "issue-10200"
        await pilot.press("b")  # only in B: none for ISSUE
        await settle(pilot)
        assert table.row_count == 0
        await pilot.press("x", "enter")
        await settle(pilot)
        pair = app.screen
        assert isinstance(pair, MessageScreen)
        body = plain(pair.query_one("#body", Static))
        assert "properties.state" in body and '"closed"' in body and '"open"' in body
        await pilot.press("escape")
        await pilot.press("escape")
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, BundleDiffScreen)
    assert not index_path.exists()  # leaving the screen removes the index


async def test_search_finds_a_lost_memory_and_restores_it_alone_with_its_edge(dd: DataDir) -> None:
    nodes_before, edges_before = graph_state(dd)
    app = make(dd)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_search(pilot, '"step 1000 of"')
        assert screen.result is not None
        (hit,) = screen.result.hits
        assert hit.kind == "memories" and hit.live == "absent" and hit.matched == "document"
        await pilot.press("space", "R")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        body = plain(dialog.query_one("#body", Static))
        assert "picked   1 memory" in body and "1 node · 1 edge · 1 memory" in body and "insert 2" in body
        await pilot.press("tab", "enter")
        await settle(pilot)
        restore = app.screen
        assert isinstance(restore, RestoreScreen) and restore.state == "done"
        assert restore.result is not None and restore.result.totals.inserted == 2
    nodes, edges = graph_state(dd)
    assert set(nodes) - set(nodes_before) == {hit.id}
    (new_edge,) = set(edges) - set(edges_before)
    assert edges[new_edge][1:3] == ("frontier", hit.id)  # (user_id, source, target, …): its edge from the frontier
    assert all(nodes[k] == v for k, v in nodes_before.items())


async def test_search_restore_is_a_write_and_readonly_disables_it(dd: DataDir) -> None:
    app = make(dd, readonly=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_search(pilot, "issue-10000")
        assert isinstance(screen, SearchScreen) and screen.result is not None and screen.result.hits
        await pilot.press("R")
        await settle(pilot)
        assert app.screen is screen  # nothing opened
        assert not (dd.state_dir / "selections").exists()


def hostile_root(tmp_path: Path) -> DataDir:
    """Two bundles whose labels, ids and texts look like markup or carry terminal controls."""
    from core.datadir import resolve
    from tests.builders import edge, live_graph, node, vec, write_bundle

    d = resolve(tmp_path / "evil" / ".neo-ai-data", env={})
    live_graph(d, [node("c", "CONCEPT")], [])
    write_bundle(d.backup_root, name="backup-2026-05-10T01-11-23.456Z",
                 nodes=[node("[b]id\x1b[2J", "odd[/]label", text="[link=x]boom\u202e"), node("c", "CONCEPT")],
                 edges=[edge("e1", "c", "[b]id\x1b[2J", "REL[/]ATES")], memories=[vec("m1", document="[red]wipe")])
    write_bundle(d.backup_root, name="backup-2026-05-09T01-11-23.456Z", nodes=[node("c", "CONCEPT")])
    return d


async def test_hostile_text_renders_as_text_in_the_timeline_diff_and_search(tmp_path: Path) -> None:
    d = hostile_root(tmp_path)
    app = make(d)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_timeline(pilot, "l")
        assert "odd[/]label" in plain(screen.query_one("#tl-series-text", Static))
        await pilot.press("e")
        await settle(pilot)
        assert "REL[/]ATES" in plain(screen.query_one("#tl-series-text", Static))
        await pilot.press("space", "down", "space", "d")
        await settle(pilot)
        diff = app.screen
        assert isinstance(diff, BundleDiffScreen)
        labels = diff.query_one("#bd-labels", DataTable)
        assert cell(labels, "node\x00odd[/]label", "name") == "odd[/]label"
        await pilot.press("enter")
        await settle(pilot)
        ids = app.screen
        assert isinstance(ids, IdsScreen)
        assert cell(ids.query_one("#ids-table", DataTable), "0", "id") == "[b]id\\x1b[2J"
        await pilot.press("escape", "escape", "escape")
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        await pilot.press(*"boom", "enter")
        await settle(pilot)
        search = app.screen
        assert isinstance(search, SearchScreen) and search.result is not None
        detail = plain(search.query_one("#se-detail-text", Static))
        assert "[link=x]boom\\u202e" in detail and "\x1b" not in detail and "\u202e" not in detail
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "[link=x]boom" in svg
