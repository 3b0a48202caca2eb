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

    def cursor_row_key(self) -> str | None:
        """The key of the row under the cursor, or None (an empty table, or a cursor on no row)."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # Textual raises its own CellDoesNotExist for a cursor past the rows
            return None
        return str(key.value) if key.value is not None else None
