"""neo's state beside the bundles: the root receipt, the heavy-maintenance lease, and where neo keeps them."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import neo_lease, receipt
from core.errors import UsageError
from core.neo_paths import neo_paths
from tests import neofmt

# ---- root receipt -------------------------------------------------------------------------------------------


def test_a_successful_backup_with_sync_disabled_raises_no_alert(tmp_path: Path) -> None:
    neofmt.write_receipt(tmp_path, bundle="backup-2026-09-20T03-00-00.123Z")
    r = receipt.read_receipt(tmp_path)
    assert r.state == "ok"
    assert (r.backup_status, r.sync_status, r.bundle_name) == ("success", "disabled",
                                                               "backup-2026-09-20T03-00-00.123Z")
    assert r.finished_at == "2026-09-20T03:42:55.010Z"
    assert r.restorable is True
    assert r.alerts == ()
    assert r.summary == ("neo's last backup success at 2026-09-20T03:42:55.010Z "
                         "(backup-2026-09-20T03-00-00.123Z); off-host sync disabled")


def test_a_failed_backup_is_an_alert_with_the_first_line_of_its_error(tmp_path: Path) -> None:
    neofmt.write_receipt(tmp_path, status="failed", sync="not-run-backup-failed",
                         error="\nError: CAPTURE_SOURCE_COLLAPSED kb\n    at runBackup (backup.mjs:1:1)")
    r = receipt.read_receipt(tmp_path)
    assert [a.code for a in r.alerts] == [receipt.BACKUP_FAILED]
    assert "FAILED" in r.alerts[0].text and "CAPTURE_SOURCE_COLLAPSED kb" in r.alerts[0].text
    assert "runBackup" not in r.alerts[0].text


@pytest.mark.parametrize("sync", ["disabled", "validation-failed", "failed", "timeout"])
def test_a_required_off_host_copy_that_did_not_succeed_is_the_named_alert(tmp_path: Path, sync: str) -> None:
    neofmt.write_receipt(tmp_path, sync=sync, bundle="backup-x", exit_code=23 if sync == "failed" else None)
    r = receipt.read_receipt(tmp_path, required=True)
    assert [a.code for a in r.alerts] == [receipt.REQUIRED_UNMET]
    assert f"status={sync}" in r.alerts[0].text


def test_a_required_copy_that_succeeded_is_fine(tmp_path: Path) -> None:
    neofmt.write_receipt(tmp_path, sync="success", bundle="backup-x", exit_code=0)
    assert receipt.read_receipt(tmp_path, required=True).alerts == ()


@pytest.mark.parametrize("sync", ["failed", "timeout", "validation-failed"])
def test_an_optional_copy_that_failed_is_still_an_alert(tmp_path: Path, sync: str) -> None:
    neofmt.write_receipt(tmp_path, sync=sync, bundle="backup-x", exit_code=23 if sync == "failed" else None)
    r = receipt.read_receipt(tmp_path)
    assert [a.code for a in r.alerts] == [receipt.SYNC_FAILED]
    assert sync in r.alerts[0].text


def test_no_receipt_is_missing_not_an_alert(tmp_path: Path) -> None:
    r = receipt.read_receipt(tmp_path)
    assert (r.state, r.alerts, r.summary) == ("missing", (), "no neo backup receipt")


def test_an_absent_root_is_unreachable(tmp_path: Path) -> None:
    assert receipt.read_receipt(tmp_path / "nope").kind == "root-absent"
    (tmp_path / "file").write_text("x")
    assert receipt.read_receipt(tmp_path / "file").kind == "root-not-a-directory"


@pytest.mark.parametrize(("content", "kind"), [
    (b"{not json", "corrupt"),
    (b"[]", "corrupt"),
    (b'{"schemaVersion": 2, "backup": {"status": "success"}}', "unsupported-version"),
    (b'{"schemaVersion": 1, "backup": {"status": "exploded"}, "offHostSync": {"status": "disabled"}}', "corrupt"),
    (b'{"schemaVersion": 1, "backup": {"status": "success"}, "offHostSync": {"status": "weird"}}', "corrupt"),
    (b" " * (64 * 1024 + 1), "oversize"),
])
def test_a_receipt_neo_would_refuse_is_unreadable_and_says_so(tmp_path: Path, content: bytes, kind: str) -> None:
    (tmp_path / receipt.RECEIPT_FILE).write_bytes(content)
    r = receipt.read_receipt(tmp_path)
    assert (r.state, r.kind) == ("unreadable", kind)
    assert [a.code for a in r.alerts] == [receipt.RECEIPT_UNREADABLE]


def test_offhost_required_follows_the_config_then_neos_deployment_mode() -> None:
    assert receipt.offhost_required({}, {}) is False
    assert receipt.offhost_required({}, {"NEO_AI_DEPLOYMENT_MODE": "cloud"}) is True
    assert receipt.offhost_required({"neo": {"offhost_required": False}}, {"NEO_AI_DEPLOYMENT_MODE": "cloud"}) is False
    assert receipt.offhost_required({"neo": {"offhost_required": True}}, {}) is True


# ---- heavy-maintenance lease --------------------------------------------------------------------------------

NOW = datetime(2026, 9, 20, 3, 30, tzinfo=UTC)


def test_no_lease_file_is_free(tmp_path: Path) -> None:
    state = neo_lease.read_lease(tmp_path / "heavy-maintenance-lease.json", now=NOW)
    assert (state.status, state.blocks) == ("free", False)


def test_a_live_lease_blocks_and_names_its_holder(tmp_path: Path) -> None:
    p = neofmt.write_lease(tmp_path / "lease.json", acquired=NOW - timedelta(minutes=30))
    state = neo_lease.read_lease(p, now=NOW, hostname="console-host")
    assert (state.status, state.blocks) == ("held", True)
    assert state.holder is not None
    assert (state.holder.owner, state.holder.reason, state.holder.pid) == ("backup", "manual-cli", 41233)
    text = state.describe()
    for part in ("'backup'", "reason=manual-cli", "pid=41233", "host=neo-orchestrator-7c9f",
                 "since 2026-09-20T03:00:00.000Z", "until 2026-09-20T09:00:00.000Z",
                 "ai/scripts/maintenance/backup.mjs", "cannot be checked from here"):
        assert part in text


def test_a_container_lease_whose_pid_is_not_on_this_host_still_blocks(tmp_path: Path) -> None:
    """neo's own rule would call it stale (foreign bootId, dead-looking pid): the console does not."""
    p = neofmt.write_lease(tmp_path / "lease.json", pid=2**22 + 7, acquired=NOW - timedelta(minutes=5))
    assert neo_lease.read_lease(p, now=NOW, hostname="host").blocks
    p = neofmt.write_lease(tmp_path / "lease.json", pid=2**22 + 7, boot_id="host", acquired=NOW)
    state = neo_lease.read_lease(p, now=NOW + timedelta(seconds=1), hostname="host")
    assert state.blocks
    assert "no process 4194311 on this host" in state.describe()


