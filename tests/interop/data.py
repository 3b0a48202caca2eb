"""Start states for the interop cases: small, but shaped like the May 10 incident's Memory Core.

A state is loaded into a data dir the way neo's own stores hold it: graph rows in SQLite (the `data` column as
JSON text, so a test controls every byte of it), Chroma rows through the Chroma client with stored float32
embeddings, and flat files as bytes.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings

from core import graph_store as g
from core.records import user_id_of

DIM = 8
COLLECTIONS = {"kb": "neo-knowledge-base", "memories": "neo-agent-memory", "summaries": "neo-agent-sessions"}
INCIDENT_LABELS = "FILE,DIRECTORY,KB_GAP,TOOLING_GAP"
INCIDENT_EDGE_TYPES = "CONTAINS,DISCOVERED_IN,EVALUATED_BY"
MAX_SAFE = 2**53  # JavaScript's Number.MAX_SAFE_INTEGER + 1


@dataclass
class Row:
    id: str
    embedding: list[float]
    metadata: dict[str, Any] | None
    document: str | None


@dataclass
class StartState:
    nodes: list[tuple[str, str]] = field(default_factory=list)  # (id, data JSON text)
    edges: list[tuple[str, str]] = field(default_factory=list)
    chroma: dict[str, list[Row]] = field(default_factory=dict)  # key of COLLECTIONS -> rows
    flat: dict[str, bytes] = field(default_factory=dict)  # path under .neo-ai-data -> bytes
    foreign_keys: bool = True  # False: the store holds edges whose endpoints are gone (FK enforcement was off)

    def node(self, nid: str, label: str, **props: Any) -> None:
        self.nodes.append((nid, json.dumps({"id": nid, "label": label, "properties": props},
                                           separators=(",", ":"), ensure_ascii=False)))

    def edge(self, eid: str, source: str, target: str, etype: str, **props: Any) -> None:
        data = {"id": eid, "source": source, "target": target, "type": etype, "properties": props}
        self.edges.append((eid, json.dumps(data, separators=(",", ":"), ensure_ascii=False)))


def chroma_client(url: str) -> Any:
    host, port = url.removeprefix("http://").split(":")
    return chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False))


def reset_chroma(url: str) -> None:
    client = chroma_client(url)
    for col in client.list_collections():
        client.delete_collection(col.name)


def load(data_dir: Path, graph_db: Path, chroma_url: str, state: StartState) -> None:
    """Write `state` into an empty data dir and an empty Chroma server."""
    if state.nodes or state.edges:
        conn = g.connect(graph_db)
        try:
            if not state.foreign_keys:
                conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("BEGIN")
            for nid, data in state.nodes:
                conn.execute("INSERT INTO Nodes (id, user_id, data) VALUES (?, ?, ?)",
                             (nid, user_id_of(json.loads(data)), data))
            for eid, data in state.edges:
                d = json.loads(data)
                conn.execute("INSERT INTO Edges (id, user_id, source, target, type, data) VALUES (?, ?, ?, ?, ?, ?)",
                             (eid, user_id_of(d), d["source"], d["target"], d["type"], data))
            conn.execute("COMMIT")
        finally:
            conn.close()
    client = chroma_client(chroma_url)
    for key, rows in state.chroma.items():
        col = client.get_or_create_collection(COLLECTIONS[key], embedding_function=None)
        if rows:
            docs = [r.document for r in rows]
            col.add(ids=[r.id for r in rows], embeddings=np.asarray([r.embedding for r in rows], dtype=np.float32),
                    metadatas=[r.metadata for r in rows], documents=docs if any(d is not None for d in docs) else None)
    for rel, content in state.flat.items():
        path = data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _vec(rng: random.Random) -> list[float]:
    return [round(rng.uniform(-1, 1), 6) for _ in range(DIM)]


def _kb_row(rng: random.Random, i: int) -> Row:
    meta = {"type": "src", "kind": "method", "name": f"src/component/C{i}.mjs - afterSet{i}()",
            "content": f"afterSet{i}(value, oldValue) {{\n    this.update();\n}}", "source": f"src/component/C{i}.mjs",
            "line_start": 10 + i, "className": f"Neo.component.C{i}", "extends": "Neo.component.Base",
            "tenantId": "neo-shared", "repoSlug": "neomjs/neo"}
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
    meta.update(hash=digest, id=digest)
    return Row(digest, _vec(rng), meta, None)  # KB content lives in metadata; the document is always null


def incident_source(seed: int = 11) -> StartState:
    """A live store before the wipe: ~250 nodes / ~270 edges of the incident's labels, vectors and flat files."""
    rng = random.Random(seed)
    uid = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
    s = StartState(foreign_keys=False)
    s.node("project-root", "SYSTEM_ANCHOR", name="Neo.mjs Ecosystem Root",
           description="The physical root directory of the Neo.mjs project.")
    s.node("frontier", "SYSTEM_ANCHOR", name="Active Context Frontier",
           description="The shifting focal point of the active Neo OS agent session.", userId=None)
    for handle in ("@neo-gpt", "@neo-opus-ada"):
        s.node(handle, "AgentIdentity", name=handle, description=f"{handle} identity", githubLogin=handle,
               createdAt="2026-05-01T08:00:00.000Z")
    dirs = [f"src/d{i}" for i in range(12)]
    for d in dirs:
        s.node(f"file-{d}", "DIRECTORY", name=d.rsplit("/", 1)[1], description=f"Directory: {d}", path=d,
               mtimeMs=1778403212345.678, isConceptEdgeStub=False)
        s.edge(uid(), "project-root", f"file-{d}", "CONTAINS", weight=1)
    for i in range(100):
        d = dirs[i % len(dirs)]
        p = f"{d}/F{i}.mjs"
        s.node(f"file-{p}", "FILE", name=f"F{i}.mjs", description=f"File path: {p}", path=p,
               mtimeMs=1778403299001.12 + i, isConceptEdgeStub=False, hash=hashlib.md5(p.encode()).hexdigest())
        s.edge(uid(), f"file-{d}", f"file-{p}", "CONTAINS", weight=1)
    prs = [f"pr-{11140 + i}" for i in range(8)]
    for pr in prs:
        s.node(pr, "PULL_REQUEST", name=f"PR #{pr[3:]}", description="Restore filters", state="merged")
    for kind in ("KB_GAP", "TOOLING_GAP"):
        for i in range(12):
            gid = f"GAP:{kind}-{hashlib.md5(f'{kind}{i}'.encode()).hexdigest()[:8]}"
            pr = prs[i % len(prs)]
            s.node(gid, kind, name=f"{kind} from PR #{pr[3:]}", description=f"gap {i}", sourcePr=pr,
                   discoveredAt="2026-05-10T18:50:10Z")
            s.edge(uid(), gid, pr, "DISCOVERED_IN", weight=1, justification=f"Extracted from PR #{pr[3:]} feedback.")
            s.edge(uid(), pr, gid, "EVALUATED_BY", weight=1)
    sessions = [uid() for _ in range(6)]
    memories: list[Row] = []
    for i in range(40):
        mid = uid()
        ts = 1778436610123 + i * 60_000
        prompt, thought, response = f"Review PR #{11141 + i % 3}", f"The filter needs {i} checks", f"Approved ({i})"
        memories.append(Row(mid, _vec(rng), {
            "prompt": prompt, "thought": thought, "response": response, "sessionId": sessions[i % 6],
            "timestamp": ts, "type": "agent-interaction", "userId": "neo-gpt", "agentIdentity": "@neo-gpt",
            "amountToolCalls": i % 9, "toolsUsed": '["read_file","run_tests"]'},
            f"User Prompt: {prompt}\nAgent Thought: {thought}\nAgent Response: {response}"))
        s.node(mid, "AGENT_MEMORY", name=f"Memory: {i}", description=f"Agent thought flow inside session {i % 6}.",
               semanticVectorId=mid, timestamp="2026-05-10T18:10:10.123Z", userId="neo-gpt")
        s.edge(uid(), "frontier", mid, "SPAWNED_MEMORY", weight=0.8)
    issues = [f"issue-{11130 + i}" for i in range(10)]
    for iss in issues:
        s.node(iss, "ISSUE", name=f"#{iss[6:]}", description="Graph wipe follow-up", state="open")
    summaries: list[Row] = []
    for i, sess in enumerate(sessions):
        sid = f"summary_{sess}"
        summaries.append(Row(sid, _vec(rng), {
            "sessionId": sess, "timestamp": 1778440000000 + i, "memoryCount": 7 * (i + 1),
            "title": f"Restore graph after May 10 wipe ({i})", "category": "bugfix", "quality": 82, "productivity": 90,
            "impact": 95, "complexity": 70, "technologies": "neo.mjs,sqlite,chromadb",
            "participatingAgents": "claude-code,codex", "totalToolCalls": 412}, f"The session restored part {i}."))
        s.node(sid, "SESSION_SUMMARY", name=f"Session {i}", description="summary", userId="neo-gpt")
        s.edge(uid(), "frontier", sid, "SESSION_COMPLETED", weight=1)
        s.edge(uid(), sid, issues[i], "DISCUSSED_IN", weight=0.8)
    concepts = [f"CONCEPT:c{i}" for i in range(20)]
    classes = [f"CLASS:Neo.component.C{i}" for i in range(10)]
    for c in concepts:
        s.node(c, "CONCEPT", name=c[8:], description="extracted", confidence=0.7, tags=["graph", "restore"])
    for c in classes:
        s.node(c, "CLASS", name=c[6:], description="class", logical_layer="view")
    for i in range(20):
        s.edge(uid(), concepts[i], classes[i % 10], "RELATES_TO", weight=1, context_source="dream")
    for i in range(6):
        msg = f"msg-{uid()}"
        s.node(msg, "MESSAGE", name=f"[lane-claim] #{11141 + i}", description="", subject=f"[lane-claim] #{11141 + i}",
               bodyText="Taking the restore lane", priority="normal", sentAt="2026-05-10T18:20:01.000Z",
               readAt=None, userId="@neo-opus-ada", sharedEntity=True)
        s.edge(uid(), msg, "@neo-opus-ada", "SENT_BY", weight=1, userId="@neo-opus-ada", sharedEntity=True)
        s.edge(uid(), msg, "@neo-gpt", "SENT_TO", weight=1, userId="@neo-opus-ada", sharedEntity=True)
    # edges whose endpoint is gone (the store ran without foreign keys at some point): every tool must cope
    s.edge(uid(), "CONCEPT:c0", "CONCEPT:deleted-long-ago", "RELATES_TO", weight=1)
    s.edge(uid(), "file-src/gone", "file-src/d0/F0.mjs", "CONTAINS", weight=1)
    s.chroma = {"kb": [_kb_row(rng, i) for i in range(30)], "memories": memories, "summaries": summaries}
    s.flat = {
        "concepts/nodes.jsonl": b'{"id":"neo-mjs","name":"Neo.mjs","tier":0,"uniqueToNeo":true,"verifiedAt":null}\n'
                                b'{"id":"multi-threading","name":"Multi-Threading Architecture","tier":1}\n',
        "concepts/edges.jsonl": b'{"source":"neo-mjs","target":"multi-threading","type":"PARENT_CONCEPT"}\n',
        "datasets/rlaif/trajectories.jsonl": b"".join(
            json.dumps({"metadata": {"sessionId": s_, "type": "whitebox_e2e_introspection"},
                        "messages": [{"role": "user", "content": "Inspect the grid"}]}).encode() + b"\n"
            for s_ in sessions),
        "sqlite/sent-to-cull.jsonl": b'{"msg":"[#10347 Phase 1] Intermittent SENT_TO edge cull detected",'
                                     b'"edge_type":"SENT_TO","fk_verify_count":1}\n',
    }
    return s


