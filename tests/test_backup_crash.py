"""A backup killed mid-way publishes nothing; a writer inserting during a backup cannot tear the bundle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.backup import run_backup
from core.bundle import PARTIAL_PREFIX, list_bundles
from core.datadir import DataDir
from core.verify import RESTORABLE, verify_bundle
from tests.builders import chain_graph, insert_graph

CLI = [sys.executable, "-m", "console"]


def test_kill_9_during_backup_leaves_only_residue(data_dir: DataDir) -> None:
    nodes, edges = chain_graph(40_000)
    insert_graph(data_dir, nodes, edges)
    proc = subprocess.Popen([*CLI, "--data-dir", str(data_dir.root), "backup", "--no-prune", "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    staging: list[Path] = []
    while not staging and time.monotonic() < deadline:
        if data_dir.backup_root.is_dir():
            staging = [p for p in data_dir.backup_root.iterdir() if p.name.startswith(PARTIAL_PREFIX)]
        time.sleep(0.002)
    assert staging, "the backup never started staging"
    time.sleep(0.05)  # let it write part of the graph file
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    names = [p.name for p in data_dir.backup_root.iterdir()]
    assert not [n for n in names if n.startswith("backup-")], f"a torn bundle was published: {names}"
    listing = list_bundles(data_dir.backup_root)
    assert listing.bundles == ()
    assert [r.kind for r in listing.residue] == ["staging"]
    out = subprocess.run([*CLI, "--data-dir", str(data_dir.root), "list", "--json"], capture_output=True, check=True)
    assert json.loads(out.stdout)["residue"][0]["kind"] == "staging"
    # the lock died with the process: the next backup runs
    assert verify_bundle(Path(run_backup(data_dir).path)).verdict == RESTORABLE


WRITER = r"""
import sqlite3, sys, json, time
db = sys.argv[1]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA foreign_keys=ON"); conn.execute("PRAGMA busy_timeout=5000")
i = 0
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    conn.execute("BEGIN IMMEDIATE")
    for _ in range(50):
        nid, prev = f"w{i}", (f"w{i-1}" if i else "n0")
        conn.execute("INSERT INTO Nodes VALUES (?,?,?)", (nid, None, json.dumps({"id": nid, "label": "MEMORY", "properties": {}})))
        conn.execute("INSERT INTO Edges VALUES (?,?,?,?,?,?)", (f"we{i}", None, prev, nid, "NEXT",
                     json.dumps({"id": f"we{i}", "source": prev, "target": nid, "type": "NEXT", "properties": {}})))
        i += 1
    conn.execute("COMMIT")
print(i, flush=True)
"""


def test_backup_under_a_concurrent_writer_is_consistent(data_dir: DataDir) -> None:
    nodes, edges = chain_graph(20_000)
    insert_graph(data_dir, nodes, edges)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir.graph_db), "4"],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    results = [run_backup(data_dir, lock=False) for _ in range(3)]
    written = int(writer.stdout.readline())
    writer.wait()
    assert written > 0
    for result in results:
        bundle = Path(result.path)
        node_ids: set[str] = set()
        n_edges = 0
        for line in next((bundle / "graph").glob("*.jsonl")).read_text().splitlines():
            row = json.loads(line)
            if row["type"] == "node":
                node_ids.add(row["data"]["id"])
            else:
                n_edges += 1
                assert row["data"]["source"] in node_ids and row["data"]["target"] in node_ids, row
        meta = json.loads((bundle / "bundle-meta.json").read_text())
        graph = next(e for e in meta["integrity"] if e["subsystem"] == "graph")
        assert graph["status"] == "pass" and graph["sourceCount"] == graph["bundleCount"] == len(node_ids) + n_edges
        assert verify_bundle(bundle).verdict == RESTORABLE
    sizes = [r.counts["graph"] for r in results]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0], f"the writer was not writing during the backups: {sizes}"
