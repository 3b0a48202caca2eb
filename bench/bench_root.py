"""Backup-root benchmark (issues 10 and 16): how long a look at a big root takes, against the bare minimum.

    .venv/bin/python -m bench.bench_root                       # 300 and 1,000 bundles of ~53 MB each
    .venv/bin/python -m bench.bench_root --sizes 300 --repeat 5
    .venv/bin/python -m bench.bench_root --quick               # 30 bundles of ~5 MB: a smoke run

The root is neo-shaped (no checksums, integrity and embedding counts in the meta, export receipts naming each
payload). One template bundle is generated; every other bundle hard-links its payloads (so 300 x 53 MB costs
53 MB of disk) and gets its own meta, one hour apart, the newest a few minutes old.

Every timed step runs in a fresh interpreter; its time *beyond interpreter start-up* is its wall time minus
that of `python -c pass` (median of the repeats each). The baseline is the bare pass a look cannot beat:
read every bundle's `bundle-meta.json` and lstat every file, nothing else. Goals (issue 10): `list --json`
< 1 s, `retention --json` < 1 s, `guard` (warm verify cache) < 0.5 s, the TUI's first paint of the bundle
list (Pilot, until the table shows every bundle) < 1 s. The cold guard (empty cache: it verifies the newest
bundle of each required substrate, issue 16) is reported with no goal but its bound: one bundle's read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

PY = sys.executable
REPO = Path(__file__).resolve().parent.parent
STAMP = "2026-05-10T01-11-23.456Z"
GOALS = {"list": 1.0, "retention": 1.0, "guard": 0.5, "tui": 1.0}


# ------------------------------------------------------------------------------------------- the root


def _vector_line(prefix: str, i: int, dim: int) -> bytes:
    emb = [round(((i * 31 + j * 17) % 1000) / 1000 - 0.5, 6) for j in range(dim)]
    return orjson.dumps({"id": f"{prefix}-{i:07d}", "embedding": emb, "document": f"{prefix} row {i} " * 4,
                         "metadata": {"n": i, "kind": prefix}}) + b"\n"


def _graph_line(i: int, nodes: int) -> bytes:
    if i < nodes:
        return orjson.dumps({"type": "node", "data": {"id": f"n{i:07d}", "label": "CONCEPT", "name": f"node {i}",
                                                      "properties": {"weight": i % 13, "note": "x" * 80}}}) + b"\n"
    a = i - nodes
    return orjson.dumps({"type": "edge", "data": {"id": f"e{a:07d}", "source": f"n{a % nodes:07d}",
                                                  "target": f"n{(a * 7 + 1) % nodes:07d}", "type": "RELATES_TO",
                                                  "properties": {"w": a % 5}}}) + b"\n"


def make_template(dest: Path, scale: float) -> dict[str, int]:
    """One bundle's payloads (~53 MB at scale 1); returns the row counts."""
    counts = {"kb": int(5900 * scale), "memories": int(5000 * scale), "summaries": int(740 * scale),
              "nodes": int(66000 * scale), "edges": int(81000 * scale)}
    files = {"kb": dest / "kb" / f"knowledge-base-backup-{STAMP}.jsonl",
             "memories": dest / "mc" / f"memory-backup-{STAMP}.jsonl",
             "summaries": dest / "mc" / f"summaries-backup-{STAMP}.jsonl",
             "graph": dest / "graph" / f"graph-backup-{STAMP}.jsonl"}
    for f in files.values():
        f.parent.mkdir(parents=True, exist_ok=True)
    for key, prefix in (("kb", "kb"), ("memories", "mem"), ("summaries", "sum")):
        with open(files[key], "wb") as fh:
            for i in range(counts[key]):
                fh.write(_vector_line(prefix, i, 384))
    with open(files["graph"], "wb") as fh:
        for i in range(counts["nodes"] + counts["edges"]):
            fh.write(_graph_line(i, counts["nodes"]))
    for sub, name in (("concepts", "nodes.jsonl"), ("trajectories", "trajectories.jsonl"),
                      ("mailbox", "sent-to-cull.jsonl")):
        (dest / sub).mkdir(exist_ok=True)
        (dest / sub / name).write_bytes(b'{"id": "c1"}\n' * 50)
    return counts


