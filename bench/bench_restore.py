"""Issue 12's benchmark: every figure against baselines measured in the same run, each step in a fresh process.

    .venv/bin/python -m bench.bench_restore            # the full run (1M / 3M graph, 50k + 20k×4096-d Chroma)
    .venv/bin/python -m bench.bench_restore --quick    # the same at 1/10 scale, two repeats: a few minutes
    .venv/bin/python -m bench.bench_restore --only graph,plan --repeat 5

Figures (goal in brackets; "x" = the candidate's time over the baseline's):
- graph merge restore, whole job (lock, validation, plan counters, journal, progress, the post-write digest),
  of a graph of `--elements` (40% nodes, 60% edges, 30% of the node and edge ids live; neo's schema with
  foreign keys, triggers and edge indexes) over the bare json pipeline (`json.loads` per line, `json.dumps` of
  data, executemany INSERT OR IGNORE, 2,000-row transactions) [<= 0.5x]; also over the same pipeline with
  orjson. Every restore then verifies its result (issue 14: integrity_check, foreign_key_check, the digests,
  the counts), which no bare pipeline does: the same runs are printed with it too, and its own seconds;
- plan (`diff --json`: scan + plan) over one bare `json.loads` pass over the bundle's lines [<= 1.0x]; also
  over an orjson pass;
- backup of that graph (as the restore left it) + `--chroma-rows` memories over sqlite3's `.backup` plus a
  bare paged Chroma export [<= 1.2x];
- the diff screen's filter tick at `--elements`, on the real app driven by Pilot, repaint included
  [< 50 ms, the median of `--ticks` ticks];
- Chroma merge of `--chroma-rows` rows into an empty store over a bare chunked `add` [<= 1.1x];
- peak RSS of a `--wide-dim`-d Chroma merge of `--wide-rows` memories into a Chroma server, the console's
  process [< 300 MB]; the same into an embedded store is printed too (there the vector index lives in the
  console's own process: at 20,000 x 4096 its vectors alone are 312 MiB), beside a bare chunked add;
- peak RSS of the graph restores at `--elements` and `--rss-elements` [< 150 MB each, and flat: <= 1.1x].

Timed pairs are alternated `--repeat` times (baseline, candidate, baseline, ...); every run is printed, and
each ratio is given as min/min and median/median. A goal PASSes on the median ratio (the stricter of the two
on a noisy machine), never on the best run alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.steps import rss_mb

ROOT = Path(__file__).resolve().parent.parent


def run_step(name: str, work: Path, **extra_env: Any) -> dict[str, Any]:
    """One step in a fresh interpreter, so timings and peak RSS are its own."""
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1",
           **{k: str(v) for k, v in extra_env.items()}}
    out = subprocess.run([sys.executable, "-m", "bench.steps", name, str(work)], capture_output=True, text=True,
                         env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"step {name} failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  {name:<13} {work.name:<12} {result['seconds']:8.2f} s  peak RSS {result['rssMB']:6.1f} MB "
          f"(VmHWM {result.get('hwmMB') or 0:6.1f})", flush=True)
    return result


@dataclass
class Figure:
    name: str
    candidate: list[float]
    baseline: list[float]
    baseline_name: str
    goal: float | None = None  # candidate/baseline at most this (median ratio)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def min_ratio(self) -> float:
        return min(self.candidate) / min(self.baseline)

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.candidate) / statistics.median(self.baseline)

    @property
    def passed(self) -> bool | None:
        return None if self.goal is None else self.median_ratio <= self.goal


@dataclass
class Limit:
    name: str
    values: list[float]
    unit: str
    goal: float  # every value below this
    strict: bool = True  # < (True) or <= (False)

    @property
    def passed(self) -> bool:
        return all(v < self.goal if self.strict else v <= self.goal for v in self.values)


@contextlib.contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    """A real `chroma run` on 127.0.0.1 on a free port, persisting under `path`; stopped on exit."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    log = open(path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([exe, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chroma server did not start: {(path / 'server.log').read_text()[-2000:]}") \
                        from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for dist in ("chromadb", "orjson", "numpy", "textual"):
        try:
            versions[dist] = version(dist)
        except Exception:
            versions[dist] = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memGiB": round(mem, 1), "platform": platform.platform(),
            "load": os.getloadavg(), **versions}


