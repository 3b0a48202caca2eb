"""A checkbox list and a radio button whose state reads from the glyph, not the colour.

Textual draws every box of a SelectionList as ``▐X▌`` and every radio as ``▐●▌``, ticked or not, and tells them
apart by colour only: under NO_COLOR, on a monochrome terminal or in a plain-text capture, every filter looks
ticked. Here a ticked box reads ``▐X▌`` and an unticked one ``▐ ▌``; the chosen radio ``▐●▌``, the others
``▐ ▌``.
"""

from __future__ import annotations

from typing import TypeVar

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import RadioButton, SelectionList
from textual.widgets._toggle_button import ToggleButton

TICKED = "X"
UNTICKED = " "
CHOSEN = "●"
NOT_CHOSEN = " "

T = TypeVar("T")


class CheckList(SelectionList[T]):
    """A SelectionList whose boxes are empty unless ticked."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        # SelectionList puts its button (left side, inner glyph, right side) before an option's prompt
        if len(segments) < 3 or segments[0].text != ToggleButton.BUTTON_LEFT \
                or segments[1].text != ToggleButton.BUTTON_INNER:
            return strip
        index = self.scroll_offset.y + y
        try:
            value = self.get_option_at_index(index).value
        except Exception:  # not an option line
            return strip
        inner = segments[1]
        segments[1] = Segment(TICKED if value in self._selected else UNTICKED, inner.style, inner.control)
        return Strip(segments, strip.cell_length)


class Radio(RadioButton):
    """A RadioButton that is empty unless it is the chosen one."""

    @property  # type: ignore[override]
    def BUTTON_INNER(self) -> str:  # noqa: N802 - the name Textual's ToggleButton reads
        return CHOSEN if self.value else NOT_CHOSEN
