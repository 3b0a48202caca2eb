"""ledgers/: neo's checks, every member authorised before any is written, merge never overwrites a live ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import ledgers
from core.neo_paths import NeoPaths, neo_paths
from tests import neofmt


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return neofmt.write_bundle(tmp_path / "backups", neofmt.NeoBundleSpec(
        recovery_runs={"run-a.jsonl": [{"run": "a"}], "run-b.jsonl": [{"run": "b"}]}))


@pytest.fixture
def live(tmp_path: Path) -> NeoPaths:
    return neo_paths(tmp_path / "data", {}, None, {})


def test_a_bundle_neo_wrote_has_no_ledger_problem(bundle: Path) -> None:
    assert list(ledgers.validate_ledgers(bundle / "ledgers")) == []


def test_every_unparseable_ledger_line_is_named_with_its_line(bundle: Path) -> None:
    (bundle / "ledgers" / "recovery-runs" / "run-b.jsonl").write_bytes(b'{"ok":1}\n\n{bad\n')
    (bundle / "ledgers" / "heal-events.jsonl").write_bytes(b"nope\n")
    (bundle / "ledgers" / "heal-attempts.json").write_text("{")
    found = {(p.file, p.line) for p in ledgers.validate_ledgers(bundle / "ledgers")}
    assert found == {("ledgers/recovery-runs/run-b.jsonl", 3), ("ledgers/heal-events.jsonl", 1),
                     ("ledgers/heal-attempts.json", None)}


def test_an_empty_heal_attempts_file_is_what_neo_copies_for_an_empty_source(bundle: Path) -> None:
    (bundle / "ledgers" / "heal-attempts.json").write_bytes(b"")
    assert list(ledgers.validate_ledgers(bundle / "ledgers")) == []


def test_a_symlinked_member_is_refused_not_followed(bundle: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"x":1}\n')
    (bundle / "ledgers" / "recovery-runs" / "run-c.jsonl").symlink_to(secret)
    problems = list(ledgers.validate_ledgers(bundle / "ledgers"))
    assert [p.file for p in problems] == ["ledgers/recovery-runs/run-c.jsonl"]


def test_restore_into_an_empty_plane_writes_every_member(bundle: Path, live: NeoPaths) -> None:
    plan = ledgers.plan_ledgers(bundle / "ledgers", live, "merge")
    out = {o.member: o for o in ledgers.apply_ledgers(plan)}
    assert live.heal_attempts_file.read_bytes() == (bundle / "ledgers" / "heal-attempts.json").read_bytes()
    assert live.heal_events_file.read_bytes() == (bundle / "ledgers" / "heal-events.jsonl").read_bytes()
    assert sorted(p.name for p in live.recovery_runs_dir.iterdir()) == ["run-a.jsonl", "run-b.jsonl"]
    assert (out["healAttempts"].copied, out["healEvents"].copied, out["recoveryRuns"].copied) == (1, 1, 2)


def test_merge_never_overwrites_a_live_ledger(bundle: Path, live: NeoPaths) -> None:
    live.heal_attempts_file.parent.mkdir(parents=True)
    live.heal_attempts_file.write_text('{"live": true}')
    live.recovery_runs_dir.mkdir(parents=True)
    (live.recovery_runs_dir / "run-a.jsonl").write_text('{"live": "a"}\n')
    out = {o.member: o for o in ledgers.apply_ledgers(ledgers.plan_ledgers(bundle / "ledgers", live, "merge"))}
    assert live.heal_attempts_file.read_text() == '{"live": true}'
    assert (live.recovery_runs_dir / "run-a.jsonl").read_text() == '{"live": "a"}\n'
    assert (live.recovery_runs_dir / "run-b.jsonl").read_text() == '{"run":"b"}\n'
    assert (out["healAttempts"].copied, out["healAttempts"].kept) == (0, 1)
    assert (out["recoveryRuns"].copied, out["recoveryRuns"].kept) == (1, 1)
    assert out["healEvents"].copied == 1


def test_replace_overwrites_and_replaces_the_run_files(bundle: Path, live: NeoPaths) -> None:
    live.recovery_runs_dir.mkdir(parents=True)
    (live.recovery_runs_dir / "run-old.jsonl").write_text("{}\n")
    (live.recovery_runs_dir / "notes.txt").write_text("operator notes")
    live.heal_attempts_file.write_text('{"live": true}')
    out = {o.member: o for o in ledgers.apply_ledgers(ledgers.plan_ledgers(bundle / "ledgers", live, "replace"))}
    assert live.heal_attempts_file.read_bytes() == (bundle / "ledgers" / "heal-attempts.json").read_bytes()
    assert sorted(p.name for p in live.recovery_runs_dir.iterdir()) == ["notes.txt", "run-a.jsonl", "run-b.jsonl"]
    assert out["recoveryRuns"].removed == 1


def test_a_member_absent_from_the_bundle_leaves_the_live_one_untouched_even_in_replace(
        bundle: Path, live: NeoPaths) -> None:
    (bundle / "ledgers" / "heal-events.jsonl").unlink()
    live.heal_events_file.parent.mkdir(parents=True)
    live.heal_events_file.write_text('{"live": 1}\n')
    out = {o.member: o for o in ledgers.apply_ledgers(ledgers.plan_ledgers(bundle / "ledgers", live, "replace"))}
    assert live.heal_events_file.read_text() == '{"live": 1}\n'
    assert out["healEvents"].note == "source absent"


def test_one_refused_member_means_nothing_is_written(bundle: Path, live: NeoPaths) -> None:
    """heal-attempts would be written first; the recovery-runs target is a file: the plan refuses up front."""
    live.recovery_runs_dir.parent.mkdir(parents=True)
    live.recovery_runs_dir.write_text("not a dir")
    with pytest.raises(ledgers.LedgerRefused) as err:
        ledgers.plan_ledgers(bundle / "ledgers", live, "merge")
    assert err.value.path == live.recovery_runs_dir
    assert not live.heal_attempts_file.exists() and not live.heal_events_file.exists()


def test_a_live_ledger_that_is_a_directory_is_refused(bundle: Path, live: NeoPaths) -> None:
    live.heal_events_file.mkdir(parents=True)
    with pytest.raises(ledgers.LedgerRefused):
        ledgers.plan_ledgers(bundle / "ledgers", live, "replace")


def test_a_restored_ledger_keeps_the_live_files_mode(bundle: Path, live: NeoPaths) -> None:
    live.heal_attempts_file.parent.mkdir(parents=True)
    live.heal_attempts_file.write_text("{}")
    live.heal_attempts_file.chmod(0o640)
    ledgers.apply_ledgers(ledgers.plan_ledgers(bundle / "ledgers", live, "replace"))
    assert live.heal_attempts_file.stat().st_mode & 0o777 == 0o640
    assert not [p for p in live.heal_attempts_file.parent.iterdir() if p.name.endswith(".tmp")]