def alternate(repeat: int, pairs: list[tuple[str, str, dict[str, Any]]], work: Path) -> dict[str, list[dict[str, Any]]]:
    """Run each (key, step, env) once per round, `repeat` rounds: every figure's runs interleave."""
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _ in pairs}
    for _ in range(repeat):
        for key, step, env in pairs:
            runs[key].append(run_step(step, work, **env))
    return runs


def secs(runs: list[dict[str, Any]]) -> list[float]:
    return [r["seconds"] for r in runs]


def main() -> int:  # noqa: PLR0915 - one linear script: the order of the run is the order of this function
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/recovery-console-bench"))
    ap.add_argument("--elements", type=int, default=1_000_000)
    ap.add_argument("--rss-elements", type=int, default=3_000_000)
    ap.add_argument("--chroma-rows", type=int, default=50_000)
    ap.add_argument("--chroma-dim", type=int, default=128)
    ap.add_argument("--wide-rows", type=int, default=20_000)
    ap.add_argument("--wide-dim", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of every alternated pair")
    ap.add_argument("--ticks", type=int, default=20)
    ap.add_argument("--terminal", default="80x24,160x48", help="terminal sizes for the filter tick")
    ap.add_argument("--quick", action="store_true", help="1/10 scale, two rounds")
    ap.add_argument("--only", default="graph,plan,chroma,backup,wide,rss,tick",
                    help="comma-separated figure groups: graph, plan, chroma, backup, wide, rss, tick")
    ap.add_argument("--proto", action="store_true", help="also time bench/proto_merge.py (issue 12's prototype)")
    ap.add_argument("--keep", action="store_true", help="reuse generated data sets found in --work")
    ap.add_argument("--chunk", type=int, default=0, help="also time the graph restore with this many lines per chunk")
    args = ap.parse_args()
    if args.quick:
        args.elements //= 10
        args.rss_elements //= 10
        args.chroma_rows //= 10
        args.wide_rows //= 10
        args.repeat = min(args.repeat, 2)
        args.ticks = min(args.ticks, 10)
    only = set(args.only.split(","))
    started = time.perf_counter()
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memGiB']} GiB, {info['platform']}")
    print(f"versions: Python {info['python']}, SQLite {info['sqlite']}, chromadb {info['chromadb']}, "
          f"orjson {info['orjson']}, numpy {info['numpy']}, textual {info['textual']}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in info['load'])}; parent peak RSS {rss_mb():.1f} MB")
    print(f"sizes: graph {args.elements:,} (RSS also at {args.rss_elements:,}), memories {args.chroma_rows:,} x "
          f"{args.chroma_dim}-d, wide {args.wide_rows:,} x {args.wide_dim}-d; {args.repeat} rounds", flush=True)
    graph = args.work / f"graph-{args.elements}"
    mem = args.work / f"memories-{args.chroma_rows}x{args.chroma_dim}"
    figures: list[Figure] = []
    limits: list[Limit] = []
    raw: dict[str, Any] = {}

    def have(work: Path) -> bool:
        return args.keep and (work / "bundle").is_dir()

    if only & {"graph", "plan", "backup", "rss", "tick"} and not have(graph):
        print(f"generating the {args.elements:,}-element graph ...", flush=True)
        raw["genGraph"] = run_step("gen-graph", graph, BENCH_ELEMENTS=args.elements)
    if only & {"graph", "backup", "rss"}:
        print("graph merge: bare json pipeline, bare orjson pipeline, the console's restore (alternated)", flush=True)
        pairs = [("json", "bare-json", {}), ("orjson", "bare-orjson", {}), ("restore", "restore", {})]
        if args.proto:
            pairs.append(("proto", "proto", {}))
        if args.chunk:
            pairs.append(("chunk", "restore", {"BENCH_GRAPH_CHUNK": args.chunk}))
        g = alternate(args.repeat, pairs, graph)
        raw["graph"] = g
        job = [r["seconds"] - r.get("verifySeconds", 0.0) for r in g["restore"]]
        figures.append(Figure(f"graph merge {args.elements:,}, the job / json pipeline", job, secs(g["json"]),
                              "json pipeline", 0.5, {"totals": g["restore"][-1].get("totals")}))
        figures.append(Figure(f"graph merge {args.elements:,}, the job / orjson pipeline", job, secs(g["orjson"]),
                              "orjson pipeline"))
        figures.append(Figure(f"graph merge {args.elements:,} + verification / json pipeline", secs(g["restore"]),
                              secs(g["json"]), "json pipeline", None,
                              {"verification s": [round(r.get("verifySeconds", 0.0), 2) for r in g["restore"]],
                               "verdicts": [r.get("verification") for r in g["restore"]]}))
        if args.proto:
            figures.append(Figure("prototype merge / json pipeline", secs(g["proto"]), secs(g["json"]), "json pipeline",
                                  None, {"totals": g["proto"][-1].get("totals")}))
            figures.append(Figure("prototype merge / orjson pipeline", secs(g["proto"]), secs(g["orjson"]),
                                  "orjson pipeline"))
        if args.chunk:
            figures.append(Figure(f"graph merge, {args.chunk:,}-line chunks / json pipeline", secs(g["chunk"]),
                                  secs(g["json"]), "json pipeline", None,
                                  {"peak RSS MB": [r["rssMB"] for r in g["chunk"]]}))
        limits.append(Limit(f"peak RSS, graph restore {args.elements:,} (MB)", [r["rssMB"] for r in g["restore"]],
                            "MB", 150))
    if "plan" in only:
        print("plan: bare json pass, bare orjson pass, scan + plan (alternated)", flush=True)
        p = alternate(args.repeat, [("json", "parse-json", {}), ("orjson", "parse-orjson", {}), ("plan", "plan", {})],
                      graph)
        raw["plan"] = p
        figures.append(Figure(f"plan {args.elements:,} / json pass", secs(p["plan"]), secs(p["json"]), "json pass", 1.0,
                              {"totals": p["plan"][-1]["totals"], "rebuildMs": p["plan"][-1]["rebuildMs"]}))
        figures.append(Figure(f"plan {args.elements:,} / orjson pass", secs(p["plan"]), secs(p["orjson"]), "orjson pass"))
    if only & {"chroma", "backup"}:
        if not have(mem):
            print(f"generating {args.chroma_rows:,} memories ({args.chroma_dim}-d) ...", flush=True)
            raw["genMemories"] = run_step("gen-memories", mem, BENCH_ROWS=args.chroma_rows, BENCH_DIM=args.chroma_dim)
        print("Chroma merge: bare chunked add, the console's merge (alternated)", flush=True)
        c = alternate(args.repeat, [("bare", "bare-chroma", {}), ("merge", "restore-mc", {})], mem)
        raw["chroma"] = c
        figures.append(Figure(f"Chroma merge {args.chroma_rows:,} / bare add", secs(c["merge"]), secs(c["bare"]),
                              "bare add", 1.1))
    if "backup" in only:
        bwork = args.work / "backup"
        run_step("prep-backup", bwork, BENCH_GRAPH_WORK=graph, BENCH_MEM_WORK=mem)
        print("backup: sqlite3 .backup + bare paged export, the console's backup (alternated)", flush=True)
        b = alternate(args.repeat, [("bare", "bare-backup", {"BENCH_DIM": args.chroma_dim}), ("backup", "backup", {})],
                      bwork)
        raw["backup"] = b
        figures.append(Figure(f"backup (graph {args.elements:,} + {args.chroma_rows:,} memories) / .backup + export",
                              secs(b["backup"]), secs(b["bare"]), ".backup + paged export", 1.2))
    if "wide" in only:
        wide = args.work / f"memories-{args.wide_rows}x{args.wide_dim}"
        if not have(wide):
            print(f"generating {args.wide_rows:,} memories ({args.wide_dim}-d) ...", flush=True)
            run_step("gen-memories", wide, BENCH_ROWS=args.wide_rows, BENCH_DIM=args.wide_dim)
        print(f"{args.wide_dim}-d Chroma merge of {args.wide_rows:,} memories into a Chroma server (neo's "
              "deployment): the console's process", flush=True)
        with chroma_server(args.work / "chroma-server") as url:
            w = run_step("restore-mc", wide, BENCH_CHROMA_URL=url)
        raw["wide"] = w
        limits.append(Limit(f"peak RSS, {args.wide_dim}-d Chroma merge of {args.wide_rows:,}, server (MB)",
                            [w["rssMB"]], "MB", 300))
        print(f"the same into an embedded store (the vector index lives in this process: {args.wide_rows:,} x "
              f"{args.wide_dim} x 4 B = {args.wide_rows * args.wide_dim * 4 / 2**20:.0f} MiB of vectors alone), "
              "and a bare chunked add for reference", flush=True)
        raw["wideEmbedded"] = run_step("restore-mc", wide)
        if not args.quick:
            raw["wideEmbeddedBare"] = run_step("bare-chroma", wide)
    if "rss" in only:
        big = args.work / f"graph-{args.rss_elements}"
        if not have(big):
            print(f"generating the {args.rss_elements:,}-element graph ...", flush=True)
            run_step("gen-graph", big, BENCH_ELEMENTS=args.rss_elements)
        print(f"graph restore of {args.rss_elements:,} elements (peak RSS)", flush=True)
        r3 = run_step("restore", big)
        raw["rss"] = r3
        limits.append(Limit(f"peak RSS, graph restore {args.rss_elements:,} (MB)", [r3["rssMB"]], "MB", 150))
        if "graph" in raw:
            one = max(r["rssMB"] for r in raw["graph"]["restore"])
            limits.append(Limit(f"peak RSS {args.rss_elements:,} / {args.elements:,} (flat)", [r3["rssMB"] / one],
                                "x", 1.1, strict=False))
    if "tick" in only:
        for size in args.terminal.split(","):
            print(f"filter tick on the diff screen at {args.elements:,} elements, {size} ({args.ticks} ticks)",
                  flush=True)
            t = run_step("tick", graph, BENCH_TICKS=args.ticks, BENCH_TERMINAL=size)
            raw[f"tick{size}"] = t
            print(f"    wall ms {[round(x, 1) for x in t['wallMs']]}\n    work ms {[round(x, 1) for x in t['workMs']]}")
            limits.append(Limit(f"filter tick {size}, key to painted frame, median (ms)", [t["wallMedianMs"]], "ms", 50))

    total = time.perf_counter() - started
    print(f"\nresults ({total:.0f} s in all; load average at the end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}):")
    ok = True
    for f in figures:
        verdict = "" if f.passed is None else f"goal <= {f.goal}x: {'PASS' if f.passed else 'FAIL'}"
        ok &= f.passed is not False
        print(f"  {f.name:<62} min {f.min_ratio:5.2f}x  median {f.median_ratio:5.2f}x  {verdict}")
        print(f"      candidate s {[round(x, 2) for x in f.candidate]}; {f.baseline_name} s "
              f"{[round(x, 2) for x in f.baseline]}" + (f"; {f.extra}" if f.extra else ""))
    for lim in limits:
        ok &= lim.passed
        print(f"  {lim.name:<62} {', '.join(f'{v:.2f}' for v in lim.values)} {lim.unit}  "
              f"goal {'<' if lim.strict else '<='} {lim.goal}: {'PASS' if lim.passed else 'FAIL'}")
    if "wideEmbedded" in raw:
        bare = raw.get("wideEmbeddedBare")
        print(f"  (embedded store, same {args.wide_dim}-d merge: peak RSS {raw['wideEmbedded']['rssMB']:.0f} MB in "
              f"{raw['wideEmbedded']['seconds']:.0f} s" + (f"; a bare chunked add: {bare['rssMB']:.0f} MB in "
                                                           f"{bare['seconds']:.0f} s" if bare else "") + ")")
    print(f"  every goal: {'PASS' if ok else 'FAIL'}")
    out = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}, "raw": raw, "seconds": total,
           "figures": [{"name": f.name, "candidate": f.candidate, "baseline": f.baseline, "minRatio": f.min_ratio,
                        "medianRatio": f.median_ratio, "goal": f.goal, "pass": f.passed} for f in figures],
           "limits": [{"name": lim.name, "values": lim.values, "goal": lim.goal, "pass": lim.passed} for lim in limits],
           "pass": ok}
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "results.json").write_text(json.dumps(out, indent=2))
    print(f"  written to {args.work / 'results.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
