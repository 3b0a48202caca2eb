"""Restore semantics: merge never touches a live row, gates refuse before any write, counts are truthful."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from core import restore_chroma, restore_graph
from core.bundle import read_meta
from core.datadir import DataDir, resolve
from core.errors import BundleInvalid, ConsoleError, UsageError
from core.graph_store import connect
from core.journal import list_runs
from core.plan import Filters, build_plan, scan_bundle
from core.progress import Progress
from core.restore import run_restore
from core.restore_model import RestoreCancelled, RestoreOptions, RestoreResult, RowFailure
from core.undo import undo_run
from core.wire import encode
from tests.builders import chroma_state, edge, graph_state, live_graph, live_vectors, node, vec, write_bundle


def sub(res: RestoreResult, key: str) -> dict[str, Any]:
    """One substrate's outcome as the result reports it on the wire."""
    out = encode(res.subsystems[key])
    assert isinstance(out, dict)
    return out


def files_digest(root: Path) -> dict[str, str]:
    """Every file under the data dir with its sha256: proof that nothing was written.

    SQLite's -wal / -shm sidecars are left out: any reader of a WAL database creates them (an empty WAL and
    the shared-memory index), which changes no row; an empty or absent WAL is required instead. The console's
    own lock file is left out too (a real run takes the lock before validating).
    """
    out = {}
    for p in sorted(root.rglob("*")):
        if p.name.endswith("-shm") or p.name == "console.lock":
            continue
        if p.name.endswith("-wal"):
            assert p.stat().st_size == 0, f"{p} holds uncheckpointed writes"
            continue
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def graph_fixture(dd: DataDir) -> Path:
    live_graph(dd, [node("A", "CONCEPT", v="live"), node("X", "FILE", v="live")],
               [edge("eL", "A", "X", "CONTAINS", v="live")])
    return write_bundle(dd.backup_root,
                        nodes=[node("A", "CONCEPT", v="backup"), node("B", "FILE"), node("C", "ISSUE")],
                        edges=[edge("eL", "A", "X", "RELATES_TO", v="backup"), edge("e1", "A", "B", "CONTAINS"),
                               edge("e2", "B", "C", "RELATES_TO")])


def test_cascade_hazard_or_replace_deletes_live_edges_merge_does_not(dd: DataDir) -> None:
    b = graph_fixture(dd)
    # What neo's pre-#11141 merge did: OR REPLACE on a colliding node id, with foreign keys on.
    scratch = dd.root / "scratch.sqlite"
    src = sqlite3.connect(dd.graph_db)
    src.execute("VACUUM INTO ?", (str(scratch),))
    src.close()
    conn = connect(scratch, create=False)
    cur = conn.execute("INSERT OR REPLACE INTO Nodes (id, user_id, data) VALUES ('A', NULL, '{\"id\":\"A\"}')")
    assert cur.rowcount == 1
    assert conn.execute("SELECT count(*) FROM Edges WHERE id = 'eL'").fetchone()[0] == 0  # cascaded away
    conn.close()
    # Our merge of the same bundle: the colliding node and its live edge are untouched.
    before_nodes, before_edges = graph_state(dd)
    res = run_restore(dd, b, RestoreOptions())
    nodes, edges = graph_state(dd)
    assert nodes["A"] == before_nodes["A"] and edges["eL"] == before_edges["eL"]
    assert orjson.loads(nodes["A"][1])["properties"]["v"] == "live"
    counts = sub(res, "graph")["counts"]["graph"]
    assert counts["nodes"] == {"inserted": 2, "skippedExisting": 1, "failed": 0}
    assert counts["edges"] == {"inserted": 2, "skippedExisting": 1, "failed": 0}


def test_merge_keeps_every_live_row_byte_identical(dd: DataDir) -> None:
    b = graph_fixture(dd)
    live_vectors(dd, "memories", [vec("m1", metadata={"live": True})])
    b = write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT", v="backup"), node("B", "FILE")],
                     edges=[edge("eL", "A", "X", "CONTAINS", v="backup")],
                     memories=[vec("m1", metadata={"live": False}), vec("m2")], name=b.name + "x")
    before_nodes, before_edges = graph_state(dd)
    before_mem = chroma_state(dd, "memories")
    run_restore(dd, b, RestoreOptions())
    nodes, edges = graph_state(dd)
    assert all(nodes[k] == v for k, v in before_nodes.items())
    assert all(edges[k] == v for k, v in before_edges.items())
    mem = chroma_state(dd, "memories")
    assert mem["m1"] == before_mem["m1"] and "m2" in mem


