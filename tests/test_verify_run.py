"""Post-restore verification: every restore ends with one, `verify-run` repeats it, and each check fails when
the stores are not what the run reported (a row deleted behind the console's back, a live row changed during
the run, an orphan edge, a flat file edited)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import core.restore
from core import chroma_store as cs
from core.datadir import DataDir, resolve
from core.plan import Filters
from core.progress import Progress
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.substrates import COLLECTIONS
from core.undo import undo_run
from core.verification import Verification, answers_itself
from core.verify_run import verify_run
from tests.builders import edge, live_graph, live_vectors, node, vec, write_bundle
from tests.test_hostile_text import cli


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def world(dd: DataDir) -> Path:
    """A live graph, live vectors and a live flat file, and a bundle that overlaps each of them."""
    live_graph(dd, [node("A", "CONCEPT", v="live"), node("L", "FILE", v="live")],
               [edge("eL", "A", "L", "CONTAINS", v="live")])
    live_vectors(dd, "memories", [vec("m0", metadata={"v": "live"}), vec("m-live")])
    dd.trajectories_file.parent.mkdir(parents=True, exist_ok=True)
    dd.trajectories_file.write_text('{"live": true}\n')
    return write_bundle(
        dd.backup_root,
        nodes=[node("A", "CONCEPT", v="backup"), node("B", "CONCEPT"), node("C", "ISSUE"), node("F", "FILE")],
        edges=[edge("eL", "A", "L", "CONTAINS", v="backup"), edge("e1", "A", "B", "RELATES_TO"),
               edge("e2", "B", "C", "RELATES_TO"), edge("e3", "C", "F", "CONTAINS")],
        memories=[vec("m0", metadata={"v": "backup"}), *(vec(f"m{i}") for i in range(1, 8))],
        summaries=[vec("s1"), vec("s2")], kb=[vec("k1"), vec("k2")],
        trajectories='{"backup": true}\n', mailbox='{"msg": "cull"}\n',
        concepts={"nodes.jsonl": '{"id": "c"}\n'})


def check(v: Verification, name: str) -> Any:
    c = v.check(name)
    assert c is not None
    return c


def test_a_merge_ends_with_a_passing_verification_of_every_check(dd: DataDir) -> None:
    b = world(dd)
    res = run_restore(dd, b, RestoreOptions(filters=Filters.of(["FILE"])), predict=True)
    v = res.verification
    assert v is not None and v.status == "passed" and v.at_run, v
    assert [c.status for c in v.checks] == ["passed"] * 5, v.checks
    # B, C; e1, e2 (e3 ends at the filtered F: an orphan); m1..m7, s1, s2, k1, k2
    assert "all 15 inserted rows present" in check(v, "counts").summary
    keys = {(k.kind, k.key): (k.present, k.reported, k.planned) for k in v.counts}
    assert keys[("nodes", "CONCEPT")] == (1, 1, 1) and keys[("nodes", "ISSUE")] == (1, 1, 1)
    assert keys[("chroma", "memories")] == (7, 7, 7) and keys[("chroma", "kb")] == (2, 2, 2)
    untouched = check(v, "untouched").summary
    assert "graph 2 node(s), 1 edge(s)" in untouched and "memories 1 row(s) the bundle names" in untouched
    assert {x.collection: (x.sampled, x.answered) for x in v.vectors} == {
        "kb": (2, 2), "memories": (7, 7), "summaries": (2, 2)}
    assert "2 of 2 written file(s) byte-equal" in check(v, "flat").summary  # concepts and mailbox; trajectories skipped
    saved = json.loads((dd.runs_dir / str(res.run_id) / "verification.json").read_text())
    assert saved["status"] == "passed"


def test_a_restored_row_deleted_behind_the_consoles_back_fails_verify_run(dd: DataDir) -> None:
    b = world(dd)
    res = run_restore(dd, b, RestoreOptions())
    assert res.verification is not None and res.verification.status == "passed"
    run_id = str(res.run_id)
    conn = sqlite3.connect(dd.graph_db)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("DELETE FROM Nodes WHERE id = 'C'")  # cascades to e2 and e3, rows the run inserted
    conn.commit()
    conn.close()
    client = cs.open_client(dd, create=False)
    assert client is not None
    cs.get_collection(client, COLLECTIONS["memories"]).delete(ids=["m3"])  # type: ignore[union-attr]
    code, out, _ = cli("--data-dir", str(dd.root), "verify-run", run_id[:12], "--json")
    assert code == 4
    v = json.loads(out)
    assert v["status"] == "failed" and v["atRun"] is False
    counts = next(c for c in v["checks"] if c["name"] == "counts")
    assert counts["status"] == "failed"
    assert "4 inserted row(s) are missing" in counts["details"][0]
    for rid in ("C", "e2", "e3", "m3"):
        assert rid in counts["details"][0]
    bad = {(k["kind"], k["key"]) for k in v["counts"] if not k["ok"]}
    assert bad == {("nodes", "ISSUE"), ("edges", "RELATES_TO"), ("edges", "CONTAINS"), ("chroma", "memories")}
    # a person reads the same verdict, and nothing was rolled back
    code, text, _ = cli("--data-dir", str(dd.root), "verify-run", run_id)
    assert code == 4 and "FAILED" in text and "✗ counts" in text and "undo stays your call" in text


def test_a_restored_node_relabelled_or_swapped_later_is_counted_from_the_live_rows(dd: DataDir) -> None:
    """The counts come from the digests only while they prove the tables hold exactly the rows from before plus
    the journaled ones; a restored node given another label, or replaced by a stranger of the same label (same
    row counts everywhere), sends verify-run back to the rows themselves."""
    res = run_restore(dd, world(dd), RestoreOptions())
    assert res.verification is not None and res.verification.status == "passed"
    run_id = str(res.run_id)
    conn = sqlite3.connect(dd.graph_db)
    conn.execute("UPDATE Nodes SET data = json_set(data, '$.label', 'CONCEPT') WHERE id = 'C'")  # was ISSUE
    conn.commit()
    v = verify_run(dd, run_id)
    keys = {(k.kind, k.key): (k.present, k.reported) for k in v.counts}
    assert v.status == "failed" and check(v, "counts").status == "failed"
    assert keys[("nodes", "ISSUE")] == (0, 1) and keys[("nodes", "CONCEPT")] == (2, 1)
    conn.execute("UPDATE Nodes SET data = json_set(data, '$.label', 'ISSUE') WHERE id = 'C'")
    conn.execute("DELETE FROM Edges WHERE id = 'e1'")  # a restored edge, and a stranger of its type in its place
    conn.execute("INSERT INTO Edges (id, user_id, source, target, type, data) VALUES "
                 "('stranger', NULL, 'A', 'B', 'RELATES_TO', '{}')")
    conn.commit()
    conn.close()
    v = verify_run(dd, run_id)
    assert check(v, "counts").status == "failed" and "e1" in check(v, "counts").details[0]
    assert {(k.kind, k.key): k.present for k in v.counts}[("edges", "RELATES_TO")] == 1


def test_a_live_row_changed_during_the_run_fails_untouched_and_the_restore_exits_4(
        dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    b = world(dd)
    changed = {"graph": False, "chroma": False}

    def meddle(p: Progress) -> None:
        """Another writer, mid-run: rewrites a live node the bundle also holds, and a live memory it names."""
        if p.task == "graph" and not changed["graph"]:
            conn = sqlite3.connect(dd.graph_db)
            conn.execute("UPDATE Nodes SET data = json_set(data, '$.properties.v', 'meddled') WHERE id = 'A'")
            conn.commit()
            conn.close()
            changed["graph"] = True
        if p.task == "memories" and not changed["chroma"]:
            client = cs.open_client(dd, create=False)
            col = cs.get_collection(client, COLLECTIONS["memories"])
            assert col is not None
            col.update(ids=["m0"], metadatas=[{"v": "meddled"}])
            changed["chroma"] = True

    res = run_restore(dd, b, RestoreOptions(), on_progress=meddle)
    assert all(changed.values())
    v = res.verification
    assert v is not None and v.status == "failed"
    untouched = check(v, "untouched")
    assert untouched.status == "failed"
    assert any("graph Nodes" in d and "different data" in d for d in untouched.details), untouched.details
    assert any("memories" in d and "m0 (changed)" in d for d in untouched.details), untouched.details
    assert check(v, "counts").status == "passed"  # what the run itself wrote is all there
    # the CLI: the restore completed, its verification failed: exit 4, and the run stays (no rollback)

    real = core.restore.verify_run

    def delete_then_verify(data_dir: DataDir, run_id: str, **kw: Any) -> Verification:
        conn = sqlite3.connect(data_dir.graph_db)
        conn.execute("DELETE FROM Edges WHERE id = 'e1'")
        conn.commit()
        conn.close()
        return real(data_dir, run_id, **kw)

    dd2 = resolve(dd.root.parent / "second" / ".neo-ai-data", env={})
    b2 = world(dd2)
    monkeypatch.setattr(core.restore, "verify_run", delete_then_verify)
    code, out, _ = cli("--data-dir", str(dd2.root), "restore", str(b2), "--json")
    assert code == 4
    result = json.loads(out)
    assert result["status"] == "completed" and result["verification"]["status"] == "failed"
    assert len(list(dd2.runs_dir.iterdir())) == 1


def test_an_orphan_edge_or_a_broken_foreign_key_fails_integrity(dd: DataDir) -> None:
    b = world(dd)
    res = run_restore(dd, b, RestoreOptions())
    conn = sqlite3.connect(dd.graph_db)  # foreign keys off: as a careless writer
    conn.execute("DELETE FROM Nodes WHERE id = 'B'")  # e1 and e2 (inserted by the run) now point nowhere
    conn.commit()
    conn.close()
    v = verify_run(dd, str(res.run_id))
    integrity = check(v, "integrity")
    assert integrity.status == "failed"
    assert "foreign_key_check 2 violation(s)" in integrity.summary and "2 orphan edge(s) introduced" in integrity.summary
    assert any("e1" in d and "e2" in d for d in integrity.details)


def test_a_flat_file_edited_after_the_run_fails_flat(dd: DataDir) -> None:
    b = world(dd)
    res = run_restore(dd, b, RestoreOptions())
    dd.mailbox_file.write_text('{"msg": "edited"}\n')
    v = verify_run(dd, str(res.run_id))
    flat = check(v, "flat")
    assert flat.status == "failed" and flat.details == ("mailbox/sent-to-cull.jsonl: differs from what the run wrote",)


def test_vectors_tie_with_a_duplicate_and_a_miss_is_reported(dd: DataDir) -> None:
    same = vec("twin-a")
    twin = {**vec("twin-b"), "embedding": same["embedding"]}
    b = write_bundle(dd.backup_root, memories=[same, twin, *(vec(f"m{i}") for i in range(20))])
    res = run_restore(dd, b, RestoreOptions(), verify_sample=100)
    v = res.verification
    assert v is not None
    mem = next(x for x in v.vectors if x.collection == "memories")
    assert (mem.sampled, mem.answered) == (22, 22)  # each twin answers: it ties the first hit
    assert answers_itself("x", [("x", 0.0), ("y", 0.5)])
    assert answers_itself("y", [("x", 0.0), ("y", 0.0)])  # a duplicate vector: a tie is an answer
    assert not answers_itself("y", [("x", 0.0), ("y", 0.2)])
    assert not answers_itself("y", [("x", 0.0), ("z", 0.1)])
    # the sample size is the operator's: 0 samples nothing, and says so
    v0 = verify_run(dd, str(res.run_id), sample=0)
    assert {x.sampled for x in v0.vectors} == {0} and v0.sample_size == 0


def test_replace_skips_untouched_and_an_undone_run_has_nothing_to_verify(dd: DataDir) -> None:
    b = world(dd)
    res = run_restore(dd, b, RestoreOptions(mode="replace", force=True, yes=True))
    v = res.verification
    assert v is not None and v.status == "passed"
    assert check(v, "untouched").status == "skipped" and "replace truncates" in check(v, "untouched").summary
    assert check(v, "counts").status == "passed"
    dd2 = resolve(dd.root.parent / "undo" / ".neo-ai-data", env={})
    merged = run_restore(dd2, world(dd2), RestoreOptions())
    undo_run(dd2, str(merged.run_id))
    undone = verify_run(dd2, str(merged.run_id))
    assert undone.status == "undone" and all(c.status == "skipped" for c in undone.checks)
    code, _, _ = cli("--data-dir", str(dd2.root), "verify-run", str(merged.run_id), "--json")
    assert code == 0


def test_a_dry_run_has_no_verification_and_its_json_has_no_key(dd: DataDir) -> None:
    b = world(dd)
    code, out, _ = cli("--data-dir", str(dd.root), "restore", str(b), "--dry-run", "--json")
    assert code == 0 and "verification" not in json.loads(out)
    assert np.isfinite(1.0)


async def test_a_failed_verification_is_loud_in_the_end_view_and_undo_stays_the_operators_call(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from textual.widgets import Static

    from console.scenes import _real_restore, row_deleted_before_verification
    from console.screens.restore import RestoreScreen
    from core.journal import get_run
    from tests.tui_support import copy_demo, demo_cache, make

    dd = copy_demo(demo_cache(tmp_path_factory), tmp_path_factory.mktemp("verify-tui"))
    app = make(dd)
    async with app.run_test(size=(80, 24)) as pilot:
        with row_deleted_before_verification():
            await _real_restore(pilot)
        screen = app.screen
        assert isinstance(screen, RestoreScreen) and screen.result is not None
        v = screen.result.verification
        assert v is not None and v.status == "failed" and [c.name for c in v.failed] == ["counts"]
        panel = screen.query_one("#verification", Static)
        assert panel.display and panel.has_class("-failed")
        text = str(panel.render())
        assert text.startswith(" Verification FAILED: counts") and "nothing was rolled back" in text
        assert "1 inserted row(s) are missing" in text
        assert "VERIFICATION FAILED" in str(screen.query_one("#restore-status", Static).render())
        assert screen.check_action("undo", ()) is True  # offered, not done
        run = get_run(dd, str(screen.result.run_id))
        assert run.status == "completed" and run.undo is None


def test_a_flat_file_whose_name_undo_refuses_to_touch_is_still_verified(dd: DataDir) -> None:
    """A concepts file named with a backslash: undo will not touch it (its safety rule), but verification only
    reads it, in the concepts folder, and finds it equal to the bundle's (found by the hostile-text property
    test: the restore exited 4 on a sound run)."""
    b = write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT")], concepts={"odd\\name.jsonl": '{"c": 1}\n'})
    res = run_restore(dd, b, RestoreOptions())
    assert res.verification is not None
    flat = check(res.verification, "flat")
    assert flat.status == "passed" and flat.summary.startswith("1 of 1"), flat
