"""The console's backup and restore wait for neo's heavy maintenance: while neo's own heavy job (its backup,
defrag, Dream, ...) holds the heavy-maintenance lease, they refuse to start and say who holds it
(``core.neo_lease`` decides what "holds" means). ``--ignore-neo-lease`` runs anyway and is journaled in the same
override journal as the guard's ``--skip-backup-check``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.datadir import DataDir
from core.errors import GuardRefused
from core.guard import OVERRIDE_JOURNAL, record_override, user_name
from core.neo_lease import NeoLease, read_lease
from core.units import iso_ms


class NeoLeaseHeld(GuardRefused):
    """neo's heavy-maintenance lease is held: the operation did not start (exit code 3)."""

    code = "NEO_LEASE_HELD"


@dataclass(frozen=True)
class LeaseGate:
    lease: NeoLease
    ignored: bool = False
    journal: Path | None = None

    @property
    def warning(self) -> str | None:
        """What the result says when the operation ran under a lease, or past an expired one."""
        if self.ignored:
            return f"ran with --ignore-neo-lease (recorded in {self.journal}): {self.lease.describe()}"
        if self.lease.status == "expired":
            return self.lease.describe()
        return None


def check_neo_lease(dd: DataDir, operation: str, *, ignore: bool = False, now: datetime | None = None) -> LeaseGate:
    """Refuse (NeoLeaseHeld) while neo's heavy job holds its lease, unless ``ignore``: then journal it."""
    lease = read_lease(dd.neo.lease_file, now=now)
    if not lease.blocks:
        return LeaseGate(lease)
    if not ignore:
        raise NeoLeaseHeld(
            f"{operation} refused: {lease.describe()}. neo runs its backup, defrag and Dream under this lease; "
            f"wait until it is released, or pass --ignore-neo-lease (recorded in {dd.state_dir / OVERRIDE_JOURNAL})",
            path=lease.path, details=_lease_details(lease))
    journal = record_override(dd, {
        "time": iso_ms(datetime.now(UTC)), "user": user_name(), "sudoUser": os.environ.get("SUDO_USER"),
        "uid": os.getuid(), "pid": os.getpid(), "host": socket.gethostname(),
        "reason": f"{operation} --ignore-neo-lease", "lease": _lease_details(lease), "found": lease.describe(),
    })
    return LeaseGate(lease, ignored=True, journal=journal)


def _lease_details(lease: NeoLease) -> dict[str, object]:
    h = lease.holder
    out: dict[str, object] = {"path": str(lease.path), "status": lease.status, "evidence": lease.evidence}
    if h is not None:
        out.update(owner=h.owner, reason=h.reason, pid=h.pid, bootId=h.boot_id, acquiredAt=h.acquired_at,
                   expiresAt=h.expires_at)
    return out
