"""neo's later restore flags end to end: --preserve-read-state, --operation reseed, --target-collection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from core import chroma_store as cs
from core.datadir import DataDir
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.undo import undo_run
from tests import neofmt
from tests.builders import chroma_state, graph_state, live_graph, live_vectors


def mailbox(tmp_path: Path) -> tuple[Path, list[dict[str, object]], list[dict[str, object]]]:
    """A bundle whose DELIVERED_TO edges carry no read receipts (taken before they were read)."""
    nodes = [{"id": i, "label": "MESSAGE" if i.startswith("m") else "AGENT", "properties": {}}
             for i in ("m1", "m2", "m3", "a1", "a2")]
    edges = neofmt.delivered_edges([("m1", "a1"), ("m2", "a1"), ("m3", "a2")])
    edges[2]["properties"]["readAt"] = "2026-09-01T00:00:00Z"  # the bundle's own value is never regressed
    return neofmt.write_bundle(tmp_path / "b", neofmt.NeoBundleSpec(nodes=nodes, edges=edges)), nodes, edges


def read_state(dd: DataDir) -> dict[tuple[str, str], tuple[object, object]]:
    _nodes, edges = graph_state(dd)
    out = {}
    for _eid, (_uid, source, target, etype, data) in edges.items():
        if etype == "DELIVERED_TO":
            props = json.loads(data).get("properties", {})
            out[(source, target)] = (props.get("readAt"), props.get("archivedAt"))
    return out


def test_reseed_keeps_the_live_read_receipts_across_the_graph_replace(data_dir: DataDir, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bundle, nodes, _ = mailbox(tmp_path)
    live_edges = neofmt.delivered_edges([("m1", "a1")], readAt="2026-09-20T08:00:00Z", archivedAt=17)
    live_edges += neofmt.delivered_edges([("m3", "a2")], readAt="2026-09-22T00:00:00Z")
    live_edges += neofmt.delivered_edges([("m2", "a2")], readAt={"at": 1, "by": ["x"]})  # no such edge restored
    live_graph(data_dir, nodes, live_edges)
    code = main(["--data-dir", str(data_dir.root), "restore", str(bundle), "--operation", "reseed", "--force",
                 "--yes", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0, res
    assert res["mode"] == "replace" and set(res["subsystems"]) == {"graph"}
    assert res["subsystems"]["graph"]["readReceiptsReapplied"] == 1
    assert read_state(data_dir) == {("m1", "a1"): ("2026-09-20T08:00:00Z", 17), ("m2", "a1"): (None, None),
                                    ("m3", "a2"): ("2026-09-01T00:00:00Z", None)}


def test_a_replace_without_the_flag_loses_them(data_dir: DataDir, tmp_path: Path) -> None:
    bundle, nodes, _ = mailbox(tmp_path)
    live_graph(data_dir, nodes, neofmt.delivered_edges([("m1", "a1")], readAt="2026-09-20T08:00:00Z"))
    res = run_restore(data_dir, bundle, RestoreOptions(mode="replace", yes=True, force=True, only_substrate=["graph"]))
    assert res.graph is not None and res.graph.read_receipts_reapplied is None
    assert read_state(data_dir)[("m1", "a1")] == (None, None)


def test_preserve_read_state_under_merge_warns_and_changes_nothing(data_dir: DataDir, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bundle, _, _ = mailbox(tmp_path)
    code = main(["--data-dir", str(data_dir.root), "restore", str(bundle), "--preserve-read-state", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["mode"] == "merge"
    assert any("no effect under --mode merge" in w for w in res["warnings"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--operation", "reseed", "--mode", "merge"], 'pins mode="replace", but "merge" was requested'),
    (["--operation", "reseed", "--only-substrate", "graph,mc"], 'pins onlySubstrate=["graph"]'),
    (["--operation", "wipe"], "Unknown operation: wipe. Valid: reseed."),
    (["--target-collection", "scratch"], "requires --only-substrate=kb"),
    (["--target-collection", "scratch", "--only-substrate", "kb", "--mode", "replace"], "cannot be combined"),
    (["--target-collection", "neo-knowledge-base", "--only-substrate", "kb"], "DISPOSABLE_RESTORE_TARGET_REQUIRED"),
])
def test_contradicting_arguments_are_refused_with_exit_2(data_dir: DataDir, tmp_path: Path, argv: list[str],
                                                         message: str, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, _, _ = mailbox(tmp_path)
    code = main(["--data-dir", str(data_dir.root), "restore", str(bundle), *argv, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and message in out["error"]["message"]
    assert not data_dir.graph_db.exists()


def test_target_collection_restores_the_kb_into_a_throwaway_collection(data_dir: DataDir, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rows = neofmt.vector_rows("kb", 6)
    live_vectors(data_dir, "kb", neofmt.vector_rows("kb", 2, seed=5, start=100))
    bundle = neofmt.write_bundle(tmp_path / "b", neofmt.NeoBundleSpec(kb=rows))
    before = chroma_state(data_dir, "kb")
    code = main(["--data-dir", str(data_dir.root), "restore", str(bundle), "--only-substrate", "kb",
                 "--target-collection", "kb-scratch", "--dry-run", "--json"])
    dry = json.loads(capsys.readouterr().out)
    assert code == 0 and dry["subsystems"]["kb"]["targetCollection"] == "kb-scratch"
    assert dry["subsystems"]["kb"]["inserted"] == 6 and dry["plan"]["kb"]["live"] == 0
    code = main(["--data-dir", str(data_dir.root), "restore", str(bundle), "--only-substrate", "kb",
                 "--target-collection", "kb-scratch", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert code == 0 and res["subsystems"]["kb"]["inserted"] == 6
    assert res["subsystems"]["kb"]["targetCollection"] == "kb-scratch"
    assert chroma_state(data_dir, "kb") == before  # the canonical collection is untouched
    client = cs.open_client(data_dir, create=False)
    assert cs.count(cs.get_collection(client, "kb-scratch")) == 6
    undone = undo_run(data_dir, res["runId"])  # undo finds the rows where they went, not in the canonical KB
    assert undone.removed.get("kb") == 6
    assert cs.count(cs.get_collection(client, "kb-scratch")) == 0
    assert chroma_state(data_dir, "kb") == before
