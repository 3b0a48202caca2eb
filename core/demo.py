"""A generated incident to explore: the neo Memory Core graph wipe of 2026-05-10, rebuilt from its published figures.

At scale 1 the newest bundle holds 22,660 nodes and 37,925 graph elements with the label mix of the real
01:11 bundle; the live graph after the wipe holds 3,545 nodes and 4,300 edges; and restoring with the incident
filters (FILE, DIRECTORY, KB_GAP, TOOLING_GAP / CONTAINS, DISCOVERED_IN, EVALUATED_BY) filters out 22,756
elements, finds 3,580 already present and would insert 11,589 -- the numbers of neo's #11141 dry run.
Everything is deterministic for a seed; only bundle names and ages follow ``now``.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from core import chroma as ch
from core import graph as g
from core.backup import integrity_entry
from core.bundle import META_FILE, colon_free, iso_ms
from core.datadir import COLLECTIONS, DataDir, resolve
from core.jsonl import JsonlWriter, dumps, write_atomic
from core.progress import Progress, ProgressFn, check_cancel, no_progress
from core.writer import BundleWriter

INCIDENT_LABELS = ("FILE", "DIRECTORY", "KB_GAP", "TOOLING_GAP")
INCIDENT_EDGE_TYPES = ("CONTAINS", "DISCOVERED_IN", "EVALUATED_BY")
MAY10_FIGURES = {"filteredOut": 22_756, "alreadyPresent": 3_580, "wouldInsert": 11_589}

EPOCH = datetime(2026, 5, 10, 1, 11, 23, 456_000, tzinfo=UTC)  # the real bundle's time; content dates from it
AGENTS = ("@neo-gpt", "@neo-opus-4-7", "@neo-gemini", "@neo-sonnet", "@neo-codex", "@tobiu", "@neo-haiku", "@neo-qwen")
TOP_DIRS = ("src", "apps", "examples", "ai", "learn", "test", "buildScripts", "resources")
WORDS = ("component", "data", "manager", "worker", "form", "grid", "list", "tree", "state", "util", "layout",
         "button", "field", "view", "store", "model", "dialog", "menu", "draggable", "calendar", "chart", "core",
         "collection", "plugin", "table", "tab", "container", "toolbar", "vdom", "main")
CONCEPT_TOPICS = ("Multi-Threading", "VDOM", "State Provider", "Reactivity", "Config System", "Worker Bridge",
                  "Virtual Scrolling", "Shared Workers", "Remote Methods", "Delta Updates", "Class System",
                  "Observable", "Component Lifecycle", "Routing", "Theming", "Drag and Drop", "Forms", "Grids")


@dataclass(frozen=True)
class Shape:
    """Counts at scale 1; every number is scaled by the same factor."""

    directories: int = 1_141
    files: int = 8_299
    stub_files: int = 91  # FILE nodes made by concept extraction: no CONTAINS edge
    kb_gaps: int = 395
    tooling_gaps: int = 365
    retrospectives: int = 792
    pull_requests: int = 711
    issues: int = 1_017
    concepts: int = 4_216
    classes: int = 844
    memories: int = 4_136
    messages: int = 409
    summaries: int = 250
    plans: int = 40
    discussions: int = 33
    spawned: int = 1_100  # SPAWNED_MEMORY edges, for memories 0..n-1
    discussed_in: int = 180
    resolves: int = 200
    implemented_by_kept: int = 60  # CONCEPT -> FILE that the wipe's re-ingest brought back
    implemented_by_orphan: int = 60  # CONCEPT -> stub FILE that exists nowhere live
    relates_to: int = 61
    ghosts: int = 43  # RELATES_TO -> an id that exists nowhere
    # the live graph after the wipe
    surviving_memories: int = 850
    surviving_summaries: int = 40
    surviving_messages: int = 20
    reingested_fs: int = 760
    new_memories: int = 100
    new_files: int = 25
    new_messages: int = 10
    live_parent_of: int = 900
    live_blocks: int = 400
    live_references: int = 30
    live_relates: int = 424
    # Chroma
    chroma_memories: int = 10_312
    chroma_summaries: int = 876
    kb_rows: int = 2_600
    live_memories: int = 1_000  # survivors; plus new ones
    live_new_memories: int = 68
    live_summaries: int = 60
    live_new_summaries: int = 5
    live_kb: int = 2_400
    live_new_kb: int = 50

    def scaled(self, factor: float) -> Shape:
        if factor == 1.0:
            return self
        values = {k: (max(1, round(v * factor)) if v else 0) for k, v in asdict(self).items()}
        return Shape(**values)


@dataclass
class DemoResult:
    root: str
    seed: int
    scale: float
    dimension: int
    bundles: list[str]
    residue: list[str]
    live: dict[str, int]
    incidentFilters: dict[str, list[str]]
    expected: dict[str, int] | None
    workspace: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _node(nid: str, label: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"id": nid, "label": label, "properties": props}


def _edge(eid: str, source: str, target: str, etype: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"id": eid, "source": source, "target": target, "type": etype, "properties": props}


def _ts(offset_s: float) -> str:
    return iso_ms(EPOCH + timedelta(seconds=offset_s))


@dataclass
class _Graph:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    live_nodes: list[dict[str, Any]]
    live_edges: list[dict[str, Any]]
    memory_ids: list[str]  # AGENT_MEMORY node ids == Chroma memory ids
    summary_ids: list[str]
    new_memory_ids: list[str]


def _build_graph(s: Shape, rng: random.Random) -> _Graph:
    ids = _Ids(rng)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    node_by_id: dict[str, dict[str, Any]] = {}

    def add(n: dict[str, Any]) -> dict[str, Any]:
        nodes.append(n)
        node_by_id[n["id"]] = n
        return n

    def link(src: str, dst: str, etype: str, weight: float = 1.0, **props: Any) -> dict[str, Any]:
        e = _edge(ids.uuid(), src, dst, etype, {"weight": weight, **props})
        edges.append(e)
        return e

    add(_node("project-root", "SYSTEM_ANCHOR", {"name": "Neo.mjs Ecosystem Root",
                                                "description": "The physical root directory of the Neo.mjs project."}))
    add(_node("frontier", "SYSTEM_ANCHOR", {"name": "Frontier", "description": "Where new memories attach."}))
    add(_node("system-clock", "SYSTEM_CLOCK", {"name": "System Clock", "tick": 11_143}))
    add(_node("AGENT:*", "BroadcastSentinel", {"name": "All agents"}))
    for handle in AGENTS:
        add(_node(handle, "AgentIdentity", {"name": handle, "description": f"Agent identity {handle}"}))

    # the filesystem mirror: directories (depth 1-8), files in them, a few concept-edge stubs
    dirs: list[tuple[str, int]] = []  # (path, depth)
    tree_nodes: list[tuple[str, str]] = []  # (node id, parent node id) in BFS-friendly creation order
    for top in TOP_DIRS[: min(len(TOP_DIRS), s.directories)]:
        dirs.append((top, 1))
    while len(dirs) < s.directories:
        parent, depth = rng.choice(dirs)
        if depth >= 8:
            continue
        name = f"{rng.choice(WORDS)}{len(dirs)}"
        dirs.append((f"{parent}/{name}", depth + 1))
    dirs.sort(key=lambda d: (d[1], d[0]))  # parents before children
    for path, _depth in dirs:
        parent_dir = path.rsplit("/", 1)[0] if "/" in path else None
        nid = f"file-{path}"
        add(_node(nid, "DIRECTORY", {"name": path.rsplit("/", 1)[-1], "description": f"Directory: {path}",
                                     "path": path, "mtimeMs": 1778403212345.678 + len(tree_nodes),
                                     "isConceptEdgeStub": False}))
        tree_nodes.append((nid, f"file-{parent_dir}" if parent_dir else "project-root"))
    dir_paths = [d[0] for d in dirs]
    files_by_dir: dict[str, list[str]] = {}
    tree_files = s.files - s.stub_files
    for i in range(tree_files):
        d = rng.choice(dir_paths)
        ext = rng.choice((".mjs", ".mjs", ".mjs", ".md", ".json", ".scss"))
        path = f"{d}/{rng.choice(WORDS).capitalize()}{i}{ext}"
        files_by_dir.setdefault(d, []).append(path)
        nid = f"file-{path}"
        add(_node(nid, "FILE", {"name": path.rsplit("/", 1)[-1], "description": f"File path: {path}", "path": path,
                                "mtimeMs": 1778403299001.12 + i, "isConceptEdgeStub": False,
                                "hash": hashlib.md5(path.encode()).hexdigest()}))
        tree_nodes.append((nid, f"file-{d}"))
    stub_ids = []
    for i in range(s.stub_files):
        path = f"src/extracted/Stub{i}.mjs"
        nid = f"file-{path}"
        add(_node(nid, "FILE", {"name": f"Stub{i}.mjs", "description": f"File path: {path}", "path": path,
                                "isConceptEdgeStub": True}))
        stub_ids.append(nid)
    for nid, parent in tree_nodes:
        link(parent, nid, "CONTAINS")

    prs = [add(_node(f"pr-{11_000 + i}", "PULL_REQUEST", {"name": f"PR #{11_000 + i}", "state": "merged",
                                                          "description": f"Pull request {11_000 + i}"}))["id"]
           for i in range(s.pull_requests)]
    issues = [add(_node(f"issue-{10_000 + i}", "ISSUE", {"name": f"Issue #{10_000 + i}", "state": "open",
                                                         "description": f"Ticket {10_000 + i}"}))["id"]
              for i in range(s.issues)]
    for label, count in (("KB_GAP", s.kb_gaps), ("TOOLING_GAP", s.tooling_gaps), ("RETROSPECTIVE", s.retrospectives)):
        for i in range(count):
            pr = prs[i % len(prs)]
            gid = f"GAP:{label}-{hashlib.md5(f'{label}{i}'.encode()).hexdigest()[:8]}"
            add(_node(gid, label, {"name": f"{label} from {pr}", "description": f"{label.lower()} signal {i}",
                                   "sourcePr": pr, "discoveredAt": _ts(-86_400 + i)}))
            link(gid, pr, "DISCOVERED_IN", justification=f"Extracted from {pr} feedback.")
            link(pr, gid, "EVALUATED_BY")
    concepts = [add(_node(f"CONCEPT:{CONCEPT_TOPICS[i % len(CONCEPT_TOPICS)]} {i}", "CONCEPT",
                          {"name": f"{CONCEPT_TOPICS[i % len(CONCEPT_TOPICS)]} {i}", "logical_layer": "framework",
                           "confidence": round(rng.random(), 3), "tags": "architecture"}))["id"]
                for i in range(s.concepts)]
    classes = [add(_node(f"CLASS:Neo.{rng.choice(WORDS)}.C{i}", "CLASS", {"name": f"C{i}", "stability": "stable"}))["id"]
               for i in range(s.classes)]
    memory_ids = [ids.uuid() for _ in range(s.memories)]
    for i, mid in enumerate(memory_ids):
        user = AGENTS[i % len(AGENTS)]
        add(_node(mid, "AGENT_MEMORY", {"name": f"Memory: {_ts(-i * 300)}", "description": "Agent thought flow.",
                                        "semanticVectorId": mid, "timestamp": _ts(-i * 300), "userId": user}))
    session_ids = [ids.uuid() for _ in range(s.summaries)]
    summary_ids = [f"summary_{sid}" for sid in session_ids]
    for i, sid in enumerate(summary_ids):
        add(_node(sid, "SESSION_SUMMARY", {"name": f"Session {i}", "description": "Session summary."}))
    plans = [add(_node(f"plan_{ids.uuid()}", "IMPLEMENTATION_PLAN", {"name": f"Plan {i}"}))["id"]
             for i in range(s.plans)]
    for i in range(s.discussions):
        add(_node(f"discussion-{9_000 + i}", "DISCUSSION", {"name": f"Discussion #{9_000 + i}"}))
    messages = []
    for i in range(s.messages):
        sender = AGENTS[i % len(AGENTS)]
        mid = f"msg-{ids.uuid()}"
        add(_node(mid, "MESSAGE", {"name": f"[lane-claim] #{11_000 + i}", "description": "",
                                   "subject": f"[lane-claim] #{11_000 + i}", "bodyText": "Taking the lane.",
                                   "priority": "normal", "sentAt": _ts(-i * 600), "readAt": None,
                                   "userId": sender, "sharedEntity": True}))
        messages.append((mid, sender, AGENTS[(i + 3) % len(AGENTS)]))

    # episodic and mailbox edges
    for mid in memory_ids[: s.spawned]:
        link("frontier", mid, "SPAWNED_MEMORY", 0.8)
    for sid in summary_ids:
        link("frontier", sid, "SESSION_COMPLETED")
    for i in range(s.discussed_in):
        link(summary_ids[i % len(summary_ids)], issues[i % len(issues)], "DISCUSSED_IN", 0.8)
    for i, plan in enumerate(plans):
        link(summary_ids[i % len(summary_ids)], plan, "CONTAINED_PLAN")
    for mid, sender, recipient in messages:
        link(mid, sender, "SENT_BY", userId=sender, sharedEntity=True)
        link(mid, recipient, "SENT_TO", userId=sender, sharedEntity=True)
    for i in range(s.resolves):
        link(prs[i % len(prs)], issues[(i * 7) % len(issues)], "RESOLVES")

    # the live graph after the wipe: survivors keep their ids, the re-ingest recreates some with the same ids
    live_dirs: set[str] = set()
    live_fs: list[str] = []
    for nid, parent in tree_nodes:
        if len(live_fs) >= s.reingested_fs:
            break
        if node_by_id[nid]["label"] == "DIRECTORY" and (parent == "project-root" or parent in live_dirs) \
                and len(live_dirs) < max(1, s.reingested_fs // 3):
            live_dirs.add(nid)
            live_fs.append(nid)
    for nid, parent in tree_nodes:
        if len(live_fs) >= s.reingested_fs:
            break
        if node_by_id[nid]["label"] == "FILE" and parent in live_dirs:
            live_fs.append(nid)
    live_files = [n for n in live_fs if node_by_id[n]["label"] == "FILE"]
    parent_of = dict(tree_nodes)
    for i in range(s.implemented_by_kept):
        link(concepts[i % len(concepts)], live_files[i % len(live_files)], "IMPLEMENTED_BY", context_source="dream")
    for i in range(s.implemented_by_orphan):
        link(concepts[(i + 7) % len(concepts)], stub_ids[i % len(stub_ids)], "IMPLEMENTED_BY", context_source="dream")
    for i in range(s.relates_to):
        link(classes[i % len(classes)], concepts[(i * 3) % len(concepts)], "RELATES_TO", 0.5)
    for i in range(s.ghosts):
        link(concepts[(i * 11) % len(concepts)], f"CONCEPT:pruned-{i}", "RELATES_TO", 0.5)

    survivors = {"project-root", "frontier", "system-clock", "AGENT:*", *AGENTS,
                 *memory_ids[: s.surviving_memories], *summary_ids[: s.surviving_summaries],
                 *(m[0] for m in messages[: s.surviving_messages])}
    live_nodes: list[dict[str, Any]] = []
    for n in nodes:
        if n["id"] in survivors:
            live_nodes.append(n)
        elif n["label"] in ("ISSUE", "PULL_REQUEST"):
            props = {**n["properties"], "state": "closed", "reingestedAt": _ts(3_600)}
            live_nodes.append(_node(n["id"], n["label"], props))
    live_fs_set = set(live_fs)
    live_nodes += [node_by_id[nid] for nid in live_fs]
    live_ids = {n["id"] for n in live_nodes}
    live_edges = [e for e in edges if e["source"] in survivors and e["target"] in survivors]
    new_memory_ids = [ids.uuid() for _ in range(s.new_memories)]
    for i, mid in enumerate(new_memory_ids):
        live_nodes.append(_node(mid, "AGENT_MEMORY", {"name": f"Memory: {_ts(7_200 + i * 60)}",
                                                      "description": "Written after the wipe.",
                                                      "semanticVectorId": mid, "timestamp": _ts(7_200 + i * 60),
                                                      "userId": AGENTS[i % len(AGENTS)]}))
        live_edges.append(_edge(ids.uuid(), "frontier", mid, "SPAWNED_MEMORY", {"weight": 0.8}))
    for nid in live_fs:
        live_edges.append(_edge(ids.uuid(), parent_of[nid], nid, "CONTAINS", {"weight": 1}))
    live_dir_list = sorted(live_dirs)
    for i in range(s.new_files):
        d = node_by_id[live_dir_list[i % len(live_dir_list)]]["properties"]["path"]
        path = f"{d}/New{i}.mjs"
        nid = f"file-{path}"
        live_nodes.append(_node(nid, "FILE", {"name": f"New{i}.mjs", "description": f"File path: {path}",
                                              "path": path, "mtimeMs": 1778450000000.5 + i,
                                              "isConceptEdgeStub": False}))
        live_edges.append(_edge(ids.uuid(), f"file-{d}", nid, "CONTAINS", {"weight": 1}))
    new_messages = []
    for i in range(s.new_messages):
        mid = f"msg-{ids.uuid()}"
        sender = AGENTS[i % len(AGENTS)]
        live_nodes.append(_node(mid, "MESSAGE", {"name": f"[restore] step {i}", "subject": f"[restore] step {i}",
                                                 "bodyText": "Graph wiped; restoring.", "userId": sender}))
        live_edges.append(_edge(ids.uuid(), mid, sender, "SENT_BY", {"weight": 1}))
        live_edges.append(_edge(ids.uuid(), mid, AGENTS[(i + 1) % len(AGENTS)], "SENT_TO", {"weight": 1}))
        new_messages.append(mid)
    for i, pr in enumerate(prs):
        live_edges.append(_edge(ids.uuid(), pr, issues[(i * 7) % len(issues)], "RESOLVES", {"weight": 1}))
    for i in range(s.live_parent_of):
        live_edges.append(_edge(ids.uuid(), issues[i % len(issues)], issues[(i + 1) % len(issues)], "PARENT_OF", {}))
    for i in range(s.live_blocks):
        live_edges.append(_edge(ids.uuid(), issues[(i * 3) % len(issues)], issues[(i * 5 + 1) % len(issues)],
                                "BLOCKS", {}))
    for i in range(s.live_references):
        live_edges.append(_edge(ids.uuid(), new_messages[i % len(new_messages)], issues[i % len(issues)],
                                "REFERENCES_TICKET", {}))
    for i in range(s.live_relates):
        live_edges.append(_edge(ids.uuid(), issues[i % len(issues)], prs[(i * 13) % len(prs)], "RELATES_TO",
                                {"weight": 0.5}))
    assert live_fs_set <= live_ids | live_fs_set
    return _Graph(nodes, edges, live_nodes, live_edges, memory_ids, summary_ids, new_memory_ids)


def plan_totals(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], live_node_ids: set[str], live_edge_ids: set[str],
    labels: frozenset[str], edge_types: frozenset[str],
) -> dict[str, int]:
    """A brute-force oracle of neo's filter rule, kept independent of core.plan so each checks the other."""
    accepted = {n["id"] for n in nodes if n["label"] not in labels}
    valid = accepted | live_node_ids
    filtered = sum(1 for n in nodes if n["label"] in labels) + sum(1 for e in edges if e["type"] in edge_types)
    orphans = sum(1 for e in edges if e["type"] not in edge_types
                  and (e["source"] not in valid or e["target"] not in valid))
    present = sum(1 for n in nodes if n["id"] in accepted and n["id"] in live_node_ids)
    present += sum(1 for e in edges if e["type"] not in edge_types and e["source"] in valid
                   and e["target"] in valid and e["id"] in live_edge_ids)
    total = len(nodes) + len(edges)
    return {"filteredOut": filtered + orphans, "alreadyPresent": present,
            "wouldInsert": total - filtered - orphans - present}


