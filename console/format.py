"""How the console words things: errors, the data dir's name, times, ages, sizes.

Every screen formats through here, so one kind of value reads the same everywhere. Widgets never import the
console: they are handed text formatted here. Sizes and ages are `core.units`' (the one formatter the CLI, the
TUI and the reports share); this module names them for the screens.
"""

from __future__ import annotations

from datetime import datetime

from core.datadir import DataDir
from core.errors import GuardRefused
from core.neo_lease import NeoLease
from core.receipt import BACKUP_FAILED, RECEIPT_UNREADABLE, REQUIRED_UNMET, SYNC_FAILED, RootReceipt
from core.safetext import visible
from core.units import human_age, human_bytes

__all__ = ["age_between", "age_text", "describe_error", "human_bytes", "location_label", "neo_alerts",
           "short_time"]

# a header badge per alert: short, a word not a colour
_BADGES = {BACKUP_FAILED: "NEO BACKUP FAILED", REQUIRED_UNMET: "OFF-HOST COPY UNMET",
           SYNC_FAILED: "OFF-HOST COPY FAILED", RECEIPT_UNREADABLE: "NEO RECEIPT UNREADABLE"}


def neo_alerts(receipt: RootReceipt | None, lease: NeoLease | None) -> tuple[str, ...]:
    """The header's alerts from neo's receipt and lease, most urgent first: a failed backup, an unmet required
    off-host copy, then a heavy neo job that holds the lease (backup and restore wait for it)."""
    out = [_BADGES[a.code] for a in (receipt.alerts if receipt is not None else ())]
    if lease is not None and lease.blocks:
        owner = lease.holder.owner if lease.holder is not None else "unknown"
        out.append(visible(f"NEO LEASE: {owner}"))
    return tuple(out)


def describe_error(exc: BaseException | None) -> str:
    """An error as the operator reads it, with any control character from the data it names made visible
    (only the guard's refusal keeps its line breaks: it is laid out on lines by design)."""
    if exc is None:
        return "unknown error"
    describe = getattr(exc, "describe", None)
    if callable(describe):
        return visible(describe(), newlines=isinstance(exc, GuardRefused))
    return visible(f"{type(exc).__name__}: {exc}")


def location_label(dd: DataDir) -> str:
    """The data dir as the last two path parts (``incident/.neo-ai-data``): enough to tell two apart."""
    parts = dd.root.parts
    return visible("/".join(parts[-2:]) if len(parts) >= 2 else str(dd.root))


def short_time(t: datetime) -> str:
    """A bundle's time to the minute, as the tables show it."""
    return t.strftime("%Y-%m-%d %H:%M")


age_text = human_age  # an age in the largest unit that keeps it short: 45m, 9h, 41d ("none" when there is none)


def age_between(then: datetime, now: datetime) -> str:
    return age_text((now - then).total_seconds() / 3600)


# how each restorability state (core/restorability.py) reads in a cell: the glyph says it without colour
STATE_GLYPHS = {"verified": ("✓", ""), "claimed": ("✓?", ""), "failed": ("✗", "bold red"),
                "not-restorable": ("✗", "yellow")}
# words a ✗ cell leaves to the notes column: they are about the whole bundle, not one substrate
BUNDLE_WORDS = ("no meta", "malformed")


def state_glyph(state: str | None) -> tuple[str, str]:
    """(glyph, style) of a substrate's state; ✗ for anything unknown."""
    return STATE_GLYPHS.get(state or "", ("✗", "yellow"))