def test_restored_rows_are_the_bundle_bytes(dd: DataDir) -> None:
    line = b'{"type":"node","data":{"id":"n1","label":"FILE","properties":{"mtimeMs":1778403299001.120,"userId":"u1"}}}'
    b = write_bundle(dd.backup_root, graph_lines=[line])
    run_restore(dd, b, RestoreOptions())
    nodes, _ = graph_state(dd)
    assert nodes["n1"] == ("u1", line[22:-1].decode())  # user_id recomputed, data verbatim


def test_duplicate_ids_within_one_chroma_chunk(dd: DataDir) -> None:
    rows = [vec("m1"), vec("m2"), vec("m1", metadata={"second": True}), vec("m3"), vec("m2")]
    b = write_bundle(dd.backup_root, memories=rows)
    res = run_restore(dd, b, RestoreOptions())
    c = sub(res, "mc")["counts"]["memories"]
    assert c == {"inserted": 3, "skippedExisting": 2, "failed": 0, "duplicatesInChunk": 2}
    assert res.failures_total == 0
    mem = chroma_state(dd, "memories")
    assert set(mem) == {"m1", "m2", "m3"}
    assert b"second" not in mem["m1"][1]  # the first occurrence wins
    plan = build_plan(scan_bundle(dd, b))  # after the restore: everything present
    assert (plan.memories.already_present, plan.memories.would_insert) == (5, 0)


def test_merge_adds_only_missing_chroma_ids_across_chunks(dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    live_vectors(dd, "summaries", [vec(f"s{i}", metadata={"live": i}) for i in range(0, 30, 3)])
    rows = [vec(f"s{i}") for i in range(30)]
    b = write_bundle(dd.backup_root, summaries=rows)
    plan = build_plan(scan_bundle(dd, b))
    monkeypatch.setattr(restore_chroma, "_chunk_rows", lambda state: 7)  # several chunks
    res = run_restore(dd, b, RestoreOptions())
    c = sub(res, "mc")["counts"]["summaries"]
    assert (c["inserted"], c["skippedExisting"]) == (plan.summaries.would_insert, plan.summaries.already_present) == (20, 10)
    st = chroma_state(dd, "summaries")
    assert b'"live"' in st["s3"][1] and len(st) == 30


@pytest.mark.parametrize("hook,message", [
    ("dream-service", "Post-restore hook 'dream-service' is intentionally not supported (per #11141 peer-review): "
                      "REM cycle does graph mutation + inference and can blur recovery validation. File a "
                      "follow-up ticket if needed."),
    ("filesytem-ingestor", "Unknown post-restore hook: filesytem-ingestor. Allowlist: filesystem-ingestor."),
])
def test_hook_name_refused_before_any_write(dd: DataDir, hook: str, message: str) -> None:
    b = graph_fixture(dd)
    before = files_digest(dd.root)
    with pytest.raises(UsageError) as exc:
        run_restore(dd, b, RestoreOptions(post_restore_hook=hook, workspace=dd.root))
    assert str(exc.value) == message
    assert files_digest(dd.root) == before
    assert not dd.runs_dir.exists()


def test_dry_run_writes_nothing_and_reports_the_real_numbers(dd: DataDir) -> None:
    b = graph_fixture(dd)
    live_vectors(dd, "memories", [vec("m1")])
    b = write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT"), node("B", "FILE"), node("K", "KB_GAP")],
                     edges=[edge("e1", "A", "B", "CONTAINS"), edge("e9", "K", "A", "DISCOVERED_IN")],
                     memories=[vec("m1"), vec("m2")], concepts={"nodes.jsonl": "{}\n"},
                     trajectories="{}\n", name=b.name + "y")
    opts = RestoreOptions(filters=Filters.of(["KB_GAP"]), dry_run=True, post_restore_hook="filesystem-ingestor",
                          workspace=dd.root)
    before = files_digest(dd.root)
    dry = run_restore(dd, b, opts)
    assert files_digest(dd.root) == before
    assert dry.dry_run and dry.run_id is None and not dd.runs_dir.exists()
    assert encode(dry.post_restore_hook) == {"hook": "filesystem-ingestor",
                                             "result": {"ok": True, "dryRun": True, "message": "not run: dry run"}}
    real = run_restore(dd, b, RestoreOptions(filters=Filters.of(["KB_GAP"])))
    for key in ("graph", "mc", "concepts", "trajectories"):
        d, r = sub(dry, key), sub(real, key)
        if key == "graph":
            assert d["counts"] == r["counts"] and d["filterStats"] == r["filterStats"]
        elif key == "mc":
            for k in ("memories", "summaries"):
                assert d["counts"][k] == {x: r["counts"][k][x] for x in ("inserted", "skippedExisting", "failed")}
        else:
            assert {k: d[k] for k in ("copied", "skipped")} == {k: r[k] for k in ("copied", "skipped")}


