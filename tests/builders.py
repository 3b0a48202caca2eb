"""The engine tests' builders, in one place: hand-made bundles (real neo bundles: a meta with matching counts and
integrity, so a restore validates them as it would an operator's) and live data dirs with real SQLite and real
Chroma rows, and readers of the stores' state to compare against."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from core import chroma_store as cs
from core import graph_store as gs
from core.datadir import DataDir, resolve
from core.plan import Filters
from core.records import user_id_of
from core.staging import GraphStaging
from core.substrates import COLLECTIONS
from core.verify import verify_bundle

BUNDLE_NAME = "backup-2026-05-10T01-11-23.456Z"


def node(nid: str, label: str, **props: Any) -> dict[str, Any]:
    return {"id": nid, "label": label, "properties": {"name": nid, **props}}


def edge(eid: str | None, source: str, target: str, etype: str, **props: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"source": source, "target": target, "type": etype, "properties": {"weight": 1, **props}}
    if eid is not None:
        d = {"id": eid, **d}
    return d


def edge_id_of(data: dict[str, Any]) -> str:
    """neo's id for a live edge written without one (what a restore computes for a bundle line)."""
    return data.get("id") or f"{data.get('source')}->{data.get('target')}:{data.get('type')}"


def chain_graph(n: int, *, prefix: str = "n", label: str = "CONCEPT") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes = [node(f"{prefix}{i}", label, name=f"{label} {i}", userId="@neo-gpt" if i % 2 else None)
             for i in range(n)]
    edges = [edge(f"{prefix}e{i}", f"{prefix}{i}", f"{prefix}{i + 1}", "RELATES_TO", weight=1)
             for i in range(n - 1)]
    return nodes, edges


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


def _load(dd: DataDir, nodes: Iterable[dict[str, Any]], edges: Iterable[dict[str, Any]], text: Any) -> None:
    conn = gs.connect(dd.graph_db, create=True)
    try:
        gs.load(conn, [(n["id"], user_id_of(n), text(n)) for n in nodes],
                [(edge_id_of(e), user_id_of(e), e["source"], e["target"], e["type"], text(e)) for e in edges])
    finally:
        conn.close()


def live_graph(dd: DataDir, nodes: Iterable[dict[str, Any]] = (), edges: Iterable[dict[str, Any]] = ()) -> None:
    """Live rows as neo writes them (compact JSON)."""
    _load(dd, nodes, edges, lambda d: orjson.dumps(d).decode())


def insert_graph(dd: DataDir, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    """Live rows written with spaces after separators (another writer's JSON: backups must keep it verbatim)."""
    _load(dd, nodes, edges, json.dumps)


def graph_state(dd: DataDir) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """Every node and edge row, byte for byte (GraphLog excluded: it is a log of writes, not state)."""
    if not dd.graph_db.exists():
        return {}, {}
    conn = gs.connect(dd.graph_db, readonly=True)
    try:
        nodes = {r[0]: tuple(r[1:]) for r in conn.execute("SELECT id, user_id, data FROM Nodes")}
        edges = {r[0]: tuple(r[1:]) for r in conn.execute("SELECT id, user_id, source, target, type, data FROM Edges")}
    finally:
        conn.close()
    return nodes, edges


def add_rows(dd: DataDir, key: str, n: int, *, dim: int = 8, start: int = 0, seed: int = 0,
             documents: bool = True) -> list[str]:
    client = cs.open_client(dd)
    col = cs.get_collection(client, COLLECTIONS[key], create=True)
    rng = np.random.default_rng(seed)
    ids = [f"{key}-{i}" for i in range(start, start + n)]
    if n:
        col.add(ids=ids, embeddings=rng.random((n, dim)).astype(np.float32),
                metadatas=[{"i": i, "userId": "neo-gpt"} for i in range(start, start + n)],
                documents=[f"{key} document {i}" for i in range(start, start + n)] if documents else None)
    return ids


def live_vectors(dd: DataDir, key: str, rows: Iterable[dict[str, Any]]) -> None:
    client = cs.open_client(dd, create=True)
    col = cs.get_collection(client, COLLECTIONS[key], create=True)
    rows = list(rows)
    if rows:
        col.add(ids=[r["id"] for r in rows], embeddings=[r["embedding"] for r in rows],
                metadatas=[r["metadata"] or None for r in rows], documents=[r["document"] for r in rows])


def chroma_state(dd: DataDir, key: str) -> dict[str, tuple[Any, ...]]:
    """id -> (document, metadata, embedding). Compare two states with `same_chroma`: vectors drift by an ulp."""
    client = cs.open_client(dd, create=False)
    col = cs.get_collection(client, COLLECTIONS[key]) if client is not None else None
    if col is None:
        return {}
    out: dict[str, tuple[Any, ...]] = {}
    for page in cs.iter_records(col, page=500):
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


def make_live(dd: DataDir, *, nodes: int = 50, memories: int = 20, summaries: int = 5, kb: int = 10,
              dim: int = 8) -> None:
    ns, es = chain_graph(nodes)
    insert_graph(dd, ns, es)
    add_rows(dd, "memories", memories, dim=dim, seed=1)
    add_rows(dd, "summaries", summaries, dim=dim, seed=2)
    add_rows(dd, "kb", kb, dim=dim, seed=3, documents=False)
    dd.concepts_dir.mkdir(parents=True, exist_ok=True)
    (dd.concepts_dir / "nodes.jsonl").write_text('{"id":"neo-mjs","name":"Neo.mjs","tier":0}\n')
    (dd.concepts_dir / "edges.jsonl").write_text('{"source":"neo-mjs","target":"x","type":"REQUIRES"}\n')
    dd.trajectories_file.parent.mkdir(parents=True, exist_ok=True)
    dd.trajectories_file.write_text("".join(
        json.dumps({"metadata": {"sessionId": f"s{i}"}, "messages": []}) + "\n" for i in range(3)))
    rnd = random.Random(0)
    dd.mailbox_file.write_text(json.dumps({"msg": "cull", "n": rnd.randint(0, 9)}) + "\n")


def staged(tmp_path: Path, graph_lines: Iterable[bytes], filters: Filters | None = None) -> list[dict[str, Any]]:
    """The rows a restore stages for these graph lines: the real parse path (verify's pass feeding the staging
    table), read back from the staging file, in stream order."""
    dd = resolve(tmp_path / "staging-dd", env={})
    bundle = write_bundle(tmp_path / "staging-bundles", graph_lines=list(graph_lines), with_meta=False)
    staging = GraphStaging.for_restore(dd, bundle, filters or Filters())
    try:
        verify_bundle(bundle, graph_sink=staging.add)
        staging.finish()
        conn = sqlite3.connect(staging.path)
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM staged ORDER BY seq")]
        conn.close()
        return rows
    finally:
        staging.remove()
