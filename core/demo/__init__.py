"""A generated incident to explore: the neo Memory Core graph wipe of 2026-05-10, rebuilt from its published figures.

At scale 1 the last bundle before the wipe (``latest~1``, 9 h old) holds 22,660 nodes and 37,925 graph elements
with the label mix of the real 01:11 bundle; the live graph after the wipe holds 3,545 nodes and 4,300 edges, and
the newest bundle (``latest``, 1 h old) is a routine backup of exactly those wiped stores, as a cron job would
have taken it; restoring the 01:11 bundle with the incident filters (FILE, DIRECTORY, KB_GAP, TOOLING_GAP /
CONTAINS, DISCOVERED_IN, EVALUATED_BY) filters out 22,756 elements, finds 3,580 already present and would insert
11,589 -- the numbers of neo's #11141 dry run. Everything is deterministic for a seed; only bundle names and ages
follow ``now``.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from core import chroma_store as cs
from core import graph_store as gs
from core.datadir import DataDir, resolve
from core.demo.bundles import BundleSpec, residue, write_bundle
from core.demo.graph import Graph, build_graph, plan_totals
from core.demo.rows import Rows, build_rows, concept_lines, trajectory, write_jsonl
from core.demo.shape import MAY10_FIGURES, Ids, Json, Shape
from core.errors import UsageError
from core.jsonl import dumps
from core.presets import INCIDENT_DEFAULT
from core.progress import Progress, ProgressFn, check_cancel, no_progress
from core.records import user_id_of
from core.substrates import COLLECTIONS

__all__ = ["MAY10_FIGURES", "DemoResult", "build_demo"]


@dataclass(frozen=True, kw_only=True)
class IncidentFilters:
    labels: tuple[str, ...]
    edge_types: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    root: str
    seed: int
    scale: float
    dimension: int
    bundles: tuple[str, ...]
    residue: tuple[str, ...]
    live: Mapping[str, int]
    incident_filters: IncidentFilters
    expected: Mapping[str, int] | None
    workspace: str
    seconds: float = 0.0
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------- live stores

def load_live_graph(dd: DataDir, graph: Graph, now: datetime) -> None:
    conn = gs.connect(dd.graph_db)
    try:
        # the schema row records when it was created: the demo's clock, so a rebuild is byte-identical
        gs.load(conn, ((n["id"], user_id_of(n), dumps(n).decode()) for n in graph.live_nodes),
                ((e["id"], user_id_of(e), e["source"], e["target"], e["type"], dumps(e).decode())
                 for e in graph.live_edges), schema_time=now.strftime("%Y-%m-%d %H:%M:%S"))
        gs.checkpoint(conn)
    finally:
        conn.close()


def chunks(rows: list[Json], n: int) -> Iterator[list[Json]]:
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


def load_live_chroma(dd: DataDir, s: Shape, rows: Rows, dim: int, report: ProgressFn,
                      cancel: threading.Event | None) -> dict[str, int]:
    client = cs.open_client(dd)
    assert client is not None  # create: always one
    live = {"memories": rows.live_memories, "summaries": rows.live_summaries, "kb": rows.live_kb}
    counts = {}
    for key, data in live.items():
        col = cs.get_collection(client, COLLECTIONS[key], create=True, space="cosine")
        assert col is not None
        per = cs.rows_per_request(client, dim)
        for i, batch in enumerate(chunks(data, per)):
            check_cancel(cancel)
            cs.add(col, [r["id"] for r in batch], np.stack([r["embedding"] for r in batch]),
                   [r["metadata"] for r in batch], [r["document"] or None for r in batch])
            report(Progress(f"chroma {key}", min(len(data), (i + 1) * per), len(data)))
        counts[key] = cs.count(col)
    return counts


def workspace(root: Path) -> Path:
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
    started = time.monotonic()
    if scale <= 0 or scale > 4:
        raise UsageError(f"--scale must be in (0, 4], got {scale}")
    if dimension < 2 or dimension > 8192:
        raise UsageError(f"--dimension must be in [2, 8192], got {dimension}")
    marker = root / ".recovery-console-demo"
    if root.exists() and any(root.iterdir()):
        if not marker.exists():
            raise UsageError("refusing to overwrite a directory that is not a demo data dir", path=root)
        if not overwrite:
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
    graph = build_graph(s, rng)
    rows = build_rows(s, graph, Ids(rng), vec_rng, dimension)
    expected = None
    if scale == 1.0:
        got = plan_totals(graph.nodes, graph.edges, {n["id"] for n in graph.live_nodes},
                          {e["id"] for e in graph.live_edges}, INCIDENT_DEFAULT.filters.labels,
                          INCIDENT_DEFAULT.filters.edge_types)
        if got != MAY10_FIGURES:  # the generator's own contract; a change that breaks it must not ship quietly
            raise AssertionError(f"demo generator drifted from the May 10 figures: {got}")
        expected = got

    step("loading the live graph", 1)
    load_live_graph(dd, graph, now)
    step("loading live Chroma collections", 2)
    live_chroma = load_live_chroma(dd, s, rows, dimension, on_progress, cancel)
    cn, ce = concept_lines(rng)
    write_jsonl(dd.concepts_dir / "nodes.jsonl", cn)
    write_jsonl(dd.concepts_dir / "edges.jsonl", ce)
    write_jsonl(dd.trajectories_file, [trajectory(i) for i in range(240)])

    step("writing bundles", 3)
    full_m, full_s = s.chroma_memories, s.chroma_summaries
    specs = [
        # the routine backup after the wipe: a faithful copy of the wiped graph and the thinned Memory Core
        BundleSpec(timedelta(hours=1), full_m, full_s, after_wipe=True),
        BundleSpec(timedelta(hours=9), full_m, full_s),
        BundleSpec(timedelta(days=1, hours=9), max(1, full_m - 110), full_s, kb=False, drop_memory_nodes=10),
        BundleSpec(timedelta(days=3, hours=9), max(1, full_m - 300), full_s - 2, malformed_meta=True,
                    drop_memory_nodes=30),
        BundleSpec(timedelta(days=8, hours=9), max(1, full_m - 500), full_s - 20, drop_memory_nodes=60),
        BundleSpec(timedelta(days=16, hours=9), max(1, full_m - 1_068), full_s - 40, drop_memory_nodes=120),
        BundleSpec(timedelta(days=41, hours=9), max(1, full_m - 2_000), full_s - 80, drop_memory_nodes=240),
        # older history, so retention has something past every policy to explain and prune
        BundleSpec(timedelta(days=52, hours=9), max(1, full_m - 2_600), full_s - 100, drop_memory_nodes=300),
        BundleSpec(timedelta(days=63, hours=9), max(1, full_m - 3_200), full_s - 120, drop_memory_nodes=360),
        BundleSpec(timedelta(days=77, hours=9), max(1, full_m - 3_900), full_s - 140, drop_memory_nodes=420),
    ]
    names = []
    for i, spec in enumerate(specs):
        check_cancel(cancel)
        # the bundles before the wipe are what they were before the demo had a backup after it: byte for byte
        names.append(write_bundle(dd, now - spec.age, spec, graph, rows, dimension, (cn, ce),
                                   trajectories=240 - max(0, i - 1) * 10, culls=3))
        on_progress(Progress("bundles", i + 1, len(specs)))
    leftovers = [residue(dd, now - timedelta(days=2, hours=9), graph)]
    legacy = dd.backup_root / "memory-backup-2026-04-01T00-00-00.000Z.jsonl"
    write_jsonl(legacy, rows.memories[:3])
    step("writing the workspace", 5)
    ws = workspace(root)
    step("done", 6)
    return DemoResult(
        root=str(root), seed=seed, scale=scale, dimension=dimension, bundles=tuple(names), residue=tuple(leftovers),
        live={"nodes": len(graph.live_nodes), "edges": len(graph.live_edges), **live_chroma},
        incident_filters=IncidentFilters(labels=INCIDENT_DEFAULT.labels, edge_types=INCIDENT_DEFAULT.edge_types),
        expected=expected, workspace=str(ws), seconds=round(time.monotonic() - started, 2),
        notes=(f"{names[0]}: the newest bundle (`latest`), taken after the wipe: a faithful copy of the wiped graph",
               f"{names[1]}: the last bundle before the wipe, 9 h old (`latest~1`: restore this one)",
               f"{names[2]}: its KB export is empty (the August incident shape)",
               f"{names[3]}: its bundle-meta.json is torn (malformed meta)",
               f"{leftovers[0]}: staging residue of a backup that died (never counted as a bundle)",
               f"{names[-1]}: past every retention policy (what `prune` would delete)"),
    )
