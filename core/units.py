"""The one place sizes, ages, durations and timestamps are written for people (CLI, TUI, widgets, reports).

Sizes are binary: a kibibyte is 1024 bytes and says ``KiB`` (what ``ls -h`` and ``du -h`` count; the label
used to say ``KB`` while dividing by 1024).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from core.errors import UsageError

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(n: int) -> str:
    """512 -> '512 B', 1536 -> '1.5 KiB', 23_456_789 -> '22.4 MiB'."""
    size = float(n)
    for unit in _BYTE_UNITS:
        if abs(size) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_age(hours: float | None) -> str:
    """An age at a glance, whole units: '42m', '9h', '16d'; 'none' when there is no such thing."""
    if hours is None:
        return "none"
    if hours < 1:
        return f"{max(0, int(hours * 60))}m"
    if hours < 48:
        return f"{hours:.0f}h"
    return f"{hours / 24:.0f}d"


def num(x: float) -> str:
    """A number without noise: 14 -> '14', 0.5 -> '0.5', 41.04 -> '41'."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def precise_age(hours: float) -> str:
    """An age or a limit in a sentence, to a tenth: '90m', '1.5h', '2.5d'."""
    if abs(hours) < 1:
        return f"{num(hours * 60)}m"
    if abs(hours) < 48:
        return f"{num(hours)}h"
    return f"{num(hours / 24)}d"


def hours(delta: timedelta) -> float:
    """A duration in hours, to the hundredth (the wire's `ageHours`, `maxAgeHours`)."""
    return round(delta.total_seconds() / 3600, 2)


def hours_since(t: datetime, now: datetime) -> float:
    return hours(now - t)


_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'24h', '36h', '90m', '2d', '1d12h' -> timedelta; anything else is a UsageError."""
    compact = str(text).strip().lower().replace(" ", "")
    if not compact or not _DURATION.fullmatch(compact):
        raise UsageError(f"not a duration: {text!r} (use a number and a unit, e.g. 24h, 36h, 90m, 2d)")
    try:
        delta = timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(compact)))
    except OverflowError:
        raise UsageError(f"duration too large: {text!r}") from None
    if delta <= timedelta(0):
        raise UsageError(f"duration must be greater than zero: {text!r}")
    return delta


def iso_ms(t: datetime) -> str:
    """JavaScript's Date.toISOString(): UTC, milliseconds, Z."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def iso_z(t: datetime) -> str:
    """Python's isoformat with `Z` for UTC (microseconds kept): how `list --json` has always written times."""
    return t.isoformat().replace("+00:00", "Z")


def colon_free(t: datetime) -> str:
    """iso_ms with dashes for colons: the stamp in bundle and file names."""
    return iso_ms(t).replace(":", "-")
