"""ledgers/ as a substrate: restored where neo keeps them, every member authorised before any is written, merge
never overwrites a live ledger, undo puts back what a merge wrote; a backup copies them the way neo's does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.backup import run_backup
from core.datadir import DataDir, resolve
from core.errors import ConsoleError
from core.restore import run_restore
from core.restore_model import LedgersOutcome, RestoreOptions, RestoreResult
from core.undo import undo_run
from core.verify import BUNDLE_INVALID, verify_bundle
from tests import neofmt

ONLY = RestoreOptions(only_substrate=["ledgers"])


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return neofmt.write_bundle(tmp_path / "backups", neofmt.NeoBundleSpec(
        recovery_runs={"run-a.jsonl": [{"run": "a"}], "run-b.jsonl": [{"run": "b"}]}))


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / "data" / ".neo-ai-data", env={})


def ledgers_of(res: RestoreResult) -> LedgersOutcome:
    out = res.subsystems["ledgers"]
    assert isinstance(out, LedgersOutcome)
    return out


def test_restore_into_an_empty_plane_writes_every_member_where_neo_keeps_it(bundle: Path, dd: DataDir) -> None:
    res = run_restore(dd, bundle, ONLY)
    neo = dd.neo
    assert neo.heal_attempts_file == dd.root / "orchestrator-daemon" / "heal-attempts.json"
    assert neo.heal_attempts_file.read_bytes() == (bundle / "ledgers" / "heal-attempts.json").read_bytes()
    assert neo.heal_events_file.read_bytes() == (bundle / "ledgers" / "heal-events.jsonl").read_bytes()
    assert sorted(p.name for p in neo.recovery_runs_dir.iterdir()) == ["run-a.jsonl", "run-b.jsonl"]
    out = ledgers_of(res)
    assert (out.heal_attempts.copied, out.heal_events.copied, out.recovery_runs.copied) == (1, 1, 2)


def test_merge_never_overwrites_a_live_ledger_even_with_force(bundle: Path, dd: DataDir) -> None:
    neo = dd.neo
    neo.heal_attempts_file.parent.mkdir(parents=True)
    neo.heal_attempts_file.write_text('{"live": true}')
    neo.recovery_runs_dir.mkdir(parents=True)
    (neo.recovery_runs_dir / "run-a.jsonl").write_text('{"live": "a"}\n')
    res = run_restore(dd, bundle, RestoreOptions(only_substrate=["ledgers"], force=True))
    assert neo.heal_attempts_file.read_text() == '{"live": true}'
    assert (neo.recovery_runs_dir / "run-a.jsonl").read_text() == '{"live": "a"}\n'
    assert (neo.recovery_runs_dir / "run-b.jsonl").read_text() == '{"run":"b"}\n'
    out = ledgers_of(res)
    assert (out.heal_attempts.copied, out.heal_attempts.skipped) == (0, 1)
    assert (out.recovery_runs.copied, out.recovery_runs.skipped) == (1, 1)


def test_replace_overwrites_and_replaces_the_run_files(bundle: Path, dd: DataDir) -> None:
    neo = dd.neo
    neo.recovery_runs_dir.mkdir(parents=True)
    (neo.recovery_runs_dir / "run-old.jsonl").write_text("{}\n")
    (neo.recovery_runs_dir / "notes.txt").write_text("operator notes")
    neo.heal_attempts_file.write_text('{"live": true}')
    neo.heal_attempts_file.chmod(0o640)
    res = run_restore(dd, bundle, RestoreOptions(only_substrate=["ledgers"], mode="replace", yes=True, force=True))
    assert neo.heal_attempts_file.read_bytes() == (bundle / "ledgers" / "heal-attempts.json").read_bytes()
    assert neo.heal_attempts_file.stat().st_mode & 0o777 == 0o640  # the live file's mode is kept
    assert sorted(p.name for p in neo.recovery_runs_dir.iterdir()) == ["notes.txt", "run-a.jsonl", "run-b.jsonl"]
    assert ledgers_of(res).recovery_runs.removed == 1
    safety = Path(res.safety_bundle or "")
    assert (safety / "ledgers" / "recovery-runs" / "run-old.jsonl").is_file()  # what replace removed is kept


def test_replace_into_live_ledgers_needs_force(bundle: Path, dd: DataDir) -> None:
    dd.neo.heal_attempts_file.parent.mkdir(parents=True)
    dd.neo.heal_attempts_file.write_text("{}")
    with pytest.raises(ConsoleError, match=r"ledgers\.healAttempts=2"):
        run_restore(dd, bundle, RestoreOptions(only_substrate=["ledgers"], mode="replace", yes=True))


def test_a_member_absent_from_the_bundle_leaves_the_live_one_untouched_even_in_replace(
        bundle: Path, dd: DataDir) -> None:
    (bundle / "ledgers" / "heal-events.jsonl").unlink()
    neo = dd.neo
    neo.heal_events_file.parent.mkdir(parents=True)
    neo.heal_events_file.write_text('{"live": 1}\n')
    res = run_restore(dd, bundle, RestoreOptions(only_substrate=["ledgers"], mode="replace", yes=True, force=True))
    assert neo.heal_events_file.read_text() == '{"live": 1}\n'
    assert ledgers_of(res).heal_events.note == "source absent"


def test_one_refused_member_refuses_the_restore_before_any_write(bundle: Path, dd: DataDir) -> None:
    """The recovery-runs target is a file: refused in validation, before kb, mc, graph or any ledger."""
    neo = dd.neo
    neo.recovery_runs_dir.parent.mkdir(parents=True)
    neo.recovery_runs_dir.write_text("not a dir")
    with pytest.raises(ConsoleError, match="ledgers refused, nothing was written") as err:
        run_restore(dd, bundle, RestoreOptions(only_substrate=["graph", "ledgers"]))
    assert err.value.path == str(neo.recovery_runs_dir)
    assert not neo.heal_attempts_file.exists() and not neo.heal_events_file.exists()
    assert not dd.graph_db.exists()


def test_undo_of_a_merge_removes_the_ledgers_it_wrote(bundle: Path, dd: DataDir) -> None:
    neo = dd.neo
    neo.recovery_runs_dir.mkdir(parents=True)
    (neo.recovery_runs_dir / "run-a.jsonl").write_text('{"live": "a"}\n')
    res = run_restore(dd, bundle, ONLY)
    assert res.run_id is not None
    undone = undo_run(dd, res.run_id)
    assert undone.removed.get("files") == 3  # heal-attempts, heal-events, run-b
    assert not neo.heal_attempts_file.exists() and not neo.heal_events_file.exists()
    assert sorted(p.name for p in neo.recovery_runs_dir.iterdir()) == ["run-a.jsonl"]


def test_verify_flags_a_ledger_line_neo_would_refuse(bundle: Path) -> None:
    (bundle / "ledgers" / "recovery-runs" / "run-b.jsonl").write_bytes(b'{"ok":1}\n{bad\n')
    r = verify_bundle(bundle)
    assert r.verdict == BUNDLE_INVALID
    assert (r.errors[0].file, r.errors[0].line) == ("ledgers/recovery-runs/run-b.jsonl", 2)


def test_a_backup_copies_the_ledgers_the_way_neo_does(dd: DataDir) -> None:
    neo = dd.neo
    neo.heal_attempts_file.parent.mkdir(parents=True)
    neo.heal_attempts_file.write_text('{"attempts": []}')
    neo.heal_events_dir.mkdir(parents=True)
    (neo.heal_events_dir / "heal-events.jsonl").write_text('{"type":"heal"}\n')
    (neo.heal_events_dir / "heal-events-2026-09.jsonl").write_text('{"type":"heal"}\n')
    neo.recovery_runs_dir.mkdir(parents=True)
    (neo.recovery_runs_dir / "run-1.jsonl").write_text('{"run":1}\n')
    res = run_backup(dd, allow_empty=True)
    b = Path(res.path)
    assert sorted(str(p.relative_to(b / "ledgers")) for p in (b / "ledgers").rglob("*") if p.is_file()) == [
        "heal-attempts.json", "heal-events-2026-09.jsonl", "heal-events.jsonl", "recovery-runs/run-1.jsonl"]
    meta = json.loads((b / "bundle-meta.json").read_text())
    assert meta["subsystems"]["ledgers"] == {"copied": 4, "healAttempts": {"copied": 1}, "healEvents": {"copied": 2},
                                             "recoveryRuns": {"copied": 1}}
    assert "ledgers/heal-attempts.json" in meta["checksums"]


def test_a_backup_without_ledgers_says_where_it_looked(dd: DataDir) -> None:
    res = run_backup(dd, allow_empty=True)
    b = Path(res.path)
    assert (b / "ledgers" / "recovery-runs").is_dir()
    led = json.loads((b / "bundle-meta.json").read_text())["subsystems"]["ledgers"]
    assert led["copied"] == 0 and led["healAttempts"]["note"].startswith("source not present: ")
