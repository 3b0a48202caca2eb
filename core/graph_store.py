"""The SQLite property graph as neo's `ai/graph/storage/SQLite.mjs` lays it out: every SQL statement the console
runs against it, and every transaction, is in this file.

What each operation may write (the rest only reads):
- restore, merge: ``INSERT … SELECT … ON CONFLICT DO NOTHING`` from the staged bundle; a live row is
  never updated or deleted (``OR REPLACE`` would cascade-delete a node's edges, see ``merge_staged``);
- restore, replace: ``truncate`` (edges, then nodes), then the merge path into the empty tables;
- the post-restore hook: ``INSERT OR IGNORE`` of its anchor, ``INSERT`` of absent FILE/DIRECTORY nodes,
  ``UPDATE`` of the data of FILE/DIRECTORY nodes it wrote before, ``INSERT OR IGNORE`` of CONTAINS edges;
- undo: ``DELETE`` by id of rows the run inserted, unmodified, and (nodes) referenced by no edge it keeps;
- the demo and the test fixtures: ``load`` into a fresh database.

Ids are bound as parameters of a VALUES table, never spliced into SQL or passed as JSON: SQLite's json_each cuts
a string at U+0000, so an id with an embedded NUL was never found (or matched the live id before the NUL).
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Final

import orjson

SCHEMA_VERSION = 1
NODES: Final = "Nodes"
EDGES: Final = "Edges"
TABLES = (NODES, EDGES)

DDL = """
CREATE TABLE IF NOT EXISTS Nodes (
  id      TEXT PRIMARY KEY,
  user_id TEXT,
  data    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS Edges (
  id      TEXT PRIMARY KEY,
  user_id TEXT,
  source  TEXT NOT NULL,
  target  TEXT NOT NULL,
  type    TEXT NOT NULL,
  data    TEXT NOT NULL,
  FOREIGN KEY (source) REFERENCES Nodes(id) ON DELETE CASCADE,
  FOREIGN KEY (target) REFERENCES Nodes(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_edges_source ON Edges(source);
CREATE INDEX IF NOT EXISTS idx_edges_target ON Edges(target);
CREATE TABLE IF NOT EXISTS GraphLog (
  log_id        INTEGER PRIMARY KEY AUTOINCREMENT,
  entity_id     TEXT NOT NULL,
  entity_type   TEXT NOT NULL,
  event_id      TEXT,
  event_payload TEXT
);
CREATE TRIGGER IF NOT EXISTS node_insert AFTER INSERT ON Nodes
  BEGIN INSERT INTO GraphLog (entity_id, entity_type) VALUES (NEW.id, 'nodes'); END;
CREATE TRIGGER IF NOT EXISTS node_update AFTER UPDATE ON Nodes
  BEGIN INSERT INTO GraphLog (entity_id, entity_type) VALUES (NEW.id, 'nodes'); END;
CREATE TRIGGER IF NOT EXISTS node_delete AFTER DELETE ON Nodes
  BEGIN INSERT INTO GraphLog (entity_id, entity_type) VALUES (OLD.id, 'nodes'); END;
CREATE TRIGGER IF NOT EXISTS edge_insert AFTER INSERT ON Edges
  BEGIN INSERT INTO GraphLog (entity_id, entity_type) VALUES (NEW.id, 'edges'); END;
CREATE TRIGGER IF NOT EXISTS edge_update AFTER UPDATE ON Edges
  BEGIN INSERT INTO GraphLog (entity_id, entity_type) VALUES (NEW.id, 'edges'); END;
CREATE TRIGGER IF NOT EXISTS edge_delete AFTER DELETE ON Edges
  BEGIN INSERT INTO GraphLog (entity_id, entity_type) VALUES (OLD.id, 'edges'); END;
CREATE TABLE IF NOT EXISTS SummarizationJobs (
  session_id      TEXT PRIMARY KEY,
  status          TEXT NOT NULL CHECK(status IN ('pending','in_progress','completed','failed')),
  lease_token     TEXT,
  expires_at      INTEGER,
  retry_count     INTEGER DEFAULT 0,
  result_envelope TEXT
);
CREATE TABLE IF NOT EXISTS SchemaVersion (
  id         TEXT PRIMARY KEY,
  version    INTEGER NOT NULL,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
INSERT OR IGNORE INTO SchemaVersion (id, version) VALUES ('graph', 1);
"""

NODE_SQL = "INSERT OR IGNORE INTO Nodes (id, user_id, data) VALUES (?, ?, ?)"
EDGE_SQL = "INSERT OR IGNORE INTO Edges (id, user_id, source, target, type, data) VALUES (?, ?, ?, ?, ?, ?)"
# A node row (id, user_id, data) and an edge row (id, user_id, source, target, type, data), as parsed from a
# bundle line: user_id is whatever the data holds (neo stores it as it is); the ids are typed as the parser
# types them, and a restore passes only rows that have them.
NodeRow = tuple[str | None, object, str]
EdgeRow = tuple[str | None, object, str | None, str | None, str, str]

# The page cache of a restore is bounded so peak memory does not grow with the graph (a 256 MiB cache would
# fill up on a large restore and dominate RSS); the OS page cache keeps the rest of the B-tree warm.
RESTORE_CACHE_KIB = 16_384


def connect(path: Path, *, create: bool = True, readonly: bool = False) -> sqlite3.Connection:
    """A connection with neo's pragmas: foreign keys on (the cascade is real), WAL, busy timeout.

    Autocommit mode (isolation_level=None): every transaction is explicit, through `transaction`.
    """
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    else:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise FileNotFoundError(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        if create:
            ensure_schema(conn)
    return conn


def connect_for_restore(path: Path) -> sqlite3.Connection:
    """A writer's connection with a bounded cache; WAL + NORMAL is crash-safe (a killed process loses nothing
    committed; only power loss can drop the last commits, which a re-run restores)."""
    conn = connect(path, create=True)
    conn.execute(f"PRAGMA cache_size = -{RESTORE_CACHE_KIB}")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def open_live(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to the live graph, or None when there is no DB yet (everything is new)."""
    return connect(path, readonly=True) if path.exists() else None


def ensure_schema(conn: sqlite3.Connection) -> None:
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if {"Nodes", "Edges", "GraphLog", "SchemaVersion"} <= have and _has_user_id(conn):
        return
    if "Nodes" in have and not _has_user_id(conn):
        # neo's April 2026 schema had no user_id columns; newer neo adds them in place.
        conn.execute("ALTER TABLE Nodes ADD COLUMN user_id TEXT")
        conn.execute("ALTER TABLE Edges ADD COLUMN user_id TEXT")
    conn.executescript(DDL)


def _has_user_id(conn: sqlite3.Connection) -> bool:
    cols = {r[1] for r in conn.execute("PRAGMA table_info(Nodes)")}
    return "user_id" in cols


class Transaction:
    """What a transaction's body may ask for: work to do if it is rolled back (e.g. journal it)."""

    def __init__(self) -> None:
        self.on_rollback: list[Callable[[], None]] = []


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[Transaction]:
    """``BEGIN IMMEDIATE`` (the write lock up front: no reader-to-writer upgrade can fail mid-batch) ... ``COMMIT``;
    on any exception, ``ROLLBACK``, the body's ``on_rollback`` callbacks, and the exception goes on."""
    conn.execute("BEGIN IMMEDIATE")
    tx = Transaction()
    try:
        yield tx
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
            for undo in tx.on_rollback:
                undo()
        raise


@contextmanager
def snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """One read transaction on a plain connection (no pragma that writes, no schema change): every read inside
    sees the same state, so a writer that keeps inserting cannot leave an edge whose endpoint is missing."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("BEGIN")
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------ reading


def counts(conn: sqlite3.Connection) -> tuple[int, int]:
    n = conn.execute("SELECT count(*) FROM Nodes").fetchone()[0]
    e = conn.execute("SELECT count(*) FROM Edges").fetchone()[0]
    return int(n), int(e)


def census(conn: sqlite3.Connection | None) -> tuple[int, int, dict[str, int], dict[str, int]]:
    """(nodes, edges, nodes per label, edges per type) of the live graph; zeros without one."""
    if conn is None:
        return 0, 0, {}, {}
    labels = {str(k): int(n) for k, n in conn.execute(
        "SELECT json_extract(data, '$.label'), count(*) FROM Nodes GROUP BY 1") if k is not None}
    types = {str(k): int(n) for k, n in conn.execute("SELECT type, count(*) FROM Edges GROUP BY type")}
    n_nodes, n_edges = counts(conn)
    return n_nodes, n_edges, labels, types


def export_pages(conn: sqlite3.Connection, table: str, page: int = 5_000) -> Iterator[tuple[bytes, int, int, int]]:
    """Every row's `data`, verbatim bytes, a page of rowids at a time, joined by LF in SQLite (the GIL stays free
    while it reads): (joined, rows, first rowid, last rowid). Nothing is checked here: backup judges the rows."""
    assert table in TABLES
    lo, hi = conn.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchone()
    if lo is None:
        return
    sql = (f"SELECT CAST(group_concat(data, char(10)) AS BLOB), count(*) FROM "
           f"(SELECT data FROM {table} WHERE rowid BETWEEN ? AND ? ORDER BY rowid)")
    for start in range(lo, hi + 1, page):
        joined, n = conn.execute(sql, (start, start + page - 1)).fetchone()
        yield joined or b"", int(n), start, start + page - 1


def export_rows(conn: sqlite3.Connection, table: str, first: int, last: int) -> list[tuple[bytes, str]]:
    """(data, id) of a page's rows, for the page backup has to judge row by row."""
    assert table in TABLES
    return conn.execute(f"SELECT CAST(data AS BLOB), id FROM {table} WHERE rowid BETWEEN ? AND ?",
                        (first, last)).fetchall()


# Chunks come in power-of-two sizes padded with NULLs (`= NULL` matches nothing), so a handful of statements
# serve every batch from the connection's statement cache instead of one compile per batch size. Each row of
# `v` carries its position as a literal, so a lookup can answer with one row (`present_ids`).
IDS_CHUNK_MAX = 8_192
IDS_CHUNK_MIN = 16


@lru_cache(maxsize=64)
def _ids_sql(query: str, n: int, columns: str = "id") -> str:
    marks = ",".join("?" * (columns.count(",") + 1))
    return f"WITH v(i, {columns}) AS (VALUES " + ",".join(f"({i},{marks})" for i in range(n)) + ") " + query


def _id_chunks(conn: sqlite3.Connection, ids: Sequence[object], width: int = 1, most: int = IDS_CHUNK_MAX
               ) -> Iterator[tuple[int, Sequence[object], int, Sequence[object]]]:
    """(first row, chunk, rows of the statement, parameters) for every chunk of `ids`, `width` values a row."""
    cap = min(most, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width)
    for start in range(0, len(ids) // width, cap):
        chunk = ids[start * width:(start + cap) * width]
        rows, n = len(chunk) // width, IDS_CHUNK_MIN
        while n < rows:
            n *= 2
        n = min(n, cap)
        yield start, chunk, n, (chunk if n == rows else [*chunk, *((None,) * ((n - rows) * width))])


def _select_by_ids(conn: sqlite3.Connection, query: str, ids: Sequence[str]) -> list[tuple[str, ...]]:
    """The rows of `query` run over the table `v(i, id)` of `ids`, exact for every string (NUL, bidi, 10 KB).

    CROSS JOIN keeps `v` the outer loop: one primary-key probe per id. A NULL row of `v` selects nothing.
    """
    out: list[tuple[str, ...]] = []
    for _start, _chunk, n, params in _id_chunks(conn, ids):
        out += conn.execute(_ids_sql(query, n), params).fetchall()
    return out


def rowids_of(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> dict[str, int]:
    """The rowid of each id of `ids` that is a row of `table`."""
    assert table in TABLES
    return {r[0]: int(r[1]) for r in _select_by_ids(conn, f"SELECT t.id, t.rowid FROM v CROSS JOIN {table} t ON t.id = v.id", ids)}


def lines_unequal(conn: sqlite3.Connection, table: str, rowids: Sequence[int], lines: Sequence[bytes], prefix: bytes
                  ) -> list[int]:
    """Positions of `rowids` whose row's data is not its line's (``prefix`` + data + ``}\n``) byte for byte, in one
    statement: rowids as a JSON array, lines as one blob, their offsets and lengths as fixed-width digits."""
    assert table in TABLES
    spans = b"".join(map(b"%010d%010d".__mod__, zip(accumulate(map(len, lines), initial=0), map(len, lines), strict=False)))
    query = (f"SELECT json_group_array(j.key) FROM json_each(?1) j CROSS JOIN {table} t ON t.rowid = j.value "
             "WHERE CAST(t.data AS BLOB) <> substr(?2, CAST(substr(?3, j.key * 20 + 1, 10) AS INTEGER) + ?4 + 1, "
             "CAST(substr(?3, j.key * 20 + 11, 10) AS INTEGER) - ?4 - 2)")
    params = (orjson.dumps(rowids).decode(), b"".join(lines), spans, len(prefix))
    return sorted(orjson.loads(conn.execute(query, params).fetchone()[0]))


def rows_data(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> list[tuple[str, str]]:
    """(id, data) of the rows of `table` with these ids."""
    assert table in TABLES
    return [(r[0], r[1]) for r in _select_by_ids(conn, f"SELECT t.id, t.data FROM v CROSS JOIN {table} t ON t.id = v.id",
                                                  ids)]


def all_rowids(conn: sqlite3.Connection, table: str) -> dict[str, int]:
    """Every id of a table with its rowid (the plan reads a small live graph's ids once instead of probing, and
    then reads a colliding row by rowid: one B-tree seek, not two)."""
    assert table in TABLES
    return dict(conn.execute(f"SELECT id, rowid FROM {table}"))


def present_ids(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> set[str]:
    """The ids of `ids` that are rows of `table` (Nodes or Edges).

    One result row per chunk (the positions found), not one per id: sqlite3 releases the GIL around every
    step, and the plan runs its lookups on a thread beside the parser, where a GIL hand-off per row costs
    far more than the lookup itself.
    """
    assert table in TABLES
    query = f"SELECT group_concat(v.i) FROM v CROSS JOIN {table} t ON t.id = v.id"
    found: set[str] = set()
    for start, _chunk, n, params in _id_chunks(conn, ids):
        hits = conn.execute(_ids_sql(query, n), params).fetchone()[0]
        if hits:
            found.update(ids[start + int(i)] for i in hits.split(","))
    return found


def referenced_nodes(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    """The node ids of `ids` that an edge starts or ends at."""
    q = ("SELECT v.id FROM v WHERE EXISTS (SELECT 1 FROM Edges e WHERE e.source = v.id) "
         "OR EXISTS (SELECT 1 FROM Edges e WHERE e.target = v.id)")
    return {rid for (rid,) in _select_by_ids(conn, q, ids)}


def has_contains_edge(conn: sqlite3.Connection, source: str, target: str) -> bool:
    return conn.execute("SELECT 1 FROM Edges WHERE source = ? AND target = ? AND type = 'CONTAINS' LIMIT 1",
                        (source, target)).fetchone() is not None


# ------------------------------------------------------------------------------------------------ writing


def insert_node(conn: sqlite3.Connection, row: NodeRow) -> bool:
    """One node, alone (the careful path that isolates a row the database refuses); -> written? Never
    ``OR REPLACE``: replacing a node deletes it first, and the delete cascades to every edge that touches it (the
    hazard of neo's pre-#11141 merge)."""
    return conn.execute(NODE_SQL, row).rowcount == 1


def insert_edge(conn: sqlite3.Connection, row: EdgeRow) -> bool:
    return conn.execute(EDGE_SQL, row).rowcount == 1


# --preserve-read-state (neo's preserveDeliveryReadState): the live DELIVERED_TO read receipts, captured in the
# truncation's own transaction into a temp table of the restore's connection, put back after the graph is loaded
_READ_FIELDS = ("readAt", "archivedAt")


def truncate(conn: sqlite3.Connection, *, keep_read_state: bool = False) -> int:
    """Replace's first write: every edge, then every node (edges first: no cascade work when the nodes go).

    ``keep_read_state``: first keep every live DELIVERED_TO edge's non-null readAt / archivedAt (by source and
    target, neo's match: edge ids are re-derived), for ``reapply_read_state``; -> how many edges were kept."""
    with transaction(conn):
        kept = 0
        if keep_read_state:
            conn.execute("DROP TABLE IF EXISTS temp.kept_read_state")
            conn.execute(
                "CREATE TEMP TABLE kept_read_state AS SELECT source, target, "
                + ", ".join(f"CASE WHEN json_extract(data, '$.properties.{f}') IS NULL THEN NULL "
                            f"ELSE data -> '$.properties.{f}' END AS {f}" for f in _READ_FIELDS)
                + " FROM Edges WHERE type = 'DELIVERED_TO' AND ("
                + " OR ".join(f"json_extract(data, '$.properties.{f}') IS NOT NULL" for f in _READ_FIELDS) + ")")
            kept = conn.execute("SELECT count(*) FROM temp.kept_read_state").fetchone()[0]
        conn.execute("DELETE FROM Edges")
        conn.execute("DELETE FROM Nodes")
    return int(kept)


def reapply_read_state(conn: sqlite3.Connection) -> int:
    """Put the kept read receipts back on the restored DELIVERED_TO edges of the same (source, target) where
    the restored value is null or absent (a bundle's value is never regressed); one transaction. -> readAt
    values put back (neo's count; archivedAt updates are not counted, as in neo)."""
    have = conn.execute("SELECT name FROM sqlite_temp_master WHERE name = 'kept_read_state'").fetchone()
    if have is None:
        return 0
    done = 0
    with transaction(conn):
        for field_name in _READ_FIELDS:
            sql = (f"UPDATE Edges SET data = json_set(data, '$.properties.{field_name}', json(?)) "
                   "WHERE source = ? AND target = ? AND type = 'DELIVERED_TO' "
                   f"AND json_extract(data, '$.properties.{field_name}') IS NULL")
            rows = conn.cursor().execute(f"SELECT {field_name}, source, target FROM temp.kept_read_state "
                                         f"WHERE {field_name} IS NOT NULL ORDER BY rowid")
            changed = sum(conn.execute(sql, row).rowcount for row in rows)  # streamed, in capture order
            if field_name == "readAt":
                done = changed
        conn.execute("DROP TABLE temp.kept_read_state")
    return done


def delete_rows(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> None:
    """Undo's delete; the caller checked, in the same transaction, that no node it deletes is referenced (so
    ON DELETE CASCADE has nothing to remove)."""
    assert table in TABLES
    conn.executemany(f"DELETE FROM {table} WHERE id = ?", [(d,) for d in ids])


def insert_node_if_absent(conn: sqlite3.Connection, node_id: str, data: str) -> bool:
    """The hook's anchor node (no user id); -> inserted?"""
    return conn.execute("INSERT OR IGNORE INTO Nodes (id, user_id, data) VALUES (?, NULL, ?)",
                        (node_id, data)).rowcount == 1


def insert_new_node(conn: sqlite3.Connection, node_id: str, data: str) -> None:
    """A node the caller found absent in this transaction (the hook's FILE / DIRECTORY nodes)."""
    conn.execute("INSERT INTO Nodes (id, user_id, data) VALUES (?, NULL, ?)", (node_id, data))


def update_node_data(conn: sqlite3.Connection, node_id: str, data: str) -> None:
    """The hook's rewrite of a changed FILE / DIRECTORY node: UPDATE keeps the row and its edges."""
    conn.execute("UPDATE Nodes SET data = ? WHERE id = ?", (data, node_id))


def insert_contains_edge(conn: sqlite3.Connection, edge_id: str, source: str, target: str, data: str) -> bool:
    return conn.execute("INSERT OR IGNORE INTO Edges (id, user_id, source, target, type, data) "
                        "VALUES (?, NULL, ?, ?, 'CONTAINS', ?)", (edge_id, source, target, data)).rowcount == 1


def load(conn: sqlite3.Connection, nodes: Iterable[NodeRow], edges: Iterable[EdgeRow],
         schema_time: str | None = None) -> None:
    """Fill a fresh database in one transaction (the demo's live graph, test fixtures); ``schema_time`` pins
    the schema row's timestamp, so a rebuild is byte-identical."""
    with transaction(conn):
        if schema_time is not None:
            conn.execute("UPDATE SchemaVersion SET updated_at = ?", (schema_time,))
        conn.executemany("INSERT INTO Nodes (id, user_id, data) VALUES (?, ?, ?)", nodes)
        conn.executemany("INSERT INTO Edges (id, user_id, source, target, type, data) VALUES (?, ?, ?, ?, ?, ?)",
                         edges)


def checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the WAL into the database file (a data dir that is copied right after is then one file)."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# ------------------------------------------------------------------------------------------ verifying a run


def row_hash(row_id: object, data: object) -> int:
    """A row's part of a table digest: CRC-32 of its id XOR CRC-32 of its data (the journal's CRC of what a
    restore wrote), so the digest of the rows a run inserted follows from its journal alone."""
    if type(row_id) is bytes and type(data) is bytes:  # the digest reads both as BLOBs: no decode, no encode
        return zlib.crc32(row_id) ^ zlib.crc32(data)
    rid = row_id.encode("utf-8", "surrogatepass") if isinstance(row_id, str) else bytes(str(row_id), "utf-8")
    body = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")
    return zlib.crc32(rid) ^ zlib.crc32(body)


def digest(conn: sqlite3.Connection, table: str, label: Callable[[bytes], str]) -> dict[str, tuple[int, int]]:
    """(rows, sum of row_hash) of a whole table per node label (`label(data)`) or edge type: one sequential read
    in SQL, order-independent, so rows added by a run add their own hashes and nothing else. The subquery is not
    flattened (LIMIT), so GROUP BY sorts (key, hash) pairs, not every row's data."""
    assert table in TABLES
    conn.create_function("rc_row_hash", 2, row_hash, deterministic=True)
    conn.create_function("rc_label", 1, label, deterministic=True)
    key = "rc_label(CAST(data AS BLOB))" if table == NODES else "type"
    return {str(k): (int(n), int(total)) for k, n, total in conn.execute(
        f"SELECT k, count(*), coalesce(sum(h), 0) FROM (SELECT {key} AS k, rc_row_hash(CAST(id AS BLOB), "
        f"CAST(data AS BLOB)) AS h FROM {table} LIMIT -1) GROUP BY k")}


def edge_types(conn: sqlite3.Connection, ids: Sequence[str]) -> list[tuple[str, str]]:
    """(id, type) of the edges with these ids."""
    return [(r[0], r[1]) for r in _select_by_ids(conn, "SELECT t.id, t.type FROM v CROSS JOIN Edges t ON t.id = v.id",
                                                  ids)]


def orphan_edges(conn: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
    """The edges of `ids` whose source or target node does not exist."""
    q = ("SELECT e.id FROM v CROSS JOIN Edges e ON e.id = v.id WHERE NOT EXISTS (SELECT 1 FROM Nodes n WHERE "
         "n.id = e.source) OR NOT EXISTS (SELECT 1 FROM Nodes n WHERE n.id = e.target)")
    return [r[0] for r in _select_by_ids(conn, q, ids)]


def integrity_problems(conn: sqlite3.Connection, limit: int = 20) -> list[str]:
    """``PRAGMA integrity_check``'s findings ([] when the file is sound). The full check, not quick_check: it
    also proves every index matches its table, and costs about a second per million rows here."""
    rows = [str(r[0]) for r in conn.execute(f"PRAGMA integrity_check({int(limit)})")]
    return [] if rows == ["ok"] else rows


def foreign_key_problems(conn: sqlite3.Connection, limit: int = 20) -> tuple[int, list[str]]:
    """``PRAGMA foreign_key_check``: (violations, the first few as 'Edges row R: no Nodes parent')."""
    n = 0
    shown: list[str] = []
    for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check"):
        n += 1
        if len(shown) < limit:
            rid = conn.execute(f'SELECT id FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone() \
                if table in TABLES else None
            shown.append(f"{table} {rid[0] if rid else f'rowid {rowid}'}: no {parent} row it refers to")
    return n, shown
