"""Small builders shared by the engine tests: a live data dir with real SQLite and real Chroma rows."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np

from core import chroma as ch
from core import graph as g
from core.datadir import COLLECTIONS, DataDir


def node(nid: str, label: str, **props: Any) -> dict[str, Any]:
    return {"id": nid, "label": label, "properties": props}


def edge(eid: str, source: str, target: str, etype: str, **props: Any) -> dict[str, Any]:
    return {"id": eid, "source": source, "target": target, "type": etype, "properties": props}


def insert_graph(dd: DataDir, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    conn = g.connect(dd.graph_db)
    try:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO Nodes (id, user_id, data) VALUES (?, ?, ?)",
                         [(n["id"], g.user_id_of(n), json.dumps(n)) for n in nodes])
        conn.executemany("INSERT INTO Edges (id, user_id, source, target, type, data) VALUES (?, ?, ?, ?, ?, ?)",
                         [(e["id"], g.user_id_of(e), e["source"], e["target"], e["type"], json.dumps(e))
                          for e in edges])
        conn.execute("COMMIT")
    finally:
        conn.close()


def chain_graph(n: int, *, prefix: str = "n", label: str = "CONCEPT") -> tuple[list[dict], list[dict]]:
    nodes = [node(f"{prefix}{i}", label, name=f"{label} {i}", userId="@neo-gpt" if i % 2 else None)
             for i in range(n)]
    edges = [edge(f"{prefix}e{i}", f"{prefix}{i}", f"{prefix}{i + 1}", "RELATES_TO", weight=1)
             for i in range(n - 1)]
    return nodes, edges


def add_rows(dd: DataDir, key: str, n: int, *, dim: int = 8, start: int = 0, seed: int = 0,
             documents: bool = True) -> list[str]:
    client = ch.open_client(dd)
    col = ch.get_collection(client, COLLECTIONS[key], create=True)
    rng = np.random.default_rng(seed)
    ids = [f"{key}-{i}" for i in range(start, start + n)]
    if n:
        col.add(ids=ids, embeddings=rng.random((n, dim)).astype(np.float32),
                metadatas=[{"i": i, "userId": "neo-gpt"} for i in range(start, start + n)],
                documents=[f"{key} document {i}" for i in range(start, start + n)] if documents else None)
    return ids


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
