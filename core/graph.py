"""The SQLite property graph as neo's `ai/graph/storage/SQLite.mjs` lays it out."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

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


def user_id_of(data: dict) -> str | None:
    """neo: user_id = data.properties.userId || data.user_id || null."""
    props = data.get("properties")
    uid = props.get("userId") if isinstance(props, dict) else None
    return uid or data.get("user_id") or None


def edge_id_of(data: dict) -> str:
    """neo's fallback id for an edge without one."""
    return data.get("id") or f"{data.get('source')}->{data.get('target')}:{data.get('type')}"
