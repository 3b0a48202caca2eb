"""Phase-1 prototype of issue 12's plan scan: one orjson pass, the live ids looked up in bulk (the live id sets
are read once when they are smaller than the bundle, else probed per batch), classification inline.

Produces the engine's `GraphScan` aggregates, so the benchmark can check it against `core.plan.scan_graph`.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from core.graph_store import census as live_census
from core.live_scan import NO_LABELS, GraphScan, State


def scan_graph_fast(files: list[Path], conn: sqlite3.Connection | None, bundle: Path) -> GraphScan:
    gs = GraphScan(files=[str(f.relative_to(bundle)) for f in files])
    live_n: set[str] = set()
    live_e: set[str] = set()
    if conn is not None:
        live_n = {r[0] for r in conn.execute("SELECT id FROM Nodes")}
        live_e = {r[0] for r in conn.execute("SELECT id FROM Edges")}
    loads = orjson.loads
    node_map: dict[str, State] = {}
    edge_map: dict[str, tuple[str, State, State, bool]] = {}
    edge_dups: dict[str, frozenset[tuple[str, State, State]]] = {}
    intern: dict[Any, Any] = {}
    single: dict[tuple[str, bool], State] = {}
    no_live = intern.setdefault((NO_LABELS, True), (NO_LABELS, True))
    no_dead = intern.setdefault((NO_LABELS, False), (NO_LABELS, False))
    node_keys: list[Any] = []
    edge_keys: list[Any] = []
    add_nk, add_ek = node_keys.append, edge_keys.append
    lines = 0
    for path in files:
        with open(path, "rb", buffering=1 << 20) as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    obj = loads(raw)
                    kind, data = obj["type"], obj["data"]
                    if kind == "node":
                        nid, label = data["id"], data.get("label")
                    elif kind == "edge":
                        s, t, et = data["source"], data["target"], data["type"]
                        eid = data.get("id") or f"{s}->{t}:{et}"
                    else:
                        continue
                except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                    if raw.strip() and len(gs.bad) < 50:
                        gs.bad.append({"file": str(path.relative_to(bundle)), "line": number,
                                       "reason": "not a graph record with the fields restore needs"})
                    continue
                if kind == "node":
                    if type(nid) is not str or not nid:
                        if len(gs.bad) < 50:
                            gs.bad.append({"file": str(path.relative_to(bundle)), "line": number,
                                           "reason": "node has no id"})
                        continue
                    if type(label) is not str:
                        label = ""
                    lines += 1
                    prev = node_map.get(nid)
                    if prev is None:
                        lv = nid in live_n
                        add_nk((label, lv, None))
                        st = single.get((label, lv))
                        if st is None:
                            key = (frozenset((label,)), lv)
                            st = single[(label, lv)] = intern.setdefault(key, key)
                        node_map[nid] = st
                    else:
                        add_nk((label, prev[1], prev[0]))
                        key = (prev[0] | {label}, prev[1])
                        node_map[nid] = intern.setdefault(key, key)
                else:
                    if not (type(s) is str and type(t) is str and type(et) is str and s and t and et):
                        if len(gs.bad) < 50:
                            gs.bad.append({"file": str(path.relative_to(bundle)), "line": number,
                                           "reason": "edge needs source, target and type"})
                        continue
                    if type(eid) is not str:
                        eid = str(eid)
                    lines += 1
                    src = node_map.get(s) or (no_live if s in live_n else no_dead)
                    tgt = node_map.get(t) or (no_live if t in live_n else no_dead)
                    first = edge_map.get(eid)
                    if first is None:
                        lv = eid in live_e
                        add_ek((et, src, tgt, lv, None))
                        key2 = (et, src, tgt, lv)
                        edge_map[eid] = intern.setdefault(key2, key2)
                    else:
                        prior = edge_dups.get(eid, frozenset((first[:3],)))
                        add_ek((et, src, tgt, first[3], prior))
                        edge_dups[eid] = prior | {(et, src, tgt)}
                if lines & 0xFFFF == 0:
                    gs.nodes.update(node_keys)
                    gs.edges.update(edge_keys)
                    node_keys.clear()
                    edge_keys.clear()
    gs.nodes.update(node_keys)
    gs.edges.update(edge_keys)
    gs.lines = lines
    gs.live_nodes, gs.live_edges, gs.live_labels, gs.live_types = live_census(conn)
    gs.bytes = sum(f.stat().st_size for f in files)
    return gs


def same(a: GraphScan, b: GraphScan) -> bool:
    return (Counter(a.nodes) == Counter(b.nodes) and Counter(a.edges) == Counter(b.edges) and a.lines == b.lines
            and (a.live_nodes, a.live_edges, a.live_labels, a.live_types) ==
            (b.live_nodes, b.live_edges, b.live_labels, b.live_types))