def test_a_lease_held_by_a_running_process_here_says_it_runs(tmp_path: Path) -> None:
    p = neofmt.write_lease(tmp_path / "lease.json", pid=os.getpid(), boot_id=None, acquired=NOW)
    state = neo_lease.read_lease(p, now=NOW, hostname="h")
    assert state.blocks and f"process {os.getpid()} is running on this host" in state.describe()


def test_an_expired_lease_does_not_block(tmp_path: Path) -> None:
    p = neofmt.write_lease(tmp_path / "lease.json", acquired=NOW - timedelta(hours=7))
    state = neo_lease.read_lease(p, now=NOW)
    assert (state.status, state.blocks) == ("expired", False)
    assert "has expired" in state.describe()


def test_without_expires_at_the_deadline_is_acquired_plus_ttl(tmp_path: Path) -> None:
    p = neofmt.write_lease(tmp_path / "lease.json", acquired=NOW - timedelta(hours=1), ttl_ms=2 * 3600_000,
                           expires=False)
    assert neo_lease.read_lease(p, now=NOW).status == "held"
    assert neo_lease.read_lease(p, now=NOW + timedelta(hours=1)).status == "expired"


def test_a_lease_with_no_deadline_at_all_blocks(tmp_path: Path) -> None:
    p = tmp_path / "lease.json"
    p.write_text('{"owner": "dream", "pid": 1}')
    state = neo_lease.read_lease(p, now=NOW, hostname="h")
    assert state.status == "held" and "records no deadline" in (state.evidence or "")