def _meta(name: str, path: Path, counts: dict[str, int]) -> dict[str, Any]:
    mc = counts["memories"] + counts["summaries"]
    graph = counts["nodes"] + counts["edges"]

    def cap(source: str, rows: int) -> dict[str, Any]:
        return {"source": source, "rowCount": rows, "rowState": "populated", "lineage": "same",
                "collectionId": f"id-{source}", "comparedBundle": None, "previousRowCount": rows,
                "provenEmpty": False, "collapsed": False}

    return {
        "bundleVersion": 1, "timestamp": name.removeprefix("backup-"),
        "completedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "subsystems": {
            "kb": {"message": f"Export complete. Exported {counts['kb']} knowledge base chunks.",
                   "count": counts["kb"], "backupFile": str(path / "kb" / f"knowledge-base-backup-{STAMP}.jsonl")},
            "mc": {"message": f"Export complete. Exported {counts['memories']} memories, {counts['summaries']} "
                              "summaries, 0 temporal summaries, and 0 graph elements.", "count": mc,
                   "memories": {"backupFile": str(path / "mc" / f"memory-backup-{STAMP}.jsonl"),
                                "exported": counts["memories"]},
                   "summaries": {"backupFile": str(path / "mc" / f"summaries-backup-{STAMP}.jsonl"),
                                 "exported": counts["summaries"]}},
            "graph": {"message": f"Export complete. ... and {graph} graph elements.", "count": graph,
                      "graph": {"backupFile": str(path / "graph" / f"graph-backup-{STAMP}.jsonl"),
                                "exported": graph}},
            "concepts": {"copied": 1}, "trajectories": {"copied": 1}, "mailbox": {"copied": 1},
        },
        "integrity": [{"subsystem": "kb", "status": "pass", "sourceCount": counts["kb"], "bundleCount": counts["kb"]},
                      {"subsystem": "mc", "status": "pass", "sourceCount": mc, "bundleCount": mc},
                      {"subsystem": "graph", "status": "pass", "sourceCount": graph, "bundleCount": graph}],
        "capture": {"schemaVersion": 1, "comparedTo": None,
                    "sources": {"kb": cap("kb", counts["kb"]), "mc.memories": cap("mc.memories", counts["memories"]),
                                "mc.summaries": cap("mc.summaries", counts["summaries"])}},
        "topology": {"shared_topology": True},
        "embedding": {"counts": {"kb": counts["kb"], "memories": counts["memories"], "summaries": counts["summaries"]},
                      "dimension": 384, "schemaVersion": 1},
        "neoVersion": "12.2.0", "gitSha": None,
    }


def make_root(root: Path, template: Path, counts: dict[str, int], n: int) -> None:
    """n bundles one hour apart, the newest 5 minutes old, payloads hard-linked to the template's."""
    root.mkdir(parents=True)
    newest = datetime.now(UTC) - timedelta(minutes=5)
    members = [p.relative_to(template) for p in sorted(template.rglob("*")) if p.is_file()]
    for i in range(n):
        t = newest - timedelta(hours=i)
        name = "backup-" + t.strftime("%Y-%m-%dT%H-%M-%S.") + f"{t.microsecond // 1000:03d}Z"
        b = root / name
        for sub in ("kb", "mc", "graph", "concepts", "trajectories", "mailbox"):
            (b / sub).mkdir(parents=True)
        for rel in members:
            os.link(template / rel, b / rel)
        (b / "bundle-meta.json").write_bytes(orjson.dumps(_meta(name, b, counts), option=orjson.OPT_INDENT_2))


def root_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


# ------------------------------------------------------------------------------------------ the steps


def bare_pass(root: str) -> int:
    """The floor of any look: parse every meta, lstat every file. Returns the files seen."""
    seen = 0
    stack = [e.path for e in os.scandir(root) if e.name.startswith("backup-") and e.is_dir(follow_symlinks=False)]
    for bundle in stack:
        with open(os.path.join(bundle, "bundle-meta.json"), "rb") as fh:
            orjson.loads(fh.read())
        dirs = [bundle]
        while dirs:
            for e in os.scandir(dirs.pop()):
                st = e.stat(follow_symlinks=False)
                if e.is_dir(follow_symlinks=False):
                    dirs.append(e.path)
                seen += st.st_size > -1
    return seen


TUI_SCRIPT = """
import asyncio, sys, time
t0 = time.perf_counter()
from console.factory import make_app
from core.datadir import resolve
from widgets.table import DataTable
data_dir, backup_root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t_import = time.perf_counter()

async def main():
    app = make_app(resolve(data_dir, backup_root=backup_root))
    async with app.run_test(size=(120, 40)):
        while True:
            tables = app.screen.query("#bundles").results(DataTable)
            if any(t.row_count >= n for t in tables):
                break
            await asyncio.sleep(0.005)
        t_paint = time.perf_counter()
    print(f"{t_import - t0:.4f} {t_paint - t_import:.4f}")

asyncio.run(main())
"""


