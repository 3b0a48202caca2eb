"""A record and a field-level difference as text: what drill-downs and search hits show.

Everything here is data from a bundle or a live store: every line goes through ``visible`` into a plain
``Text`` (never markup), long strings are cut with a note, a vector is summarised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from rich.text import Text

from core.field_diff import FieldChange
from core.safetext import visible

MAX_STRING = 600  # a longer string is cut on screen (the CLI's --json has it whole)
MAX_CHANGES = 40


def _cut(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + f"… ({len(value) - MAX_STRING:,} more characters)"
    if isinstance(value, Mapping):
        return {k: ("[" + f"{len(v)} numbers" + "]" if k == "embedding" and isinstance(v, list) else _cut(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v) for v in value]
    return value


def value_text(value: object, limit: int = 120) -> str:
    """One JSON value on one line, escaped, cut at ``limit`` characters."""
    s = visible(json.dumps(_cut(value), ensure_ascii=False, default=str))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def record_text(record: Mapping[str, object] | None, *, style: str = "") -> Text:
    """A record pretty-printed, one escaped line per JSON line (a vector shown as its length)."""
    if record is None:
        return Text("(absent)", style="dim")
    lines = json.dumps(_cut(record), indent=2, ensure_ascii=False, default=str).split("\n")
    return Text("\n".join(visible(line) for line in lines), style=style)


def changes_text(changes: Sequence[FieldChange], *, left: str, right: str) -> Text:
    """``path: left value → right value``, a line per field (a vector: how many values differ)."""
    t = Text()
    if not changes:
        t.append("no field differs", style="dim")
        return t
    width = min(28, max(len(visible(c.path)) for c in changes))
    for i, c in enumerate(changes[:MAX_CHANGES]):
        if i:
            t.append("\n")
        t.append(f"{visible(c.path):<{width}} ", style="bold")
        if c.change == "vector":
            t.append(visible(c.note or "vectors differ"), style="yellow")
            continue
        t.append(f"{left} ", style="dim")
        t.append(value_text(c.a) if c.change != "only-b" else "(absent)", style="red")
        t.append(f"  {right} ", style="dim")
        t.append(value_text(c.b) if c.change != "only-a" else "(absent)", style="green")
    if len(changes) > MAX_CHANGES:
        t.append(f"\n… {len(changes) - MAX_CHANGES} more field(s) differ", style="dim")
    return t