def test_invalid_bundle_changes_nothing_and_names_file_and_line(dd: DataDir) -> None:
    b = graph_fixture(dd)
    lines = [orjson.dumps({"type": "node", "data": node("Q", "FILE")}), b'{"type":"node","data":{"id":"R"',
             orjson.dumps({"type": "node", "data": node("S", "FILE")})]
    bad = write_bundle(dd.backup_root, graph_lines=lines, name=b.name + "z")
    before = files_digest(dd.root)
    with pytest.raises(BundleInvalid) as exc:
        run_restore(dd, bad, RestoreOptions())
    assert exc.value.line == 2 and exc.value.path and exc.value.path.endswith(".jsonl")
    assert "graph/graph-backup" in exc.value.describe()
    assert files_digest(dd.root) == before


def test_dimension_mismatch_with_the_live_collection_is_refused(dd: DataDir) -> None:
    live_vectors(dd, "memories", [vec("m1", dim=8)])
    b = write_bundle(dd.backup_root, memories=[vec("m2", dim=6)], dimension=6)
    with pytest.raises(BundleInvalid, match="dimension"):
        run_restore(dd, b, RestoreOptions())
    assert set(chroma_state(dd, "memories")) == {"m1"}


def test_topology_check(dd: DataDir) -> None:
    b = write_bundle(dd.backup_root, nodes=[node("A", "FILE")],
                     meta={"topology": {"chromaUnified": False, "shared_topology": False}})
    with pytest.raises(BundleInvalid, match="Topology mismatch: bundle was taken under legacy federated mode"):
        run_restore(dd, b, RestoreOptions())
    assert not dd.graph_db.exists()
    res = run_restore(dd, b, RestoreOptions(force_topology_mismatch=True))
    assert encode(res.topology) == {"bundleSharedTopology": False, "currentSharedTopology": True, "match": False,
                                    "forced": True}


def test_only_substrate_empty_restores_nothing_and_unknown_is_refused(dd: DataDir) -> None:
    b = graph_fixture(dd)
    before = graph_state(dd)
    with pytest.raises(UsageError, match="Valid: kb, mc, graph, concepts, trajectories, mailbox, ledgers"):
        run_restore(dd, b, RestoreOptions(only_substrate=["graph", "memories"]))
    res = run_restore(dd, b, RestoreOptions(only_substrate=[]))
    assert res.subsystems == {} and graph_state(dd) == before


def test_flat_files_skip_when_present_unless_force(dd: DataDir) -> None:
    dd.concepts_dir.mkdir(parents=True)
    (dd.concepts_dir / "nodes.jsonl").write_text('{"live":1}\n')
    b = write_bundle(dd.backup_root, concepts={"nodes.jsonl": '{"b":1}\n', "edges.jsonl": '{"e":1}\n'},
                     trajectories='{"t":1}\n', mailbox='{"m":1}\n')
    res = run_restore(dd, b, RestoreOptions(only_substrate=["concepts", "trajectories", "mailbox"]))
    assert sub(res, "concepts") == {"copied": 1, "skipped": 1, "mode": "merge"}
    assert (dd.concepts_dir / "nodes.jsonl").read_text() == '{"live":1}\n'
    assert dd.trajectories_file.read_text() == '{"t":1}\n' and dd.mailbox_file.read_text() == '{"m":1}\n'
    res = run_restore(dd, b, RestoreOptions(only_substrate=["concepts"], force=True))
    assert sub(res, "concepts")["copied"] == 2
    assert (dd.concepts_dir / "nodes.jsonl").read_text() == '{"b":1}\n'


