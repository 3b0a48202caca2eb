"""Restore benchmark: the ratios issue 3 asks for, measured in one run, each timed step in a fresh process.

    .venv/bin/python -m bench.bench_restore            # full run (1M / 100k graph, 50k Chroma rows)
    .venv/bin/python -m bench.bench_restore --quick    # a smoke run at 1/10 scale

Ratios (and the issue's goals):
- graph merge of a 1,000,000-element bundle into a live DB holding 30% of its ids, as throughput against a
  bare sqlite3 `executemany INSERT OR IGNORE` loop into the same schema (FKs, triggers, indexes) fed the same
  parsed rows, with the same pragmas and rows per transaction: >= 0.5x. The restore is timed end to end,
  validation (verify_bundle's full pass) included; the bare loop includes its own parsing.
- peak RSS (ru_maxrss of a fresh process) of the 1M restore over the 100k restore: <= 1.3x, and < 400 MB;
- the plan (scan_bundle + build_plan) of the 1M bundle over one bare streaming `json.loads` pass of the same
  file: <= 2x (orjson's pass is printed too, for reference);
- a Chroma merge (run_restore, mc only, validation included) of 50,000 rows (128-d by default) into an
  empty embedded store over a bare chunked `add` of the same rows, same chunk size, both timed from opening
  the store with chromadb already imported: <= 1.3x. HNSW build time varies a lot between runs, so the two
  are alternated `--chroma-repeat` times and the best of each is compared (all runs are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

BUNDLE = "backup-2026-05-10T01-11-23.456Z"


def _rss_mb() -> float:
    """ru_maxrss of this process. Linux carries a parent's peak across fork+exec, so the parent stays tiny
    (it generates nothing itself) and `_hwm_mb` (this address space only) is reported alongside."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _graph_file(work: Path) -> Path:
    return next((work / BUNDLE / "graph").glob("*.jsonl"))


# ------------------------------------------------------------------------------------------- the steps


def step_bare_graph(work: Path) -> dict[str, Any]:
    """executemany INSERT OR IGNORE, same rows, pragmas and transaction size as the restore; parse included."""
    from core.graph_store import RESTORE_CACHE_KIB
    from core.restore_graph import GRAPH_WRITE_BATCH

    db = work / "bare.sqlite"
    shutil.copy(work / "live.sqlite", db)
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("busy_timeout = 5000", "foreign_keys = ON", "journal_mode = WAL", f"cache_size = -{RESTORE_CACHE_KIB}",
                   "temp_store = MEMORY", "synchronous = NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    node_sql = "INSERT OR IGNORE INTO Nodes (id, user_id, data) VALUES (?, ?, ?)"
    edge_sql = "INSERT OR IGNORE INTO Edges (id, user_id, source, target, type, data) VALUES (?, ?, ?, ?, ?, ?)"
    started = time.perf_counter()
    rows: list[tuple[Any, ...]] = []
    sql = node_sql

    def flush() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        rows.clear()

    with open(_graph_file(work), "rb", buffering=1 << 20) as fh:
        for raw in fh:
            line = raw.rstrip(b"\n")
            data = line[22:-1]  # the same verbatim `data` the restore stores
            d = orjson.loads(data)
            uid = (d.get("properties") or {}).get("userId")
            if line.startswith(b'{"type":"node"'):
                rows.append((d["id"], uid, data.decode()))
            else:
                if sql is node_sql and rows:
                    flush()
                sql = edge_sql
                rows.append((d["id"], uid, d["source"], d["target"], d["type"], data.decode()))
            if len(rows) >= GRAPH_WRITE_BATCH:
                flush()
    if rows:
        flush()
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "rssMB": _rss_mb()}


def _data_dir(work: Path, name: str) -> Any:
    from core.datadir import resolve

    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    dd = resolve(root, env={})
    if (work / "live.sqlite").exists():
        dd.graph_db.parent.mkdir(parents=True)
        shutil.copy(work / "live.sqlite", dd.graph_db)
    return dd


def step_restore(work: Path, only: str | None = None) -> dict[str, Any]:
    from core.restore import run_restore
    from core.restore_model import RestoreOptions
    from core.wire import encode

    if only == "mc":
        import chromadb  # noqa: F401 - imported before the clock starts, as in the bare step

    dd = _data_dir(work, "restore-dd")
    started = time.perf_counter()
    res = run_restore(dd, work / BUNDLE, RestoreOptions(only_substrate=[only] if only else None))
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"seconds": seconds, "rssMB": _rss_mb(), "failures": res.failures_total,
                           "chromadbLoaded": "chromadb" in sys.modules}
    if res.graph is not None:
        out["totals"] = encode(res.totals)
    if res.mc is not None:
        out["memories"] = encode(res.mc.counts.memories)
    return out


