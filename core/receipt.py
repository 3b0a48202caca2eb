"""neo's root receipt, ``<backup root>/last-backup-receipt.json``: how neo's last backup and its off-host copy went.

neo's backup CLI writes it after every run it did not defer (``offHostSyncStore.mjs``, schema 1): a failed backup
writes one too, and a run whose required off-host copy did not succeed ends with
``BACKUP_REQUIRED_OFFHOST_SYNC_UNMET`` *after* writing a receipt that says the backup itself succeeded. So the
receipt alone cannot say whether the off-host copy was required: the operator says so in the config
(``[neo] offhost_required``), and a copy that ran and failed is an alert either way.

Read with neo's own limits (64 KiB, schema 1, the status allowlist); anything else is reported, never guessed.
The console reads the receipt; it never writes it (it runs no off-host copy to report on).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

RECEIPT_FILE = "last-backup-receipt.json"
MAX_BYTES = 64 * 1024
SCHEMA_VERSION = 1
BACKUP_STATUSES = ("success", "failed")
SYNC_STATUSES = ("disabled", "not-run-backup-failed", "success", "failed", "timeout", "validation-failed")
REQUIRED_UNMET = "BACKUP_REQUIRED_OFFHOST_SYNC_UNMET"
BACKUP_FAILED = "NEO_BACKUP_FAILED"
SYNC_FAILED = "NEO_OFFHOST_SYNC_FAILED"
RECEIPT_UNREADABLE = "NEO_RECEIPT_UNREADABLE"


@dataclass(frozen=True)
class Alert:
    code: str
    text: str


@dataclass(frozen=True)
class RootReceipt:
    """What the receipt says. ``state``: ok | missing | unreachable | unreadable (neo's reader outcomes)."""

    path: Path
    state: str
    kind: str | None = None  # why unreachable / unreadable (neo's kinds: oversize, corrupt, unsupported-version, ...)
    backup_status: str | None = None
    backup_error: str | None = None
    duration_ms: float | None = None
    bundle_name: str | None = None
    bundle_completed_at: str | None = None
    finished_at: str | None = None
    sync_status: str | None = None
    sync_exit_code: int | None = None
    sync_stderr_tail: str | None = None
    restorable: bool | None = None
    empty_subsystems: tuple[str, ...] = ()
    offhost_required: bool = False
    alerts: tuple[Alert, ...] = field(default=())

    @property
    def error_line(self) -> str | None:
        """The first line of the backup's error (neo stores a redacted tail of the stack)."""
        if not self.backup_error:
            return None
        return next((ln.strip() for ln in self.backup_error.splitlines() if ln.strip()), None)

    @property
    def summary(self) -> str:
        """One line for a header or a listing."""
        if self.state == "missing":
            return "no neo backup receipt"
        if self.state != "ok":
            return f"neo's backup receipt is {self.state} ({self.kind})"
        when = self.finished_at or "?"
        what = f"neo's last backup {self.backup_status} at {when}"
        if self.bundle_name:
            what += f" ({self.bundle_name})"
        return f"{what}; off-host sync {self.sync_status}"


def offhost_required(config: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    """Is an off-host copy required? ``[neo] offhost_required`` if set, else neo's rule: a cloud deployment
    (``NEO_AI_DEPLOYMENT_MODE=cloud``)."""
    table = config.get("neo", {})
    value = table.get("offhost_required") if isinstance(table, Mapping) else None
    if isinstance(value, bool):
        return value
    return env.get("NEO_AI_DEPLOYMENT_MODE", "local") == "cloud"


def read_receipt(backup_root: Path, *, required: bool = False) -> RootReceipt:
    path = backup_root / RECEIPT_FILE
    try:
        if not backup_root.is_dir():
            kind = "root-not-a-directory" if backup_root.exists() else "root-absent"
            return RootReceipt(path, "unreachable", kind, offhost_required=required)
        os.listdir(backup_root)
    except OSError:
        return RootReceipt(path, "unreachable", "root-unreadable", offhost_required=required)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return RootReceipt(path, "missing", offhost_required=required)
    except OSError:
        return _unreadable(path, "receipt-unreadable", required)
    if len(raw) > MAX_BYTES:
        return _unreadable(path, "oversize", required)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _unreadable(path, "corrupt", required)
    if not isinstance(doc, dict):
        return _unreadable(path, "corrupt", required)
    if doc.get("schemaVersion") != SCHEMA_VERSION:
        return _unreadable(path, "unsupported-version", required)
    return _parse(path, doc, required)


def _unreadable(path: Path, kind: str, required: bool) -> RootReceipt:
    alert = Alert(RECEIPT_UNREADABLE, f"neo's backup receipt cannot be read ({kind}): {path}")
    return RootReceipt(path, "unreadable", kind, offhost_required=required, alerts=(alert,))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _parse(path: Path, doc: dict[str, Any], required: bool) -> RootReceipt:
    backup, sync = doc.get("backup"), doc.get("offHostSync")
    if not isinstance(backup, dict) or not isinstance(sync, dict) or backup.get("status") not in BACKUP_STATUSES \
            or sync.get("status") not in SYNC_STATUSES:
        return _unreadable(path, "corrupt", required)
    raw_integrity = doc.get("integrity")
    integrity: dict[str, Any] = raw_integrity if isinstance(raw_integrity, dict) else {}
    restorable = integrity.get("restorable")
    empty = integrity.get("emptySubsystems")
    exit_code = sync.get("exitCode")
    receipt = RootReceipt(
        path=path, state="ok",
        backup_status=backup["status"], backup_error=_str(backup.get("error")),
        duration_ms=_num(backup.get("durationMs")),
        bundle_name=_str(doc.get("bundleName")), bundle_completed_at=_str(doc.get("bundleCompletedAt")),
        finished_at=_str(doc.get("finishedAt")),
        sync_status=sync["status"], sync_exit_code=exit_code if isinstance(exit_code, int) else None,
        sync_stderr_tail=_str(sync.get("stderrTail")),
        restorable=restorable if isinstance(restorable, bool) else None,
        empty_subsystems=tuple(s for s in empty if isinstance(s, str)) if isinstance(empty, list) else (),
        offhost_required=required,
    )
    return _with_alerts(receipt)


def _with_alerts(r: RootReceipt) -> RootReceipt:
    alerts: list[Alert] = []
    when = r.finished_at or "unknown time"
    if r.backup_status == "failed":
        reason = f": {r.error_line}" if r.error_line else ""
        alerts.append(Alert(BACKUP_FAILED, f"neo's last backup FAILED at {when}{reason}"))
    if r.offhost_required and r.sync_status != "success":
        alerts.append(Alert(REQUIRED_UNMET, f"{REQUIRED_UNMET}: the required off-host copy of neo's last backup "
                                            f"did not succeed (status={r.sync_status}) at {when}"))
    elif r.sync_status in ("failed", "timeout", "validation-failed"):
        code = f", exit {r.sync_exit_code}" if r.sync_exit_code is not None else ""
        alerts.append(Alert(SYNC_FAILED, f"neo's off-host copy {r.sync_status}{code} at {when}"))
    if not alerts:
        return r
    return replace(r, alerts=tuple(alerts))
