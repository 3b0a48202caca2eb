"""Today's neo bundle format (issue 11): reading `.jsonl.br` against the same bundle as `.jsonl`, and the peak RSS
of a 4096-d restore of 20,000 memories. Each timed step runs in a fresh interpreter; ru_maxrss is its own.

    .venv/bin/python -m bench.bench_format                 # 20,000 memories at 4096-d (about 1.6 GB of JSONL)
    .venv/bin/python -m bench.bench_format --quick         # 2,000 memories: a smoke run

Measures (ratios printed against the plain bundle measured in the same run):
- `verify` throughput (decoded MB/s and rows/s) of the `.jsonl.br` bundle over the same bundle as `.jsonl`;
- `diff` (scan_bundle + build_plan, against an empty data dir) throughput, same pair;
- peak RSS of `restore` of the `.jsonl.br` bundle (memories only, validation included) into an empty Chroma
  server started here on 127.0.0.1 (`chroma run`: the server's memory is its own process, as it is for neo,
  whose importer reached 1.2 GB on the same restore); goal < 300 MB. The plain bundle's restore is measured
  too, for reference.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BUNDLE = "backup-2026-09-20T03-00-00.123Z"
ROWS_FILE = "memory-backup-2026-09-20T03-05-11.002Z"


def _hwm_mb() -> float | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def _bundle(work: Path, enc: str) -> Path:
    return work / enc / BUNDLE


# ------------------------------------------------------------------------------------------- the steps


def step_gen(work: Path) -> dict[str, Any]:
    """One bundle of N memories at D dims, written plain, then the same rows brotli-encoded (neo's quality 4)."""
    import numpy as np
    import orjson

    from core.codec import PayloadWriter

    n, dim = int(os.environ["BENCH_ROWS"]), int(os.environ["BENCH_DIM"])
    rng = np.random.default_rng(11)
    started = time.perf_counter()
    sizes = {}
    for enc, suffix in (("jsonl", ".jsonl"), ("br", ".jsonl.br")):
        b = _bundle(work, enc)
        for sub in ("kb", "mc", "graph", "concepts", "trajectories"):
            (b / sub).mkdir(parents=True, exist_ok=True)
        path = b / "mc" / f"{ROWS_FILE}{suffix}"
        with PayloadWriter(path) as w:
            for start in range(0, n, 500):
                # float32 values printed as JavaScript prints the doubles Chroma hands back (~20 chars each)
                block = rng.standard_normal((min(500, n - start), dim)).astype(np.float32).astype(np.float64)
                for i, vec in enumerate(block, start=start):
                    w.write_raw(orjson.dumps({"id": f"memory-{i}", "embedding": vec,
                                              "metadata": {"sessionId": f"s{i % 97}", "i": i},
                                              "document": f"memory {i}"}, option=orjson.OPT_SERIALIZE_NUMPY))
        sizes[enc] = {"disk": path.stat().st_size, "decoded": w.decoded_bytes}
        meta = {"bundleVersion": 1, "timestamp": BUNDLE[7:], "completedAt": "2026-09-20T03:41:07.456Z",
                "subsystems": {"mc": {"memories": {"payloadEncoding": "jsonl+br" if enc == "br" else "jsonl"}}},
                "integrity": [{"subsystem": "kb", "status": "empty", "sourceCount": 0, "bundleCount": 0},
                              {"subsystem": "mc", "status": "pass", "sourceCount": n, "bundleCount": n},
                              {"subsystem": "graph", "status": "empty", "sourceCount": 0, "bundleCount": 0}],
                "topology": {"shared_topology": True},
                "embedding": {"counts": {"kb": 0, "memories": n, "summaries": 0}, "dimension": dim,
                              "schemaVersion": 1}}
        (b / "bundle-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return {"seconds": time.perf_counter() - started, "sizes": sizes}


def step_verify(work: Path) -> dict[str, Any]:
    from core.verify import verify_bundle

    b = _bundle(work, os.environ["BENCH_ENC"])
    started = time.perf_counter()
    res = verify_bundle(b)
    return {"seconds": time.perf_counter() - started, "verdict": res.verdict, "rows": res.row_total}


def step_diff(work: Path) -> dict[str, Any]:
    from core.datadir import resolve
    from core.live_scan import scan_bundle
    from core.plan import build_plan

    dd = resolve(work / f"empty-{os.environ['BENCH_ENC']}" / ".neo-ai-data", env={})
    b = _bundle(work, os.environ["BENCH_ENC"])
    started = time.perf_counter()
    plan = build_plan(scan_bundle(dd, b))
    return {"seconds": time.perf_counter() - started, "rows": plan.memories.backup,
            "wouldInsert": plan.memories.would_insert}


def step_restore(work: Path) -> dict[str, Any]:
    from core.datadir import resolve
    from core.restore import run_restore
    from core.restore_model import RestoreOptions

    enc = os.environ["BENCH_ENC"]
    dd = resolve(work / f"restore-{enc}" / ".neo-ai-data", chroma_url=os.environ["BENCH_CHROMA_URL"], env={})
    started = time.perf_counter()
    res = run_restore(dd, _bundle(work, enc), RestoreOptions(only_substrate=["mc"]))
    assert res.mc is not None
    return {"seconds": time.perf_counter() - started, "inserted": res.mc.counts.memories.inserted,
            "failed": res.failures_total}


def step_decode(work: Path) -> dict[str, Any]:
    """The baseline for the .jsonl.br figures: the brotli library alone streaming the payload (no lines, no
    parsing), in the same 256 KiB steps, and the console's reader yielding its lines without parsing them."""
    import brotli

    from core import codec

    path = next((_bundle(work, "br") / "mc").glob("*.jsonl.br"))
    started = time.perf_counter()
    d, n = brotli.Decompressor(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(codec.IN_CHUNK):
            n += len(d.process(chunk))
    bare = time.perf_counter() - started
    started = time.perf_counter()
    lines = 0
    with codec.open_decoded(path) as fh:
        for _ in fh:
            lines += 1
    return {"seconds": bare, "decodedBytes": n, "linesSeconds": time.perf_counter() - started, "lines": lines}


STEPS = {"gen": step_gen, "verify": step_verify, "diff": step_diff, "restore": step_restore,
         "decode": step_decode}


def run_step(name: str, work: Path, **env: object) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.bench_format", "--work", str(work), "--step", name],
                         env={**os.environ, **{k: str(v) for k, v in env.items()}}, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    label = f"{name} {env.get('BENCH_ENC', '')}".strip()
    print(f"  {label:<16} {result['seconds']:8.2f} s  peak RSS {result['rssMB']:7.1f} MB", flush=True)
    return result


@contextlib.contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
                break
            time.sleep(0.2)
        else:
            raise SystemExit("chroma run did not come up")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/recovery-console-bench-format"))
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--quick", action="store_true", help="1/10 of the rows: a smoke run")
    ap.add_argument("--skip-restore", action="store_true")
    ap.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        result = STEPS[args.step](args.work)
        result["rssMB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["hwmMB"] = _hwm_mb()
        print(json.dumps(result))
        return 0
    if args.quick:
        args.rows //= 10
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    started = time.perf_counter()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.rows:,} memories at {args.dim}-d", flush=True)
    gen = run_step("gen", args.work, BENCH_ROWS=args.rows, BENCH_DIM=args.dim)
    sizes = gen["sizes"]
    decoded = sizes["jsonl"]["decoded"]
    print(f"  payload: {decoded / 1e6:,.0f} MB as .jsonl, {sizes['br']['disk'] / 1e6:,.0f} MB as .jsonl.br "
          f"({decoded / sizes['br']['disk']:.2f}x smaller)", flush=True)
    r: dict[str, dict[str, Any]] = {}
    for step in ("verify", "diff"):
        for enc in ("jsonl", "br"):
            r[f"{step}-{enc}"] = run_step(step, args.work, BENCH_ENC=enc)
    r["decode"] = run_step("decode", args.work)
    if not args.skip_restore:
        for enc in ("br", "jsonl"):
            with chroma_server(args.work / f"chroma-{enc}") as url:  # an empty server each
                r[f"restore-{enc}"] = run_step("restore", args.work, BENCH_ENC=enc, BENCH_CHROMA_URL=url)
            assert r[f"restore-{enc}"]["inserted"] == args.rows, r[f"restore-{enc}"]
            shutil.rmtree(args.work / f"chroma-{enc}", ignore_errors=True)
    print(f"\nresults ({time.perf_counter() - started:.0f} s in all):")
    for step in ("verify", "diff"):
        plain, br = r[f"{step}-jsonl"], r[f"{step}-br"]
        mbps = {k: decoded / 1e6 / v["seconds"] for k, v in (("jsonl", plain), ("br", br))}
        print(f"  {step:<7} .jsonl.br {mbps['br']:6.1f} MB/s ({args.rows / br['seconds']:,.0f} rows/s)  vs .jsonl "
              f"{mbps['jsonl']:6.1f} MB/s ({args.rows / plain['seconds']:,.0f} rows/s): "
              f"{plain['seconds'] / br['seconds']:.2f}x the plain throughput")
    dec = r["decode"]
    print(f"  baseline: the brotli library alone decodes it at {decoded / 1e6 / dec['seconds']:.1f} MB/s; the "
          f"console's reader yields its lines at {decoded / 1e6 / dec['linesSeconds']:.1f} MB/s")
    if not args.skip_restore:
        for enc in ("br", "jsonl"):
            x = r[f"restore-{enc}"]
            print(f"  restore .{'jsonl.br' if enc == 'br' else 'jsonl'} of {args.rows:,} x {args.dim}-d: peak RSS "
                  f"{x['rssMB']:.0f} MB ({x['seconds']:.0f} s); goal < 300 MB: "
                  f"{'PASS' if x['rssMB'] < 300 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
