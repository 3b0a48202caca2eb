"""The restore's graph staging file: every bundle line parsed once, by validation's pass, into a scratch table the
merge then reads a chunk at a time (see the section comment below). A store of its own beside ``graph_store``:
it never touches the live graph except through the merge statements that attach it."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

# ------------------------------------------------------------------------------------------------ staging
#
# A restore parses each bundle line once, during validation, into a staging table in its own file (the data
# dir's state dir: no foreign key, trigger or index, journal off: it is scratch). The merge then reads it in
# chunks of consecutive lines (`seq`) and lets SQLite do the rest in one statement per chunk: the existence
# check (`ON CONFLICT DO NOTHING`), the orphan rule (`EXISTS` on both endpoints, in the same transaction) and
# the journal's id capture (`RETURNING id`: exactly the rows this statement inserted). `ORDER BY id` hands the
# B-trees their keys in order; `, seq` makes the first occurrence of a duplicate id the one that goes in.

STAGED_OK, STAGED_FILTERED, STAGED_INVALID = 0, 1, 2
STAGING_SCHEMA = """
CREATE TABLE staged (
  seq     INTEGER PRIMARY KEY,  -- the line's place in the bundle's stream
  kind    INTEGER NOT NULL,     -- 0 node, 1 edge
  st      INTEGER NOT NULL,     -- STAGED_OK, STAGED_FILTERED, STAGED_INVALID
  id      TEXT,
  user_id,
  source  TEXT,
  target  TEXT,
  label   TEXT NOT NULL,        -- a node's label, an edge's type
  data    BLOB NOT NULL,        -- the line's `data` bytes, verbatim (the merge stores them as TEXT)
  crc     INTEGER NOT NULL,
  file    INTEGER NOT NULL,
  line    INTEGER NOT NULL,
  reason  TEXT                  -- why an invalid row cannot be written
)
"""
# (seq, kind, st, id, user_id, source, target, label, data, crc, file, line, reason)
StagedRow = tuple[int, int, int, str | None, object, str | None, str | None, str, bytes, int, int, int, str | None]
# the same, read back for the careful path, `data` as the TEXT the merge stores
ReadRow = tuple[int, int, int, str | None, object, str | None, str | None, str, str, int, int, int, str | None]


def create_staging(path: Path) -> sqlite3.Connection:
    """A fresh staging file at `path` (a stale one from a killed run is replaced)."""
    drop_staging(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # owner-only: the rows are agent memories
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -4096", "locking_mode = EXCLUSIVE"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(STAGING_SCHEMA)
    return conn


def drop_staging(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-journal")):
        leftover.unlink(missing_ok=True)


def stage(conn: sqlite3.Connection, rows: Sequence[StagedRow]) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO staged VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")


# A staging file is attached to the merge's connection under one of these names: the first holds the lines the
# restore's own process staged, the second those a helper process staged (the second half of a large file).
SCHEMAS = ("stg", "stg2")


def attach_staging(conn: sqlite3.Connection, path: Path, schema: str = "stg") -> None:
    assert schema in SCHEMAS
    conn.execute(f"ATTACH DATABASE ? AS {schema}", (str(path),))


# (st, id, label, crc, file, line, reason, source, target) of each line of a chunk, in stream order
StagedLine = tuple[int, str | None, str, int, int, int, str | None, str | None, str | None]
_STAGED_LINES = ("SELECT st, id, label, crc, file, line, reason, source, target FROM {s}.staged "
                 "WHERE seq BETWEEN ? AND ? ORDER BY seq")
_MERGE_NODES = ("INSERT INTO main.Nodes (id, user_id, data) SELECT id, user_id, CAST(data AS TEXT) FROM {s}.staged "
                "WHERE seq BETWEEN ? AND ? AND st = 0 ORDER BY id, seq ON CONFLICT DO NOTHING RETURNING id")
# an edge goes in only when both endpoints exist now: nodes precede it in the stream, so this is exactly neo's
# validEndpointIds (accepted backup nodes, inserted or already live, and live nodes)
_MERGE_EDGES = ("INSERT INTO main.Edges (id, user_id, source, target, type, data) "
                "SELECT id, user_id, source, target, label, CAST(data AS TEXT) FROM {s}.staged g "
                "WHERE seq BETWEEN ? AND ? AND st = 0 "
                "AND EXISTS (SELECT 1 FROM main.Nodes n WHERE n.id = g.source) "
                "AND EXISTS (SELECT 1 FROM main.Nodes n WHERE n.id = g.target) "
                "ORDER BY id, seq ON CONFLICT DO NOTHING RETURNING id")


def unwritable_lines(conn: sqlite3.Connection, lo: int, hi: int, s: str = "stg"
                     ) -> Iterator[tuple[int, str, int, int, str | None]]:
    """(st, label, file, line, reason) of the chunk's filtered and invalid lines, in stream order."""
    assert s in SCHEMAS
    return iter(conn.execute(f"SELECT st, label, file, line, reason FROM {s}.staged WHERE seq BETWEEN ? AND ? "
                             "AND st != 0 ORDER BY seq", (lo, hi)))