# ---------------------------------------------------------------- Chroma rows

def _vector_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _memory_row(i: int, mid: str, emb: np.ndarray) -> dict[str, Any]:
    user = AGENTS[i % len(AGENTS)]
    prompt, thought, response = f"Review step {i} of the restore", f"Check ids before writing ({i}).", "Done."
    meta = {"prompt": prompt, "response": response, "thought": thought, "sessionId": f"session-{i // 40}",
            "timestamp": int((EPOCH - timedelta(minutes=5 * i)).timestamp() * 1000), "type": "agent-interaction",
            "userId": user.lstrip("@"), "agentIdentity": user}
    doc = f"User Prompt: {prompt}\nAgent Thought: {thought}\nAgent Response: {response}"
    return {"id": mid, "embedding": emb, "metadata": meta, "document": doc}


def _summary_row(i: int, sid: str, emb: np.ndarray) -> dict[str, Any]:
    meta = {"sessionId": sid.removeprefix("summary_"), "timestamp": int((EPOCH - timedelta(hours=i)).timestamp() * 1000),
            "memoryCount": 10 + i % 90, "title": f"Session {i}", "category": "bugfix", "quality": 80,
            "productivity": 85, "impact": 70, "complexity": 60, "technologies": "neo.mjs,sqlite,chromadb"}
    return {"id": sid, "embedding": emb, "metadata": meta, "document": f"Session {i} restored part of the graph."}