def run_step(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def cli(dd: Path, root: Path, *args: str) -> list[str]:
    return [PY, "-m", "console", "--data-dir", str(dd), "--backup-root", str(root), *args]


def tui_argv(dd: Path, root: Path, n: int) -> list[str]:
    return [PY, "-c", TUI_SCRIPT, str(dd), str(root), str(n)]


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def measure(name: str, argv: list[str], env: dict[str, str], repeat: int, startup: float,
            before: Any = None) -> dict[str, Any]:
    walls: list[float] = []
    inner: list[float] = []
    for _ in range(repeat):
        if before is not None:
            before()
        wall, out = run_step(argv, env)
        walls.append(wall)
        if name == "tui":  # from the script's first line to the table showing every bundle; no teardown
            imp, paint = (float(x) for x in out.split()[-2:])
            inner.append((imp + paint, paint))
    wall = median(walls)
    row = {"step": name, "wall": wall, "beyond": max(wall - startup, 0.0), "walls": walls}
    if inner:
        row["beyond"] = median([a for a, _ in inner])
        row["paint"] = median([b for _, b in inner])
    return row


def bench_size(work: Path, template: Path, counts: dict[str, int], n: int, repeat: int, env: dict[str, str],
               startup: float, skip_tui: bool) -> list[dict[str, Any]]:
    root = work / f"root-{n}"
    dd = work / f"dd-{n}"
    if not root.exists():
        print(f"building a root of {n} bundles ...", flush=True)
        make_root(root, template, counts, n)
    dd.mkdir(exist_ok=True)
    state = dd / "recovery-console"
    logical = n * sum(f.stat().st_size for f in template.rglob("*") if f.is_file())
    print(f"\n== {n} bundles, {logical / 1e9:.1f} GB as listed (hard-linked payloads)", flush=True)
    rows = [measure("bare", [PY, "-c", f"from bench.bench_root import bare_pass; bare_pass({str(root)!r})"], env,
                    repeat, startup)]

    def clear_cache() -> None:
        shutil.rmtree(state, ignore_errors=True)

    rows.append(measure("guard-cold", cli(dd, root, "guard", "--json"), env, repeat, startup, before=clear_cache))
    run_step(cli(dd, root, "guard", "--json"), env)  # warm the cache once
    rows.append(measure("list", cli(dd, root, "list", "--json"), env, repeat, startup))
    rows.append(measure("retention", cli(dd, root, "retention", "--json"), env, repeat, startup))
    rows.append(measure("guard", cli(dd, root, "guard", "--json"), env, repeat, startup))
    if not skip_tui:
        rows.append(measure("tui", tui_argv(dd, root, n), env, repeat, startup))
    return rows


def report(n: int, rows: list[dict[str, Any]], startup: float) -> bool:
    bare = next(r for r in rows if r["step"] == "bare")
    ok = True
    print(f"  {'step':<12} {'wall':>8} {'beyond start-up':>16} {'x bare pass':>12}  goal")
    for r in rows:
        goal = GOALS.get(r["step"])
        ratio = r["beyond"] / bare["beyond"] if bare["beyond"] > 0 else float("nan")
        verdict = ""
        if goal is not None:
            passed = r["beyond"] < goal
            ok &= passed
            verdict = f"< {goal:g} s  {'PASS' if passed else 'FAIL'}"
        extra = f"  (paint after imports {r['paint']:.3f} s)" if "paint" in r else ""
        print(f"  {r['step']:<12} {r['wall']:>7.3f}s {r['beyond']:>15.3f}s {ratio:>11.1f}x  {verdict}{extra}")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench-root"))
    p.add_argument("--sizes", default="300,1000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="30 bundles of ~5 MB")
    p.add_argument("--skip-tui", action="store_true")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    sizes = [30] if args.quick else [int(s) for s in args.sizes.split(",")]
    work = args.work / ("quick" if args.quick else "full")
    template = work / "template"
    counts_file = work / "template-counts.json"
    if not counts_file.exists():
        shutil.rmtree(work, ignore_errors=True)
        print(f"generating the template bundle (scale {scale}) ...", flush=True)
        counts = make_template(template, scale)
        counts_file.write_text(json.dumps(counts))
    counts = json.loads(counts_file.read_text())
    size = sum(f.stat().st_size for f in template.rglob("*") if f.is_file())
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_ANIMATIONS")}
    env["PYTHONPATH"] = str(REPO)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}; template bundle {size / 1e6:.1f} MB ({counts})")
    startup = median([run_step([PY, "-c", "pass"], env)[0] for _ in range(max(args.repeat, 3))])
    print(f"interpreter start-up (python -c pass): {startup * 1000:.0f} ms")
    ok = True
    figures: dict[str, Any] = {"startup": startup, "template_bytes": size, "sizes": {}}
    for n in sizes:
        rows = bench_size(work, template, counts, n, args.repeat, env, startup, args.skip_tui)
        ok &= report(n, rows, startup)
        figures["sizes"][str(n)] = rows
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    print("ALL GOALS PASS" if ok else "SOME GOALS FAIL")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
