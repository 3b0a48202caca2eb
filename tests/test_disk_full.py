"""A full disk during backup or restore is one clean error naming the path, never a torn bundle or half a batch.

Two ways in: the error injected at a chosen point (always runs), and a real full filesystem, a small tmpfs
(runs where the test may mount one, i.e. as root with CAP_SYS_ADMIN; skipped with the reason elsewhere).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import core.graph_store
import core.jsonl
import core.restore_graph
import core.staging
from console.cli import main
from core.bundle import list_bundles
from core.datadir import DataDir, resolve
from core.journal import committed_batches, list_runs, pairs
from tests.builders import chain_graph, edge, graph_state, insert_graph, live_graph, node, vec, write_bundle

CLI = [sys.executable, "-m", "console"]
# the real CLI in a process of its own, merging in 50,000-line chunks: the full-disk cases' bundles are small
# enough to run in seconds, and still span several chunks, so a disk that fills mid-merge has committed some
CLI_SMALL_CHUNKS = [sys.executable, "-c", "import sys, core.restore_graph as g; g.GRAPH_WRITE_BATCH = 50_000; "
                    "from console.cli import main; sys.exit(main(sys.argv[1:]))"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def disk_full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def sqlite_full() -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database or disk is full")
    exc.sqlite_errorcode, exc.sqlite_errorname = 13, "SQLITE_FULL"  # what sqlite3 sets on a real one
    return exc


# ------------------------------------------------------------------------------------------ backup, injected


def test_backup_on_a_full_disk_publishes_nothing_and_says_where(data_dir: DataDir, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    insert_graph(data_dir, *chain_graph(3000))
    real = core.jsonl.JsonlWriter.write_raw
    written = {"n": 0}

    def write_raw(self: core.jsonl.JsonlWriter, line: bytes) -> None:
        written["n"] += 1
        if written["n"] > 2500:  # mid-way through the graph file
            raise disk_full()
        real(self, line)

    real_block = core.jsonl.JsonlWriter.write_block

    def write_block(self: core.jsonl.JsonlWriter, block: bytes, lines: int) -> None:  # the graph's pages
        written["n"] += lines
        if written["n"] > 2500:
            raise disk_full()
        real_block(self, block, lines)

    monkeypatch.setattr(core.jsonl.JsonlWriter, "write_raw", write_raw)
    monkeypatch.setattr(core.jsonl.JsonlWriter, "write_block", write_block)
    code, out, err = run(capsys, "--data-dir", str(data_dir.root), "backup", "--no-prune", "--json")
    assert code == 1
    assert out["error"]["code"] == "NO_SPACE" and out["error"]["file"] == str(data_dir.backup_root)
    assert "nothing was published" in out["error"]["message"]
    assert err.count("\n") == 1 and err.startswith(f"recovery-console: error: {data_dir.backup_root}: no space")
    listing = list_bundles(data_dir.backup_root)
    assert listing.bundles == () and listing.residue == ()  # no torn bundle, and the staging dir is gone
    assert os.listdir(data_dir.backup_root) == []


# ------------------------------------------------------------------------------------------ restore, injected


class FullAfter:
    """A graph connection that runs out of space at the n-th batch: at its COMMIT, or at its first write."""

    def __init__(self, conn: sqlite3.Connection, at_batch: int, where: str) -> None:
        self._conn, self._at, self._where, self._batches = conn, at_batch, where, 0

    def _full_now(self) -> bool:
        return self._batches >= self._at

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "BEGIN IMMEDIATE":
            self._batches += 1
        if self._full_now() and ((self._where == "commit" and sql == "COMMIT") or
                                 (self._where == "write" and sql.lstrip().upper().startswith("INSERT"))):
            raise sqlite_full()
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> Any:
        if self._full_now() and self._where == "write":
            raise sqlite_full()
        return self._conn.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def incident(root: Path) -> tuple[DataDir, Path]:
    dd = resolve(root, env={})
    nodes = [node(f"n{i:05d}", ("CONCEPT", "FILE")[i % 2]) for i in range(5000)]
    edges = [edge(f"e{i:05d}", f"n{i:05d}", f"n{(i * 7) % 5000:05d}", "RELATES_TO") for i in range(5000)]
    live_graph(dd, nodes[::4], [])
    bundle = write_bundle(dd.backup_root, nodes=nodes, edges=edges, memories=[vec(f"m{i}") for i in range(40)])
    return dd, bundle


@pytest.mark.parametrize("where", ["commit", "write"])
def test_restore_on_a_full_disk_keeps_whole_batches_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    base, _ = incident(tmp_path / "base")
    shutil.copytree(base.root, tmp_path / "ref")
    shutil.copytree(base.root, tmp_path / "b")
    ref, b = resolve(tmp_path / "ref", env={}), resolve(tmp_path / "b", env={})
    monkeypatch.setattr(core.restore_graph, "GRAPH_WRITE_BATCH", 1000)
    code, reference, _ = run(capsys, "--data-dir", str(ref.root), "restore", "latest", "--json")
    assert code == 0 and reference["status"] == "completed"

    real_open = core.graph_store.connect_for_restore
    monkeypatch.setattr(core.graph_store, "connect_for_restore",
                        lambda path: FullAfter(real_open(path), at_batch=3, where=where))
    code, out, err = run(capsys, "--data-dir", str(b.root), "restore", "latest", "--json")
    assert code == 1, out
    assert out["error"]["code"] == "NO_SPACE" and out["error"]["file"] == str(b.graph_db), out
    assert "run the same restore again" in out["error"]["message"]
    assert err.count("\n") == 1 and "Traceback" not in err
    # exactly the two batches that committed are in the graph: nothing of the third
    (run_rec,) = list_runs(b)
    assert run_rec.status == "failed"
    journaled = {rid for rec in committed_batches(run_rec.path, "graph") for rid, _crc in pairs(rec, "nodes")}
    nodes, _ = graph_state(b)
    live_before, _ = graph_state(base)
    assert len(journaled) == 2 * 750  # 1000-line batches, a quarter of them live already
    assert set(nodes) == set(live_before) | journaled

    monkeypatch.setattr(core.graph_store, "connect_for_restore", real_open)
    code, final, _ = run(capsys, "--data-dir", str(b.root), "restore", "latest", "--json")
    assert code == 0 and final["status"] == "completed"
    assert graph_state(b) == graph_state(ref)


def test_a_full_disk_in_chroma_is_not_a_pile_of_failed_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    dd, _ = incident(tmp_path / "dd")
    from chromadb.api.models.Collection import Collection

    def add(self: Any, *a: Any, **k: Any) -> None:
        # the text chroma's Rust bindings pass through from their SQLite
        raise RuntimeError("error returned from database: (code: 13) database or disk is full")

    monkeypatch.setattr(Collection, "add", add)
    code, out, _ = run(capsys, "--data-dir", str(dd.root), "restore", "latest", "--json")
    assert code == 1
    assert out["error"]["code"] == "NO_SPACE" and out["error"]["file"] == str(dd.chroma_path), out
    (run_rec,) = list_runs(dd)
    assert run_rec.status == "failed" and not (run_rec.counts or {}).get("failures")


# ------------------------------------------------------------------------------------------ a real full disk


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Any]:
    """mount(size) -> a fresh tmpfs of that many KiB; unmounted at the end."""
    mounted: list[Path] = []

    def mount(kib: int) -> Path:
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        if not shutil.which("mount"):
            pytest.skip("no mount command")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0755", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {proc.stderr.strip()}")
        mounted.append(where)
        return where

    def grow(where: Path, kib: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={kib}k", str(where)], check=True)

    mount.grow = grow  # type: ignore[attr-defined]
    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_backup_onto_a_real_full_disk(tmp_path: Path, tiny_fs: Any) -> None:
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    insert_graph(dd, *chain_graph(20_000))  # a ~4 MB graph file in the bundle
    root = tiny_fs(512)
    proc = subprocess.run([*CLI, "--data-dir", str(dd.root), "--backup-root", str(root / "backups"), "backup",
                           "--no-prune", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "NO_SPACE" and error["file"].startswith(str(root)), error
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert os.listdir(root / "backups") == []  # neither a bundle nor staging residue


def _full_disk_case(tmp_path: Path, tiny_fs: Any, kib: int) -> tuple[DataDir, DataDir, Path, list[str], Path]:
    nodes = [node(f"n{i:06d}", "CONCEPT", text="x" * 200) for i in range(60_000)]
    bundle = write_bundle(tmp_path / "bundles", nodes=nodes, edges=[edge(f"e{i}", f"n{i:06d}", f"n{i + 1:06d}", "NEXT")
                                                                    for i in range(0, 59_999, 3)])
    ref = resolve(tmp_path / "ref", env={})
    live_graph(ref, nodes[:10], [])
    disk = tiny_fs(kib)
    shutil.copytree(ref.root, disk / "dd")
    dd = resolve(disk / "dd", env={})
    argv = ["restore", str(bundle), "--only-substrate=graph", "--json"]
    assert subprocess.run([*CLI, "--data-dir", str(ref.root), *argv], capture_output=True, timeout=300).returncode == 0
    return ref, dd, disk, argv, bundle


def _resume_after_growing(tiny_fs: Any, disk: Path, dd: DataDir, ref: DataDir, argv: list[str]) -> None:
    tiny_fs.grow(disk, 256 * 1024)
    proc = subprocess.run([*CLI, "--data-dir", str(dd.root), *argv], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["status"] == "completed"
    assert graph_state(dd) == graph_state(ref)
    assert not core.staging.staging_path(dd).exists()


def test_restore_onto_a_real_full_disk_then_resume(tmp_path: Path, tiny_fs: Any) -> None:
    """The data dir on a tmpfs that holds the staged bundle but not the whole merge: the restore stops with the
    error, the graph holds exactly the batches the journal says committed, and after space is freed the same
    restore finishes in the state of an uninterrupted run."""
    ref, dd, disk, argv, _ = _full_disk_case(tmp_path, tiny_fs, 44 * 1024)
    before, _ = graph_state(dd)
    proc = subprocess.run([*CLI_SMALL_CHUNKS, "--data-dir", str(dd.root), *argv], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:]
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "NO_SPACE" and (error["file"] or "").startswith(str(disk)), (error, proc.stderr)
    assert "Traceback" not in proc.stderr
    conn = sqlite3.connect(dd.graph_db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    nodes_now, _ = graph_state(dd)
    (run_rec,) = list_runs(dd)
    journaled = {rid for rec in committed_batches(run_rec.path, "graph") for rid, _crc in pairs(rec, "nodes")}
    assert journaled and set(nodes_now) == set(before) | journaled  # whole batches, as journaled
    assert not core.staging.staging_path(dd).exists()
    _resume_after_growing(tiny_fs, disk, dd, ref, argv)


def test_restore_onto_a_disk_too_small_to_stage_writes_nothing(tmp_path: Path, tiny_fs: Any) -> None:
    """Staging the bundle's graph is part of validation: a disk too small for it refuses the restore before the
    first write, naming the staging file, and leaves no staging file behind."""
    ref, dd, disk, argv, _ = _full_disk_case(tmp_path, tiny_fs, 12 * 1024)
    before = graph_state(dd)
    proc = subprocess.run([*CLI, "--data-dir", str(dd.root), *argv], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:]
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "NO_SPACE" and error["file"] == str(core.staging.staging_path(dd)), error
    assert "nothing was written" in error["message"] and "Traceback" not in proc.stderr
    assert graph_state(dd) == before
    assert not core.staging.staging_path(dd).exists()
    _resume_after_growing(tiny_fs, disk, dd, ref, argv)