def live_after_wipe(source: StartState, seed: int = 12) -> StartState:
    """The live store an operator merges into: a third of the graph re-ingested (FILE/DIRECTORY with new
    mtimes, so equal ids with other data), post-wipe rows the bundle does not have, part of the vectors."""
    rng = random.Random(seed)
    live = StartState()
    kept = 0
    for nid, data in source.nodes:
        d = json.loads(data)
        if d["label"] in ("DIRECTORY", "FILE") and rng.random() < 0.4:
            d["properties"]["mtimeMs"] += 1000  # re-ingested after the wipe: live wins in a merge
            live.nodes.append((nid, json.dumps(d, separators=(",", ":"))))
            kept += 1
        elif d["label"] in ("SYSTEM_ANCHOR", "AGENT_MEMORY") and rng.random() < 0.3:
            live.nodes.append((nid, data))
    ids = {nid for nid, _ in live.nodes}
    for eid, data in source.edges:
        d = json.loads(data)
        if d["source"] in ids and d["target"] in ids and rng.random() < 0.5:
            d["properties"]["weight"] = 1.3  # reinforced since: the live edge keeps its weight
            live.edges.append((eid, json.dumps(d, separators=(",", ":"))))
    for i in range(5):
        live.node(f"CONCEPT:post-wipe-{i}", "CONCEPT", name=f"post-wipe {i}", description="re-extracted")
    for i in range(4):
        live.edge(f"live-edge-{i}", f"CONCEPT:post-wipe-{i}", f"CONCEPT:post-wipe-{i + 1}", "RELATES_TO", weight=1)
    if "project-root" in ids:
        live.edge("live-edge-root", "project-root", "CONCEPT:post-wipe-0", "RELATES_TO", weight=1)
    assert kept > 10
    live.chroma = {
        "kb": source.chroma["kb"][:10],  # KB ids are content hashes: an equal id carries equal content
        "memories": source.chroma["memories"][:15] + [Row(str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                                          _vec(rng), {"type": "agent-interaction", "n": i},
                                                          f"post-wipe memory {i}") for i in range(3)],
        "summaries": source.chroma["summaries"][:2],
    }
    live.flat = {"concepts/nodes.jsonl": b'{"id":"neo-mjs","name":"Neo.mjs (edited live)","tier":0}\n'}
    return live


