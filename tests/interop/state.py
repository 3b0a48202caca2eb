"""The logical state of a data dir, and a comparison that explains every difference or reports it.

Graph rows are compared on parsed `data` (numbers kept exact: an integer keeps its literal text), plus the
`user_id` / `source` / `target` / `type` columns. Chroma rows on ids, documents, metadata (values compared
with their type: 1 is not 1.0) and float32 vectors. Flat files byte for byte.

A difference is allowed only by a named rule in ALLOWANCES, requested by the test; anything else fails it.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.interop.data import chroma_client

FLAT_FILES = ("concepts", "datasets/rlaif/trajectories.jsonl", "sqlite/sent-to-cull.jsonl")

# Every difference a test may allow, and why. The README's "neo compatibility" section lists the same.
ALLOWANCES = {
    "neo-boot-seeds": "neo's Memory Core writes its seed rows whenever it starts (GraphService.initAsync): the "
                      "SYSTEM_ANCHOR `frontier`, the `Neo-Master-Architecture` primer and its SYSTEM_TENET edge "
                      "(a new random edge id, or +0.1 weight on an existing one), the AgentIdentity nodes "
                      "(re-upserted, createdAt kept) and AGENT:*. The console starts nothing.",
    "neo-boot-collections": "neo's services create their Chroma collections when they start, empty "
                            "(neo-agent-memory, neo-agent-sessions, neo-native-graph, neo-knowledge-base); the "
                            "console creates a collection only to write rows into it.",
    "js-number-model": "neo runs on JavaScript numbers: integers above 2^53 are rounded, -0 becomes 0 and a "
                       "float with an integral value (1.0) comes back as the integer 1. Allowed only where both "
                       "sides are the same IEEE double; the console keeps the exact value.",
    "neo-embedding-function-record": "a collection neo's JS client creates records neo's embedding function "
                                     "(`dynamic_text_embedding_service`, `dummy_embedding_function` for KB); one "
                                     "the console creates records none (it never embeds). The index settings "
                                     "(space, HNSW parameters) must still match, and neo uses either collection.",
}


class IntText(str):
    """A JSON integer kept as its literal text, so 9007199254740993 and -0 survive parsing exactly."""

    __slots__ = ()


def parse_exact(text: str) -> Any:
    return json.loads(text, parse_int=IntText)


def _is_num(v: Any) -> bool:
    return isinstance(v, IntText | float) or (isinstance(v, int) and not isinstance(v, bool))


def _same_exact(a: Any, b: Any) -> bool:
    if _is_num(a) or _is_num(b):
        if not (_is_num(a) and _is_num(b)) or type(a) is not type(b):
            return False
        if isinstance(a, float):
            return a == b and math.copysign(1, a) == math.copysign(1, b)
        return str(a) == str(b)
    return bool(a == b) and type(a) is type(b)


def diff_values(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, a, b) for every leaf where `a` and `b` differ, numbers compared exactly (type, value, sign)."""
    if isinstance(a, dict) and isinstance(b, dict):  # key order is not state: Chroma returns keys in any order
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append((f"{path}.{k}", a.get(k, "<absent>"), b.get(k, "<absent>")))
            else:
                out.extend(diff_values(a[k], b[k], f"{path}.{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff_values(x, y, f"{path}[{i}]")]
    return [] if _same_exact(a, b) else [(path, a, b)]


def js_number_explains(a: Any, b: Any) -> bool:
    """Both are numbers and the same IEEE double: the only way JavaScript could have turned one into the other."""
    return _is_num(a) and _is_num(b) and float(a) == float(b)


@dataclass
class ChromaRow:
    document: str | None
    metadata: dict[str, Any] | None
    vector: bytes  # float32


@dataclass
class State:
    nodes: dict[str, tuple[str | None, str]]  # id -> (user_id, data text)
    edges: dict[str, tuple[str | None, str, str, str, str]]  # id -> (user_id, source, target, type, data text)
    chroma: dict[str, dict[str, ChromaRow]]  # collection name -> id -> row
    flat: dict[str, bytes]
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {metadata, index, ef}

    def node_data(self, nid: str) -> Any:
        return parse_exact(self.nodes[nid][1])


def snapshot(data_dir: Path, graph_db: Path, chroma_url: str) -> State:
    nodes: dict[str, tuple[str | None, str]] = {}
    edges: dict[str, tuple[str | None, str, str, str, str]] = {}
    if graph_db.exists():
        conn = sqlite3.connect(f"file:{graph_db}?mode=ro", uri=True)
        try:
            nodes = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, user_id, data FROM Nodes")}
            edges = {r[0]: (r[1], r[2], r[3], r[4], r[5])
                     for r in conn.execute("SELECT id, user_id, source, target, type, data FROM Edges")}
        finally:
            conn.close()
    chroma: dict[str, dict[str, ChromaRow]] = {}
    collections: dict[str, dict[str, Any]] = {}
    client = chroma_client(chroma_url)
    for col in client.list_collections():
        c = client.get_collection(col.name, embedding_function=None)
        conf = dict(c.configuration_json or {})
        collections[col.name] = {"metadata": c.metadata, "ef": conf.pop("embedding_function", None), "index": conf}
        got = c.get(include=["documents", "metadatas", "embeddings"])
        embs = got["embeddings"] if got["embeddings"] is not None else [None] * len(got["ids"])
        chroma[col.name] = {
            rid: ChromaRow(got["documents"][i], got["metadatas"][i],
                           np.asarray(embs[i], dtype=np.float32).tobytes() if embs[i] is not None else b"")
            for i, rid in enumerate(got["ids"])}
    flat: dict[str, bytes] = {}
    for rel in FLAT_FILES:
        p = data_dir / rel
        if p.is_dir():
            flat.update({f"{rel}/{f.name}": f.read_bytes() for f in sorted(p.glob("*.jsonl"))})
        elif p.is_file():
            flat[rel] = p.read_bytes()
    return State(nodes, edges, chroma, flat, collections)


@dataclass(frozen=True)
class Seeds:
    """What neo writes when it starts, learned from neo itself (its backup of an empty store)."""

    node_ids: frozenset[str]
    edge_keys: frozenset[tuple[str, str, str]]  # (source, target, type): seed edges get a new random id

    def node(self, nid: str) -> bool:
        return nid in self.node_ids

    def edge(self, row: tuple[str | None, str, str, str, str]) -> bool:
        return (row[1], row[2], row[3]) in self.edge_keys


@dataclass
class Comparison:
    unexplained: list[str] = field(default_factory=list)
    allowed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def explain(self, rule: str | None, allow: Iterable[str], what: str) -> None:
        if rule is not None and rule in allow:
            self.allowed[rule].append(what)
        else:
            self.unexplained.append(what)

    def assert_equal(self) -> None:
        shown = "\n  ".join(self.unexplained[:40])
        assert not self.unexplained, (f"{len(self.unexplained)} difference(s) no named allowance explains:\n  {shown}")


def compare(a: State, b: State, *, allow: Iterable[str] = (), seeds: Seeds | None = None,
            a_name: str = "a", b_name: str = "b") -> Comparison:
    """Every difference between `a` and `b`; `a` is expected to be neo's side where a rule names neo."""
    allow = set(allow)
    unknown = allow - set(ALLOWANCES)
    assert not unknown, f"unknown allowance {unknown}"
    cmp = Comparison()

    def numeric_only(diffs: list[tuple[str, Any, Any]]) -> bool:
        return all(js_number_explains(x, y) for _, x, y in diffs)

    def graph_rows(kind: str, rows_a: dict[str, Any], rows_b: dict[str, Any]) -> None:
        for rid in sorted(set(rows_a) | set(rows_b)):
            ra, rb = rows_a.get(rid), rows_b.get(rid)
            seeded = seeds is not None and (
                (kind == "node" and seeds.node(rid)) or (kind == "edge" and any(
                    r is not None and seeds.edge(r) for r in (ra, rb))))
            rule = "neo-boot-seeds" if seeded else None
            if ra is None or rb is None:
                cmp.explain(rule, allow, f"graph {kind} {rid!r}: only in {a_name if rb is None else b_name}")
                continue
            if ra[:-1] != rb[:-1]:
                cmp.explain(rule, allow, f"graph {kind} {rid!r}: columns differ {ra[:-1]} vs {rb[:-1]}")
            diffs = diff_values(parse_exact(ra[-1]), parse_exact(rb[-1]), "data")
            if diffs:
                what = f"graph {kind} {rid!r}: " + "; ".join(f"{p}: {x!r} vs {y!r}"[:200] for p, x, y in diffs)
                cmp.explain(rule or ("js-number-model" if numeric_only(diffs) else None), allow, what)

    graph_rows("node", a.nodes, b.nodes)
    graph_rows("edge", a.edges, b.edges)
    for name in sorted(set(a.chroma) | set(b.chroma)):
        ca, cb = a.chroma.get(name), b.chroma.get(name)
        if ca is None or cb is None:
            present = ca if cb is None else cb
            rule = "neo-boot-collections" if not present else None
            cmp.explain(rule, allow, f"chroma collection {name!r} ({len(present or {})} rows): only in "
                                     f"{a_name if cb is None else b_name}")
            continue
        conf_a, conf_b = a.collections.get(name, {}), b.collections.get(name, {})
        for part in ("metadata", "index"):
            if conf_a.get(part) != conf_b.get(part):
                cmp.explain(None, allow, f"chroma collection {name!r}: {part} differs {conf_a.get(part)} vs {conf_b.get(part)}")
        if conf_a.get("ef") != conf_b.get("ef"):
            cmp.explain("neo-embedding-function-record", allow,
                        f"chroma collection {name!r}: embedding function record {conf_a.get('ef')} vs {conf_b.get('ef')}")
        for rid in sorted(set(ca) | set(cb)):
            ra, rb = ca.get(rid), cb.get(rid)
            if ra is None or rb is None:
                cmp.explain(None, allow, f"chroma {name} {rid!r}: only in {a_name if rb is None else b_name}")
                continue
            if ra.document != rb.document:
                cmp.explain(None, allow, f"chroma {name} {rid!r}: document differs "
                                         f"({(ra.document or '')[:60]!r} vs {(rb.document or '')[:60]!r})")
            if ra.vector != rb.vector:
                cmp.explain(None, allow, f"chroma {name} {rid!r}: float32 vector differs")
            diffs = diff_values(ra.metadata or {}, rb.metadata or {}, "metadata")
            if (ra.metadata is None) != (rb.metadata is None) and not diffs:
                diffs = [("metadata", ra.metadata, rb.metadata)]
            if diffs:
                cmp.explain("js-number-model" if numeric_only(diffs) else None, allow,
                            f"chroma {name} {rid!r}: " + "; ".join(f"{p}: {x!r} vs {y!r}"[:200] for p, x, y in diffs))
    for rel in sorted(set(a.flat) | set(b.flat)):
        if a.flat.get(rel) != b.flat.get(rel):
            cmp.explain(None, allow, f"flat file {rel}: bytes differ" if rel in a.flat and rel in b.flat
                        else f"flat file {rel}: only in {a_name if rel in a.flat else b_name}")
    return cmp


def bundle_rows(bundle: Path) -> dict[str, dict[str, Any]]:
    """A bundle's rows by substrate and id, parsed exactly (for comparing two tools' bundles of one store)."""
    out: dict[str, dict[str, Any]] = {"kb": {}, "memories": {}, "summaries": {}, "nodes": {}, "edges": {}}
    for sub in ("kb", "mc", "graph"):
        for f in sorted((bundle / sub).glob("*.jsonl")):
            for raw in f.read_bytes().split(b"\n"):
                if not raw.strip():
                    continue
                obj = parse_exact(raw.decode())
                if sub == "graph":
                    out["nodes" if obj["type"] == "node" else "edges"][obj["data"]["id"]] = obj["data"]
                else:
                    key = "kb" if sub == "kb" else ("memories" if f.name.startswith("memory-backup") else "summaries")
                    obj["embedding"] = np.asarray([float(x) for x in obj["embedding"]], dtype=np.float32).tobytes()
                    out[key][obj["id"]] = obj
    return out
