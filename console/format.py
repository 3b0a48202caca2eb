"""How the console words things: errors, the data dir's name, times, ages, sizes.

Every screen formats through here, so one kind of value reads the same everywhere. Widgets never import the
console: they are handed text formatted here. Sizes and ages are `core.units`' (the one formatter the CLI, the
TUI and the reports share); this module names them for the screens.
"""

from __future__ import annotations

from datetime import datetime

from core.datadir import DataDir
from core.errors import GuardRefused
from core.safetext import visible
from core.units import human_age, human_bytes

__all__ = ["age_between", "age_text", "describe_error", "human_bytes", "location_label", "short_time"]


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
