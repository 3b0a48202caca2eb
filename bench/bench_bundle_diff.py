"""Bundle against bundle at scale: two 1M-element graph bundles diffed through the on-disk index, against one bare
streaming parse pass over both, and peak RSS at 100k, 1M and 2M elements per bundle (flat memory: the index is on
disk, its page cache is capped).

    .venv/bin/python -m bench.bench_bundle_diff [--work DIR] [--elements N] [--small N] [--huge N] [--quick]

Bundle A has N graph elements (55% nodes); bundle B is A with every 10th line left out (only in A), every 20th
node's data changed (different), and N/10 new nodes (only in B). Every step (the generators too) runs in a fresh
interpreter and reports its own peak RSS (VmHWM: ru_maxrss would carry the parent's peak across fork+exec).
Goals: peak RSS of the 2M diff <= 1.15x the 1M diff's (no growth with size once the cache is full) and < 400 MB;
the time is reported against one bare `json.loads` pass over both bundles (the cost of reading them at all).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

A, B = "backup-2026-05-10T09-11-23.456Z", "backup-2026-05-10T01-11-23.456Z"
GRAPH = "graph/graph-backup-2026-05-10T01-11-40.002Z.jsonl"
LABELS = ("FILE", "FILE", "CONCEPT", "AGENT_MEMORY", "DIRECTORY", "ISSUE", "CLASS", "MESSAGE")
TYPES = ("CONTAINS", "CONTAINS", "RELATES_TO", "SPAWNED_MEMORY", "DISCOVERED_IN")


def _rss_mb() -> float:
    """This process's peak RSS (VmHWM, reset at exec; ru_maxrss as a fallback)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _node(rng: random.Random, i: int) -> dict[str, Any]:
    label = LABELS[i % len(LABELS)]
    return {"id": f"n-{i:08d}-{rng.getrandbits(32):08x}", "label": label, "properties": {
        "name": f"{label.lower()} {i}", "description": "Generated for the bundle diff benchmark.",
        "timestamp": "2026-05-10T01:11:23.456Z", "weight": round(rng.random(), 4)}}


