"""A bundle's ``capture`` block, read for display: per source, how many rows the export read, whether that is a
populated, proven-empty or collapsed capture, and against which earlier bundle (neo-today.md section 3).

Whether a collapsed source makes its substrate unrestorable is decided in ``core.restorability``; this module
only reads what the block says. Older bundles have no block, or entries without ``previousRowCount`` /
``collapsed``: those read as None, never as False.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# neo's capture sources, in its order, and the console's name for each (the graph has none, on purpose)
SOURCES = (("kb", "kb"), ("mc.memories", "memories"), ("mc.summaries", "summaries"))
ROW_STATES = ("populated", "zero", "unestablished")
LINEAGES = ("same", "changed", "unknown")


@dataclass(frozen=True)
class CaptureSource:
    source: str  # neo's key: kb | mc.memories | mc.summaries
    key: str  # the console's: kb | memories | summaries
    row_count: int | None
    row_state: str | None
    lineage: str | None
    collection_id: str | None
    compared_bundle: str | None
    previous_row_count: int | None
    proven_empty: bool | None
    collapsed: bool | None

    @property
    def verdict(self) -> str:
        """One word for a table cell: collapsed | proven empty | populated | zero | unestablished | ?"""
        if self.collapsed:
            return "collapsed"
        if self.proven_empty:
            return "proven empty"
        return self.row_state or "?"

    @property
    def text(self) -> str:
        """One line: `mc.memories  32271 rows  populated  lineage same (was 32190 in backup-…)`."""
        rows = "?" if self.row_count is None else str(self.row_count)
        parts = [f"{rows} rows", self.verdict, f"lineage {self.lineage or '?'}"]
        if self.previous_row_count is not None:
            where = f" in {self.compared_bundle}" if self.compared_bundle else ""
            parts.append(f"(was {self.previous_row_count}{where})")
        return "  ".join(parts)


@dataclass(frozen=True)
class Capture:
    schema_version: int | None
    compared_to: str | None
    sources: tuple[CaptureSource, ...]

    def source(self, key: str) -> CaptureSource | None:
        return next((s for s in self.sources if s.key == key or s.source == key), None)

    @property
    def collapsed(self) -> tuple[CaptureSource, ...]:
        return tuple(s for s in self.sources if s.collapsed)


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _bool(v: object) -> bool | None:
    return v if isinstance(v, bool) else None


def _word(v: object, allowed: tuple[str, ...]) -> str | None:
    return v if isinstance(v, str) and v in allowed else None


def read_capture(meta: Mapping[str, Any] | None) -> Capture | None:
    """The capture block of a meta, or None when there is none (an older or foreign writer)."""
    block = (meta or {}).get("capture")
    if not isinstance(block, Mapping):
        return None
    raw_sources = block.get("sources")
    sources = raw_sources if isinstance(raw_sources, Mapping) else {}
    out = []
    for source, key in SOURCES:
        e = sources.get(source)
        if not isinstance(e, Mapping):
            continue
        out.append(CaptureSource(
            source=source, key=key, row_count=_int(e.get("rowCount")),
            row_state=_word(e.get("rowState"), ROW_STATES), lineage=_word(e.get("lineage"), LINEAGES),
            collection_id=e.get("collectionId") if isinstance(e.get("collectionId"), str) else None,
            compared_bundle=e.get("comparedBundle") if isinstance(e.get("comparedBundle"), str) else None,
            previous_row_count=_int(e.get("previousRowCount")),
            proven_empty=_bool(e.get("provenEmpty")), collapsed=_bool(e.get("collapsed"))))
    compared = block.get("comparedTo")
    return Capture(_int(block.get("schemaVersion")), compared if isinstance(compared, str) else None, tuple(out))
