"""Builders shared by the restore / plan / undo tests: small hand-made bundles and live stores.

A bundle written here is a real neo bundle (meta with matching counts and integrity), so the restore
validates it exactly as it would an operator's bundle.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from core import chroma as ch
from core.datadir import COLLECTIONS, DataDir
from core.graph import connect, edge_id_of, user_id_of

BUNDLE_NAME = "backup-2026-05-10T01-11-23.456Z"


def node(nid: str, label: str, **props: Any) -> dict[str, Any]:
    return {"id": nid, "label": label, "properties": {"name": nid, **props}}


def edge(eid: str | None, source: str, target: str, etype: str, **props: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"source": source, "target": target, "type": etype, "properties": {"weight": 1, **props}}
    if eid is not None:
        d = {"id": eid, **d}
    return d


def vec(rid: str, dim: int = 8, *, seed: int | None = None, metadata: dict[str, Any] | None = None,
        document: str | None = "doc") -> dict[str, Any]:
    rng = random.Random(seed if seed is not None else rid)
    return {"id": rid, "embedding": [round(rng.uniform(-1, 1), 6) for _ in range(dim)],
            "metadata": metadata if metadata is not None else {"sessionId": "s1", "n": len(rid)},
            "document": document}


def _lines(path: Path, rows: Iterable[Any]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "wb") as fh:
        for r in rows:
            fh.write((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n")
            n += 1
    return n


def write_bundle(backup_root: Path, *, nodes: Iterable[dict[str, Any]] = (), edges: Iterable[dict[str, Any]] = (),
                 graph_lines: Iterable[bytes] | None = None, memories: Iterable[dict[str, Any]] = (),
                 summaries: Iterable[dict[str, Any]] = (), kb: Iterable[dict[str, Any]] = (),
                 concepts: dict[str, str] | None = None, trajectories: str | None = None,
                 mailbox: str | None = None, dimension: int | None = 8, name: str = BUNDLE_NAME,
                 meta: dict[str, Any] | None = None, with_meta: bool = True) -> Path:
    """A bundle under `backup_root`; graph lines are nodes then edges unless `graph_lines` is given."""
    b = backup_root / name
    for sub in ("kb", "mc", "graph", "concepts", "trajectories"):
        (b / sub).mkdir(parents=True, exist_ok=True)
    if graph_lines is None:
        graph_lines = [orjson.dumps({"type": "node", "data": n}) for n in nodes] + \
                      [orjson.dumps({"type": "edge", "data": e}) for e in edges]
    counts: dict[str, int] = {}
    lines = list(graph_lines)
    if lines:
        counts["graph"] = _lines(b / "graph" / "graph-backup-2026-05-10T01-11-40.002Z.jsonl", lines)
    for key, rows, rel in (("memories", memories, "mc/memory-backup-2026-05-10T01-11-30.000Z.jsonl"),
                           ("summaries", summaries, "mc/summaries-backup-2026-05-10T01-11-31.000Z.jsonl"),
                           ("kb", kb, "kb/knowledge-base-backup-2026-05-10T01-11-25.000Z.jsonl")):
        rows = list(rows)
        if rows:
            counts[key] = _lines(b / rel, rows)
    for fname, text in (concepts or {}).items():
        (b / "concepts" / fname).write_text(text)
    if trajectories is not None:
        (b / "trajectories" / "trajectories.jsonl").write_text(trajectories)
    if mailbox is not None:
        (b / "mailbox").mkdir(exist_ok=True)
        (b / "mailbox" / "sent-to-cull.jsonl").write_text(mailbox)
    if with_meta:
        mc = counts.get("memories", 0) + counts.get("summaries", 0)

        def entry(sub: str, n: int) -> dict[str, Any]:
            return {"subsystem": sub, "status": "pass" if n else "empty", "sourceCount": n, "bundleCount": n}

        m: dict[str, Any] = {
            "bundleVersion": 1, "timestamp": name[len("backup-"):], "completedAt": "2026-05-10T01:14:02.118Z",
            "subsystems": {},
            "integrity": [entry("kb", counts.get("kb", 0)), entry("mc", mc), entry("graph", counts.get("graph", 0))],
            "topology": {"shared_topology": True},
            "embedding": {"counts": {k: counts.get(k, 0) for k in ("kb", "memories", "summaries")},
                          "dimension": dimension, "schemaVersion": 1},
        }
        m.update(meta or {})
        (b / "bundle-meta.json").write_bytes(orjson.dumps(m, option=orjson.OPT_INDENT_2) + b"\n")
    return b


def live_graph(dd: DataDir, nodes: Iterable[dict[str, Any]] = (), edges: Iterable[dict[str, Any]] = ()) -> None:
    conn = connect(dd.graph_db, create=True)
    try:
        conn.execute("BEGIN")
        for n in nodes:
            conn.execute("INSERT INTO Nodes (id, user_id, data) VALUES (?,?,?)",
                         (n["id"], user_id_of(n), orjson.dumps(n).decode()))
        for e in edges:
            conn.execute("INSERT INTO Edges (id, user_id, source, target, type, data) VALUES (?,?,?,?,?,?)",
                         (edge_id_of(e), user_id_of(e), e["source"], e["target"], e["type"], orjson.dumps(e).decode()))
        conn.execute("COMMIT")
    finally:
        conn.close()


def graph_state(dd: DataDir) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """Every node and edge row, byte for byte (GraphLog excluded: it is a log of writes, not state)."""
    if not dd.graph_db.exists():
        return {}, {}
    conn = connect(dd.graph_db, readonly=True)
    try:
        nodes = {r[0]: tuple(r[1:]) for r in conn.execute("SELECT id, user_id, data FROM Nodes")}
        edges = {r[0]: tuple(r[1:]) for r in conn.execute("SELECT id, user_id, source, target, type, data FROM Edges")}
    finally:
        conn.close()
    return nodes, edges


def live_vectors(dd: DataDir, key: str, rows: Iterable[dict[str, Any]]) -> None:
    client = ch.open_client(dd, create=True)
    col = ch.get_collection(client, COLLECTIONS[key], create=True)
    rows = list(rows)
    if rows:
        col.add(ids=[r["id"] for r in rows], embeddings=[r["embedding"] for r in rows],
                metadatas=[r["metadata"] or None for r in rows], documents=[r["document"] for r in rows])


def chroma_state(dd: DataDir, key: str) -> dict[str, tuple[Any, ...]]:
    """id -> (document, metadata, embedding). Compare two states with `same_chroma`: vectors drift by an ulp."""
    client = ch.open_client(dd, create=False)
    col = ch.get_collection(client, COLLECTIONS[key]) if client is not None else None
    if col is None:
        return {}
    out: dict[str, tuple[Any, ...]] = {}
    for page in ch.iter_records(col, page=500):
        for r in page:
            emb = tuple(float(x) for x in r.embedding) if r.embedding is not None else None
            out[r.id] = (r.document, orjson.dumps(r.metadata, option=orjson.OPT_SORT_KEYS), emb)
    return out


def same_chroma(a: dict[str, tuple[Any, ...]], b: dict[str, tuple[Any, ...]], tol: float = 1e-5) -> bool:
    """Same ids, documents and metadata; embeddings equal within `tol` (float32 storage, cosine drift)."""
    if a.keys() != b.keys():
        return False
    for k, (doc, meta, emb) in a.items():
        doc2, meta2, emb2 = b[k]
        if doc != doc2 or meta != meta2 or (emb is None) != (emb2 is None):
            return False
        if emb is not None and (len(emb) != len(emb2) or any(abs(x - y) > tol for x, y in zip(emb, emb2, strict=True))):
            return False
    return True


def reset_server_collections(url: str) -> None:
    """The session's chroma server is shared: start a server test from empty collections."""
    from urllib.parse import urlparse

    import chromadb
    from chromadb.config import Settings

    u = urlparse(url)
    client = chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000,
                                 settings=Settings(anonymized_telemetry=False))
    for name in COLLECTIONS.values():
        with contextlib.suppress(Exception):  # absent is fine
            client.delete_collection(name)
