"""The incident's Chroma rows (memories, summaries, KB chunks with deterministic vectors) and flat files."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from core.demo.graph import Graph
from core.demo.shape import AGENTS, CONCEPT_TOPICS, EPOCH, WORDS, Ids, Json, Shape, ts
from core.jsonl import JsonlWriter


def vector_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def memory_row(i: int, mid: str, emb: np.ndarray) -> Json:
    user = AGENTS[i % len(AGENTS)]
    prompt, thought, response = f"Review step {i} of the restore", f"Check ids before writing ({i}).", "Done."
    meta = {"prompt": prompt, "response": response, "thought": thought, "sessionId": f"session-{i // 40}",
            "timestamp": int((EPOCH - timedelta(minutes=5 * i)).timestamp() * 1000), "type": "agent-interaction",
            "userId": user.lstrip("@"), "agentIdentity": user}
    doc = f"User Prompt: {prompt}\nAgent Thought: {thought}\nAgent Response: {response}"
    return {"id": mid, "embedding": emb, "metadata": meta, "document": doc}


def summary_row(i: int, sid: str, emb: np.ndarray) -> Json:
    meta = {"sessionId": sid.removeprefix("summary_"), "timestamp": int((EPOCH - timedelta(hours=i)).timestamp() * 1000),
            "memoryCount": 10 + i % 90, "title": f"Session {i}", "category": "bugfix", "quality": 80,
            "productivity": 85, "impact": 70, "complexity": 60, "technologies": "neo.mjs,sqlite,chromadb"}
    return {"id": sid, "embedding": emb, "metadata": meta, "document": f"Session {i} restored part of the graph."}


def kb_row(i: int, emb: np.ndarray) -> Json:
    name = f"src/{WORDS[i % len(WORDS)]}/Base{i}.mjs - method{i}()"
    content = f"method{i}(value, oldValue) {{\n    return value;\n}}"
    digest = hashlib.sha256(f"neo-shared|neomjs/neo|src|{name}|{content}".encode()).hexdigest()
    meta = {"type": "src", "kind": "method", "name": name, "content": content, "source": name.split(" - ")[0],
            "line_start": 10 + i % 900, "className": f"Neo.{WORDS[i % len(WORDS)]}.Base{i}", "hash": digest,
            "id": digest, "tenantId": "neo-shared", "repoSlug": "neomjs/neo"}
    return {"id": digest, "embedding": emb, "metadata": meta, "document": None}


@dataclass
class Rows:
    memories: list[Json]
    summaries: list[Json]
    kb: list[Json]
    live_new_memories: list[Json]
    live_new_summaries: list[Json]
    live_new_kb: list[Json]
    shape: Shape

    # the live collections after the wipe: the survivors, then what was written since
    @property
    def live_memories(self) -> list[Json]:
        return self.memories[: self.shape.live_memories] + self.live_new_memories

    @property
    def live_summaries(self) -> list[Json]:
        return self.summaries[: self.shape.live_summaries] + self.live_new_summaries

    @property
    def live_kb(self) -> list[Json]:
        return self.kb[: self.shape.live_kb] + self.live_new_kb


def build_rows(s: Shape, graph: Graph, ids: Ids, vec_rng: np.random.Generator, dim: int) -> Rows:
    mem_ids = graph.memory_ids + [ids.uuid() for _ in range(max(0, s.chroma_memories - len(graph.memory_ids)))]
    mem_ids = mem_ids[: s.chroma_memories]
    sum_ids = graph.summary_ids + [f"summary_{ids.uuid()}" for _ in range(max(0, s.chroma_summaries - len(graph.summary_ids)))]
    sum_ids = sum_ids[: s.chroma_summaries]
    mv = vector_rows(vec_rng, len(mem_ids) + s.live_new_memories, dim)
    sv = vector_rows(vec_rng, len(sum_ids) + s.live_new_summaries, dim)
    kv = vector_rows(vec_rng, s.kb_rows + s.live_new_kb, dim)
    new_mem_ids = (graph.new_memory_ids + [ids.uuid() for _ in range(s.live_new_memories)])[: s.live_new_memories]
    return Rows(
        memories=[memory_row(i, mid, mv[i]) for i, mid in enumerate(mem_ids)],
        summaries=[summary_row(i, sid, sv[i]) for i, sid in enumerate(sum_ids)],
        kb=[kb_row(i, kv[i]) for i in range(s.kb_rows)],
        live_new_memories=[memory_row(100_000 + i, mid, mv[len(mem_ids) + i]) for i, mid in enumerate(new_mem_ids)],
        live_new_summaries=[summary_row(100_000 + i, f"summary_{ids.uuid()}", sv[len(sum_ids) + i])
                            for i in range(s.live_new_summaries)],
        live_new_kb=[kb_row(100_000 + i, kv[s.kb_rows + i]) for i in range(s.live_new_kb)],
        shape=s,
    )


# ---------------------------------------------------------------- flat substrates

def concept_lines(rng: random.Random) -> tuple[list[Json], list[Json]]:
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


def trajectory(i: int) -> Json:
    return {"metadata": {"sessionId": f"session-{i}", "extractionDate": ts(-i * 3_600),
                         "type": "whitebox_e2e_introspection"},
            "messages": [{"role": "user", "content": f"Inspect the grid {i}"},
                         {"role": "assistant", "content": "[THOUGHT]\nLook first.\n[RESPONSE]\nDone."}]}


def cull(i: int) -> Json:
    return {"msg": "[#10347 Phase 1] Intermittent SENT_TO edge cull detected", "timestamp": ts(-i * 7_200),
            "caller_passed_to": "neo-gpt", "post_normalize_to": "@neo-gpt", "fk_verify_count": 1,
            "edge_type": "SENT_TO", "message_id": f"msg-{i}"}


def write_jsonl(path: Path, rows: list[Json]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with JsonlWriter(path) as w:
        for r in rows:
            w.write(r)


