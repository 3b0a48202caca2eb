"""Phase-1 prototype of issue 12's graph merge: parse each line once into an on-disk staging table, then merge
it into the live graph with one `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING id` per chunk.

Standalone on purpose (it imports nothing from the engine), so the benchmark can measure the idea before the
engine is restructured. Same rules as the engine's merge: stream order (an edge sees the nodes before it),
first occurrence of an id wins, filters before the orphan rule, the orphan rule before the existence check,
a journal record (every inserted id with the CRC-32 of its data) fsynced before each COMMIT.
"""

from __future__ import annotations

import os
import sqlite3
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson

NODE_PREFIX = b'{"type":"node","data":'
EDGE_PREFIX = b'{"type":"edge","data":'
STAGE_ROWS = 50_000  # rows per staging executemany
ST_OK, ST_FILTERED, ST_INVALID = 0, 1, 2

STAGING_DDL = """
CREATE TABLE stg.g (
  seq     INTEGER PRIMARY KEY,
  kind    INTEGER NOT NULL,
  st      INTEGER NOT NULL,
  id      TEXT,
  user_id TEXT,
  source  TEXT,
  target  TEXT,
  label   TEXT NOT NULL,
  data    TEXT NOT NULL,
  crc     INTEGER NOT NULL,
  line    INTEGER NOT NULL
)
"""


def _fields(kind: int, d: dict[str, Any]) -> tuple[str | None, str | None, str, str | None, str | None]:
    """(id, user_id, label or type, source, target); id None for a record the merge cannot write."""
    props = d.get("properties")
    uid = props.get("userId") if type(props) is dict else None
    uid = uid or d.get("user_id") or None
    if kind == 0:
        nid, label = d.get("id"), d.get("label")
        label = label if type(label) is str else ("" if label is None else str(label))
        return (nid if type(nid) is str and nid else None), uid, label, None, None
    s, t, et = d.get("source"), d.get("target"), d.get("type")
    if not (type(s) is str and type(t) is str and type(et) is str and s and t and et):
        return None, uid, et if type(et) is str else "", None, None
    eid = d.get("id") or f"{s}->{t}:{et}"
    return (eid if type(eid) is str else str(eid)), uid, et, s, t


class Staged:
    def __init__(self) -> None:
        self.segments: list[list[int]] = []  # [kind, first seq, last seq]
        self.errors: list[str] = []
        self.nodes = 0
        self.edges = 0


def stage(conn: sqlite3.Connection, files: list[Path], labels_out: frozenset[str], types_out: frozenset[str]) -> Staged:
    """One pass: parse, validate, and append every graph line to stg.g (stream order = seq)."""
    st = Staged()
    loads, crc32 = orjson.loads, zlib.crc32
    rows: list[tuple[Any, ...]] = []
    seq = 0
    sql = "INSERT INTO stg.g VALUES (?,?,?,?,?,?,?,?,?,?,?)"

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        rows.clear()

    for path in files:
        with open(path, "rb", buffering=1 << 20) as fh:
            for number, raw in enumerate(fh, start=1):
                if raw.startswith(NODE_PREFIX):
                    kind = 0
                elif raw.startswith(EDGE_PREFIX):
                    kind = 1
                else:
                    if raw.strip():
                        st.errors.append(f"{path.name}:{number}: not the common line shape")
                    continue
                if not raw.endswith(b"}\n") or b"\r" in raw:
                    st.errors.append(f"{path.name}:{number}: not the common line shape")
                    continue
                body = raw[22:-2]
                try:
                    d = loads(body)
                except orjson.JSONDecodeError as exc:
                    st.errors.append(f"{path.name}:{number}: not JSON ({exc})")
                    continue
                if type(d) is not dict:
                    st.errors.append(f"{path.name}:{number}: data is not an object")
                    continue
                rid, uid, label, s, t = _fields(kind, d)
                if rid is None:
                    state = ST_INVALID
                elif label in (labels_out if kind == 0 else types_out):
                    state = ST_FILTERED
                else:
                    state = ST_OK
                seq += 1
                if st.segments and st.segments[-1][0] == kind:
                    st.segments[-1][2] = seq
                else:
                    st.segments.append([kind, seq, seq])
                if kind == 0:
                    st.nodes += 1
                else:
                    st.edges += 1
                rows.append((seq, kind, state, rid, uid, s, t, label, body.decode(), crc32(body), number))
                if len(rows) >= STAGE_ROWS:
                    flush()
    if rows:
        flush()
    return st


NODE_INSERT = ("INSERT INTO main.Nodes (id, user_id, data) SELECT id, user_id, data FROM stg.g "
               "WHERE seq BETWEEN ? AND ? AND st = 0 ORDER BY id, seq ON CONFLICT DO NOTHING RETURNING id")
EDGE_INSERT = ("INSERT INTO main.Edges (id, user_id, source, target, type, data) "
               "SELECT id, user_id, source, target, label, data FROM stg.g g "
               "WHERE seq BETWEEN ? AND ? AND st = 0 "
               "AND EXISTS (SELECT 1 FROM main.Nodes n WHERE n.id = g.source) "
               "AND EXISTS (SELECT 1 FROM main.Nodes n WHERE n.id = g.target) "
               "ORDER BY id, seq ON CONFLICT DO NOTHING RETURNING id")