def _kb_row(i: int, emb: np.ndarray) -> dict[str, Any]:
    name = f"src/{WORDS[i % len(WORDS)]}/Base{i}.mjs - method{i}()"
    content = f"method{i}(value, oldValue) {{\n    return value;\n}}"
    digest = hashlib.sha256(f"neo-shared|neomjs/neo|src|{name}|{content}".encode()).hexdigest()
    meta = {"type": "src", "kind": "method", "name": name, "content": content, "source": name.split(" - ")[0],
            "line_start": 10 + i % 900, "className": f"Neo.{WORDS[i % len(WORDS)]}.Base{i}", "hash": digest,
            "id": digest, "tenantId": "neo-shared", "repoSlug": "neomjs/neo"}
    return {"id": digest, "embedding": emb, "metadata": meta, "document": None}


@dataclass
class _Rows:
    memories: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    kb: list[dict[str, Any]]
    live_new_memories: list[dict[str, Any]]
    live_new_summaries: list[dict[str, Any]]
    live_new_kb: list[dict[str, Any]]


def _build_rows(s: Shape, graph: _Graph, ids: _Ids, vec_rng: np.random.Generator, dim: int) -> _Rows:
    mem_ids = graph.memory_ids + [ids.uuid() for _ in range(max(0, s.chroma_memories - len(graph.memory_ids)))]
    mem_ids = mem_ids[: s.chroma_memories]
    sum_ids = graph.summary_ids + [f"summary_{ids.uuid()}" for _ in range(max(0, s.chroma_summaries - len(graph.summary_ids)))]
    sum_ids = sum_ids[: s.chroma_summaries]
    mv = _vector_rows(vec_rng, len(mem_ids) + s.live_new_memories, dim)
    sv = _vector_rows(vec_rng, len(sum_ids) + s.live_new_summaries, dim)
    kv = _vector_rows(vec_rng, s.kb_rows + s.live_new_kb, dim)
    new_mem_ids = (graph.new_memory_ids + [ids.uuid() for _ in range(s.live_new_memories)])[: s.live_new_memories]
    return _Rows(
        memories=[_memory_row(i, mid, mv[i]) for i, mid in enumerate(mem_ids)],
        summaries=[_summary_row(i, sid, sv[i]) for i, sid in enumerate(sum_ids)],
        kb=[_kb_row(i, kv[i]) for i in range(s.kb_rows)],
        live_new_memories=[_memory_row(100_000 + i, mid, mv[len(mem_ids) + i]) for i, mid in enumerate(new_mem_ids)],
        live_new_summaries=[_summary_row(100_000 + i, f"summary_{ids.uuid()}", sv[len(sum_ids) + i])
                            for i in range(s.live_new_summaries)],
        live_new_kb=[_kb_row(100_000 + i, kv[s.kb_rows + i]) for i in range(s.live_new_kb)],
    )


