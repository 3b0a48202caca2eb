"""Small text renderings that carry meaning by character, not colour alone."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

# (character, style) for each segment kind; the characters differ so the bar reads without colour.
SEGMENTS: dict[str, tuple[str, str]] = {
    "insert": ("█", "green"),
    "present": ("▒", "blue"),
    "filtered": ("░", "yellow"),
    "orphaned": ("×", "red"),
}


def split_bar(parts: Sequence[tuple[str, int]], scale: int, width: int = 10) -> Text:
    """A bar of ``width`` cells whose filled length is proportional to ``sum(parts) / scale``.

    Each non-zero part gets at least one cell, so a small count never disappears; the rest is padded with
    spaces so the column stays aligned.
    """
    total = sum(max(0, n) for _, n in parts)
    text = Text()
    if scale <= 0 or total <= 0:
        return Text(" " * width)
    filled = max(1, round(width * min(total, scale) / scale))
    cells: list[tuple[str, int]] = []
    for kind, n in parts:
        if n > 0:
            cells.append((kind, max(1, round(filled * n / total))))
    # trim the largest segments until the bar fits in ``filled``
    while sum(c for _, c in cells) > max(filled, len(cells)):
        i = max(range(len(cells)), key=lambda j: cells[j][1])
        if cells[i][1] <= 1:
            break
        cells[i] = (cells[i][0], cells[i][1] - 1)
    used = 0
    for kind, count in cells:
        count = min(count, width - used)
        if count <= 0:
            break
        ch, style = SEGMENTS.get(kind, ("#", ""))
        text.append(ch * count, style=style)
        used += count
    text.append(" " * (width - used))
    return text


def legend(kinds: Sequence[str] = ("insert", "present", "filtered")) -> Text:
    names = {"insert": "would insert", "present": "already present", "filtered": "filtered",
             "orphaned": "orphaned"}
    text = Text()
    for i, kind in enumerate(kinds):
        ch, style = SEGMENTS[kind]
        if i:
            text.append("  ")
        text.append(ch, style=style)
        text.append(f" {names[kind]}", style="dim")
    return text


def compact(n: int | None) -> str:
    """12 -> '12', 15212 -> '15.2k', 1_000_000 -> '1.0M'; None -> '-'."""
    if n is None:
        return "-"
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"
