"""The state of a backup root at a glance, from one read of it: the bundles, what retention keeps, what the
guard says. What the console shows on every refresh (its header and bundle list)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from core.bundle import Listing, list_bundles
from core.datadir import DataDir
from core.errors import ConsoleError
from core.guard import GuardResult, guard, guard_defaults
from core.retention import RetentionReport, evaluate


@dataclass(frozen=True, kw_only=True)
class RootStatus:
    listing: Listing
    retention: RetentionReport | None  # None when the policy or the guard's config cannot be read: `error` says why
    guard: GuardResult | None
    error: str | None = None

    @property
    def max_age_hours(self) -> float | None:
        """The guard's max age, as the header flags staleness (the same limit `recovery-console guard` applies)."""
        return self.guard.max_age.total_seconds() / 3600 if self.guard is not None else None


def root_status(dd: DataDir, *, now: datetime | None = None, count_rows: bool = True) -> RootStatus:
    """The listing (rows counted unless told not to), the retention report and the guard's answer, all from one
    read of the backup root. A config the policy or the guard refuses leaves the listing useful: `error` says it."""
    listing = list_bundles(dd.backup_root, count_rows=count_rows, now=(now or datetime.now(UTC)))
    try:
        return RootStatus(listing=listing, retention=evaluate(dd, now=listing.now, listing=listing),
                          guard=guard(dd, now=listing.now, listing=listing))
    except (ConsoleError, OSError) as exc:  # a config the policy refuses, an unreadable defrag root
        return RootStatus(listing=listing, retention=None, guard=None,
                          error=f"retention could not be evaluated: {_describe(exc)}")


def _describe(exc: Exception) -> str:
    return exc.describe() if isinstance(exc, ConsoleError) else f"{exc.strerror or exc}: {exc.filename}" \
        if isinstance(exc, OSError) else str(exc)


def default_max_age_hours(dd: DataDir) -> float:
    """The guard's configured default max age in hours (24 unless `[guard] max_age` says otherwise)."""
    return guard_defaults(dd).max_age.total_seconds() / 3600
