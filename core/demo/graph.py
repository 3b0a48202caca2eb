"""The incident's graph: the bundle's 22,660 nodes with the real label mix, and the live graph after the wipe."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from core.demo.shape import AGENTS, CONCEPT_TOPICS, TOP_DIRS, WORDS, Ids, Json, Shape, edge, node, ts


@dataclass
class Graph:
    nodes: list[Json]
    edges: list[Json]
    live_nodes: list[Json]
    live_edges: list[Json]
    memory_ids: list[str]  # AGENT_MEMORY node ids == Chroma memory ids
    summary_ids: list[str]
    new_memory_ids: list[str]


def build_graph(s: Shape, rng: random.Random) -> Graph:
    ids = Ids(rng)
    nodes: list[Json] = []
    edges: list[Json] = []
    node_by_id: dict[str, Json] = {}

    def add(n: Json) -> Json:
        nodes.append(n)
        node_by_id[n["id"]] = n
        return n

    def link(src: str, dst: str, etype: str, weight: float = 1.0, **props: object) -> Json:
        e = edge(ids.uuid(), src, dst, etype, {"weight": weight, **props})
        edges.append(e)
        return e

    add(node("project-root", "SYSTEM_ANCHOR", {"name": "Neo.mjs Ecosystem Root",
                                                "description": "The physical root directory of the Neo.mjs project."}))
    add(node("frontier", "SYSTEM_ANCHOR", {"name": "Frontier", "description": "Where new memories attach."}))
    add(node("system-clock", "SYSTEM_CLOCK", {"name": "System Clock", "tick": 11_143}))
    add(node("AGENT:*", "BroadcastSentinel", {"name": "All agents"}))
    for handle in AGENTS:
        add(node(handle, "AgentIdentity", {"name": handle, "description": f"Agent identity {handle}"}))

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
        add(node(nid, "DIRECTORY", {"name": path.rsplit("/", 1)[-1], "description": f"Directory: {path}",
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
        add(node(nid, "FILE", {"name": path.rsplit("/", 1)[-1], "description": f"File path: {path}", "path": path,
                                "mtimeMs": 1778403299001.12 + i, "isConceptEdgeStub": False,
                                "hash": hashlib.md5(path.encode()).hexdigest()}))
        tree_nodes.append((nid, f"file-{d}"))
    stub_ids = []
    for i in range(s.stub_files):
        path = f"src/extracted/Stub{i}.mjs"
        nid = f"file-{path}"
        add(node(nid, "FILE", {"name": f"Stub{i}.mjs", "description": f"File path: {path}", "path": path,
                                "isConceptEdgeStub": True}))
        stub_ids.append(nid)
    for nid, parent in tree_nodes:
        link(parent, nid, "CONTAINS")

    prs = [add(node(f"pr-{11_000 + i}", "PULL_REQUEST", {"name": f"PR #{11_000 + i}", "state": "merged",
                                                          "description": f"Pull request {11_000 + i}"}))["id"]
           for i in range(s.pull_requests)]
    issues = [add(node(f"issue-{10_000 + i}", "ISSUE", {"name": f"Issue #{10_000 + i}", "state": "open",
                                                         "description": f"Ticket {10_000 + i}"}))["id"]
              for i in range(s.issues)]
    for label, count in (("KB_GAP", s.kb_gaps), ("TOOLING_GAP", s.tooling_gaps), ("RETROSPECTIVE", s.retrospectives)):
        for i in range(count):
            pr = prs[i % len(prs)]
            gid = f"GAP:{label}-{hashlib.md5(f'{label}{i}'.encode()).hexdigest()[:8]}"
            add(node(gid, label, {"name": f"{label} from {pr}", "description": f"{label.lower()} signal {i}",
                                   "sourcePr": pr, "discoveredAt": ts(-86_400 + i)}))
            link(gid, pr, "DISCOVERED_IN", justification=f"Extracted from {pr} feedback.")
            link(pr, gid, "EVALUATED_BY")
    concepts = [add(node(f"CONCEPT:{CONCEPT_TOPICS[i % len(CONCEPT_TOPICS)]} {i}", "CONCEPT",
                          {"name": f"{CONCEPT_TOPICS[i % len(CONCEPT_TOPICS)]} {i}", "logical_layer": "framework",
                           "confidence": round(rng.random(), 3), "tags": "architecture"}))["id"]
                for i in range(s.concepts)]
    classes = [add(node(f"CLASS:Neo.{rng.choice(WORDS)}.C{i}", "CLASS", {"name": f"C{i}", "stability": "stable"}))["id"]
               for i in range(s.classes)]
    memory_ids = [ids.uuid() for _ in range(s.memories)]
    for i, mid in enumerate(memory_ids):
        user = AGENTS[i % len(AGENTS)]
        add(node(mid, "AGENT_MEMORY", {"name": f"Memory: {ts(-i * 300)}", "description": "Agent thought flow.",
                                        "semanticVectorId": mid, "timestamp": ts(-i * 300), "userId": user}))
    session_ids = [ids.uuid() for _ in range(s.summaries)]
    summary_ids = [f"summary_{sid}" for sid in session_ids]
    for i, sid in enumerate(summary_ids):
        add(node(sid, "SESSION_SUMMARY", {"name": f"Session {i}", "description": "Session summary."}))
    plans = [add(node(f"plan_{ids.uuid()}", "IMPLEMENTATION_PLAN", {"name": f"Plan {i}"}))["id"]
             for i in range(s.plans)]
    for i in range(s.discussions):
        add(node(f"discussion-{9_000 + i}", "DISCUSSION", {"name": f"Discussion #{9_000 + i}"}))
    messages = []
    for i in range(s.messages):
        sender = AGENTS[i % len(AGENTS)]
        mid = f"msg-{ids.uuid()}"
        add(node(mid, "MESSAGE", {"name": f"[lane-claim] #{11_000 + i}", "description": "",
                                   "subject": f"[lane-claim] #{11_000 + i}", "bodyText": "Taking the lane.",
                                   "priority": "normal", "sentAt": ts(-i * 600), "readAt": None,
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
    live_nodes: list[Json] = []
    for n in nodes:
        if n["id"] in survivors:
            live_nodes.append(n)
        elif n["label"] in ("ISSUE", "PULL_REQUEST"):
            props = {**n["properties"], "state": "closed", "reingestedAt": ts(3_600)}
            live_nodes.append(node(n["id"], n["label"], props))
    live_fs_set = set(live_fs)
    live_nodes += [node_by_id[nid] for nid in live_fs]
    live_ids = {n["id"] for n in live_nodes}
    live_edges = [e for e in edges if e["source"] in survivors and e["target"] in survivors]
    new_memory_ids = [ids.uuid() for _ in range(s.new_memories)]
    for i, mid in enumerate(new_memory_ids):
        live_nodes.append(node(mid, "AGENT_MEMORY", {"name": f"Memory: {ts(7_200 + i * 60)}",
                                                      "description": "Written after the wipe.",
                                                      "semanticVectorId": mid, "timestamp": ts(7_200 + i * 60),
                                                      "userId": AGENTS[i % len(AGENTS)]}))
        live_edges.append(edge(ids.uuid(), "frontier", mid, "SPAWNED_MEMORY", {"weight": 0.8}))
    for nid in live_fs:
        live_edges.append(edge(ids.uuid(), parent_of[nid], nid, "CONTAINS", {"weight": 1}))
    live_dir_list = sorted(live_dirs)
    for i in range(s.new_files):
        d = node_by_id[live_dir_list[i % len(live_dir_list)]]["properties"]["path"]
        path = f"{d}/New{i}.mjs"
        nid = f"file-{path}"
        live_nodes.append(node(nid, "FILE", {"name": f"New{i}.mjs", "description": f"File path: {path}",
                                              "path": path, "mtimeMs": 1778450000000.5 + i,
                                              "isConceptEdgeStub": False}))
        live_edges.append(edge(ids.uuid(), f"file-{d}", nid, "CONTAINS", {"weight": 1}))
    new_messages = []
    for i in range(s.new_messages):
        mid = f"msg-{ids.uuid()}"
        sender = AGENTS[i % len(AGENTS)]
        live_nodes.append(node(mid, "MESSAGE", {"name": f"[restore] step {i}", "subject": f"[restore] step {i}",
                                                 "bodyText": "Graph wiped; restoring.", "userId": sender}))
        live_edges.append(edge(ids.uuid(), mid, sender, "SENT_BY", {"weight": 1}))
        live_edges.append(edge(ids.uuid(), mid, AGENTS[(i + 1) % len(AGENTS)], "SENT_TO", {"weight": 1}))
        new_messages.append(mid)
    for i, pr in enumerate(prs):
        live_edges.append(edge(ids.uuid(), pr, issues[(i * 7) % len(issues)], "RESOLVES", {"weight": 1}))
    for i in range(s.live_parent_of):
        live_edges.append(edge(ids.uuid(), issues[i % len(issues)], issues[(i + 1) % len(issues)], "PARENT_OF", {}))
    for i in range(s.live_blocks):
        live_edges.append(edge(ids.uuid(), issues[(i * 3) % len(issues)], issues[(i * 5 + 1) % len(issues)],
                                "BLOCKS", {}))
    for i in range(s.live_references):
        live_edges.append(edge(ids.uuid(), new_messages[i % len(new_messages)], issues[i % len(issues)],
                                "REFERENCES_TICKET", {}))
    for i in range(s.live_relates):
        live_edges.append(edge(ids.uuid(), issues[i % len(issues)], prs[(i * 13) % len(prs)], "RELATES_TO",
                                {"weight": 0.5}))
    assert live_fs_set <= live_ids | live_fs_set
    return Graph(nodes, edges, live_nodes, live_edges, memory_ids, summary_ids, new_memory_ids)


def plan_totals(
    nodes: list[Json], edges: list[Json], live_node_ids: set[str], live_edge_ids: set[str],
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


