"""The bundles screen says what a verify found, and what nothing has read yet (issue 10): ✓ verified, ✓? claimed,
✗ with a word otherwise; v and V fill the verify cache; the first paint reads no payload byte."""

from __future__ import annotations

import builtins
import io
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from console.scenes import settle
from core.datadir import DataDir, resolve
from core.receipt import RECEIPT_FILE
from tests.restorability_builders import build_bundle, cut_at_line
from tests.tui_support import NOW, make
from widgets.status_header import StatusHeader


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def cells(app: Any, key: str) -> dict[str, str]:
    table = app.screen.query_one("#bundles", DataTable)
    return {c: table.get_cell(key, c).plain for c in ("kb", "mc", "graph", "notes")}


async def test_after_v_a_torn_bundle_shows_a_cross_never_a_tick(dd: DataDir) -> None:
    good = build_bundle(dd.backup_root, NOW - timedelta(hours=30))
    bad = build_bundle(dd.backup_root, NOW - timedelta(hours=2))
    cut_at_line(bad.graph)
    app = make(dd)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        before = cells(app, bad.path.name)
        assert before["graph"].endswith("✓?") and before["kb"].endswith("✓?")  # only claimed: nothing read yet
        header = app.screen.query_one(StatusHeader).render().plain
        assert "2 unverified" in header and "graph 2h?" in header
        await pilot.press("v")  # the cursor is on the newest bundle
        await settle(pilot)
        after = cells(app, bad.path.name)
        assert "✗ invalid" in after["graph"] and "✓" not in after["graph"]
        assert "verify: BUNDLE_INVALID" in after["notes"]
        assert after["kb"].endswith("✓") and after["mc"].endswith("✓")  # the same read vouches for kb and mc
        detail = app.screen.query_one("#detail-text", Static).content.plain
        assert "integrity says graph holds 50 rows, the files hold 25" in detail
        header = app.screen.query_one(StatusHeader).render().plain
        assert "1 unverified" in header and "graph 30h?" in header  # the torn one no longer counts
        assert cells(app, good.path.name)["graph"].endswith("✓?")


async def test_V_verifies_every_unverified_bundle_newest_first(dd: DataDir) -> None:
    names = [build_bundle(dd.backup_root, NOW - timedelta(hours=h)).path.name for h in (1, 5, 9)]
    torn = build_bundle(dd.backup_root, NOW - timedelta(hours=3))
    cut_at_line(torn.graph)
    app = make(dd)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("V")
        await settle(pilot)
        status = app.screen.query_one("#job-status", Static).content.plain
        assert status.startswith("Verified 4 bundles: 1 FAILED") and torn.path.name in status
        for name in names:
            assert all(cells(app, name)[s].endswith(" ✓") for s in ("kb", "mc", "graph")), name
        assert "✗ invalid" in cells(app, torn.path.name)["graph"]
        assert "unverified" not in app.screen.query_one(StatusHeader).render().plain
        await pilot.press("V")  # nothing left to read
        await settle(pilot)
        assert app.screen.query_one("#job-status", Static).content.plain == status


async def test_esc_stops_V_and_keeps_what_it_verified(dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    for h in (1, 2, 3):
        build_bundle(dd.backup_root, NOW - timedelta(hours=h))
    import console.screens.bundles as bundles_screen

    real = bundles_screen.verify_bundle
    calls: list[str] = []

    def second_waits(path: Path, **kw: Any) -> Any:
        calls.append(path.name)
        if len(calls) == 2:  # the operator presses esc while the second bundle is being read
            kw["cancel"].wait(10)
        return real(path, **kw)

    monkeypatch.setattr(bundles_screen, "verify_bundle", second_waits)
    app = make(dd)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("V")
        while len(calls) < 2:
            await pilot.pause(0.02)
        await pilot.press("escape")
        await settle(pilot)
        status = app.screen.query_one("#job-status", Static).content.plain
        assert status.startswith("verify-all cancelled: 1 of 3 verified")
        assert len(calls) == 2
        assert "2 unverified" in app.screen.query_one(StatusHeader).render().plain


async def test_the_first_paint_reads_no_payload(dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    for h in range(6):
        build_bundle(dd.backup_root, NOW - timedelta(hours=1 + h))
    opened: list[str] = []
    real_open, real_io_open, real_os_open = builtins.open, io.open, os.open

    def spy(real: Any) -> Any:
        def wrapper(file: Any, *a: Any, **k: Any) -> Any:
            if isinstance(file, str | os.PathLike):
                opened.append(os.fspath(file))
            return real(file, *a, **k)
        return wrapper

    app = make(dd)
    monkeypatch.setattr(builtins, "open", spy(real_open))
    monkeypatch.setattr(io, "open", spy(real_io_open))
    monkeypatch.setattr(os, "open", spy(real_os_open))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#bundles", DataTable).row_count == 6
    monkeypatch.undo()
    root = str(dd.backup_root)
    # each meta, and neo's root receipt beside the bundles (a fixed member, when there is one); no payload byte
    assert [p for p in opened if p.startswith(root) and not p.endswith(("bundle-meta.json", "/" + RECEIPT_FILE))] == []