NODE_ROWS = "SELECT st, id, label, crc FROM stg.g WHERE seq BETWEEN ? AND ?"
EDGE_ROWS = ("SELECT st, id, label, crc, st = 0 AND EXISTS (SELECT 1 FROM main.Nodes n WHERE n.id = g.source) "
             "AND EXISTS (SELECT 1 FROM main.Nodes n WHERE n.id = g.target) FROM stg.g g WHERE seq BETWEEN ? AND ?")


def _zero() -> dict[str, int]:
    return dict.fromkeys(("inserted", "skippedExisting", "failed", "filtered", "orphaned"), 0)


class Journal:
    def __init__(self, path: Path) -> None:
        self.fh = open(path, "ab")  # noqa: SIM115 - closed by close()
        self.batch = 0

    def pending(self, key: str, pairs: list[tuple[str, int]]) -> int:
        self.batch += 1
        self.fh.write(orjson.dumps({"b": self.batch, "s": "graph", key: pairs}) + b"\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        return self.batch

    def committed(self, b: int) -> None:
        self.fh.write(orjson.dumps({"ok": b}) + b"\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def merge_chunk(conn: sqlite3.Connection, kind: int, lo: int, hi: int, counts: dict[str, dict[str, int]],
                journal: Journal) -> None:
    """One transaction: classify the chunk, insert what is new, journal the inserted ids, commit."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        first: dict[str, tuple[str, int]] = {}
        tally: defaultdict[str, Counter[str]] = defaultdict(Counter)
        if kind == 0:
            for st, rid, label, crc in conn.execute(NODE_ROWS, (lo, hi)):
                if st == ST_INVALID:
                    tally["failed"][label or "(invalid)"] += 1
                elif st == ST_FILTERED:
                    tally["filtered"][label] += 1
                elif rid not in first:
                    first[rid] = (label, crc)
                else:
                    tally["skippedExisting"][label] += 1
            inserted = [r[0] for r in conn.execute(NODE_INSERT, (lo, hi))]
        else:
            for st, rid, label, crc, valid in conn.execute(EDGE_ROWS, (lo, hi)):
                if st == ST_INVALID:
                    tally["failed"][label or "(invalid)"] += 1
                elif st == ST_FILTERED:
                    tally["filtered"][label] += 1
                elif not valid:
                    tally["orphaned"][label] += 1
                elif rid not in first:
                    first[rid] = (label, crc)
                else:
                    tally["skippedExisting"][label] += 1
            inserted = [r[0] for r in conn.execute(EDGE_INSERT, (lo, hi))]
        pairs = []
        for rid in inserted:
            label, crc = first.pop(rid)
            tally["inserted"][label] += 1
            pairs.append((rid, crc))
        for label, _crc in first.values():  # valid first occurrences that were already live
            tally["skippedExisting"][label] += 1
        b = journal.pending("nodes" if kind == 0 else "edges", pairs) if pairs else None
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if b is not None:
        journal.committed(b)
    for what, c in tally.items():
        for label, n in c.items():
            counts.setdefault(label, _zero())[what] += n


def staged_merge(files: list[Path], live_db: Path, staging: Path, journal_file: Path, *, chunk: int = 100_000,
                 cache_kib: int = 16_384, labels_out: frozenset[str] = frozenset(),
                 types_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The whole prototype job; -> timings and per-label / per-type counters."""
    t0 = time.perf_counter()
    for p in (staging, Path(f"{staging}-journal")):
        p.unlink(missing_ok=True)
    conn = sqlite3.connect(live_db, isolation_level=None)
    for pragma in ("busy_timeout = 5000", "foreign_keys = ON", "journal_mode = WAL", f"cache_size = -{cache_kib}",
                   "synchronous = NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("ATTACH DATABASE ? AS stg", (str(staging),))
    for pragma in ("stg.journal_mode = OFF", "stg.synchronous = OFF", "stg.cache_size = -4096"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(STAGING_DDL)
    try:
        st = stage(conn, files, labels_out, types_out)
        t1 = time.perf_counter()
        if st.errors:
            raise ValueError(f"refused before the first write: {st.errors[0]}")
        nodes: dict[str, dict[str, int]] = {}
        edges: dict[str, dict[str, int]] = {}
        journal = Journal(journal_file)
        try:
            for kind, lo, hi in st.segments:
                for a in range(lo, hi + 1, chunk):
                    merge_chunk(conn, kind, a, min(hi, a + chunk - 1), nodes if kind == 0 else edges, journal)
        finally:
            journal.close()
        t2 = time.perf_counter()
    finally:
        conn.execute("DETACH DATABASE stg")
        conn.close()
        staging.unlink(missing_ok=True)
    return {"stageSeconds": t1 - t0, "mergeSeconds": t2 - t1, "nodes": nodes, "edges": edges,
            "lines": st.nodes + st.edges}