# ---------------------------------------------------------------- flat substrates

def _concept_lines(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes = [{"id": "neo-mjs", "name": "Neo.mjs", "tier": 0, "description": "The framework.", "uniqueToNeo": True,
              "tags": ["framework"], "verifiedAt": None}]
    for i in range(58):
        topic = CONCEPT_TOPICS[i % len(CONCEPT_TOPICS)]
        nodes.append({"id": f"{topic.lower().replace(' ', '-')}-{i}", "name": topic, "tier": 1 + i % 3,
                      "description": f"{topic} in Neo.mjs.", "uniqueToNeo": i % 2 == 0,
                      "tags": ["architecture"], "aliases": [topic.lower()], "verifiedAt": None})
    edges = []
    for i in range(180):
        a, b = nodes[1 + i % 58]["id"], nodes[1 + (i * 7 + 3) % 58]["id"]
        etype = ("PARENT_CONCEPT", "REQUIRES", "EXPLAINED_BY", "IMPLEMENTED_BY", "ANALOGOUS_TO")[i % 5]
        target = f"file:learn/{b}.md" if etype == "EXPLAINED_BY" else b
        edges.append({"source": a if i % 9 else "neo-mjs", "target": target, "type": etype})
    return nodes, edges


def _trajectory(i: int) -> dict[str, Any]:
    return {"metadata": {"sessionId": f"session-{i}", "extractionDate": _ts(-i * 3_600),
                         "type": "whitebox_e2e_introspection"},
            "messages": [{"role": "user", "content": f"Inspect the grid {i}"},
                         {"role": "assistant", "content": "[THOUGHT]\nLook first.\n[RESPONSE]\nDone."}]}


def _cull(i: int) -> dict[str, Any]:
    return {"msg": "[#10347 Phase 1] Intermittent SENT_TO edge cull detected", "timestamp": _ts(-i * 7_200),
            "caller_passed_to": "neo-gpt", "post_normalize_to": "@neo-gpt", "fk_verify_count": 1,
            "edge_type": "SENT_TO", "message_id": f"msg-{i}"}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with JsonlWriter(path) as w:
        for r in rows:
            w.write(r)


# ---------------------------------------------------------------- bundles

@dataclass
class _BundleSpec:
    age: timedelta
    memories: int
    summaries: int
    kb: bool = True
    drop_memory_nodes: int = 0  # newer memories not yet in the graph
    malformed_meta: bool = False


def _demo_coords(dd: DataDir) -> dict[str, Any]:
    return {"host": None, "port": None, "path": dd.chroma_path.relative_to(dd.root).as_posix()}


def _write_bundle(
    dd: DataDir, when: datetime, spec: _BundleSpec, graph: _Graph, rows: _Rows, dim: int,
    concepts: tuple[list[dict[str, Any]], list[dict[str, Any]]], trajectories: int, culls: int,
) -> str:
    w = BundleWriter(dd.backup_root, when)
    try:
        ts = colon_free(when + timedelta(seconds=17))
        counts = {"kb": len(rows.kb) if spec.kb else 0, "memories": spec.memories, "summaries": spec.summaries}
        subsystems: dict[str, Any] = {}
        for sub, prefix, data in (("kb", "knowledge-base-backup", rows.kb[: counts["kb"]]),
                                  ("mc", "memory-backup", rows.memories[: spec.memories]),
                                  ("mc", "summaries-backup", rows.summaries[: spec.summaries])):
            if not data:
                continue
            out = w.open_jsonl(f"{sub}/{prefix}-{ts}.jsonl")
            for r in data:
                out.write(r)
            w.close_jsonl(out)
        dropped = set(graph.memory_ids[len(graph.memory_ids) - spec.drop_memory_nodes:]) if spec.drop_memory_nodes else set()
        gout = w.open_jsonl(f"graph/graph-backup-{ts}.jsonl")
        for n in graph.nodes:
            if n["id"] not in dropped:
                gout.write_raw(g.node_line(dumps(n)))
        for e in graph.edges:
            if e["source"] not in dropped and e["target"] not in dropped:
                gout.write_raw(g.edge_line(dumps(e)))
        n_graph = gout.lines
        w.close_jsonl(gout)
        cn, ce = concepts
        for name, data in (("nodes.jsonl", cn), ("edges.jsonl", ce)):
            out = w.open_jsonl(f"concepts/{name}")
            for r in data:
                out.write(r)
            w.close_jsonl(out)
        out = w.open_jsonl("trajectories/trajectories.jsonl")
        for i in range(trajectories):
            out.write(_trajectory(i))
        w.close_jsonl(out)
        out = w.open_jsonl("mailbox/sent-to-cull.jsonl")
        for i in range(culls):
            out.write(_cull(i))
        w.close_jsonl(out)
        mem = {"collection": COLLECTIONS["memories"], "collectionId": "9e1a5c0e-0000-4000-8000-00000000a001",
               "expected": spec.memories, "exported": spec.memories, "skipped": 0, "skippedIds": []}
        summ = {"collection": COLLECTIONS["summaries"], "collectionId": "47d2b1f0-0000-4000-8000-00000000a002",
                "expected": spec.summaries, "exported": spec.summaries, "skipped": 0, "skippedIds": []}
        subsystems["kb"] = ({"message": f"Export complete. Exported {counts['kb']} knowledge base chunks.",
                             "status": "complete", "reason": None, "count": counts["kb"], "expected": counts["kb"],
                             "collectionId": "0b7c3e2a-0000-4000-8000-00000000a003"} if counts["kb"] else
                            {"message": "Source collection empty; no file written.", "status": "degraded",
                             "reason": "source-collection-empty", "count": 0, "expected": 0,
                             "collectionId": "0b7c3e2a-0000-4000-8000-00000000a003"})
        subsystems["mc"] = {"message": f"Export complete. Exported {spec.memories} memories, {spec.summaries} "
                                       "summaries, 0 temporal summaries, and 0 graph elements.",
                            "count": spec.memories + spec.summaries, "memories": mem, "summaries": summ}
        subsystems["graph"] = {"message": f"Export complete. Exported 0 memories, 0 summaries, 0 temporal summaries, "
                                          f"and {n_graph} graph elements.", "count": n_graph,
                               "graph": {"collection": "native-graph", "expected": n_graph, "exported": n_graph,
                                         "skipped": 0, "skippedIds": []}}
        subsystems["concepts"] = {"copied": 2}
        subsystems["trajectories"] = {"copied": 1}
        subsystems["mailbox"] = {"copied": 1}
        integrity = [integrity_entry(w, "kb", counts["kb"]),
                     integrity_entry(w, "mc", spec.memories + spec.summaries),
                     integrity_entry(w, "graph", n_graph)]
        meta: dict[str, Any] = {
            "bundleVersion": 1, "timestamp": colon_free(when),
            "completedAt": iso_ms(when + timedelta(minutes=2, seconds=39)),
            "subsystems": subsystems, "integrity": integrity,
            # relative to the data dir: no generated byte may depend on where the demo was built
            "topology": {"shared_topology": True, "kbChromaCoords": _demo_coords(dd),
                         "mcChromaCoords": _demo_coords(dd)},
            "embedding": {"counts": counts, "dimension": dim, "schemaVersion": 1,
                          "expectedConsumer": {"model": "demo-embedding", "provider": "openAiCompatible"}},
            "neoVersion": "12.2.0", "gitSha": "4d2c2abce9db6ff9827dfefbf5085d1ba73a2da5",
            "tool": {"name": "recovery-console demo"},
        }
        final = w.publish(meta)
    except BaseException:
        w.abort()
        raise
    if spec.malformed_meta:
        # a meta torn mid-write, as an early non-atomic neo backup could leave it
        raw = (final / META_FILE).read_bytes()
        write_atomic(final / META_FILE, raw[: len(raw) // 3])
    return final.name


def _residue(dd: DataDir, when: datetime, graph: _Graph) -> str:
    hint = f"backup-{colon_free(when)}"[:48]
    d = dd.backup_root / f".backup-partial-{hint}-k3x9qa"
    (d / "graph").mkdir(parents=True, mode=0o700)
    with JsonlWriter(d / "graph" / f"graph-backup-{colon_free(when)}.jsonl") as out:
        for n in graph.nodes[:500]:
            out.write_raw(g.node_line(dumps(n)))
    return d.name


# ---------------------------------------------------------------- live stores

def _load_live_graph(dd: DataDir, graph: _Graph, now: datetime) -> None:
    conn = g.connect(dd.graph_db)
    try:
        conn.execute("BEGIN")
        # the schema row records when it was created: the demo's clock, so a rebuild is byte-identical
        conn.execute("UPDATE SchemaVersion SET updated_at = ?", (now.strftime("%Y-%m-%d %H:%M:%S"),))
        conn.executemany("INSERT INTO Nodes (id, user_id, data) VALUES (?, ?, ?)",
                         ((n["id"], g.user_id_of(n), dumps(n).decode()) for n in graph.live_nodes))
        conn.executemany("INSERT INTO Edges (id, user_id, source, target, type, data) VALUES (?, ?, ?, ?, ?, ?)",
                         ((e["id"], g.user_id_of(e), e["source"], e["target"], e["type"], dumps(e).decode())
                          for e in graph.live_edges))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _chunks(rows: list[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


def _load_live_chroma(dd: DataDir, s: Shape, rows: _Rows, dim: int, report: ProgressFn,
                      cancel: threading.Event | None) -> dict[str, int]:
    client = ch.open_client(dd)
    live = {
        "memories": rows.memories[: s.live_memories] + rows.live_new_memories,
        "summaries": rows.summaries[: s.live_summaries] + rows.live_new_summaries,
        "kb": rows.kb[: s.live_kb] + rows.live_new_kb,
    }
    counts = {}
    for key, data in live.items():
        col = ch.get_collection(client, COLLECTIONS[key], create=True, space="cosine")
        per = ch.rows_per_request(client, dim)
        for i, batch in enumerate(_chunks(data, per)):
            check_cancel(cancel)
            col.add(ids=[r["id"] for r in batch], embeddings=np.stack([r["embedding"] for r in batch]),
                    metadatas=[r["metadata"] for r in batch],
                    documents=[r["document"] for r in batch] if any(r["document"] for r in batch) else None)
            report(Progress(f"chroma {key}", min(len(data), (i + 1) * per), len(data)))
        counts[key] = col.count()
    return counts


def _workspace(root: Path) -> Path:
    ws = root / "demo-workspace"
    for rel, text in (("package.json", '{"name": "neo.mjs"}\n'), ("src/Neo.mjs", "export default {};\n"),
                      ("src/component/Base.mjs", "class Base {}\n"), ("learn/README.md", "# Learn\n"),
                      ("node_modules/skip/index.js", "ignored\n")):
        p = ws / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return ws


def build_demo(
    root: Path,
    *,
    seed: int = 7,
    scale: float = 1.0,
    dimension: int = 64,
    now: datetime | None = None,
    on_progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
    overwrite: bool = False,
) -> DemoResult:
    """Create the incident data dir at ``root`` (refusing to touch an existing non-demo dir)."""
    import time

    started = time.monotonic()
    if scale <= 0 or scale > 4:
        from core.errors import UsageError

        raise UsageError(f"--scale must be in (0, 4], got {scale}")
    if dimension < 2 or dimension > 8192:
        from core.errors import UsageError

        raise UsageError(f"--dimension must be in [2, 8192], got {dimension}")
    marker = root / ".recovery-console-demo"
    if root.exists() and any(root.iterdir()):
        if not marker.exists():
            from core.errors import UsageError

            raise UsageError("refusing to overwrite a directory that is not a demo data dir", path=root)
        if not overwrite:
            from core.errors import UsageError

            raise UsageError("a demo already exists here (pass --overwrite to rebuild it)", path=root)
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"seed={seed} scale={scale} dimension={dimension}\n")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    dd = resolve(root, env={})
    s = Shape().scaled(scale)
    rng = random.Random(seed)
    vec_rng = np.random.default_rng(seed)

    def step(msg: str, done: int) -> None:
        check_cancel(cancel)
        on_progress(Progress("demo", done, 6, unit="steps", message=msg))

    step("generating the graph", 0)
    graph = _build_graph(s, rng)
    rows = _build_rows(s, graph, _Ids(rng), vec_rng, dimension)
    expected = None
    if scale == 1.0:
        got = plan_totals(graph.nodes, graph.edges, {n["id"] for n in graph.live_nodes},
                          {e["id"] for e in graph.live_edges}, frozenset(INCIDENT_LABELS),
                          frozenset(INCIDENT_EDGE_TYPES))
        if got != MAY10_FIGURES:  # the generator's own contract; a change that breaks it must not ship quietly
            raise AssertionError(f"demo generator drifted from the May 10 figures: {got}")
        expected = got

    step("loading the live graph", 1)
    _load_live_graph(dd, graph, now)
    step("loading live Chroma collections", 2)
    live_chroma = _load_live_chroma(dd, s, rows, dimension, on_progress, cancel)
    cn, ce = _concept_lines(rng)
    _write_jsonl(dd.concepts_dir / "nodes.jsonl", cn)
    _write_jsonl(dd.concepts_dir / "edges.jsonl", ce)
    _write_jsonl(dd.trajectories_file, [_trajectory(i) for i in range(240)])

    step("writing bundles", 3)
    full_m, full_s = s.chroma_memories, s.chroma_summaries
    specs = [
        _BundleSpec(timedelta(hours=9), full_m, full_s),
        _BundleSpec(timedelta(days=1, hours=9), max(1, full_m - 110), full_s, kb=False, drop_memory_nodes=10),
        _BundleSpec(timedelta(days=3, hours=9), max(1, full_m - 300), full_s - 2, malformed_meta=True,
                    drop_memory_nodes=30),
        _BundleSpec(timedelta(days=8, hours=9), max(1, full_m - 500), full_s - 20, drop_memory_nodes=60),
        _BundleSpec(timedelta(days=16, hours=9), max(1, full_m - 1_068), full_s - 40, drop_memory_nodes=120),
        _BundleSpec(timedelta(days=41, hours=9), max(1, full_m - 2_000), full_s - 80, drop_memory_nodes=240),
        # older history, so retention has something past every policy to explain and prune
        _BundleSpec(timedelta(days=52, hours=9), max(1, full_m - 2_600), full_s - 100, drop_memory_nodes=300),
        _BundleSpec(timedelta(days=63, hours=9), max(1, full_m - 3_200), full_s - 120, drop_memory_nodes=360),
        _BundleSpec(timedelta(days=77, hours=9), max(1, full_m - 3_900), full_s - 140, drop_memory_nodes=420),
    ]
    names = []
    for i, spec in enumerate(specs):
        check_cancel(cancel)
        names.append(_write_bundle(dd, now - spec.age, spec, graph, rows, dimension, (cn, ce),
                                   trajectories=240 - i * 10, culls=3))
        on_progress(Progress("bundles", i + 1, len(specs)))
    residue = [_residue(dd, now - timedelta(days=2, hours=9), graph)]
    legacy = dd.backup_root / "memory-backup-2026-04-01T00-00-00.000Z.jsonl"
    _write_jsonl(legacy, rows.memories[:3])
    step("writing the workspace", 5)
    ws = _workspace(root)
    step("done", 6)
    return DemoResult(
        root=str(root), seed=seed, scale=scale, dimension=dimension, bundles=names, residue=residue,
        live={"nodes": len(graph.live_nodes), "edges": len(graph.live_edges), **live_chroma},
        incidentFilters={"labels": list(INCIDENT_LABELS), "edgeTypes": list(INCIDENT_EDGE_TYPES)},
        expected=expected, workspace=str(ws), seconds=round(time.monotonic() - started, 2),
        notes=[f"{names[0]}: the newest bundle, taken 9 h before the wipe (the `latest` bundle)",
               f"{names[1]}: its KB export is empty (the August incident shape)",
               f"{names[2]}: its bundle-meta.json is torn (malformed meta)",
               f"{residue[0]}: staging residue of a backup that died (never counted as a bundle)",
               f"{names[-1]}: past every retention policy (what `prune` would delete)"],
    )
