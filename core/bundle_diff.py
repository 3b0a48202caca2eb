"""Bundle against bundle: per node label, edge type and collection, what only A holds, what only B holds, and
what both hold with the same or a different content.

Both bundles are streamed once into one on-disk index (a temporary SQLite table keyed by kind and id, holding
each side's group, a 64-bit hash of the content and where the record is), so memory stays flat whatever the
bundles' size; every count is then one GROUP BY, and the ids of any cell one ordered query, paged. Content is
compared by value (``core.browse.content_key``: keys sorted, vectors as float32), not by line bytes. A duplicate
id inside one bundle keeps its first occurrence, as a restore does, and is counted.

The index lives while the operator looks (the console keeps it for drill-down); ``diff_bundles`` builds one,
answers and removes it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import orjson

from core.browse import (
    COLLECTION_KINDS,
    EDGE,
    NODE,
    Record,
    Unreadable,
    content_key,
    files_of,
    iter_records,
    kinds_of,
    read_record,
)
from core.errors import UsageError
from core.field_diff import FieldChange, field_changes
from core.plan import Filters
from core.progress import ProgressFn, Ticker, check_cancel, no_progress
from core.substrates import check_only_substrate
from core.wire import wire

BATCH = 20_000  # rows per executemany
SORTED = orjson.OPT_SORT_KEYS
dumps = orjson.dumps
MAX_UNREADABLE = 50  # listed per side; all are counted
# a cell by its wire name (what --json, the CLI and the console call it) -> which rows of the index it holds
_CELL_SQL = {"onlyInA": "hb IS NULL", "onlyInB": "ha IS NULL", "identical": "ha = hb", "different": "ha <> hb"}
CELLS = tuple(_CELL_SQL)
DEFAULT_PAGE = 100

SCHEMA = """
CREATE TABLE r (
  kind TEXT NOT NULL, id TEXT NOT NULL,
  ga TEXT, ha INTEGER, fa INTEGER, oa INTEGER,
  gb TEXT, hb INTEGER, fb INTEGER, ob INTEGER,
  PRIMARY KEY (kind, id)
) WITHOUT ROWID
"""
INSERT_A = "INSERT OR IGNORE INTO r (kind, id, ga, ha, fa, oa) VALUES (?, ?, ?, ?, ?, ?)"
# B's first occurrence of an id fills its side once; a later duplicate finds hb set and changes nothing
INSERT_B = ("INSERT INTO r (kind, id, gb, hb, fb, ob) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE "
            "SET gb = excluded.gb, hb = excluded.hb, fb = excluded.fb, ob = excluded.ob WHERE r.hb IS NULL")


@dataclass(frozen=True, kw_only=True)
class IdPage:
    """One page of a cell's ids, in id order."""

    offset: int
    limit: int
    total: int
    ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DiffRow:
    """One label, edge type or collection: the four cells (a row in both counts under A's group)."""

    only_a: int = field(default=0, metadata=wire("onlyInA"))
    only_b: int = field(default=0, metadata=wire("onlyInB"))
    identical: int = 0
    different: int = 0
    ids: Mapping[str, IdPage] | None = field(default=None, metadata=wire(omit_none=True))

    __wire__: ClassVar = ("in_a", "in_b", "only_a", "only_b", "identical", "different", "ids")

    @property
    def in_a(self) -> int:
        return self.only_a + self.identical + self.different

    @property
    def in_b(self) -> int:
        return self.only_b + self.identical + self.different

    @property
    def changed(self) -> int:
        """Rows that are not the same on both sides."""
        return self.only_a + self.only_b + self.different

    def cell(self, name: str) -> int:
        """A cell's count by its wire name (onlyInA, onlyInB, identical, different)."""
        return {"onlyInA": self.only_a, "onlyInB": self.only_b, "identical": self.identical,
                "different": self.different}[name]


