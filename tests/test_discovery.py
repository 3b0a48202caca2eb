"""Bundle names, discovery and meta states as neo reads them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.bundle import bundle_name, list_bundles, parse_bundle_time, resolve_bundle
from core.errors import UsageError


def test_name_round_trip() -> None:
    t = datetime(2026, 5, 10, 1, 11, 23, 456_000, tzinfo=UTC)
    assert bundle_name(t) == "backup-2026-05-10T01-11-23.456Z"
    assert parse_bundle_time("backup-2026-05-10T01-11-23.456Z") == t
    assert parse_bundle_time("backup-2026-05-06T22-51-56.579Z") == datetime(2026, 5, 6, 22, 51, 56, 579_000, UTC)
    assert parse_bundle_time("backup-latest") is None
    assert parse_bundle_time(".backup-partial-backup-2026-05-10T01-11-23.456Z-abc") is None


def make(root: Path, name: str, meta: object | None = "valid", kb_rows: int = 1) -> Path:
    b = root / name
    for sub in ("kb", "mc", "graph", "concepts", "trajectories"):
        (b / sub).mkdir(parents=True)
    (b / "kb" / "knowledge-base-backup-x.jsonl").write_text('{"id":"a"}\n' * kb_rows)
    if meta == "valid":
        meta = {"bundleVersion": 1, "completedAt": "2026-05-10T01:14:02.118Z",
                "integrity": [{"subsystem": "kb", "status": "pass" if kb_rows else "empty"}]}
    if isinstance(meta, dict):
        (b / "bundle-meta.json").write_text(json.dumps(meta))
    elif isinstance(meta, str):
        (b / "bundle-meta.json").write_text(meta)
    return b


def test_listing_states_and_residue(tmp_path: Path) -> None:
    make(tmp_path, "backup-2026-05-10T01-11-23.456Z")
    make(tmp_path, "backup-2026-05-09T01-11-23.456Z", meta=None)
    make(tmp_path, "backup-2026-05-08T01-11-23.456Z", meta='{"bundleVersion":1,')
    make(tmp_path, "backup-2026-05-07T01-11-23.456Z", meta={"bundleVersion": 1, "timestamp": "x"})  # May 7 era
    make(tmp_path, "backup-2026-05-06T01-11-23.456Z", kb_rows=0)
    (tmp_path / ".backup-partial-backup-2026-05-11T00-00-00.000Z-abc123" / "graph").mkdir(parents=True)
    (tmp_path / ".trash-backup-2026-04-01T00-00-00.000Z").mkdir()
    (tmp_path / "backup-notatime").mkdir()
    (tmp_path / "memory-backup-2026-04-01.jsonl").write_text("{}\n")
    (tmp_path / "last-backup-receipt.json").write_text("{}")
    listing = list_bundles(tmp_path, count_rows=True)
    got = [(b.name[7:17], b.meta_state) for b in listing.bundles]
    assert got == [("2026-05-10", "valid"), ("2026-05-09", "absent"), ("2026-05-08", "malformed"),
                   ("2026-05-07", "malformed"), ("2026-05-06", "valid")]
    assert listing.bundles[2].meta_error.startswith("not JSON")
    assert listing.bundles[3].meta_error == "no completedAt (not a completed receipt)"
    assert listing.bundles[0].substrates["kb"].restorable
    assert listing.bundles[0].substrates["kb"].rows == 1
    assert not listing.bundles[4].substrates["kb"].restorable  # integrity empty, no bytes
    assert not listing.bundles[1].substrates["kb"].restorable  # no meta: integrity unknown
    assert sorted((r.kind, r.name[:14]) for r in listing.residue) == [
        ("staging", ".backup-partia"), ("trash", ".trash-backup-"), ("unparseable", "backup-notatim")]
    assert listing.legacy_files == ("memory-backup-2026-04-01.jsonl",)


def test_resolve_bundle_refs(tmp_path: Path) -> None:
    newest_valid = make(tmp_path, "backup-2026-05-09T01-11-23.456Z")
    make(tmp_path, "backup-2026-05-10T01-11-23.456Z", meta=None)  # newest but not a completed receipt
    assert resolve_bundle(tmp_path, "latest") == newest_valid.resolve()
    assert resolve_bundle(tmp_path, newest_valid.name) == newest_valid.resolve()
    assert resolve_bundle(tmp_path, str(newest_valid)) == newest_valid.resolve()
    with pytest.raises(UsageError, match="no such bundle"):
        resolve_bundle(tmp_path, "backup-1999-01-01T00-00-00.000Z")
    with pytest.raises(UsageError, match="no completed bundle"):
        resolve_bundle(tmp_path / "empty", "latest")
