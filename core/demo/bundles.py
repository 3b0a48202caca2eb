"""The incident's bundles: ten of them over eleven weeks, the newest taken after the wipe (a faithful copy of the
wiped stores), one with an empty KB export, one with a torn meta, and the staging residue of a backup that died."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.backup import integrity_entry
from core.bundle import META_FILE
from core.datadir import DataDir
from core.demo.graph import Graph
from core.demo.rows import Rows, cull, trajectory
from core.demo.shape import Json
from core.jsonl import JsonlWriter, dumps, write_atomic
from core.records import edge_line, node_line
from core.substrates import COLLECTIONS
from core.units import colon_free, iso_ms
from core.writer import BundleWriter


@dataclass
class BundleSpec:
    age: timedelta
    memories: int
    summaries: int
    kb: bool = True
    drop_memory_nodes: int = 0  # newer memories not yet in the graph
    malformed_meta: bool = False
    after_wipe: bool = False  # a routine backup of the wiped stores: the live graph and live Chroma rows


def demo_coords(dd: DataDir) -> Json:
    return {"host": None, "port": None, "path": dd.chroma_path.relative_to(dd.root).as_posix()}


def write_bundle(
    dd: DataDir, when: datetime, spec: BundleSpec, graph: Graph, rows: Rows, dim: int,
    concepts: tuple[list[Json], list[Json]], trajectories: int, culls: int,
) -> str:
    w = BundleWriter(dd.backup_root, when)
    try:
        ts = colon_free(when + timedelta(seconds=17))
        if spec.after_wipe:
            kb_rows, mem_rows, sum_rows = rows.live_kb, rows.live_memories, rows.live_summaries
        else:
            kb_rows = rows.kb if spec.kb else []
            mem_rows, sum_rows = rows.memories[: spec.memories], rows.summaries[: spec.summaries]
        counts = {"kb": len(kb_rows), "memories": len(mem_rows), "summaries": len(sum_rows)}
        subsystems: Json = {}
        for sub, prefix, data in (("kb", "knowledge-base-backup", kb_rows),
                                  ("mc", "memory-backup", mem_rows),
                                  ("mc", "summaries-backup", sum_rows)):
            if not data:
                continue
            out = w.open_jsonl(f"{sub}/{prefix}-{ts}.jsonl")
            for r in data:
                out.write(r)
            w.close_jsonl(out)
        dropped = set(graph.memory_ids[len(graph.memory_ids) - spec.drop_memory_nodes:]) if spec.drop_memory_nodes else set()
        nodes, edges = (graph.live_nodes, graph.live_edges) if spec.after_wipe else (graph.nodes, graph.edges)
        gout = w.open_jsonl(f"graph/graph-backup-{ts}.jsonl")
        for n in nodes:
            if n["id"] not in dropped:
                gout.write_raw(node_line(dumps(n)))
        for e in edges:
            if e["source"] not in dropped and e["target"] not in dropped:
                gout.write_raw(edge_line(dumps(e)))
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
            out.write(trajectory(i))
        w.close_jsonl(out)
        out = w.open_jsonl("mailbox/sent-to-cull.jsonl")
        for i in range(culls):
            out.write(cull(i))
        w.close_jsonl(out)
        n_mem, n_sum = counts["memories"], counts["summaries"]
        mem = {"collection": COLLECTIONS["memories"], "collectionId": "9e1a5c0e-0000-4000-8000-00000000a001",
               "expected": n_mem, "exported": n_mem, "skipped": 0, "skippedIds": []}
        summ = {"collection": COLLECTIONS["summaries"], "collectionId": "47d2b1f0-0000-4000-8000-00000000a002",
                "expected": n_sum, "exported": n_sum, "skipped": 0, "skippedIds": []}
        subsystems["kb"] = ({"message": f"Export complete. Exported {counts['kb']} knowledge base chunks.",
                             "status": "complete", "reason": None, "count": counts["kb"], "expected": counts["kb"],
                             "collectionId": "0b7c3e2a-0000-4000-8000-00000000a003"} if counts["kb"] else
                            {"message": "Source collection empty; no file written.", "status": "degraded",
                             "reason": "source-collection-empty", "count": 0, "expected": 0,
                             "collectionId": "0b7c3e2a-0000-4000-8000-00000000a003"})
        subsystems["mc"] = {"message": f"Export complete. Exported {n_mem} memories, {n_sum} "
                                       "summaries, 0 temporal summaries, and 0 graph elements.",
                            "count": n_mem + n_sum, "memories": mem, "summaries": summ}
        subsystems["graph"] = {"message": f"Export complete. Exported 0 memories, 0 summaries, 0 temporal summaries, "
                                          f"and {n_graph} graph elements.", "count": n_graph,
                               "graph": {"collection": "native-graph", "expected": n_graph, "exported": n_graph,
                                         "skipped": 0, "skippedIds": []}}
        subsystems["concepts"] = {"copied": 2}
        subsystems["trajectories"] = {"copied": 1}
        subsystems["mailbox"] = {"copied": 1}
        integrity = [integrity_entry(w, "kb", counts["kb"]),
                     integrity_entry(w, "mc", n_mem + n_sum),
                     integrity_entry(w, "graph", n_graph)]
        meta: Json = {
            "bundleVersion": 1, "timestamp": colon_free(when),
            "completedAt": iso_ms(when + timedelta(minutes=2, seconds=39)),
            "subsystems": subsystems, "integrity": integrity,
            # relative to the data dir: no generated byte may depend on where the demo was built
            "topology": {"shared_topology": True, "kbChromaCoords": demo_coords(dd),
                         "mcChromaCoords": demo_coords(dd)},
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


def residue(dd: DataDir, when: datetime, graph: Graph) -> str:
    hint = f"backup-{colon_free(when)}"[:48]
    d = dd.backup_root / f".backup-partial-{hint}-k3x9qa"
    (d / "graph").mkdir(parents=True, mode=0o700)
    with JsonlWriter(d / "graph" / f"graph-backup-{colon_free(when)}.jsonl") as out:
        for n in graph.nodes[:500]:
            out.write_raw(node_line(dumps(n)))
    return d.name