@dataclass(frozen=True, kw_only=True)
class DiffSide:
    name: str
    path: Path
    records: int  # records read (duplicates included)
    duplicate_ids: int  # later occurrences of an id already seen in the same bundle: left out, as restore does
    unreadable: int
    unreadable_lines: tuple[Unreadable, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DiffTotals:
    only_a: int = field(metadata=wire("onlyInA"))
    only_b: int = field(metadata=wire("onlyInB"))
    identical: int
    different: int


@dataclass(frozen=True, kw_only=True)
class BundleDiff:
    a: DiffSide
    b: DiffSide
    filters: Filters
    only_substrate: tuple[str, ...] | None
    labels: Mapping[str, DiffRow]
    edge_types: Mapping[str, DiffRow]
    collections: Mapping[str, DiffRow]
    filtered_out: int  # rows of a filtered label or edge type, on either side: not compared

    __wire__: ClassVar = ("a", "b", "filters", "only_substrate", "labels", "edge_types", "collections", "totals",
                          "filtered_out")

    @property
    def totals(self) -> DiffTotals:
        rows = [*self.labels.values(), *self.edge_types.values(), *self.collections.values()]
        return DiffTotals(only_a=sum(r.only_a for r in rows), only_b=sum(r.only_b for r in rows),
                          identical=sum(r.identical for r in rows), different=sum(r.different for r in rows))

    def rows(self, kind: str) -> Mapping[str, DiffRow]:
        if kind == NODE:
            return self.labels
        if kind == EDGE:
            return self.edge_types
        return {k: v for k, v in self.collections.items() if k == kind}


@dataclass(frozen=True, kw_only=True)
class RowPair:
    """One id in both bundles (or one of them), read back, and how its fields differ."""

    kind: str
    id: str
    a: Mapping[str, object] | None
    b: Mapping[str, object] | None
    changes: tuple[FieldChange, ...]


class _Loader:
    """One side's records into the index, in batches."""

    def __init__(self, conn: sqlite3.Connection, side: str, files: list[Path]) -> None:
        self.conn, self.side = conn, side
        self.sql = INSERT_A if side == "a" else INSERT_B
        self.file_ix = {f: i for i, f in enumerate(files)}
        # written: rows that changed the table (an upsert joining A's row counts; a duplicate id changes nothing)
        self.records = self.written = self.unreadable = 0
        self.bad: list[Unreadable] = []
        self.batch: list[tuple[str, str, str, int, int, int]] = []
        self.root: Path | None = None
        self.last_file: Path | None = None
        self.last_ix = 0

    def on_bad(self, path: Path, number: int, reason: str) -> None:
        self.unreadable += 1
        if len(self.bad) < MAX_UNREADABLE:
            rel = str(path.relative_to(self.root)) if self.root is not None else str(path)
            self.bad.append(Unreadable(file=rel, line=number, reason=reason))

    def add(self, r: Record) -> None:
        self.records += 1
        if r.file is not self.last_file:  # one Path per file: compare by identity, look up once
            self.last_file, self.last_ix = r.file, self.file_ix[r.file]
        kind = r.kind
        key = dumps(r.value, option=SORTED) if kind is NODE or kind is EDGE else content_key(kind, r.value)
        self.batch.append((kind, r.id, r.group, hash(key), self.last_ix, r.offset))
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            before = self.conn.total_changes
            # in key order: neighbouring inserts land on the same B-tree pages. A stable sort keeps a repeated
            # id's occurrences in stream order, so the first one still wins.
            self.batch.sort(key=lambda row: (row[0], row[1]))
            self.conn.executemany(self.sql, self.batch)
            self.written += self.conn.total_changes - before
            self.batch = []


class BundleIndex:
    """Two bundles in one temporary on-disk table; ``close`` removes it."""

    def __init__(self, a: Path, b: Path, *, only_substrate: Iterable[str] | None = None,
                 work_dir: Path | None = None) -> None:
        for p in (a, b):
            if not p.is_dir():
                raise UsageError("bundle directory not found", path=p)
        self.a, self.b = a, b
        self.only = check_only_substrate(only_substrate)
        self.kinds = kinds_of(self.only)
        self.files = {side: sorted({f for k in self.kinds for f in files_of(p, k)})
                      for side, p in (("a", a), ("b", b))}
        fd, name = tempfile.mkstemp(prefix="recovery-console-diff-", suffix=".sqlite", dir=work_dir)
        os.close(fd)
        self.path = Path(name)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # a scratch table: nothing to recover after a crash, so no journal and no fsync
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -16384", "temp_store = FILE"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute(SCHEMA)
        self.sides: dict[str, DiffSide] = {}
        self._lock = threading.Lock()  # the console's drill-down queries and a rebuild never interleave

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    def __enter__(self) -> BundleIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------- building

    def build(self, *, on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None) -> None:
        with self._lock:
            for side, bundle in (("a", self.a), ("b", self.b)):
                loader = _Loader(self.conn, side, self.files[side])
                loader.root = bundle
                ticker = Ticker(f"{side.upper()} {bundle.name}"[:40], None, on_progress, unit="lines")
                self.conn.execute("BEGIN")
                try:
                    for rec in iter_records(bundle, self.kinds, on_bad=loader.on_bad, cancel=cancel,
                                            on_line=ticker.update):
                        loader.add(rec)
                    loader.flush()
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
                ticker.update(loader.records, force=True)
                check_cancel(cancel)
                self.sides[side] = DiffSide(
                    name=bundle.name, path=bundle, records=loader.records,
                    duplicate_ids=loader.records - loader.written,
                    unreadable=loader.unreadable, unreadable_lines=tuple(loader.bad))

    # ---------------------------------------------------------------------------------------------- answers

    def diff(self, filters: Filters = Filters(), *, ids: bool = False, offset: int = 0,
             limit: int = DEFAULT_PAGE) -> BundleDiff:
        """Every count (and, with ``ids``, a page of every non-empty cell's ids) for this filter set."""
        if not self.sides:
            raise RuntimeError("BundleIndex.diff before build")
        rows: dict[str, dict[str, DiffRow]] = {"node": {}, "edge": {}, "collection": {}}
        filtered = 0
        with self._lock:
            result = self.conn.execute(
                "SELECT kind, coalesce(ga, gb), sum(hb IS NULL), sum(ha IS NULL), coalesce(sum(ha = hb), 0), "
                "coalesce(sum(ha <> hb), 0) FROM r GROUP BY 1, 2").fetchall()
        for kind, group, only_a, only_b, same, other in result:
            if (kind == NODE and group in filters.labels) or (kind == EDGE and group in filters.edge_types):
                filtered += only_a + only_b + 2 * (same + other)
                continue
            row = DiffRow(only_a=only_a, only_b=only_b, identical=same, different=other)
            if ids:
                row = DiffRow(only_a=only_a, only_b=only_b, identical=same, different=other,
                              ids={cell: self.ids(kind, group, cell, offset=offset, limit=limit)
                                   for cell in CELLS if row.cell(cell)})
            rows[kind if kind in (NODE, EDGE) else "collection"][group] = row
        return BundleDiff(
            a=self.sides["a"], b=self.sides["b"], filters=filters, only_substrate=self.only,
            labels=_ordered(rows["node"]), edge_types=_ordered(rows["edge"]),
            collections={k: rows["collection"][k] for k in COLLECTION_KINDS if k in rows["collection"]},
            filtered_out=filtered)

    def ids(self, kind: str, group: str, cell: str, *, offset: int = 0, limit: int = DEFAULT_PAGE) -> IdPage:
        """One page of the ids in one cell, in id order."""
        if cell not in _CELL_SQL:
            raise UsageError(f"unknown cell {cell!r} (choose from {', '.join(CELLS)})")
        where = f"kind = ? AND coalesce(ga, gb) = ? AND {_CELL_SQL[cell]}"
        with self._lock:
            total = self.conn.execute(f"SELECT count(*) FROM r WHERE {where}", (kind, group)).fetchone()[0]
            found = self.conn.execute(f"SELECT id FROM r WHERE {where} ORDER BY id LIMIT ? OFFSET ?",
                                      (kind, group, max(0, limit), max(0, offset))).fetchall()
        return IdPage(offset=offset, limit=limit, total=int(total), ids=tuple(r[0] for r in found))

    def pair(self, kind: str, rid: str) -> RowPair:
        """Both versions of one id, read back from the bundles, and their field-level differences."""
        with self._lock:
            hit = self.conn.execute("SELECT fa, oa, fb, ob FROM r WHERE kind = ? AND id = ?", (kind, rid)).fetchone()
        if hit is None:
            raise UsageError(f"{kind} {rid!r} is in neither bundle")
        fa, oa, fb, ob = hit
        a = self._read("a", kind, fa, oa)
        b = self._read("b", kind, fb, ob)
        return RowPair(kind=kind, id=rid, a=a, b=b,
                       changes=field_changes(a, b) if a is not None and b is not None else ())

    def _read(self, side: str, kind: str, file_ix: int | None, offset: int | None) -> Mapping[str, object] | None:
        if file_ix is None or offset is None:
            return None
        bundle = self.a if side == "a" else self.b
        rec = read_record(bundle, kind, self.files[side][file_ix], offset)
        return rec.value if rec is not None else None


def _ordered(rows: dict[str, DiffRow]) -> dict[str, DiffRow]:
    """What changed most first; then the biggest; then by name."""
    return dict(sorted(rows.items(), key=lambda kv: (-kv[1].changed, -max(kv[1].in_a, kv[1].in_b), kv[0])))


def diff_bundles(a: Path, b: Path, *, filters: Filters = Filters(), only_substrate: Iterable[str] | None = None,
                 ids: bool = False, offset: int = 0, limit: int = DEFAULT_PAGE, work_dir: Path | None = None,
                 on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None) -> BundleDiff:
    """Build the index of two bundles, answer, and remove it."""
    with BundleIndex(a, b, only_substrate=only_substrate, work_dir=work_dir) as index:
        index.build(on_progress=on_progress, cancel=cancel)
        return index.diff(filters, ids=ids, offset=offset, limit=limit)


def iter_cells(diff: BundleDiff) -> Iterator[tuple[str, str, DiffRow]]:
    """(kind, group, row) of every row of a diff, labels, then edge types, then collections."""
    for group, row in diff.labels.items():
        yield NODE, group, row
    for group, row in diff.edge_types.items():
        yield EDGE, group, row
    for group, row in diff.collections.items():
        yield group, group, row
