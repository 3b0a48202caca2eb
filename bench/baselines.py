"""The bare pipelines every figure of issue 12 is measured against, each written the obvious way.

Nothing here imports the console's engine except for the pragmas and the collection names, so a change in
the engine cannot make its own baseline slower.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

BARE_TXN_ROWS = 2_000  # the naive pipeline commits every 2,000 rows
NODE_SQL = "INSERT OR IGNORE INTO Nodes (id, user_id, data) VALUES (?, ?, ?)"
EDGE_SQL = "INSERT OR IGNORE INTO Edges (id, user_id, source, target, type, data) VALUES (?, ?, ?, ?, ?, ?)"


def graph_pragmas(cache_kib: int) -> tuple[str, ...]:
    """The live connection's pragmas, the same for the restore and the bare pipelines (none is favoured)."""
    return ("busy_timeout = 5000", "foreign_keys = ON", "journal_mode = WAL", f"cache_size = -{cache_kib}",
            "synchronous = NORMAL")


def bare_graph_pipeline(graph_file: Path, live_db: Path, work_db: Path, *, lib: str, cache_kib: int) -> float:
    """`loads` per line, `dumps` of `data`, executemany INSERT OR IGNORE in 2,000-row transactions.

    Times the whole pipeline (parse included) into a copy of the live DB (neo's schema: FKs, triggers, edge
    indexes); the copy is made before the clock starts. -> seconds.
    """
    loads: Callable[[Any], Any]
    if lib == "json":
        loads, dumps = json.loads, json.dumps
    else:
        loads, dumps = orjson.loads, (lambda obj: orjson.dumps(obj).decode())
    shutil.copy(live_db, work_db)
    for side in ("-wal", "-shm"):
        Path(f"{work_db}{side}").unlink(missing_ok=True)
    conn = sqlite3.connect(work_db, isolation_level=None)
    for pragma in graph_pragmas(cache_kib):
        conn.execute(f"PRAGMA {pragma}")
    started = time.perf_counter()
    nodes: list[tuple[Any, ...]] = []
    edges: list[tuple[Any, ...]] = []

    def flush(sql: str, rows: list[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        rows.clear()

    with open(graph_file, "rb", buffering=1 << 20) as fh:
        for raw in fh:
            rec = loads(raw)
            d = rec["data"]
            uid = (d.get("properties") or {}).get("userId")
            if rec["type"] == "node":
                if edges:
                    flush(EDGE_SQL, edges)
                nodes.append((d["id"], uid, dumps(d)))
                if len(nodes) >= BARE_TXN_ROWS:
                    flush(NODE_SQL, nodes)
            else:
                if nodes:
                    flush(NODE_SQL, nodes)
                edges.append((d["id"], uid, d["source"], d["target"], d["type"], dumps(d)))
                if len(edges) >= BARE_TXN_ROWS:
                    flush(EDGE_SQL, edges)
    if nodes:
        flush(NODE_SQL, nodes)
    if edges:
        flush(EDGE_SQL, edges)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def bare_parse(files: list[Path], lib: str) -> float:
    """One streaming `loads` pass over every line. -> seconds."""
    loads = json.loads if lib == "json" else orjson.loads
    started = time.perf_counter()
    for f in files:
        with open(f, "rb", buffering=1 << 20) as fh:
            for raw in fh:
                loads(raw)
    return time.perf_counter() - started


def bare_sqlite_backup(live_db: Path, out_db: Path) -> float:
    """sqlite3's online backup of the live graph DB, one step (`pages=-1`). -> seconds."""
    out_db.unlink(missing_ok=True)
    started = time.perf_counter()
    src = sqlite3.connect(live_db)
    dst = sqlite3.connect(out_db)
    src.backup(dst)
    dst.close()
    src.close()
    return time.perf_counter() - started


def bare_chroma_export(chroma_path: Path, collection: str, out: Path, page: int) -> tuple[float, int]:
    """Page a collection out with `get(limit, offset)` and write one orjson line per row. -> (seconds, rows).

    chromadb is imported by the caller before the clock starts; opening the client is timed.
    """
    import chromadb
    from chromadb.config import Settings

    started = time.perf_counter()
    client = chromadb.PersistentClient(path=str(chroma_path), settings=Settings(anonymized_telemetry=False))
    col = client.get_collection(collection, embedding_function=None)
    rows = 0
    offset = 0
    with open(out, "wb", buffering=1 << 20) as fh:
        while True:
            got = col.get(limit=page, offset=offset, include=["embeddings", "metadatas", "documents"])
            ids = got["ids"]
            if not ids:
                break
            embs, metas, docs = got["embeddings"], got["metadatas"], got["documents"]
            for i, rid in enumerate(ids):
                fh.write(orjson.dumps({"id": rid, "embedding": embs[i], "metadata": metas[i], "document": docs[i]},
                                      option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
            rows += len(ids)
            offset += len(ids)
            if len(ids) < page:
                break
    return time.perf_counter() - started, rows


def bare_chroma_add(chroma_path: Path, collection: str, memory_file: Path, chunk: int) -> tuple[float, int]:
    """Stream the memory file, parse with orjson, `add` chunk by chunk into a new collection. -> (seconds, rows).

    chromadb and numpy are imported by the caller before the clock starts; opening the client is timed.
    """
    import chromadb
    import numpy as np
    from chromadb.config import Settings

    started = time.perf_counter()
    client = chromadb.PersistentClient(path=str(chroma_path), settings=Settings(anonymized_telemetry=False))
    col = client.get_or_create_collection(collection, embedding_function=None)
    buf: list[dict[str, Any]] = []

    def flush() -> None:
        col.add(ids=[r["id"] for r in buf], embeddings=np.asarray([r["embedding"] for r in buf], dtype=np.float32),
                metadatas=[r["metadata"] or None for r in buf], documents=[r["document"] for r in buf])
        buf.clear()

    with open(memory_file, "rb", buffering=1 << 20) as fh:
        for raw in fh:
            buf.append(orjson.loads(raw))
            if len(buf) >= chunk:
                flush()
    if buf:
        flush()
    seconds = time.perf_counter() - started
    return seconds, col.count()
