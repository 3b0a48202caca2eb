"""A DataTable that never shows rows at stale column widths.

Textual 8.2.8's DataTable measures new rows when its message queue next idles, but leaves the rows it already
rendered in its render caches (keyed by an update counter the measurement does not advance). A frame drawn
between ``add_row`` and that idle therefore stays on screen with every column as wide as its header
("2026-0" for a bundle time) until something else changes: on a busy machine, a flaky snapshot. Advancing
the counter after each measurement makes the next frame use the measured widths.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widgets import DataTable as _DataTable
from textual.widgets.data_table import RowKey


class DataTable(_DataTable[Any]):
    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        self._update_count += 1  # rows rendered before the measurement are stale now
        self.refresh()