WritableColumns = tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], tuple[str | None, ...],
                        tuple[str | None, ...]]


def writable_lines(conn: sqlite3.Connection, lo: int, hi: int, s: str = "stg", block: int = 10_000
                   ) -> Iterator[WritableColumns]:
    """The chunk's writable lines in stream order, a block at a time, as columns (ids, labels, crcs, sources,
    targets): the merge counts them with C-level maps over each column instead of a Python step per line."""
    assert s in SCHEMAS
    cur = conn.execute(f"SELECT id, label, crc, source, target FROM {s}.staged WHERE seq BETWEEN ? AND ? AND st = 0 "
                       "ORDER BY seq", (lo, hi))
    while rows := cur.fetchmany(block):
        yield tuple(zip(*rows, strict=True))  # type: ignore[misc]


def staged_lines(conn: sqlite3.Connection, lo: int, hi: int, s: str = "stg") -> Iterator[StagedLine]:
    """The chunk's lines as the merge classifies them, read inside its transaction, streamed."""
    assert s in SCHEMAS
    return iter(conn.execute(_STAGED_LINES.format(s=s), (lo, hi)))


def merge_connection(conn: sqlite3.Connection) -> None:
    """The merge checks both endpoints of every edge it inserts itself, in the inserting statement and under
    the write lock (`_MERGE_EDGES`), so SQLite's own foreign-key probe would repeat that check for nothing:
    it is switched off on this connection (the merge never deletes, so no cascade is skipped)."""
    conn.execute("PRAGMA foreign_keys = OFF")


def merge_staged(conn: sqlite3.Connection, kind: int, lo: int, hi: int, s: str = "stg") -> set[str]:
    """Insert the chunk's absent rows (edges: only those whose endpoints exist); -> the ids inserted.

    Never ``OR REPLACE``, never an UPDATE: a live row, or one an earlier line of the bundle inserted, stays
    exactly as it is (replacing a node would delete it first, and the delete cascades to its edges)."""
    assert s in SCHEMAS
    return {r[0] for r in conn.execute((_MERGE_NODES if kind == 0 else _MERGE_EDGES).format(s=s), (lo, hi))}


def staged_rows(conn: sqlite3.Connection, lo: int, hi: int, s: str = "stg") -> list[ReadRow]:
    """Every column of a chunk's lines, in stream order (the careful path, row by row)."""
    assert s in SCHEMAS
    return conn.execute(f"SELECT seq, kind, st, id, user_id, source, target, label, CAST(data AS TEXT), crc, file, line, "
                        f"reason FROM {s}.staged WHERE seq BETWEEN ? AND ? ORDER BY seq", (lo, hi)).fetchall()


def node_exists(conn: sqlite3.Connection, node_id: str) -> bool:
    return conn.execute("SELECT 1 FROM Nodes WHERE id = ?", (node_id,)).fetchone() is not None