def test_kb_natural_key_divergence_refuses_before_any_write(dd: DataDir) -> None:
    meta = {"tenantId": "neo-shared", "repoSlug": "neomjs/neo", "source": "src/A.mjs", "name": "A - f()", "type": "src"}
    live_vectors(dd, "kb", [vec("hash-old", metadata=meta, document=None)])
    b = write_bundle(dd.backup_root, kb=[vec("hash-new", metadata=meta, document=None)],
                     nodes=[node("A", "FILE")])
    plan = build_plan(scan_bundle(dd, b))
    assert plan.kb.natural_key_divergent == 1
    with pytest.raises(ConsoleError, match="KB_MERGE_NATURAL_KEY_DIVERGENCE"):
        run_restore(dd, b, RestoreOptions())
    assert not dd.graph_db.exists() and set(chroma_state(dd, "kb")) == {"hash-old"}
    res = run_restore(dd, b, RestoreOptions(only_substrate=["graph"]))  # without kb it goes ahead
    assert sub(res, "graph")["counts"]["graph"]["nodes"]["inserted"] == 1


def test_kb_merge_counts_id_already_present(dd: DataDir) -> None:
    rows = [vec(f"k{i}", metadata={"source": f"s{i}", "name": "n", "type": "src"}, document=None) for i in range(5)]
    live_vectors(dd, "kb", rows[:2])
    b = write_bundle(dd.backup_root, kb=rows)
    res = run_restore(dd, b, RestoreOptions())
    kb = sub(res, "kb")
    assert (kb["inserted"], kb["idAlreadyPresent"], kb["divergenceScan"]) == (3, 2, "performed")


def test_failed_rows_are_counted_and_listed_with_file_and_line(dd: DataDir) -> None:
    rows = [vec("m1"), vec("m2", metadata={"nested": {"not": "scalar"}}), vec("m3")]
    b = write_bundle(dd.backup_root, memories=rows)
    res = run_restore(dd, b, RestoreOptions())
    c = sub(res, "mc")["counts"]["memories"]
    assert (c["inserted"], c["failed"]) == (2, 1)
    assert res.failures_total == 1
    f = res.failures[0]
    assert f.file and f.file.startswith("mc/memory-backup") and f.line == 2 and "refused" in f.reason


def test_replace_is_gated_and_takes_a_safety_bundle_first(dd: DataDir) -> None:
    b = graph_fixture(dd)
    live_before, _ = graph_state(dd)
    with pytest.raises(ConsoleError, match="--yes"):
        run_restore(dd, b, RestoreOptions(mode="replace", force=True, only_substrate=["graph"]))
    with pytest.raises(ConsoleError, match=r"Refusing replace mode without --force: targets are non-empty "
                                           r"\(graph.nodes=2, graph.edges=1\)"):
        run_restore(dd, b, RestoreOptions(mode="replace", yes=True, only_substrate=["graph"]))
    assert graph_state(dd)[0] == live_before and not dd.runs_dir.exists()
    res = run_restore(dd, b, RestoreOptions(mode="replace", yes=True, force=True, only_substrate=["graph"]))
    assert res.safety_bundle is not None
    safety = Path(res.safety_bundle)
    state, meta, _ = read_meta(safety)
    assert state == "valid" and meta and meta["reason"] == "pre-restore" and meta["substrates"] == ["graph"]
    saved = b"".join(p.read_bytes() for p in (safety / "graph").glob("*.jsonl"))
    assert b'"v":"live"' in saved and b'"id":"X"' in saved  # the live rows as they were before truncation
    nodes, edges = graph_state(dd)
    assert set(nodes) == {"A", "B", "C"} and set(edges) == {"e1", "e2"}  # eL's endpoint X is gone: orphan
    assert orjson.loads(nodes["A"][1])["properties"]["v"] == "backup"
    with pytest.raises(ConsoleError, match="safety bundle"):
        undo_run(dd, res.run_id or "")
    # the safety bundle restores the pre-replace state
    run_restore(dd, safety, RestoreOptions(mode="replace", yes=True, force=True, only_substrate=["graph"]))
    assert graph_state(dd)[0] == live_before


