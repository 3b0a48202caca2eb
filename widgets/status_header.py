"""A one-line header: where we are, how old the newest restorable backup of each substrate is, and the mode."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from core.safetext import visible


@dataclass(frozen=True)
class Freshness:
    """The newest restorable backup of one substrate: its age as the caller words it (``9h``), or None when
    there is no restorable backup at all; ``stale`` when it is older than the guard allows."""

    substrate: str
    age: str | None
    stale: bool


@dataclass(frozen=True)
class HeaderState:
    location: str = ""
    freshness: tuple[Freshness, ...] = ()
    readonly: bool = False
    loading: bool = True
    busy: str = ""  # e.g. "restoring", shown as a badge while a write runs
    extra: tuple[str, ...] = field(default_factory=tuple)


class StatusHeader(Widget):
    """Renders ``title │ location │ kb 3h  mc 3h  graph 31h STALE │ READ-ONLY``, cutting the least useful part
    first when the terminal is narrow. Every flag is a word, not a colour alone."""

    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        width: 100%;
        background: $panel;
        color: $foreground;
    }
    """

    state: reactive[HeaderState] = reactive(HeaderState, layout=False)

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title

    def _ages(self, short: bool) -> Text:
        text = Text()
        if self.state.loading and not self.state.freshness:
            text.append("reading backups…", style="dim")
            return text
        for i, f in enumerate(self.state.freshness):
            if i:
                text.append("  ")
            text.append(f.substrate + " ", style="bold")
            if f.age is None:
                text.append("NONE!", style="bold reverse red")
            elif f.stale:
                text.append(visible(f.age) + (" !" if short else " STALE"), style="bold reverse yellow")
            else:
                text.append(visible(f.age), style="green")
        return text

    def render(self) -> Text:
        width = self.size.width or 80
        st = self.state
        badges = Text()
        if st.busy:
            badges.append(f" {st.busy.upper()} ", style="bold reverse magenta")
            badges.append(" ")
        if st.readonly:
            badges.append(" READ-ONLY ", style="bold reverse cyan")
        title = Text(f" {self.title_text} ", style="bold")
        for short, with_location, with_label in (
            (False, True, True), (False, False, True), (False, False, False), (True, False, False),
        ):
            ages = self._ages(short)
            middle = Text()
            if with_location and st.location:
                middle.append("│ ", style="dim")
                middle.append(visible(st.location))
                middle.append(" ")
            middle.append("│ ", style="dim")
            if with_label and st.freshness:
                middle.append("newest restorable: ", style="dim")
            middle.append_text(ages)
            used = title.cell_len + middle.cell_len + badges.cell_len
            if used <= width:
                break
        line = Text.assemble(title, middle)
        pad = max(1, width - line.cell_len - badges.cell_len)
        line.append(" " * pad)
        line.append_text(badges)
        line.truncate(width)
        return line