@pytest.mark.parametrize("content", [b"", b"{half", b"[]", b'{"pid": 3}', b'{"owner": ""}'])
def test_a_file_that_is_not_a_lease_blocks_as_an_unknown_holder(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "lease.json"
    p.write_bytes(content)
    state = neo_lease.read_lease(p, now=NOW)
    assert (state.status, state.blocks) == ("unreadable", True)
    assert "holder unknown" in state.describe()


def test_a_renewed_lease_uses_its_new_deadline(tmp_path: Path) -> None:
    p = neofmt.write_lease(tmp_path / "lease.json", acquired=NOW - timedelta(hours=7))
    import json
    doc = json.loads(p.read_text())
    doc["renewedAt"] = neofmt.iso(NOW - timedelta(minutes=1))
    doc["expiresAt"] = neofmt.iso(NOW + timedelta(hours=6))
    p.write_text(json.dumps(doc, indent=2))
    state = neo_lease.read_lease(p, now=NOW)
    assert state.blocks and state.holder is not None and state.holder.renewed_at is not None


# ---- where neo keeps them -----------------------------------------------------------------------------------


def test_neos_default_locations_under_the_data_dir(tmp_path: Path) -> None:
    p = neo_paths(tmp_path, {}, None, {})
    assert p.lease_file == tmp_path / "orchestrator-daemon" / "heavy-maintenance-lease.json"
    assert p.heal_attempts_file == tmp_path / "orchestrator-daemon" / "heal-attempts.json"
    assert p.heal_events_file == tmp_path / "orchestrator-daemon" / "data-heal-events" / "heal-events.jsonl"
    assert p.recovery_runs_dir == tmp_path / "orchestrator-daemon" / "recovery-runs"
    assert p.temporal_summary_collection == "neo-temporal-summary"


def test_env_beats_config_beats_default(tmp_path: Path) -> None:
    cfg = {"neo": {"orchestrator_dir": "orch", "heal_attempts_file": "/abs/ha.json",
                   "temporal_summary_collection": "my-temporal"}}
    p = neo_paths(tmp_path, cfg, tmp_path / "conf" / "console.toml", {})
    assert p.orchestrator_dir == tmp_path / "conf" / "orch"  # relative to the config file
    assert p.lease_file == tmp_path / "conf" / "orch" / "heavy-maintenance-lease.json"
    assert p.heal_events_dir == tmp_path / "conf" / "orch" / "data-heal-events"
    assert p.heal_attempts_file == Path("/abs/ha.json")
    assert p.recovery_runs_dir == tmp_path / "orchestrator-daemon" / "recovery-runs"  # plane-anchored
    assert p.temporal_summary_collection == "my-temporal"
    env = {"NEO_AI_ORCHESTRATOR_DIR": str(tmp_path / "env-orch"),
           "NEO_RECOVERY_ACTUATOR_RUN_STATE_DIR": str(tmp_path / "runs"),
           "NEO_TEMPORAL_SUMMARY_COLLECTION_NAME": "env-temporal"}
    p = neo_paths(tmp_path, cfg, tmp_path / "conf" / "console.toml", env)
    assert p.orchestrator_dir == tmp_path / "env-orch"
    assert p.recovery_runs_dir == tmp_path / "runs"
    assert p.temporal_summary_collection == "env-temporal"


@pytest.mark.parametrize("table", [{"orchestrator": "x"}, {"orchestrator_dir": 3}, {"offhost_required": "yes"},
                                   {"temporal_summary_collection": "  "}])
def test_a_bad_neo_table_is_a_usage_error(tmp_path: Path, table: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        neo_paths(tmp_path, {"neo": table}, None, {})
