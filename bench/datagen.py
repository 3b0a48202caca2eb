"""Deterministic, fast generators of graph bundles and live graph DBs at benchmark scale.

A generated bundle is a real neo bundle (meta with counts and integrity) so the restore validates it
exactly as an operator's bundle; the live DB shares a chosen fraction of the bundle's ids.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.graph_store import DDL
from core.substrates import REQUIRED_SUBDIRS, VECTOR_COLLECTIONS
from core.units import colon_free, iso_ms

LABELS = (("FILE", 36), ("DIRECTORY", 5), ("CONCEPT", 18), ("AGENT_MEMORY", 18), ("CLASS", 4), ("ISSUE", 5),
          ("PULL_REQUEST", 3), ("RETROSPECTIVE", 3), ("MESSAGE", 2), ("KB_GAP", 2), ("TOOLING_GAP", 2),
          ("AgentIdentity", 1), ("SESSION_SUMMARY", 1))
EDGE_TYPES = (("CONTAINS", 55), ("RELATES_TO", 15), ("SPAWNED_MEMORY", 10), ("DISCOVERED_IN", 5),
              ("EVALUATED_BY", 5), ("SENT_TO", 5), ("TAGGED_CONCEPT", 5))


def _weighted(pairs: tuple[tuple[str, int], ...]) -> list[str]:
    return [name for name, w in pairs for _ in range(w)]


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


@dataclass
class GraphSpec:
    elements: int = 1_000_000
    node_share: float = 0.55  # the rest are edges
    live_share: float = 0.30  # share of the bundle's ids already present live
    orphan_share: float = 0.001  # edges with an endpoint that exists nowhere
    seed: int = 11


@dataclass
class Generated:
    nodes: int
    edges: int
    live_nodes: int
    live_edges: int
    graph_file: Path


def _node(rng: random.Random, nid: str, label: str) -> dict:
    return {"id": nid, "label": label, "properties": {
        "name": f"{label.lower()} {nid[:8]}",
        "description": "Generated for the restore benchmark; roughly the size of a real node line.",
        "timestamp": "2026-05-10T01:11:23.456Z", "weight": round(rng.random(), 4)}}


def _edge(rng: random.Random, eid: str, s: str, t: str, etype: str) -> dict:
    return {"id": eid, "source": s, "target": t, "type": etype,
            "properties": {"weight": 1, "justification": "benchmark edge", "timestamp": "2026-05-10T01:11:23.456Z"}}


def generate_graph(bundle: Path, live_db: Path | None, spec: GraphSpec) -> Generated:
    """Write `bundle` (a complete bundle with only a graph file) and optionally a live DB sharing ids."""
    rng = random.Random(spec.seed)
    labels, types = _weighted(LABELS), _weighted(EDGE_TYPES)
    n_nodes = int(spec.elements * spec.node_share)
    n_edges = spec.elements - n_nodes
    node_ids = [_uuid(rng) for _ in range(n_nodes)]
    node_labels = [labels[rng.randrange(len(labels))] for _ in range(n_nodes)]
    n_live = int(n_nodes * spec.live_share)  # the first n_live nodes are live
    n_live_edges = int(n_edges * spec.live_share)  # the first n_live_edges edges are live (live endpoints)
    for sub in REQUIRED_SUBDIRS:
        (bundle / sub).mkdir(parents=True, exist_ok=True)
    gfile = bundle / "graph" / "graph-backup-2026-05-10T01-11-40.002Z.jsonl"
    conn = None
    if live_db is not None:
        live_db.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(live_db, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(DDL)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("BEGIN")
    live_node_rows: list[tuple] = []
    live_edge_rows: list[tuple] = []
    with open(gfile, "wb", buffering=1 << 20) as fh:
        for i, (nid, label) in enumerate(zip(node_ids, node_labels, strict=True)):
            data = orjson.dumps(_node(rng, nid, label))
            fh.write(b'{"type":"node","data":' + data + b"}\n")
            if conn is not None and i < n_live:
                live_node_rows.append((nid, None, data.decode()))
                if len(live_node_rows) >= 50_000:
                    conn.executemany("INSERT INTO Nodes (id, user_id, data) VALUES (?,?,?)", live_node_rows)
                    live_node_rows.clear()
        if conn is not None and live_node_rows:
            conn.executemany("INSERT INTO Nodes (id, user_id, data) VALUES (?,?,?)", live_node_rows)
        n_orphans = int(n_edges * spec.orphan_share)
        for j in range(n_edges):
            eid, etype = _uuid(rng), types[rng.randrange(len(types))]
            if j < n_live_edges and n_live:
                s, t = node_ids[rng.randrange(n_live)], node_ids[rng.randrange(n_live)]
            else:
                s, t = node_ids[rng.randrange(n_nodes)], node_ids[rng.randrange(n_nodes)]
                if j >= n_edges - n_orphans:
                    t = "nowhere-" + _uuid(rng)
            data = orjson.dumps(_edge(rng, eid, s, t, etype))
            fh.write(b'{"type":"edge","data":' + data + b"}\n")
            if conn is not None and j < n_live_edges and n_live:
                live_edge_rows.append((eid, None, s, t, etype, data.decode()))
                if len(live_edge_rows) >= 50_000:
                    conn.executemany("INSERT INTO Edges (id, user_id, source, target, type, data) VALUES (?,?,?,?,?,?)",
                                     live_edge_rows)
                    live_edge_rows.clear()
        if conn is not None and live_edge_rows:
            conn.executemany("INSERT INTO Edges (id, user_id, source, target, type, data) VALUES (?,?,?,?,?,?)",
                             live_edge_rows)
    if conn is not None:
        conn.execute("COMMIT")
        conn.close()
    write_meta(bundle, {"graph": n_nodes + n_edges})
    return Generated(n_nodes, n_edges, n_live if conn else 0, n_live_edges if conn else 0, gfile)


def write_meta(bundle: Path, counts: dict[str, int], *, dimension: int | None = None) -> None:
    """A completed receipt whose counts match the files, so verify_bundle accepts the bundle."""
    from datetime import UTC, datetime

    now = datetime(2026, 5, 10, 1, 14, 2, 118000, tzinfo=UTC)
    mc = counts.get("memories", 0) + counts.get("summaries", 0)

    def entry(sub: str, n: int) -> dict:
        return {"subsystem": sub, "status": "pass" if n else "empty", "sourceCount": n, "bundleCount": n}

    meta = {
        "bundleVersion": 1, "timestamp": colon_free(now), "completedAt": iso_ms(now), "subsystems": {},
        "integrity": [entry("kb", counts.get("kb", 0)), entry("mc", mc), entry("graph", counts.get("graph", 0))],
        "topology": {"shared_topology": True},
        "embedding": {"counts": {c.key: counts.get(c.key, 0) for c in VECTOR_COLLECTIONS},
                      "dimension": dimension, "schemaVersion": 1},
    }
    (bundle / "bundle-meta.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n")


def write_memory_bundle(bundle: Path, rows: int, dim: int, *, seed: int = 5) -> Path:
    """A bundle holding only a memory file of `rows` unit vectors (float64 in the JSON, as neo writes them)."""
    import numpy as np

    for sub in ("kb", "mc", "graph", "concepts", "trajectories"):
        (bundle / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = bundle / "mc" / "memory-backup-2026-05-10T01-11-30.000Z.jsonl"
    with open(out, "wb", buffering=1 << 20) as fh:
        for start in range(0, rows, 2000):
            n = min(2000, rows - start)
            v = rng.standard_normal((n, dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            for i in range(n):
                k = start + i
                fh.write(orjson.dumps({"id": f"mem-{k:07d}", "embedding": v[i].astype(np.float64),
                                       "metadata": {"sessionId": f"s-{k % 97}", "timestamp": 1778436610123 + k},
                                       "document": f"User Prompt: q{k}\nAgent Thought: t\nAgent Response: a{k}"},
                                      option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    write_meta(bundle, {"memories": rows}, dimension=dim)
    return out


def iter_vector_rows(n: int, dim: int, *, seed: int = 5, prefix: str = "mem") -> Iterator[dict]:
    rng = random.Random(seed)
    for i in range(n):
        yield {"id": f"{prefix}-{i:07d}-{rng.getrandbits(32):08x}",
               "embedding": [rng.uniform(-1, 1) for _ in range(dim)],
               "metadata": {"sessionId": f"s-{i % 97}", "timestamp": 1778436610123 + i, "type": "agent-interaction"},
               "document": f"User Prompt: question {i}\nAgent Thought: thinking\nAgent Response: answer {i}"}
