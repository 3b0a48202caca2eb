"""The backup-first guard through the real CLI entry: exit codes, messages an operator can act on, the journal."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.cli import main
from core.bundle import bundle_name
from core.datadir import DataDir
from core.errors import UsageError
from core.guard import guard
from core.units import parse_duration
from tests.test_retention import make_dd, write_bundle


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("NEO_BACKUP_PATH", "NEO_MEMORY_DB_PATH", "RECOVERY_CONSOLE_CONFIG", "RECOVERY_CONSOLE_CHROMA_URL"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return make_dd(tmp_path)


def run(dd: DataDir, *args: str) -> int:
    return main(["--data-dir", str(dd.root), "guard", *args])


def ago(**kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)


def test_no_bundles(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(dd) == 3
    out = capsys.readouterr()
    assert out.out == ""
    for s in ("kb", "mc", "graph"):
        assert f"  {s}: no restorable copy in any bundle (no bundles in {dd.backup_root})" in out.err
    assert f"take one now: recovery-console backup --data-dir {dd.root}\n" in out.err
    assert "--skip-backup-check" in out.err


def test_stale_bundle(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    stale = write_bundle(dd.backup_root, ago(hours=30))
    assert run(dd) == 3
    err = capsys.readouterr().err
    assert f"kb: the newest restorable copy is 30h old ({stale.name}), older than 24h" in err
    assert "recovery-console backup --data-dir" in err
    assert run(dd, "--max-age", "36h") == 0
    assert "backup guard ok" in capsys.readouterr().out


def test_fresh_bundle_missing_one_substrate(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    older = write_bundle(dd.backup_root, ago(hours=40))
    fresh = write_bundle(dd.backup_root, ago(hours=1), states={"kb": "empty"})
    assert run(dd) == 3
    err = capsys.readouterr().err
    assert "no fresh restorable backup of kb (max age 24h)" in err
    assert (f"kb: the newest restorable copy is 40h old ({older.name}), older than 24h; "
            f"the newest bundle {fresh.name} has kb integrity 'empty'") in err
    assert "  mc:" not in err and "  graph:" not in err
    assert "require only the rest: recovery-console guard --require mc,graph" in err
    assert run(dd, "--require", "mc,graph") == 0


def test_fresh_bundle_without_meta_is_not_a_backup(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = write_bundle(dd.backup_root, ago(minutes=5), meta="absent")
    assert run(dd, "--require", "mc") == 3
    assert f"the newest bundle {fresh.name} has no bundle-meta.json" in capsys.readouterr().err


def test_fresh_complete_bundle(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    write_bundle(dd.backup_root, ago(hours=2))
    assert run(dd) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert "backup guard ok: newest restorable copies are kb 2h, mc 2h, graph 2h old (max 24h)" in out.out


def test_json_output(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = write_bundle(dd.backup_root, ago(hours=2), states={"graph": "fail"})
    assert run(dd, "--json") == 3
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["ok"] is False and data["exitCode"] == 3 and data["require"] == ["kb", "mc", "graph"]
    assert data["substrates"]["kb"]["ok"] is True and data["substrates"]["kb"]["newestRestorable"] == fresh.name
    assert data["substrates"]["graph"]["ok"] is False
    assert "graph integrity 'fail'" in data["substrates"]["graph"]["problem"]
    assert "graph" in out.err, "the refusal also goes to stderr for a scheduler's log"


def test_override_exits_0_and_is_journaled(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    journal = dd.state_dir / "guard-overrides.jsonl"
    assert run(dd, "--skip-backup-check") == 0
    assert f"skipped by --skip-backup-check (recorded in {journal})" in capsys.readouterr().out
    write_bundle(dd.backup_root, ago(hours=1))
    assert run(dd, "--skip-backup-check", "--json") == 0
    assert json.loads(capsys.readouterr().out)["skipped"] is True
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [e["wouldHavePassed"] for e in entries] == [False, True]
    first = entries[0]
    assert first["pid"] == os.getpid() and first["user"] and first["reason"] == "guard --skip-backup-check"
    assert "no restorable copy in any bundle" in first["found"]
    assert datetime.fromisoformat(first["time"].replace("Z", "+00:00")) > ago(minutes=1)
    assert journal.stat().st_mode & 0o077 == 0, "owner-only, like the rest of the state dir"


def test_override_refused_under_readonly(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(dd.root), "--readonly", "guard", "--skip-backup-check"]) == 2
    assert not (dd.state_dir / "guard-overrides.jsonl").exists()
    assert main(["--data-dir", str(dd.root), "--readonly", "guard"]) == 3  # checking is reading


@pytest.mark.parametrize("args", [("--max-age", "soon"), ("--max-age", "24"), ("--max-age", "0h"),
                                  ("--require", "kb,brain"), ("--require", "")])
def test_bad_arguments_exit_2(dd: DataDir, capsys: pytest.CaptureFixture[str], args: tuple[str, str]) -> None:
    assert run(dd, *args) == 2
    assert "recovery-console: error:" in capsys.readouterr().err


def test_config_defaults(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, '[guard]\nmax_age = "36h"\nrequire = ["mc", "graph"]\n')
    write_bundle(dd.backup_root, ago(hours=30), states={"kb": "empty"})
    result = guard(dd)
    assert result.ok and result.require == ("mc", "graph") and result.max_age == timedelta(hours=36)
    assert not guard(dd, require=["kb"]).ok
    assert not guard(dd, max_age=timedelta(hours=24)).ok
    with pytest.raises(UsageError, match=r"\[guard\] max_age"):
        guard(make_dd(tmp_path / "x", "[guard]\nmax_age = 24\n"))
    with pytest.raises(UsageError, match=r"\[guard\] maxage"):
        guard(make_dd(tmp_path / "y", '[guard]\nmaxage = "24h"\n'))


def test_command_names_every_non_default_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = make_dd(tmp_path)
    elsewhere = tmp_path / "off host" / "bundles"
    assert main(["--data-dir", str(dd.root), "--backup-root", str(elsewhere), "guard"]) == 3
    assert f"recovery-console backup --data-dir {dd.root} --backup-root '{elsewhere}'" in capsys.readouterr().err


def test_future_bundle_counts_as_fresh_only_within_its_own_time(dd: DataDir) -> None:
    when = datetime(2026, 8, 7, 12, tzinfo=UTC)
    write_bundle(dd.backup_root, when)
    assert guard(dd, now=when + timedelta(hours=23)).ok
    assert not guard(dd, now=when + timedelta(hours=25)).ok
    assert guard(dd, now=when + timedelta(hours=25)).substrates["mc"].newest_restorable == bundle_name(when)


@pytest.mark.parametrize(("text", "expected"), [
    ("24h", timedelta(hours=24)), ("36h", timedelta(hours=36)), ("90m", timedelta(minutes=90)),
    ("2d", timedelta(days=2)), ("1d12h", timedelta(hours=36)), (" 1.5h ", timedelta(minutes=90)),
    ("1w", timedelta(days=7)), ("45s", timedelta(seconds=45)),
])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("junk", ["", "24", "h", "-2h", "2 hours", "2x", "0m", "1e3h", "99999999999999999d"])
def test_parse_duration_refuses_junk(junk: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(junk)
