"""The SQLite property graph as neo's `ai/graph/storage/SQLite.mjs` lays it out."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

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


def connect(path: Path, *, create: bool = True, readonly: bool = False) -> sqlite3.Connection:
    """A connection with neo's pragmas: foreign keys on (the cascade is real), WAL, busy timeout.

    Autocommit mode (isolation_level=None): every transaction in this package is explicit.
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


def counts(conn: sqlite3.Connection) -> tuple[int, int]:
    n = conn.execute("SELECT count(*) FROM Nodes").fetchone()[0]
    e = conn.execute("SELECT count(*) FROM Edges").fetchone()[0]
    return int(n), int(e)


def node_line(data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return b'{"type":"node","data":' + raw + b"}"


def edge_line(data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return b'{"type":"edge","data":' + raw + b"}"


def iter_rows(conn: sqlite3.Connection, table: str) -> Iterator[tuple[str, str]]:
    assert table in ("Nodes", "Edges")
    cur = conn.execute(f"SELECT id, data FROM {table}")
    while rows := cur.fetchmany(2000):
        yield from rows


# Ids are bound as parameters of a VALUES table, never spliced into SQL or passed as JSON: SQLite's json_each
# cuts a string at U+0000, so an id with an embedded NUL was never found (or matched the live id before the
# NUL). Chunks come in power-of-two sizes padded with NULLs (`= NULL` matches nothing), so a handful of
# statements serve every batch from the connection's statement cache instead of one compile per batch size.
# Each row of `v` carries its position as a literal, so a lookup can answer with one row (`present_ids`).
IDS_CHUNK_MAX = 8_192
IDS_CHUNK_MIN = 16


@lru_cache(maxsize=64)
def _ids_sql(query: str, n: int) -> str:
    return "WITH v(i, id) AS (VALUES " + ",".join(f"({i},?)" for i in range(n)) + ") " + query


def _id_chunks(conn: sqlite3.Connection, ids: Sequence[str]) -> Iterator[tuple[Sequence[str], int, Sequence[str | None]]]:
    """(chunk, statement size, parameters) for every chunk of `ids`."""
    cap = min(IDS_CHUNK_MAX, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    for start in range(0, len(ids), cap):
        chunk = ids[start:start + cap]
        n = IDS_CHUNK_MIN
        while n < len(chunk):
            n *= 2
        n = min(n, cap)
        yield chunk, n, (chunk if n == len(chunk) else [*chunk, *((None,) * (n - len(chunk)))])


def select_by_ids(conn: sqlite3.Connection, query: str, ids: Sequence[str]) -> list[Any]:
    """The rows of `query` run over the table `v(i, id)` of `ids`, exact for every string (NUL, bidi, 10 KB).

    `query` reads `v` once, e.g. `SELECT t.id, t.data FROM v CROSS JOIN Nodes t ON t.id = v.id` (CROSS JOIN
    keeps `v` the outer loop: one primary-key probe per id). A NULL row of `v` must select nothing.
    """
    out: list[Any] = []
    for _chunk, n, params in _id_chunks(conn, ids):
        out += conn.execute(_ids_sql(query, n), params).fetchall()
    return out


def present_ids(conn: sqlite3.Connection, table: str, ids: Sequence[str]) -> set[str]:
    """The ids of `ids` that are rows of `table` (Nodes or Edges).

    One result row per chunk (the positions found), not one per id: sqlite3 releases the GIL around every
    step, and the plan runs its lookups on a thread beside the parser, where a GIL hand-off per row costs
    far more than the lookup itself.
    """
    assert table in ("Nodes", "Edges")
    query = f"SELECT group_concat(v.i) FROM v CROSS JOIN {table} t ON t.id = v.id"
    found: set[str] = set()
    for chunk, n, params in _id_chunks(conn, ids):
        hits = conn.execute(_ids_sql(query, n), params).fetchone()[0]
        if hits:
            found.update(chunk[int(i)] for i in hits.split(","))
    return found


def user_id_of(data: dict) -> str | None:
    """neo: user_id = data.properties.userId || data.user_id || null."""
    props = data.get("properties")
    uid = props.get("userId") if isinstance(props, dict) else None
    return uid or data.get("user_id") or None


def edge_id_of(data: dict) -> str:
    """neo's fallback id for an edge without one."""
    return data.get("id") or f"{data.get('source')}->{data.get('target')}:{data.get('type')}"
