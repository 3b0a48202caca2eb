"""The timed steps of the benchmark. Each runs in a fresh interpreter (`bench_restore --step NAME`), so its
time and its peak RSS are its own; it prints one JSON object on its last line.

A step's work directory holds one generated data set:
- a graph work dir: `bundle/<name>/graph/*.jsonl` and `live.sqlite` (neo's schema, 30% of the node ids live);
- a memory work dir: `bundle/<name>/mc/memory-backup-*.jsonl` and `set.json` (rows, dimension).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

BUNDLE = "backup-2026-05-10T01-11-23.456Z"


def rss_mb() -> float:
    """ru_maxrss of this process (Linux carries a parent's peak across fork+exec: the parent stays small)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_kb(pid: str, field: str) -> int | None:
    """A kB figure of /proc/PID/status (None when the process or the field is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return None


def hwm_mb() -> float | None:
    """VmHWM: the peak of this address space only."""
    kb = status_kb("self", "VmHWM")
    return kb / 1024 if kb is not None else None


class TreePeak:
    """The peak of this process's RSS plus its children's, sampled every 50 ms: a restore validates a large graph
    file in two processes at once, and both count (ru_maxrss counts only this one)."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _rss_kb(pid: str) -> int:
        return status_kb(pid, "VmRSS") or 0

    def _run(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.05):
            kids: list[str] = []
            for task in Path(f"/proc/{me}/task").iterdir():
                with contextlib.suppress(OSError):
                    kids += (task / "children").read_text().split()
            self.peak_kb = max(self.peak_kb, self._rss_kb(me) + sum(map(self._rss_kb, kids)))

    def mb(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def bundle_of(work: Path) -> Path:
    return work / "bundle" / BUNDLE


def graph_files(work: Path) -> list[Path]:
    return sorted((bundle_of(work) / "graph").glob("*.jsonl"))


def fresh_dd(work: Path, name: str, *, graph: Path | None = None, chroma: Path | None = None) -> Any:
    """A data dir under `work/name` whose backup root holds the bundle; optional live graph DB / Chroma dir."""
    from core.datadir import resolve

    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    dd = resolve(root, backup_root=work / "bundle", chroma_url=os.environ.get("BENCH_CHROMA_URL") or None, env={})
    if graph is not None:
        dd.graph_db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(graph, dd.graph_db)
    if chroma is not None:
        shutil.copytree(chroma, dd.chroma_path)
    return dd


def _cache_kib() -> int:
    from core.graph_store import RESTORE_CACHE_KIB

    return int(RESTORE_CACHE_KIB)


# ------------------------------------------------------------------------------------------------ generation


def gen_graph(work: Path) -> dict[str, Any]:
    from bench.datagen import GraphSpec, generate_graph

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    g = generate_graph(bundle_of(work), work / "live.sqlite",
                       GraphSpec(elements=int(os.environ["BENCH_ELEMENTS"]), node_share=0.4, orphan_share=0.0))
    return {"seconds": time.perf_counter() - started, "nodes": g.nodes, "edges": g.edges,
            "liveNodes": g.live_nodes, "liveEdges": g.live_edges,
            "bytes": sum(f.stat().st_size for f in graph_files(work))}


def gen_memories(work: Path) -> dict[str, Any]:
    from bench.datagen import write_memory_bundle

    shutil.rmtree(work, ignore_errors=True)
    rows, dim = int(os.environ["BENCH_ROWS"]), int(os.environ["BENCH_DIM"])
    started = time.perf_counter()
    f = write_memory_bundle(bundle_of(work), rows, dim)
    (work / "set.json").write_text(json.dumps({"rows": rows, "dimension": dim}))
    return {"seconds": time.perf_counter() - started, "bytes": f.stat().st_size}


# ------------------------------------------------------------------------------------------------ graph


def bare_graph(work: Path, lib: str) -> dict[str, Any]:
    from bench.baselines import bare_graph_pipeline

    (f,) = graph_files(work)
    seconds = bare_graph_pipeline(f, work / "live.sqlite", work / f"bare-{lib}.sqlite", lib=lib, cache_kib=_cache_kib())
    (work / f"bare-{lib}.sqlite").unlink()
    return {"seconds": seconds}


def restore_graph(work: Path) -> dict[str, Any]:
    """The console's whole job: lock, validation, plan counters, journal, progress; graph only."""
    import core.restore_graph
    from core.restore import run_restore
    from core.restore_model import RestoreOptions
    from core.wire import encode

    if os.environ.get("BENCH_GRAPH_CHUNK"):  # another chunk size than the engine's, to compare
        core.restore_graph.GRAPH_WRITE_BATCH = int(os.environ["BENCH_GRAPH_CHUNK"])
    dd = fresh_dd(work, "restore-dd", graph=work / "live.sqlite")
    ticks = 0

    def progress(_p: Any) -> None:
        nonlocal ticks
        ticks += 1

    started = time.perf_counter()
    res = run_restore(dd, bundle_of(work), RestoreOptions(only_substrate=["graph"]), on_progress=progress)
    seconds = time.perf_counter() - started
    v = res.verification  # issue 14's check of the result, after the job's last write (timed inside `seconds`)
    return {"seconds": seconds, "verifySeconds": v.duration_ms / 1000 if v is not None and v.duration_ms else 0.0,
            "verification": v.status if v is not None else None, "totals": encode(res.totals),
            "failures": res.failures_total, "progressEvents": ticks}


def proto_graph(work: Path) -> dict[str, Any]:
    from bench.proto_merge import staged_merge

    db = work / "proto.sqlite"
    shutil.copy(work / "live.sqlite", db)
    journal = work / "proto-journal.jsonl"
    journal.unlink(missing_ok=True)
    started = time.perf_counter()
    r = staged_merge(graph_files(work), db, work / "proto-staging.sqlite", journal, cache_kib=_cache_kib())
    seconds = time.perf_counter() - started
    rows = list(r["nodes"].values()) + list(r["edges"].values())
    totals = {k: sum(v[k] for v in rows) for k in ("inserted", "skippedExisting", "orphaned", "filtered", "failed")}
    db.unlink()
    return {"seconds": seconds, "stageSeconds": r["stageSeconds"], "mergeSeconds": r["mergeSeconds"], "totals": totals}


def plan(work: Path) -> dict[str, Any]:
    """`diff --json`'s work: scan_bundle + build_plan against the live DB (a data dir whose graph is live.sqlite)."""
    from core.live_scan import scan_bundle
    from core.plan import Filters, build_plan
    from core.wire import encode

    dd = fresh_dd(work, "plan-dd", graph=work / "live.sqlite")
    started = time.perf_counter()
    scan = scan_bundle(dd, bundle_of(work))
    p = build_plan(scan)
    seconds = time.perf_counter() - started
    t = time.perf_counter()
    for labels in (["FILE"], ["FILE", "DIRECTORY", "KB_GAP", "TOOLING_GAP"], []):
        build_plan(scan, Filters.of(labels, ["CONTAINS"]))
    return {"seconds": seconds, "totals": encode(p.totals), "rebuildMs": (time.perf_counter() - t) / 3 * 1000}


def parse(work: Path, lib: str) -> dict[str, Any]:
    from bench.baselines import bare_parse

    return {"seconds": bare_parse(graph_files(work), lib)}


# ------------------------------------------------------------------------------------------------ chroma


def _memory_file(work: Path) -> Path:
    (f,) = sorted((bundle_of(work) / "mc").glob("memory-backup-*.jsonl"))
    return f


def _set(work: Path) -> dict[str, int]:
    out: dict[str, int] = json.loads((work / "set.json").read_text())
    return out


def bare_chroma(work: Path) -> dict[str, Any]:
    import chromadb  # noqa: F401 - imported before the clock starts, as in the restore step
    import numpy  # noqa: F401

    from bench.baselines import bare_chroma_add
    from core.substrates import COLLECTIONS

    dd = fresh_dd(work, "bare-chroma-dd")
    chunk = bare_chunk(_set(work)["dimension"])
    seconds, rows = bare_chroma_add(dd.chroma_path, COLLECTIONS["memories"], _memory_file(work), chunk)
    return {"seconds": seconds, "rows": rows, "chunk": chunk}


def bare_chunk(dim: int) -> int:
    """The bare add's rows per call: an embedded client's max batch (5,461), and ~1M floats per call (the
    engine's rule before issue 12; fixed here so an engine change cannot move its own baseline)."""
    return max(50, min(5461, 1_000_000 // dim))


def restore_memories(work: Path) -> dict[str, Any]:
    import chromadb  # noqa: F401 - imported before the clock starts, as in the bare step
    import numpy  # noqa: F401

    from core.restore import run_restore
    from core.restore_model import RestoreOptions
    from core.wire import encode

    dd = fresh_dd(work, "restore-mc-dd")
    started = time.perf_counter()
    res = run_restore(dd, bundle_of(work), RestoreOptions(only_substrate=["mc"]))
    seconds = time.perf_counter() - started
    assert res.mc is not None
    return {"seconds": seconds, "memories": encode(res.mc.counts.memories), "failures": res.failures_total}


# ------------------------------------------------------------------------------------------------ backup


def backup_dd(work: Path) -> Any:
    from core.datadir import resolve

    return resolve(work / "backup-dd", backup_root=work / "backups", env={})


def prep_backup(work: Path) -> dict[str, Any]:
    """A data dir holding the restored 1M graph and the restored memories (both written by closed processes)."""
    graph_work, mem_work = Path(os.environ["BENCH_GRAPH_WORK"]), Path(os.environ["BENCH_MEM_WORK"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    dd = backup_dd(work)
    from core.datadir import resolve

    restored = resolve(graph_work / "restore-dd", env={})
    mem = resolve(mem_work / "restore-mc-dd", env={})
    dd.graph_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(restored.graph_db, dd.graph_db)
    shutil.copytree(mem.chroma_path, dd.chroma_path)
    return {"seconds": 0.0, "graphBytes": dd.graph_db.stat().st_size}


def bare_backup(work: Path) -> dict[str, Any]:
    import chromadb  # noqa: F401 - imported before the clock starts, as in the backup step
    import numpy  # noqa: F401

    from bench.baselines import bare_chroma_export, bare_sqlite_backup
    from core.chroma_store import export_page_size
    from core.substrates import COLLECTIONS

    dd = backup_dd(work)
    out = work / "bare-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    dim = int(os.environ.get("BENCH_DIM", "128"))
    s1 = bare_sqlite_backup(dd.graph_db, out / "graph.sqlite")
    s2, rows = bare_chroma_export(dd.chroma_path, COLLECTIONS["memories"], out / "memories.jsonl",
                                  export_page_size(dim))
    shutil.rmtree(out)
    return {"seconds": s1 + s2, "sqliteBackup": s1, "chromaExport": s2, "rows": rows}


def backup(work: Path) -> dict[str, Any]:
    import chromadb  # noqa: F401 - imported before the clock starts, as in the bare step
    import numpy  # noqa: F401

    from core.backup import run_backup

    dd = backup_dd(work)
    shutil.rmtree(dd.backup_root, ignore_errors=True)
    started = time.perf_counter()
    res = run_backup(dd, substrates=("mc", "graph"))
    seconds = time.perf_counter() - started
    shutil.rmtree(dd.backup_root)
    return {"seconds": seconds, "counts": dict(res.counts)}


# ------------------------------------------------------------------------------------------------ the TUI


def tick(work: Path) -> dict[str, Any]:
    from bench.tick import measure_ticks

    dd = fresh_dd(work, "tick-dd", graph=work / "live.sqlite")
    width, height = (int(v) for v in os.environ.get("BENCH_TERMINAL", "80x24").split("x"))
    return measure_ticks(dd, int(os.environ.get("BENCH_TICKS", "20")), (width, height))


STEPS = {
    "gen-graph": gen_graph, "gen-memories": gen_memories,
    "bare-json": lambda w: bare_graph(w, "json"), "bare-orjson": lambda w: bare_graph(w, "orjson"),
    "restore": restore_graph, "proto": proto_graph, "plan": plan,
    "parse-json": lambda w: parse(w, "json"), "parse-orjson": lambda w: parse(w, "orjson"),
    "bare-chroma": bare_chroma, "restore-mc": restore_memories,
    "prep-backup": prep_backup, "bare-backup": bare_backup, "backup": backup, "tick": tick,
}


def main(name: str, work: Path) -> int:
    tree = TreePeak()
    result = STEPS[name](work)
    # this process's exact peak, or the sampled peak of it and its helper processes together when that is higher
    result["treeMB"] = tree.mb()
    result["rssMB"] = max(rss_mb(), result["treeMB"])
    result["hwmMB"] = hwm_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
