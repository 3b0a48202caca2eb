"""How the console words things: errors, the data dir's name, times, ages, sizes.

Every screen formats through here, so one kind of value reads the same everywhere. Widgets never import the
console: they are handed text formatted here.

``human_bytes`` is a temporary copy of ``console.commands.list_cmd.human_bytes`` (issue 9 gives the one bytes/age
formatter to ``core/units.py``; until it exists, screens must not import a CLI command). It keeps that function's
output exactly, "KB" for 1024 bytes included.
"""

from __future__ import annotations

from datetime import datetime

from core.datadir import DataDir
from core.errors import GuardRefused
from core.safetext import visible


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


def age_text(hours: float | None) -> str:
    """An age in the largest unit that keeps it short: ``45m``, ``9h``, ``41d`` (``none`` when there is none)."""
    if hours is None:
        return "none"
    if hours < 1:
        return f"{max(0, int(hours * 60))}m"
    if hours < 48:
        return f"{hours:.0f}h"
    return f"{hours / 24:.0f}d"


def age_between(then: datetime, now: datetime) -> str:
    return age_text((now - then).total_seconds() / 3600)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def as_int(value: object) -> int:
    """A counter read from a result dict: a number, or 0 when it is missing or not a number."""
    return int(value) if isinstance(value, (int, float)) else 0
