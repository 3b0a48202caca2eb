"""A text timeline of restorable coverage: one row per substrate, one mark per bundle, time to scale."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rich.text import Text
from textual.widget import Widget

# mark -> (character, style, legend). Characters differ, so the picture reads without colour.
MARKS: dict[str, tuple[str, str, str]] = {
    "kept": ("■", "bold green", "restorable"),
    "delete": ("×", "bold red", "prune deletes"),
    "broken": ("□", "yellow", "not restorable"),
}
PRIORITY = ("delete", "kept", "broken")  # what wins when two bundles share a cell


@dataclass(frozen=True)
class Lane:
    substrate: str
    points: tuple[tuple[datetime, str], ...]  # (bundle time, mark)
    summary: str = ""  # e.g. "newest 9h · back 41d"


@dataclass(frozen=True)
class TimelineData:
    now: datetime
    lanes: tuple[Lane, ...] = ()
    start: datetime | None = None  # the left end (default: the oldest point)
    # axis labels, formatted by the caller: "left" (e.g. "77d ago"); the right end always reads "now"
    labels: dict[str, str] = field(default_factory=dict)


class CoverageTimeline(Widget):
    DEFAULT_CSS = """
    CoverageTimeline {
        height: auto;
        width: 100%;
    }
    """

    def __init__(self, data: TimelineData | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = data

    def set_data(self, data: TimelineData) -> None:
        self.data = data
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:  # type: ignore[no-untyped-def]
        lanes = len(self.data.lanes) if self.data else 0
        return lanes + 2 if lanes else 1

    def render(self) -> Text:
        data = self.data
        if data is None or not data.lanes:
            return Text("no bundles: nothing to draw", style="dim")
        width = max(self.size.width, 40)
        name_w = max(len(lane.substrate) for lane in data.lanes) + 1
        summary_w = max(len(lane.summary) for lane in data.lanes) + 1
        track = max(10, width - name_w - summary_w - 2)
        times = [t for lane in data.lanes for t, _ in lane.points]
        start = data.start or (min(times) if times else data.now)
        span = max((data.now - start).total_seconds(), 1.0)

        def col(t: datetime) -> int:
            frac = (t - start).total_seconds() / span
            return max(0, min(track - 1, round(frac * (track - 1))))

        out = Text()
        left = data.labels.get("left", "")
        axis = Text(" " * name_w)
        axis.append(left, style="dim")
        axis.append(" " * max(1, track - len(left) - 3))
        axis.append("now", style="dim")
        out.append_text(axis)
        for lane in data.lanes:
            out.append("\n")
            out.append(f"{lane.substrate:<{name_w}}", style="bold")
            cells: list[str | None] = [None] * track
            for t, mark in lane.points:
                c = col(t)
                current = cells[c]
                if current is None or PRIORITY.index(mark) < PRIORITY.index(current):
                    cells[c] = mark
            # the span from the oldest restorable point to now is what can be recovered: draw it as a line
            restorable = [col(t) for t, m in lane.points if m in ("kept", "delete")]
            first = min(restorable) if restorable else track
            for i, mark in enumerate(cells):
                if mark is None:
                    out.append("─" if i >= first else "·", style="green" if i >= first else "dim")
                else:
                    ch, style, _ = MARKS[mark]
                    out.append(ch, style=style)
            out.append("  ")
            out.append(lane.summary)
        out.append("\n")
        legend = Text(" " * name_w)
        for i, key in enumerate(("kept", "delete", "broken")):
            ch, style, what = MARKS[key]
            if i:
                legend.append("  ")
            legend.append(ch, style=style)
            legend.append(f" {what}", style="dim")
        legend.append("  ─ recoverable span", style="dim")
        out.append_text(legend)
        return out
