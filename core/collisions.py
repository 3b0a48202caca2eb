"""The rows a merge keeps live although the bundle holds them otherwise (the plan's ``alreadyPresentDiffers``):
the ids of one node label, edge type or collection whose live row differs from the bundle's, a page at a time,
and one of them, live beside the bundle, field by field.

A page streams the bundle again (``core.browse``) and compares that group's rows with the live rows a batch at a
time (``core.live_rows``, the comparison search uses): nothing is kept between pages and memory stays flat; a
later page reads further into the bundle. The page lists every row of the group whose id is live with other
content; the plan's count leaves out those a filter or neo's orphan rule drops first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from core.browse import GRAPH_KINDS, Record, iter_records, read_record
from core.datadir import DataDir
from core.live_rows import DIFFERENT, LiveMatch, compare_live

PAGE = 200
GRAPH_BATCH = 2_000  # records compared with the live rows at once
CHROMA_BATCH = 100  # a Chroma record holds its vector as a list: a 4096-d one is ~130 KB in memory


@dataclass(frozen=True, kw_only=True)
class CollidingRow:
    """Where one differing row is in the bundle (to read it again, alone)."""

    id: str
    file: Path
    offset: int  # byte offset of its line in the decoded stream


@dataclass(frozen=True, kw_only=True)
class CollidingPage:
    kind: str  # node | edge | a collection key
    group: str  # node label, edge type or collection key
    offset: int  # differing rows skipped before this page
    rows: tuple[CollidingRow, ...]
    more: bool  # more differing rows follow


@dataclass(frozen=True, kw_only=True)
class Collision:
    """One bundle row beside the live row with its id."""

    record: Record
    match: LiveMatch  # state different: changes bundle (a) → live (b), and the live row


def colliding_rows(dd: DataDir, bundle: Path, kind: str, group: str, *, offset: int = 0, limit: int = PAGE,
                   cancel: threading.Event | None = None) -> CollidingPage:
    """The ``offset``-th to ``offset + limit``-th rows of ``group`` whose id is live with other content."""
    rows: list[CollidingRow] = []
    found = 0
    batch: dict[str, Record] = {}
    size = GRAPH_BATCH if kind in GRAPH_KINDS else CHROMA_BATCH

    def flush() -> bool:
        """Compare the batch; True when the page is full and one more differing row was seen."""
        nonlocal found
        matches = compare_live(dd, batch.values())
        for r in batch.values():
            if matches[(r.kind, r.id)].state != DIFFERENT:
                continue
            found += 1
            if found <= offset:
                continue
            if len(rows) == limit:
                return True
            rows.append(CollidingRow(id=r.id, file=r.file, offset=r.offset))
        batch.clear()
        return False

    more = False
    for r in iter_records(bundle, (kind,), cancel=cancel):
        if r.group != group:
            continue
        if r.id in batch or len(batch) >= size:  # a batch compares each id once
            more = flush()
            if more:
                break
        batch[r.id] = r
    else:
        more = flush()
    return CollidingPage(kind=kind, group=group, offset=offset, rows=tuple(rows), more=more)


def collision(dd: DataDir, bundle: Path, kind: str, row: CollidingRow) -> Collision | None:
    """The row read again from the bundle, beside its live row (None when the bundle no longer holds it)."""
    record = read_record(bundle, kind, row.file, row.offset)
    if record is None or record.id != row.id:
        return None
    return Collision(record=record, match=compare_live(dd, [record])[(record.kind, record.id)])
