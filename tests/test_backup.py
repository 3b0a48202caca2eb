"""`backup` writes neo's bundle layout and line schemas; read back here by an independent reader."""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest

from core.backup import run_backup
from core.bundle import list_bundles
from core.datadir import DataDir, resolve
from core.errors import ConsoleError
from core.verify import RESTORABLE, verify_bundle
from tests.builders import add_rows, graph_state, insert_graph, make_live, node

NAME = re.compile(r"^backup-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z$")
FILE_TS = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z"


def read_lines(path: Path, *, compact: bool) -> list[dict]:
    """The reference reader: UTF-8, one JSON object per line, a trailing newline, no blank lines.

    Chroma rows are written like JavaScript's JSON.stringify (compact); graph lines wrap the DB's
    `data` column verbatim, so only their wrapper is compact.
    """
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), f"{path} must end with a newline"
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    out = []
    for line in raw.decode("utf-8").split("\n")[:-1]:
        assert line.strip(), f"{path}: blank line"
        obj = json.loads(line)
        if compact:
            assert line == json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        else:
            assert line.startswith('{"type":"node","data":{') or line.startswith('{"type":"edge","data":{')
        out.append(obj)
    return out


def check_layout(bundle: Path, dim: int) -> dict[str, int]:
    """Check a bundle against the neo format reference, section 1 and 2; return row counts."""
    assert NAME.match(bundle.name)
    for sub in ("kb", "mc", "graph", "concepts", "trajectories"):
        assert (bundle / sub).is_dir(), f"required subdir {sub}"
    meta = json.loads((bundle / "bundle-meta.json").read_text())
    assert (bundle / "bundle-meta.json").read_text().endswith("}\n"), "2-space JSON with a trailing newline"
    assert meta["bundleVersion"] == 1
    assert meta["timestamp"] == bundle.name.removeprefix("backup-")
    assert isinstance(meta["completedAt"], str) and meta["completedAt"].endswith("Z")
    assert meta["topology"]["shared_topology"] is True
    assert {e["subsystem"] for e in meta["integrity"]} == {"kb", "mc", "graph"}
    assert all(e["status"] in ("pass", "fail", "empty", "skipped") for e in meta["integrity"])
    counts = {"kb": 0, "memories": 0, "summaries": 0, "nodes": 0, "edges": 0}
    for f in sorted((bundle / "kb").glob("*.jsonl")) + sorted((bundle / "mc").glob("*.jsonl")):
        kind = "kb" if f.parent.name == "kb" else ("memories" if f.name.startswith("memory-backup") else "summaries")
        prefix = {"kb": "knowledge-base-backup", "memories": "memory-backup", "summaries": "summaries-backup"}[kind]
        assert re.fullmatch(rf"{prefix}-{FILE_TS}\.jsonl", f.name), f.name
        for row in read_lines(f, compact=True):
            assert list(row) == ["id", "embedding", "metadata", "document"], "neo's key order"
            assert isinstance(row["id"], str) and row["id"]
            assert len(row["embedding"]) == dim and all(math.isfinite(x) for x in row["embedding"])
            counts[kind] += 1
    seen_edge = False
    for f in sorted((bundle / "graph").glob("*.jsonl")):
        assert re.fullmatch(rf"graph-backup-{FILE_TS}\.jsonl", f.name)
        for row in read_lines(f, compact=False):
            assert list(row) == ["type", "data"]
            if row["type"] == "node":
                assert not seen_edge, "all nodes come before all edges"
                assert set(row["data"]) == {"id", "label", "properties"}
                counts["nodes"] += 1
            else:
                assert row["type"] == "edge"
                seen_edge = True
                assert set(row["data"]) == {"id", "source", "target", "type", "properties"}
                counts["edges"] += 1
    assert meta["embedding"]["counts"] == {k: counts[k] for k in ("kb", "memories", "summaries")}
    assert meta["embedding"]["dimension"] == dim
    return counts


def test_backup_round_trips_through_an_independent_reader(data_dir: DataDir) -> None:
    make_live(data_dir, nodes=40, memories=30, summaries=4, kb=12, dim=8)
    result = run_backup(data_dir)
    bundle = Path(result.path)
    counts = check_layout(bundle, 8)
    assert counts == {"kb": 12, "memories": 30, "summaries": 4, "nodes": 40, "edges": 39}
    meta = json.loads((bundle / "bundle-meta.json").read_text())
    assert {e["subsystem"]: e["status"] for e in meta["integrity"]} == {"kb": "pass", "mc": "pass", "graph": "pass"}
    assert {e["subsystem"]: e["bundleCount"] for e in meta["integrity"]} == {"kb": 12, "mc": 34, "graph": 79}
    # flat substrates are verbatim copies
    assert (bundle / "concepts" / "nodes.jsonl").read_bytes() == (data_dir.concepts_dir / "nodes.jsonl").read_bytes()
    assert (bundle / "trajectories" / "trajectories.jsonl").read_bytes() == data_dir.trajectories_file.read_bytes()
    assert (bundle / "mailbox" / "sent-to-cull.jsonl").read_bytes() == data_dir.mailbox_file.read_bytes()
    # the graph lines carry the DB's data column verbatim
    line = next(iter((bundle / "graph").glob("*.jsonl"))).read_text().splitlines()[0]
    assert line.startswith('{"type":"node","data":{"id": "n0"')  # json.dumps spacing kept byte for byte
    res = verify_bundle(bundle)
    assert res.verdict == RESTORABLE and res.checksums == "verified", [str(e) for e in res.errors]


