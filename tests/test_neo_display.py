"""What the operator sees of today's neo: the root receipt's alerts first (list, the header), the capture block
per bundle (list, the bundle detail pane), the lease's holder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.widgets import Static

from console.cli import main
from console.screens.bundles import BundlesScreen
from core.datadir import DataDir
from tests import neofmt
from tests.tui_support import make
from widgets.status_header import HeaderState, StatusHeader


@pytest.fixture
def root(data_dir: DataDir) -> DataDir:
    spec = neofmt.NeoBundleSpec(kb=[], memories=neofmt.vector_rows("memories", 3),
                                summaries=neofmt.vector_rows("summaries", 2), nodes=neofmt.graph_rows(4)[0],
                                capture={"kb": neofmt.Capture("kb-new", "kb-old", 1500)})
    neofmt.write_bundle(data_dir.backup_root, spec)
    neofmt.write_receipt(data_dir.backup_root, status="failed", sync="not-run-backup-failed",
                         error="Error: Backup refused: 1 source(s) collapsed\n    at runBackup")
    return data_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_list_says_a_failed_neo_backup_before_anything_else(root: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--data-dir", str(root.root), "list")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith("ALERT NEO_BACKUP_FAILED: neo's last backup FAILED at 2026-09-20T03:42:55.010Z")
    flat = " ".join(out.split())  # rich folds long lines at the terminal's width
    assert "FAILED at 2026-09-20T03:42:55.010Z: Error: Backup refused: 1 source(s) collapsed Bundles in" in flat
    assert "capture kb 0 rows COLLAPSED, lineage changed; mc.memories 3 rows populated, lineage same" in flat


def test_list_says_an_unmet_required_copy(data_dir: DataDir, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    neofmt.write_receipt(data_dir.backup_root, sync="disabled", bundle="backup-x")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[neo]\noffhost_required = true\n")
    code, out = run(capsys, "--config", str(cfg), "--data-dir", str(data_dir.root), "list")
    assert out.splitlines()[0].startswith("ALERT BACKUP_REQUIRED_OFFHOST_SYNC_UNMET")
    code, out = run(capsys, "--data-dir", str(data_dir.root), "list")
    assert " ".join(out.split()).startswith("neo's last backup success at 2026-09-20T03:42:55.010Z (backup-x); "
                                            "off-host sync disabled Bundles in")


def test_list_json_adds_the_receipt_the_lease_and_each_capture(root: DataDir,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    neofmt.write_lease(root.neo.lease_file, acquired=datetime.now(UTC) - timedelta(minutes=1))
    code, out = run(capsys, "--data-dir", str(root.root), "list", "--json")
    doc = json.loads(out)
    assert doc["neoReceipt"]["backupStatus"] == "failed"
    assert [a["code"] for a in doc["neoReceipt"]["alerts"]] == ["NEO_BACKUP_FAILED"]
    assert doc["neoLease"]["status"] == "held" and doc["neoLease"]["holder"]["owner"] == "backup"
    cap = doc["bundles"][0]["capture"]
    assert cap["comparedTo"] == "backup-2026-09-19T03-00-00.101Z"
    kb = next(s for s in cap["sources"] if s["source"] == "kb")
    assert (kb["rowState"], kb["lineage"], kb["collapsed"], kb["provenEmpty"]) == ("zero", "changed", True, False)
    for key in ("backupRoot", "exists", "bundles", "residue", "legacyFiles"):
        assert key in doc  # today's keys stay


def test_the_header_puts_neos_alerts_where_a_narrow_terminal_keeps_them() -> None:
    header = StatusHeader("recovery console")
    header.state = HeaderState(location="incident/.neo-ai-data", readonly=True, loading=False,
                               alerts=("NEO BACKUP FAILED", "NEO LEASE: dream"))
    text = header.render().plain
    assert "NEO BACKUP FAILED" in text and "NEO LEASE: dream" in text


async def test_the_console_shows_the_receipt_and_the_capture(root: DataDir) -> None:
    neofmt.write_lease(root.neo.lease_file, owner="dream", acquired=datetime.now(UTC) - timedelta(minutes=1))
    app = make(root)
    async with app.run_test(size=(100, 40)) as pilot:
        for _ in range(50):
            await pilot.pause()
            if app.listing is not None:
                break
        assert app.header_state.alerts == ("NEO BACKUP FAILED", "NEO LEASE: dream")
        header = app.screen.query_one(StatusHeader).render().plain
        assert "NEO BACKUP FAILED" in header
        screen = app.screen
        assert isinstance(screen, BundlesScreen)
        detail = str(screen.query_one("#detail-text", Static).render())
        assert "capture" in detail and "COLLAPSED" in detail and "lineage changed" in detail
        assert "neo's last backup FAILED" in detail
        assert "neo lease" in detail and "'dream'" in detail


def test_null_coordinates_read_with_neos_reason() -> None:
    from console.screens.bundles import coords_text

    assert coords_text({"host": "localhost", "port": 8000, "dataDir": None,
                        "storageReason": "physical-storage-not-observed"}) == \
        " · chroma localhost:8000 (data dir not recorded: physical-storage-not-observed)"
    assert coords_text({"host": None, "port": None, "path": "/srv/chroma"}) == " · chroma embedded /srv/chroma"
    assert coords_text(None) == ""


async def test_the_chroma_tab_plans_temporal_summaries_and_the_options_tab_keeps_read_receipts(
        data_dir: DataDir) -> None:
    from textual.widgets import DataTable, SelectionList

    from console.scenes import open_diff, settle

    spec = neofmt.NeoBundleSpec(memories=neofmt.vector_rows("memories", 5),
                                temporal=neofmt.vector_rows("temporalSummaries", 4), nodes=neofmt.graph_rows(3)[0])
    neofmt.write_bundle(data_dir.backup_root, spec)
    app = make(data_dir)
    async with app.run_test(size=(100, 40)) as pilot:
        diff = await open_diff(pilot)
        chroma = diff.query_one("#chroma", DataTable)
        assert "c:temporalSummaries" in {str(k.value) for k in chroma.rows}
        row = chroma.get_row("c:temporalSummaries")
        assert [str(c) for c in row[:6]] == ["temporalSummaries", "4", "0", "0", "0", "4"]  # backup live present differs insert
        assert diff.plan is not None and diff.plan.temporal_summaries.would_insert == 4
        assert diff.restore_options().preserve_read_state is False
        diff.query_one("#read-state", SelectionList).select("preserve-read-state")
        await pilot.press("m")  # replace
        await settle(pilot)
        assert diff.mode == "replace" and diff.restore_options().preserve_read_state is True