def step_plan(work: Path) -> dict[str, Any]:
    from core.plan import Filters, build_plan, scan_bundle
    from core.wire import encode

    dd = _data_dir(work, "plan-dd")
    started = time.perf_counter()
    scan = scan_bundle(dd, work / BUNDLE)
    plan = build_plan(scan)
    seconds = time.perf_counter() - started
    t = time.perf_counter()
    for labels in (["FILE"], ["FILE", "DIRECTORY", "KB_GAP", "TOOLING_GAP"], []):
        build_plan(scan, Filters.of(labels, ["CONTAINS"]))
    rebuild_ms = (time.perf_counter() - t) / 3 * 1000
    return {"seconds": seconds, "rssMB": _rss_mb(), "totals": encode(plan.totals), "rebuildMs": rebuild_ms}


def step_parse(work: Path, lib: str) -> dict[str, Any]:
    loads = json.loads if lib == "json" else orjson.loads
    started = time.perf_counter()
    with open(_graph_file(work), "rb", buffering=1 << 20) as fh:
        for raw in fh:
            loads(raw)
    return {"seconds": time.perf_counter() - started, "rssMB": _rss_mb()}


def step_bare_chroma(work: Path) -> dict[str, Any]:
    """Stream the same memory file, parse, chunk like the restore, `add` into an empty embedded collection."""
    import chromadb  # noqa: F401 - imported before the clock starts, as in the restore step
    import numpy as np

    from core import chroma_store as ch
    from core.substrates import COLLECTIONS

    dd = _data_dir(work, "bare-chroma-dd")
    dim = int(json.loads((work / "chroma.json").read_text())["dimension"])
    f = next((work / BUNDLE / "mc").glob("memory-backup-*.jsonl"))
    started = time.perf_counter()  # opening the store is timed on both sides
    client = ch.open_client(dd, create=True)
    col = ch.get_collection(client, COLLECTIONS["memories"], create=True)
    chunk = max(50, min(ch.max_batch(client), 1_000_000 // dim))  # the restore's chunk size for an embedded store
    buf: list[dict[str, Any]] = []

    def flush() -> None:
        col.add(ids=[r["id"] for r in buf], embeddings=np.asarray([r["embedding"] for r in buf], dtype=np.float32),
                metadatas=[r["metadata"] or None for r in buf], documents=[r["document"] for r in buf])
        buf.clear()

    with open(f, "rb", buffering=1 << 20) as fh:
        for raw in fh:
            buf.append(orjson.loads(raw))
            if len(buf) >= chunk:
                flush()
    if buf:
        flush()
    return {"seconds": time.perf_counter() - started, "rssMB": _rss_mb(), "rows": col.count(), "chunk": chunk}


def step_gen_graph(work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    make_graph(work, int(os.environ["BENCH_ELEMENTS"]))
    return {"seconds": time.perf_counter() - started, "rssMB": _rss_mb()}


def step_gen_chroma(work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    make_chroma(work, int(os.environ["BENCH_ROWS"]), int(os.environ["BENCH_DIM"]))
    return {"seconds": time.perf_counter() - started, "rssMB": _rss_mb()}


STEPS = {"gen-graph": step_gen_graph, "gen-chroma": step_gen_chroma, "bare-graph": step_bare_graph, "restore": step_restore, "plan": step_plan,
         "parse-json": lambda w: step_parse(w, "json"), "parse-orjson": lambda w: step_parse(w, "orjson"),
         "bare-chroma": step_bare_chroma, "restore-mc": lambda w: step_restore(w, "mc")}


def run_step(name: str, work: Path, **extra_env: Any) -> dict[str, Any]:
    """One step in a fresh interpreter, so timings and peak RSS are its own."""
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1",
           **{k: str(v) for k, v in extra_env.items()}}
    out = subprocess.run([sys.executable, "-m", "bench.bench_restore", "--step", name, "--work", str(work)],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode != 0:
        raise RuntimeError(f"step {name} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {name:<13} {work.name:<6} {result['seconds']:8.2f} s  peak RSS {result['rssMB']:6.1f} MB "
          f"(VmHWM {result.get('hwmMB') or 0:6.1f})", flush=True)
    return result


# ------------------------------------------------------------------------------------------- data


def make_graph(work: Path, elements: int) -> None:
    from bench.datagen import GraphSpec, generate_graph

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    generate_graph(work / BUNDLE, work / "live.sqlite", GraphSpec(elements=elements, orphan_share=0.0))


def make_chroma(work: Path, rows: int, dim: int) -> None:
    """A bundle holding only a memory file of `rows` unit vectors (numpy-generated, orjson-written)."""
    import numpy as np

    from bench.datagen import write_meta
    from core.substrates import REQUIRED_SUBDIRS

    shutil.rmtree(work, ignore_errors=True)
    for sub in REQUIRED_SUBDIRS:
        (work / BUNDLE / sub).mkdir(parents=True)
    rng = np.random.default_rng(5)
    with open(work / BUNDLE / "mc" / "memory-backup-2026-05-10T01-11-30.000Z.jsonl", "wb") as fh:
        for start in range(0, rows, 5000):
            n = min(5000, rows - start)
            v = rng.standard_normal((n, dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            for i in range(n):
                k = start + i
                fh.write(orjson.dumps({"id": f"mem-{k:07d}", "embedding": v[i].astype(np.float64),
                                       "metadata": {"sessionId": f"s-{k % 97}", "timestamp": 1778436610123 + k},
                                       "document": f"User Prompt: q{k}\nAgent Thought: t\nAgent Response: a{k}"},
                                      option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    write_meta(work / BUNDLE, {"memories": rows}, dimension=dim)
    (work / "chroma.json").write_text(json.dumps({"rows": rows, "dimension": dim}))


# ------------------------------------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memGiB": round(mem, 1), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/recovery-console-bench"))
    ap.add_argument("--elements", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--chroma-rows", type=int, default=50_000)
    ap.add_argument("--chroma-dim", type=int, default=128)
    ap.add_argument("--chroma-repeat", type=int, default=2,
                    help="alternate bare add and merge this many times; the best of each is compared "
                         "(HNSW build time varies run to run by far more than the difference measured)")
    ap.add_argument("--quick", action="store_true", help="1/10 scale smoke run")
    ap.add_argument("--skip-chroma", action="store_true")
    ap.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        result = STEPS[args.step](args.work)
        result["hwmMB"] = _hwm_mb()
        print(json.dumps(result))
        return 0
    if args.quick:
        args.elements, args.small, args.chroma_rows = args.elements // 10, args.small // 10, args.chroma_rows // 10
    started = time.perf_counter()
    info = machine()
    print(f"parent process peak RSS {_rss_mb():.1f} MB (children inherit it as a floor of ru_maxrss)")
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memGiB']} GiB, Python {info['python']}, "
          f"SQLite {info['sqlite']}", flush=True)
    big, small, vec = args.work / "big", args.work / "small", args.work / "chroma"
    print(f"generating {args.elements:,} and {args.small:,}-element graph bundles (30% of ids live) ...", flush=True)
    r: dict[str, Any] = {}
    run_step("gen-graph", big, BENCH_ELEMENTS=args.elements)
    run_step("gen-graph", small, BENCH_ELEMENTS=args.small)
    r["bare"] = run_step("bare-graph", big)
    r["restore"] = run_step("restore", big)
    r["restoreSmall"] = run_step("restore", small)
    r["plan"] = run_step("plan", big)
    r["json"] = run_step("parse-json", big)
    r["orjson"] = run_step("parse-orjson", big)
    if not args.skip_chroma:
        print(f"generating a {args.chroma_rows:,}-row, {args.chroma_dim}-d memory bundle ...", flush=True)
        run_step("gen-chroma", vec, BENCH_ROWS=args.chroma_rows, BENCH_DIM=args.chroma_dim)
        bare_runs, merge_runs = [], []
        for _ in range(args.chroma_repeat):
            bare_runs.append(run_step("bare-chroma", vec))
            merge_runs.append(run_step("restore-mc", vec))
        r["bareChroma"] = min(bare_runs, key=lambda x: x["seconds"])
        r["restoreChroma"] = min(merge_runs, key=lambda x: x["seconds"])
        r["chromaRuns"] = {"bare": [x["seconds"] for x in bare_runs], "merge": [x["seconds"] for x in merge_runs]}
    n = args.elements
    ratios = {
        "graphThroughput": (n / r["restore"]["seconds"]) / (n / r["bare"]["seconds"]),
        "rssRatio": r["restore"]["rssMB"] / r["restoreSmall"]["rssMB"],
        "rss1M_MB": r["restore"]["rssMB"],
        "planVsJson": r["plan"]["seconds"] / r["json"]["seconds"],
        "planVsOrjson": r["plan"]["seconds"] / r["orjson"]["seconds"],
    }
    goals = {"graphThroughput": (">=", 0.5), "rssRatio": ("<=", 1.3), "rss1M_MB": ("<", 400), "planVsJson": ("<=", 2.0)}
    if not args.skip_chroma:
        ratios["chromaMergeVsAdd"] = r["restoreChroma"]["seconds"] / r["bareChroma"]["seconds"]
        goals["chromaMergeVsAdd"] = ("<=", 1.3)
    total = time.perf_counter() - started
    print(f"\nresults ({total:.0f} s in all):")
    print(f"  graph merge {n:,}: restore {n / r['restore']['seconds']:,.0f} elements/s vs bare loop "
          f"{n / r['bare']['seconds']:,.0f}/s; totals {r['restore'].get('totals')}")
    print(f"  plan rebuild from the scan: {r['plan']['rebuildMs']:.1f} ms per filter change")
    if "chromaRuns" in r:
        print(f"  chroma runs (s): bare add {r['chromaRuns']['bare']}, merge {r['chromaRuns']['merge']}")
    ok = True
    for key, value in ratios.items():
        goal = goals.get(key)
        verdict = ""
        if goal:
            op, limit = goal
            good = value >= limit if op == ">=" else (value <= limit if op == "<=" else value < limit)
            ok &= good
            verdict = f"goal {op} {limit}: {'PASS' if good else 'FAIL'}"
        print(f"  {key:<18} {value:8.3f}   {verdict}")
    out = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}, "steps": r, "ratios": ratios,
           "seconds": total, "pass": ok}
    (args.work / "results.json").write_text(json.dumps(out, indent=2))
    print(f"  written to {args.work / 'results.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
