"""Undo removes exactly what a merge inserted, and nothing written since; the journal survives a crash."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from core import journal as journal_mod
from core.datadir import DataDir, resolve
from core.errors import ConsoleError, UsageError
from core.graph_store import connect
from core.journal import RunJournal, list_runs, recover_interrupted
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.undo import undo_run
from tests.builders import chroma_state, edge, graph_state, live_graph, live_vectors, node, vec, write_bundle


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def test_undo_after_merge_and_new_live_writes(dd: DataDir) -> None:
    live_graph(dd, [node("A", "CONCEPT")], [])
    live_vectors(dd, "memories", [vec("m-live")])
    b = write_bundle(dd.backup_root,
                     nodes=[node("A", "CONCEPT"), node("B", "FILE"), node("C", "ISSUE"), node("D", "ISSUE")],
                     edges=[edge("e1", "A", "B", "CONTAINS"), edge("e2", "B", "C", "RELATES_TO")],
                     memories=[vec("m-live"), vec("m1"), vec("m2")])
    before_nodes, before_edges = graph_state(dd)
    res = run_restore(dd, b, RestoreOptions())
    # live writes after the run: a new node and edge, a new edge onto a node the run inserted (D),
    # a modified row the run inserted (C), a new memory and a modified memory the run inserted (m2)
    live_graph(dd, [node("N", "MESSAGE")], [edge("eN", "N", "D", "SENT_TO"), edge("eNA", "N", "A", "SENT_TO")])
    conn = connect(dd.graph_db)
    conn.execute("UPDATE Nodes SET data = ? WHERE id = 'C'", (orjson.dumps(node("C", "ISSUE", edited=True)).decode(),))
    conn.close()
    live_vectors(dd, "memories", [vec("m-new")])
    from core import chroma_store as ch

    col = ch.get_collection(ch.open_client(dd), "neo-agent-memory")
    col.update(ids=["m2"], metadatas=[{"edited": True}])
    after_live_nodes, after_live_edges = graph_state(dd)

    u = undo_run(dd, res.run_id or "")
    nodes, edges = graph_state(dd)
    assert set(edges) == set(before_edges) | {"eN", "eNA"}  # e1, e2 removed; live edges kept untouched
    assert edges["eN"] == after_live_edges["eN"]
    assert set(nodes) == set(before_nodes) | {"N", "C", "D"}  # B removed
    assert nodes["C"] == after_live_nodes["C"]  # modified since: kept
    assert u.kept_modified["nodes"] == ["C"]
    assert u.kept_referenced == ["D"]  # a live edge written since points at it: no silent cascade
    assert u.removed["nodes"] == 1 and u.removed["edges"] == 2
    assert set(chroma_state(dd, "memories")) == {"m-live", "m-new", "m2"}
    assert u.kept_modified["memories"] == ["m2"] and u.removed["memories"] == 1
    (rec,) = list_runs(dd)
    assert rec.undo and rec.undo["status"] == "completed"
    with pytest.raises(ConsoleError, match="already undone"):
        undo_run(dd, res.run_id or "")


def test_undo_unknown_run(dd: DataDir) -> None:
    with pytest.raises(UsageError, match="no such run"):
        undo_run(dd, "20260101T000000000Z-abcdef")


def test_undo_puts_back_a_flat_file_a_forced_merge_overwrote(dd: DataDir) -> None:
    dd.trajectories_file.parent.mkdir(parents=True)
    dd.trajectories_file.write_text('{"live":1}\n')
    b = write_bundle(dd.backup_root, trajectories='{"bundle":1}\n', concepts={"nodes.jsonl": "{}\n"})
    res = run_restore(dd, b, RestoreOptions(force=True, only_substrate=["trajectories", "concepts"]))
    assert dd.trajectories_file.read_text() == '{"bundle":1}\n'
    u = undo_run(dd, res.run_id or "")
    assert dd.trajectories_file.read_text() == '{"live":1}\n'
    assert not (dd.concepts_dir / "nodes.jsonl").exists()  # it did not exist before the run
    assert u.restored_files == [str(dd.trajectories_file)] and u.removed["files"] == 2


def test_a_crash_after_commit_before_the_marker_is_recovered(dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal's pending record is durable before the commit; recovery decides from the stores."""
    b = write_bundle(dd.backup_root, nodes=[node(f"n{i}", "CONCEPT") for i in range(5)])
    real = RunJournal.committed

    def die(self: RunJournal, batch: int) -> None:
        raise SystemExit("killed between COMMIT and the marker")

    monkeypatch.setattr(RunJournal, "committed", die)
    monkeypatch.setattr(RunJournal, "finish", lambda self, *a, **k: None)  # a kill never reaches finish
    with pytest.raises(SystemExit):
        run_restore(dd, b, RestoreOptions())
    monkeypatch.setattr(RunJournal, "committed", real)
    assert len(graph_state(dd)[0]) == 5
    (rec,) = list_runs(dd)
    assert rec.status == "running" and not rec.resolved  # its pid is this (living) test process
    assert recover_interrupted(dd) == [rec.run_id]
    (rec,) = list_runs(dd)
    assert rec.resolved and rec.status == "interrupted"
    u = undo_run(dd, rec.run_id)
    assert u.removed["nodes"] == 5 and graph_state(dd)[0] == {}


def test_a_rolled_back_batch_is_not_attributed(dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch journaled as pending whose transaction never committed must not be undone later."""
    b = write_bundle(dd.backup_root, nodes=[node(f"n{i}", "CONCEPT") for i in range(5)])
    real_pending = RunJournal.pending

    def pending_then_die(self: RunJournal, substrate: str, **payload: object) -> int:
        real_pending(self, substrate, **payload)
        raise SystemExit("killed between the pending record and COMMIT")

    monkeypatch.setattr(RunJournal, "pending", pending_then_die)
    monkeypatch.setattr(RunJournal, "rolled_back", lambda self, b: None)  # a kill writes no marker
    monkeypatch.setattr(RunJournal, "finish", lambda self, *a, **k: None)
    with pytest.raises(SystemExit):
        run_restore(dd, b, RestoreOptions())
    monkeypatch.undo()
    assert graph_state(dd)[0] == {}
    killed = list_runs(dd)[0].run_id
    # the re-run inserts the same rows: recovery at its start attributes them to the re-run, not the killed run
    rerun = run_restore(dd, b, RestoreOptions())
    assert len(graph_state(dd)[0]) == 5
    assert undo_run(dd, killed).removed == {}
    assert len(graph_state(dd)[0]) == 5
    assert undo_run(dd, rerun.run_id or "").removed["nodes"] == 5


def test_list_runs_marks_a_dead_running_record_interrupted(dd: DataDir) -> None:
    j = RunJournal.start(dd, bundle=dd.backup_root / "b", mode="merge", options={})
    j.update(pid=2 ** 22 + 12345)  # no such process
    (rec,) = list_runs(dd)
    assert rec.status == "interrupted"


def test_run_ids_sort_by_time() -> None:
    from datetime import UTC, datetime

    a = journal_mod.new_run_id(datetime(2026, 5, 10, 1, 2, 3, 4000, tzinfo=UTC))
    b = journal_mod.new_run_id(datetime(2026, 5, 10, 1, 2, 3, 5000, tzinfo=UTC))
    assert a.startswith("20260510T010203004Z-") and a < b