def vectorless_source() -> StartState:
    """A store whose Chroma holds nothing (the collections exist and are empty): only the graph survives."""
    s = StartState()
    s.node("project-root", "SYSTEM_ANCHOR", name="Neo.mjs Ecosystem Root")
    for i in range(20):
        s.node(f"CONCEPT:v{i}", "CONCEPT", name=f"v{i}")
        if i:
            s.edge(f"v-edge-{i}", f"CONCEPT:v{i - 1}", f"CONCEPT:v{i}", "RELATES_TO", weight=1)
    s.chroma = {"kb": [], "memories": [], "summaries": []}
    return s


LONG = "L" * 200_000
HOSTILE_STRINGS = {"cr": "line1\rline2", "crlf": "a\r\nb", "lf": "a\nb", "ls": "x\u2028y\u2029z",
                   "nul": "a\u0000b", "long": LONG}


def hostile_source() -> StartState:
    """Text and numbers that break naive readers and writers, in graph data, documents and metadata."""
    rng = random.Random(5)
    s = StartState()
    numbers = ',"big":9007199254740993,"negzero":-0,"negzerof":-0.0,"one":1.0'
    for i in range(3):
        props = json.dumps({**HOSTILE_STRINGS, "name": f"hostile {i}"}, separators=(",", ":"), ensure_ascii=False)
        s.nodes.append((f"hostile-{i}", f'{{"id":"hostile-{i}","label":"CONCEPT","properties":{props[:-1]}{numbers}}}}}'))
    # what a writer other than neo can leave in the column: JSON that parses, with raw CR/LF between tokens
    s.nodes.append(("crlf-laid-out", '{"id":"crlf-laid-out",\r\n "label":"CONCEPT",\r "properties":{\n'
                                     '"name":"pretty-printed on Windows","big":9007199254740993}}'))
    s.edge("hostile-edge", "hostile-0", "hostile-1", "RELATES_TO", weight=1, note="tab\there\rcr\u2028ls")
    s.edges.append(("hostile-edge-num", '{"id":"hostile-edge-num","source":"hostile-1","target":"hostile-2",'
                                        '"type":"RELATES_TO","properties":{"weight":-0,"big":9007199254740993}}'))
    docs = [HOSTILE_STRINGS["cr"], HOSTILE_STRINGS["crlf"] + HOSTILE_STRINGS["ls"], HOSTILE_STRINGS["nul"], LONG]
    rows = []
    for i, doc in enumerate(docs):
        meta: dict[str, Any] = {"text": doc if len(doc) < 1000 else doc[:50_000], "big": MAX_SAFE + 1,
                                "negzero": -0.0, "one": 1.0, "i": i}
        rows.append(Row(f"hostile-mem-{i}", _vec(rng), meta, doc))
    s.chroma = {"memories": rows, "summaries": [], "kb": []}
    s.flat = {"datasets/rlaif/trajectories.jsonl": b'{"t":"a\\rb\\u2028c"}\n'}
    return s