def test_bundles_are_owner_only(data_dir: DataDir) -> None:
    make_live(data_dir, nodes=3, memories=2, summaries=0, kb=0)
    bundle = Path(run_backup(data_dir).path)
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    for dirpath, dirs, files in os.walk(bundle):
        for d in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, d)).st_mode) == 0o700
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(dirpath, f)).st_mode) == 0o600, f


def test_empty_source_writes_no_file_and_integrity_empty(data_dir: DataDir) -> None:
    make_live(data_dir, nodes=5, memories=3, summaries=0, kb=0)
    result = run_backup(data_dir)
    bundle = Path(result.path)
    assert list((bundle / "kb").iterdir()) == []
    assert [p.name.split("-backup")[0] for p in (bundle / "mc").iterdir()] == ["memory"]
    statuses = {e["subsystem"]: e["status"] for e in result.integrity}
    assert statuses == {"kb": "empty", "mc": "pass", "graph": "pass"}
    assert result.subsystems["kb"]["reason"] == "source-collection-empty"


def test_missing_stores_give_an_empty_bundle_not_a_crash(data_dir: DataDir) -> None:
    result = run_backup(data_dir, allow_empty=True)  # without it: refused, see test_backup_sources.py
    assert {e["status"] for e in result.integrity} == {"empty"}
    assert result.subsystems["concepts"]["note"].startswith("source not present")
    assert verify_bundle(Path(result.path)).verdict == "BUNDLE_EMPTY"


def test_two_backups_list_newest_first_and_capture_lineage(data_dir: DataDir) -> None:
    make_live(data_dir, nodes=3, memories=2, summaries=1, kb=1)
    first = run_backup(data_dir)
    second = run_backup(data_dir)
    names = [b.name for b in list_bundles(data_dir.backup_root).bundles]
    assert names == [second.bundle, first.bundle]
    meta = json.loads((Path(second.path) / "bundle-meta.json").read_text())
    assert meta["capture"]["comparedTo"] == first.bundle
    assert meta["capture"]["sources"]["mc.memories"]["lineage"] == "same"


def test_backup_from_a_chroma_server(tmp_path: Path, chroma_server: str) -> None:
    dd = resolve(tmp_path / "dd", chroma_url=chroma_server, env={})
    client_rows = add_rows(dd, "memories", 25, dim=6, start=1000, seed=9)
    try:
        result = run_backup(dd)
        counts = check_layout(Path(result.path), 6)
        assert counts["memories"] == 25
        assert result.integrity[1]["status"] == "pass"
        assert Path(result.path).joinpath("bundle-meta.json").read_text().count(chroma_server.split(":")[-1]) >= 1
    finally:
        from core import chroma_store as ch

        ch.open_client(dd).delete_collection("neo-agent-memory")
    assert len(client_rows) == 25


def test_readonly_refuses_backup(data_dir: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    assert main(["--data-dir", str(data_dir.root), "--readonly", "backup"]) == 2
    assert "--readonly" in capsys.readouterr().err
    assert not data_dir.backup_root.exists()


def test_a_model_fetch_would_fail_the_run() -> None:
    """The guard in conftest is live: calling Chroma's default embedding function raises."""
    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction

    with pytest.raises(AssertionError, match="embedding model"):
        DefaultEmbeddingFunction()(["text"])


@pytest.mark.parametrize("bad", ['{"id":"b","label":"X"', '{"id":"b","name":"\\ud800"}', '{"id":"b","n":NaN}',
                                 '{"id":"b","n":1e400}', '{"id":"b"}\x00'],
                         ids=["torn", "unpaired-surrogate", "nan", "overflowing-number", "trailing-nul"])
def test_a_graph_row_the_restore_would_refuse_is_never_published(tmp_path: Path, bad: str) -> None:
    """The restore's own parser judges every row as backup reads it, also where SQLite's JSON check is laxer
    (an unpaired surrogate escape, a number that overflows a double, bytes after the value): no published bundle
    holds a row its restore (and `verify`) would refuse. A valid row with escapes goes in verbatim."""
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    insert_graph(dd, [node("a", "X")], [])
    conn = sqlite3.connect(dd.graph_db)
    conn.execute("INSERT INTO Nodes (id, user_id, data) VALUES ('c', NULL, ?)", ('{"id":"c","name":"\\u00e9\\ud83d\\ude00"}',))
    conn.commit()
    res = run_backup(dd)
    (graph_file,) = (Path(res.path) / "graph").glob("*.jsonl")
    assert '{"type":"node","data":{"id":"c","name":"\\u00e9\\ud83d\\ude00"}}' in graph_file.read_text().splitlines()
    conn.execute("INSERT INTO Nodes (id, user_id, data) VALUES ('b', NULL, ?)", (bad,))
    conn.commit()
    conn.close()
    before = list_bundles(dd.backup_root).bundles
    with pytest.raises(ConsoleError, match="1 rows hold data that is not JSON .first: b"):
        run_backup(dd)
    assert list_bundles(dd.backup_root).bundles == before
    assert graph_state(dd)[0]["b"][1] == bad
