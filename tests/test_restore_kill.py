"""kill -9 a real `recovery-console restore` at random moments, re-run it, and compare with an uninterrupted run.

The stores must be consistent after every kill (SQLite transactions per batch, Chroma add is idempotent),
the re-run must end in exactly the uninterrupted state, and the journal must attribute every row to the run
that really inserted it: undoing every run brings the data dir back to where it started.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from core.datadir import DataDir, resolve
from core.journal import list_runs
from core.staging import staging_path
from core.undo import undo_run
from tests.builders import (
    chroma_state,
    edge,
    graph_state,
    live_graph,
    live_vectors,
    node,
    same_chroma,
    vec,
    write_bundle,
)

CLI = [sys.executable, "-m", "console"]
N_NODES = 40_000
N_EDGES = 40_000
N_MEMORIES = 1_500


def build_base(root: Path) -> tuple[DataDir, Path]:
    rng = random.Random(3)
    dd = resolve(root, env={})
    nodes = [node(f"n{i:06d}", ("CONCEPT", "FILE", "ISSUE", "KB_GAP")[i % 4], text="x" * 120) for i in range(N_NODES)]
    edges = [edge(f"e{i:06d}", f"n{rng.randrange(N_NODES):06d}", f"n{rng.randrange(N_NODES):06d}",
                  ("RELATES_TO", "CONTAINS")[i % 2]) for i in range(N_EDGES)]
    # live after the "wipe": every 3rd node, the edges between live nodes, some memories
    live_nodes = nodes[::3]
    live_ids = {n["id"] for n in live_nodes}
    live_graph(dd, live_nodes, [e for e in edges[: N_EDGES // 4] if e["source"] in live_ids and e["target"] in live_ids])
    memories = [vec(f"m{i:05d}", dim=16) for i in range(N_MEMORIES)]
    live_vectors(dd, "memories", memories[::5])
    bundle = write_bundle(dd.backup_root, nodes=nodes, edges=edges, memories=memories,
                          summaries=[vec(f"s{i}", dim=16) for i in range(50)], dimension=16,
                          concepts={"nodes.jsonl": '{"id":"c"}\n'}, trajectories='{"t":1}\n')
    return dd, bundle


def restore_cmd(dd: DataDir, bundle: Path) -> list[str]:
    return [*CLI, "--data-dir", str(dd.root), "restore", str(bundle), "--filter-labels=KB_GAP", "--json"]


def run_to_end(dd: DataDir, bundle: Path) -> dict:
    out = subprocess.run(restore_cmd(dd, bundle), capture_output=True, check=True, timeout=300)
    return orjson.loads(out.stdout)


def kill_during_writes(dd: DataDir, bundle: Path, rng: random.Random, window: float) -> bool:
    """Start the restore, wait until it journals its first write, kill -9 at a random moment after that."""
    earlier = set(dd.runs_dir.glob("*")) if dd.runs_dir.exists() else set()
    proc = subprocess.Popen(restore_cmd(dd, bundle), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        fresh = [p / "ids.jsonl" for p in dd.runs_dir.glob("*") if p not in earlier] if dd.runs_dir.exists() else []
        if any(f.exists() and f.stat().st_size > 0 for f in fresh):
            break
        time.sleep(0.01)
    time.sleep(rng.uniform(0, window))
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return killed


def snapshot(dd: DataDir) -> tuple:
    return (graph_state(dd), chroma_state(dd, "memories"), chroma_state(dd, "summaries"),
            sorted(p.name for p in dd.concepts_dir.glob("*")) if dd.concepts_dir.exists() else [],
            dd.trajectories_file.read_bytes() if dd.trajectories_file.exists() else None)


def same(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and same_chroma(a[1], b[1]) and same_chroma(a[2], b[2]) and a[3:] == b[3:]


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_kill_9_and_rerun_ends_in_the_uninterrupted_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          processes: int) -> None:
    """``processes``: 2 validates and stages the graph file in two halves at once (a helper process takes the
    second), as a large file is; every kill and re-run must end the same."""
    monkeypatch.setenv("RECOVERY_CONSOLE_SPLIT_MIN_BYTES", "1" if processes == 2 else str(1 << 62))
    seed = int(os.environ.get("KILL_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    base, bundle = build_base(tmp_path / "base")
    base_state = snapshot(base)
    shutil.copytree(base.root, tmp_path / "a")
    shutil.copytree(base.root, tmp_path / "b")
    a, b = resolve(tmp_path / "a", env={}), resolve(tmp_path / "b", env={})
    bundle_a = a.backup_root / bundle.name
    bundle_b = b.backup_root / bundle.name

    started = time.monotonic()
    reference = run_to_end(a, bundle_a)
    took = time.monotonic() - started
    assert reference["status"] == "completed" and reference["failuresTotal"] == 0

    kills = [kill_during_writes(b, bundle_b, rng, window=took * 0.6) for _ in range(2)]
    final = run_to_end(b, bundle_b)
    assert final["status"] == "completed", f"seed {seed}"
    assert same(snapshot(b), snapshot(a)), f"seed {seed}, kills {kills}"
    # the counts of the two paths add up: what the killed runs committed is skipped by the last one
    ref_g = reference["subsystems"]["graph"]["counts"]["graph"]["nodes"]
    fin_g = final["subsystems"]["graph"]["counts"]["graph"]["nodes"]
    assert ref_g["inserted"] + ref_g["skippedExisting"] == fin_g["inserted"] + fin_g["skippedExisting"]
    assert final["subsystems"]["graph"]["filterStats"] == reference["subsystems"]["graph"]["filterStats"]

    # every row is attributed to exactly the run that inserted it: undoing all of them restores the base
    runs = list_runs(b)
    assert len(runs) == 3 and runs[0].status == "completed"
    assert {r.status for r in runs[1:]} <= {"interrupted", "completed"}, f"seed {seed}"
    for r in runs:
        undo_run(b, r.run_id)
    assert same(snapshot(b), base_state), f"seed {seed}, kills {kills}"


def test_kill_9_while_staging_leaves_the_live_rows_as_they_were_and_no_staging_file_after_the_next_run(
        tmp_path: Path) -> None:
    """The graph is staged (parsed into a file in the data dir) during validation, before the first write. A
    restore killed there leaves the live graph byte-identical and its staging file behind; the next run of any
    restore removes it, and a run that finishes leaves none."""
    dd, bundle = build_base(tmp_path / "dd")
    staging = staging_path(dd)
    before = dd.graph_db.read_bytes(), graph_state(dd)
    proc = subprocess.Popen(restore_cmd(dd, bundle), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if staging.exists() and staging.stat().st_size > 1 << 20:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the restore ended before it was seen staging"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert staging.exists()  # what a kill leaves
    assert (dd.graph_db.read_bytes(), graph_state(dd)) == before
    assert oct(staging.stat().st_mode & 0o777) == oct(0o600)  # staged rows are agent memories: owner-only

    # the next run, even one that restores no graph, clears it first (under the data dir lock)
    out = subprocess.run([*CLI, "--data-dir", str(dd.root), "restore", str(bundle), "--only-substrate=concepts",
                          "--json"], capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert not staging.exists() and not list(staging.parent.iterdir())
    run_to_end(dd, bundle)
    assert not staging.exists() and not list(staging.parent.iterdir())


def _helpers_of(pid: int) -> list[int]:
    """The staging helper processes whose parent is ``pid``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"stage_half_main" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_while_two_processes_stage_stops_the_helper_too_and_writes_nothing(tmp_path: Path) -> None:
    """A large graph file is validated in two halves at once, the second by a helper process staging into a file
    of its own. kill -9 of the restore then: the helper dies with it (it would stage on for nothing), the live
    graph is byte-identical, and the next run clears both staging files and restores as usual."""
    dd, bundle = build_base(tmp_path / "dd")
    second = staging_path(dd).with_name("graph-2.sqlite")
    before = dd.graph_db.read_bytes(), graph_state(dd)
    env = {**os.environ, "RECOVERY_CONSOLE_SPLIT_MIN_BYTES": "1"}
    proc = subprocess.Popen(restore_cmd(dd, bundle), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    helpers: list[int] = []
    while proc.poll() is None and time.monotonic() < deadline:
        helpers = helpers or _helpers_of(proc.pid)
        if helpers and second.exists():  # the helper has begun its half, which takes it a good second more
            break
        time.sleep(0.005)
    assert proc.poll() is None and helpers, "the restore ended before both halves were seen staging"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 0.3  # the signal is immediate; finishing its half would take far longer
    while time.monotonic() < deadline and any(map(_running, helpers)):
        time.sleep(0.05)
    assert not any(map(_running, helpers)), "the helper outlived the restore"
    assert (dd.graph_db.read_bytes(), graph_state(dd)) == before

    final = subprocess.run(restore_cmd(dd, bundle), capture_output=True, timeout=300, env=env)
    assert final.returncode == 0, final.stderr
    assert orjson.loads(final.stdout)["status"] == "completed"
    assert not list(staging_path(dd).parent.iterdir())