def make_pair(work: Path, elements: int) -> None:
    """Bundle A, then B derived from it line by line (both streamed: nothing held but the node ids)."""
    shutil.rmtree(work, ignore_errors=True)
    rng = random.Random(11)
    for name in (A, B):
        for sub in ("kb", "mc", "graph", "concepts", "trajectories"):
            (work / name / sub).mkdir(parents=True)
    n_nodes = int(elements * 0.55)
    ids: list[str] = []
    with open(work / A / GRAPH, "wb") as fa:
        for i in range(n_nodes):
            n = _node(rng, i)
            ids.append(n["id"])
            fa.write(orjson.dumps({"type": "node", "data": n}) + b"\n")
        for i in range(elements - n_nodes):
            s, t = ids[rng.randrange(n_nodes)], ids[rng.randrange(n_nodes)]
            e = {"id": f"e-{i:08d}", "source": s, "target": t, "type": TYPES[i % len(TYPES)],
                 "properties": {"weight": 1}}
            fa.write(orjson.dumps({"type": "edge", "data": e}) + b"\n")
    del ids
    with open(work / A / GRAPH, "rb") as fa, open(work / B / GRAPH, "wb") as fb:
        nodes_seen = 0
        for i, line in enumerate(fa):
            if i % 10 == 0:
                continue  # only in A
            obj = orjson.loads(line)
            if obj["type"] == "node":
                nodes_seen += 1
                if nodes_seen % 20 == 0:
                    obj["data"]["properties"]["weight"] = -1.0  # different
                    line = orjson.dumps(obj) + b"\n"
                if nodes_seen == n_nodes * 8 // 10:  # the new nodes go before the edges: nodes first
                    for k in range(elements // 10):
                        fb.write(orjson.dumps({"type": "node", "data": _node(rng, 10_000_000 + k)}) + b"\n")
            fb.write(line)


def step_diff(work: Path) -> dict[str, Any]:
    from core.bundle_diff import diff_bundles

    started = time.perf_counter()
    d = diff_bundles(work / A, work / B, work_dir=work)
    t = d.totals
    return {"seconds": time.perf_counter() - started, "rssMB": _rss_mb(),
            "totals": {"onlyInA": t.only_a, "onlyInB": t.only_b, "identical": t.identical, "different": t.different}}


def step_parse(work: Path) -> dict[str, Any]:
    """The cost of reading both bundles at all: one streaming json.loads pass over each graph file."""
    started = time.perf_counter()
    n = 0
    for name in (A, B):
        with open(work / name / GRAPH, "rb") as fh:
            for line in fh:
                json.loads(line)
                n += 1
    return {"seconds": time.perf_counter() - started, "rssMB": _rss_mb(), "lines": n}


def step_parse_orjson(work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    for name in (A, B):
        with open(work / name / GRAPH, "rb") as fh:
            for line in fh:
                orjson.loads(line)
    return {"seconds": time.perf_counter() - started, "rssMB": _rss_mb()}


def step_gen(work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    make_pair(work, int(os.environ["BENCH_ELEMENTS"]))
    return {"seconds": time.perf_counter() - started, "rssMB": _rss_mb()}


STEPS = {"gen": step_gen, "diff": step_diff, "parse-json": step_parse, "parse-orjson": step_parse_orjson}


def run_step(name: str, work: Path, elements: int = 0) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.bench_bundle_diff", "--step", name, "--work", str(work)],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
                         env={**os.environ, "BENCH_ELEMENTS": str(elements)})
    if out.returncode != 0:
        raise RuntimeError(f"step {name} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {name:<13} {work.name:<6} {result['seconds']:8.2f} s  peak RSS {result['rssMB']:6.1f} MB", flush=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/recovery-console-bench-diff"))
    ap.add_argument("--elements", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--huge", type=int, default=2_000_000, help="a third pair, for the RSS plateau (0: skip)")
    ap.add_argument("--quick", action="store_true", help="1/10 scale smoke run")
    ap.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        print(json.dumps(STEPS[args.step](args.work)))
        return 0
    scale = 10 if args.quick else 1
    big_n, small_n, huge_n = args.elements // scale, args.small // scale, args.huge // scale
    started = time.perf_counter()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    pairs = {"small": small_n, "big": big_n, **({"huge": huge_n} if huge_n else {})}
    print("generating pairs of " + ", ".join(f"{n:,}" for n in pairs.values()) + "-element graph bundles ...",
          flush=True)
    for name, n in pairs.items():
        run_step("gen", args.work / name, n)
    big = args.work / "big"
    r = {"diff": run_step("diff", big), "diffSmall": run_step("diff", args.work / "small"),
         "parse": run_step("parse-json", big), "parseOrjson": run_step("parse-orjson", big)}
    if huge_n:
        r["diffHuge"] = run_step("diff", args.work / "huge")
    res: dict[str, Any] = {
        "elements": big_n, "totals": r["diff"]["totals"],
        "diffSeconds": r["diff"]["seconds"], "parseSeconds": r["parse"]["seconds"],
        "diffVsJson": r["diff"]["seconds"] / r["parse"]["seconds"],
        "diffVsOrjson": r["diff"]["seconds"] / r["parseOrjson"]["seconds"],
        "rssSmallMB": r["diffSmall"]["rssMB"], "rss1M_MB": r["diff"]["rssMB"],
    }
    goals = {"rss1M_MB": ("<", 400), "rssHugeRatio": ("<=", 1.15)}
    if huge_n:
        res["rssHugeMB"] = r["diffHuge"]["rssMB"]
        res["rssHugeRatio"] = r["diffHuge"]["rssMB"] / r["diff"]["rssMB"]
        res["hugeSeconds"] = r["diffHuge"]["seconds"]
    print(f"\nresults ({time.perf_counter() - started:.0f} s in all):")
    for k, v in res.items():
        goal = goals.get(k)
        verdict = ""
        if goal is not None and isinstance(v, float):
            ok = v <= goal[1] if goal[0] == "<=" else v < goal[1]
            verdict = f"  goal {goal[0]} {goal[1]}: {'PASS' if ok else 'FAIL'}"
        print(f"  {k:<14} {v:.2f}{verdict}" if isinstance(v, float) else f"  {k:<14} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
