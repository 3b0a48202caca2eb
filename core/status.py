"""The state of a backup root at a glance, from one read of it: the bundles, what retention keeps, what the
guard says. What the console shows on every refresh (its header and bundle list)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from core.bundle import Listing, list_root
from core.datadir import DataDir
from core.errors import ConsoleError
from core.guard import GuardResult, guard, guard_defaults
from core.neo_lease import NeoLease, read_lease
from core.receipt import RootReceipt, offhost_required, read_receipt
from core.retention import RetentionReport, evaluate


@dataclass(frozen=True, kw_only=True)
class RootStatus:
    listing: Listing
    retention: RetentionReport | None  # None when the policy or the guard's config cannot be read: `error` says why
    guard: GuardResult | None
    error: str | None = None
    receipt: RootReceipt | None = None  # neo's last-backup-receipt.json at the root
    lease: NeoLease | None = None  # neo's heavy-maintenance lease

    @property
    def max_age_hours(self) -> float | None:
        """The guard's max age, as the header flags staleness (the same limit `recovery-console guard` applies)."""
        return self.guard.max_age.total_seconds() / 3600 if self.guard is not None else None


def root_status(dd: DataDir, *, now: datetime | None = None) -> RootStatus:
    """The listing, the retention report and the guard's claimed-state answer, all from one look at the backup
    root (metas, file stats and the verify cache: no payload byte), and what neo says beside the bundles. A config
    the policy or the guard refuses leaves the listing useful: `error` says it. The verifying guard runs where it
    gates something."""
    listing = list_root(dd, now=(now or datetime.now(UTC)))
    neo = neo_state(dd, now=listing.now)
    try:
        return RootStatus(listing=listing, retention=evaluate(dd, now=listing.now, listing=listing),
                          guard=guard(dd, now=listing.now, listing=listing, verify=False),
                          receipt=neo[0], lease=neo[1])
    except (ConsoleError, OSError) as exc:  # a config the policy refuses, an unreadable defrag root
        return RootStatus(listing=listing, retention=None, guard=None,
                          error=f"retention could not be evaluated: {_describe(exc)}", receipt=neo[0], lease=neo[1])


def neo_state(dd: DataDir, *, now: datetime | None = None) -> tuple[RootReceipt, NeoLease]:
    """What neo says beside the bundles: its last backup's receipt and who holds its heavy-maintenance lease."""
    return (read_receipt(dd.backup_root, required=offhost_required(dd.config, os.environ)),
            read_lease(dd.neo.lease_file, now=now))


def _describe(exc: Exception) -> str:
    return exc.describe() if isinstance(exc, ConsoleError) else f"{exc.strerror or exc}: {exc.filename}" \
        if isinstance(exc, OSError) else str(exc)


def default_max_age_hours(dd: DataDir) -> float:
    """The guard's configured default max age in hours (24 unless `[guard] max_age` says otherwise)."""
    return guard_defaults(dd).max_age.total_seconds() / 3600