def test_cancel_between_batches_then_rerun_resumes(dd: DataDir, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(restore_graph, "GRAPH_WRITE_BATCH", 3)
    nodes = [node(f"n{i}", "CONCEPT") for i in range(20)]
    edges = [edge(f"e{i}", f"n{i}", f"n{(i + 1) % 20}", "RELATES_TO") for i in range(20)]
    b = write_bundle(dd.backup_root, nodes=nodes, edges=edges)
    reference = resolve(tmp_path / "ref", env={})
    run_restore(reference, b, RestoreOptions())
    cancel = threading.Event()
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        if p.task == "graph" and p.done >= 3:  # the first batch committed
            cancel.set()

    with pytest.raises(RestoreCancelled) as exc:
        run_restore(dd, b, RestoreOptions(), on_progress=on_progress, cancel=cancel)
    partial = exc.value.result
    assert partial.status == "cancelled" and list_runs(dd)[0].status == "cancelled"
    assert 0 < len(graph_state(dd)[0]) < 20
    # the partial result says exactly what was committed
    assert sub(partial, "graph")["counts"]["graph"]["nodes"]["inserted"] == len(graph_state(dd)[0])
    res = run_restore(dd, b, RestoreOptions())
    assert graph_state(dd) == graph_state(reference)
    assert sub(res, "graph")["counts"]["graph"]["nodes"]["skippedExisting"] == len(graph_state(dd)[0]) - \
        sub(res, "graph")["counts"]["graph"]["nodes"]["inserted"]
    counters = [p.counters for p in seen if p.task == "graph" and p.counters]
    assert counters and counters[-1]["nodes"]["CONCEPT"]["inserted"] > 0


def test_progress_reports_each_substrate_with_totals(dd: DataDir) -> None:
    b = write_bundle(dd.backup_root, nodes=[node("A", "FILE")], memories=[vec("m1")], summaries=[vec("s1")])
    events: list[Progress] = []
    run_restore(dd, b, RestoreOptions(), on_progress=events.append)
    last: dict[str, Any] = {p.task: p for p in events}
    assert {"graph", "memories", "summaries"} <= set(last)
    assert last["graph"].done == last["graph"].total == 1
    assert last["graph"].counters == {"nodes": {"FILE": {"inserted": 1, "skippedExisting": 0, "failed": 0,
                                                         "filtered": 0}}, "edges": {}}


def test_journal_records_runs(dd: DataDir) -> None:
    b = graph_fixture(dd)
    res = run_restore(dd, b, RestoreOptions(filters=Filters.of(["ISSUE"])))
    (rec,) = list_runs(dd)
    assert rec.run_id == res.run_id and rec.status == "completed" and rec.resolved
    assert rec.options["filters"] == {"labels": ["ISSUE"], "edgeTypes": []}
    assert rec.counts["graph"]["nodes"]["inserted"] == 1 and rec.started_at <= (rec.ended_at or "")


def test_a_graph_row_the_db_refuses_fails_alone_with_file_and_line(dd: DataDir) -> None:
    live_graph(dd, [node("A", "CONCEPT")], [])
    conn = connect(dd.graph_db)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON Nodes WHEN NEW.id = 'bad' "
                 "BEGIN SELECT RAISE(ABORT, 'refused by a live trigger'); END")
    conn.close()
    b = write_bundle(dd.backup_root, nodes=[node("n1", "FILE"), node("bad", "FILE"), node("n2", "FILE")],
                     edges=[edge("e1", "n1", "n2", "RELATES_TO"), edge("e2", "n1", "bad", "RELATES_TO")])
    res = run_restore(dd, b, RestoreOptions())
    nodes, edges = graph_state(dd)
    assert set(nodes) == {"A", "n1", "n2"} and set(edges) == {"e1"}
    assert sub(res, "graph")["counts"]["graph"]["nodes"] == {"inserted": 2, "skippedExisting": 0, "failed": 1}
    assert res.failures == (RowFailure(file="graph/graph-backup-2026-05-10T01-11-40.002Z.jsonl", line=2,
                                       reason="IntegrityError: refused by a live trigger"),)
    assert sub(res, "graph")["filterStats"]["orphanEdges"] == 1  # e2: its endpoint never landed
    (rec,) = list_runs(dd)
    assert rec.counts["failures"] == 1
