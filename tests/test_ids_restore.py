"""Restore just these: picked ids with the edges and Memory Core rows they need, by the one restore path (its
plan, journal and undo), merge only, live rows untouched; the selection never shows up as a backup."""

from __future__ import annotations

import json
import sys
from io import StringIO
from pathlib import Path

import pytest

from console.cli import main
from core.bundle import list_bundles
from core.datadir import DataDir, resolve
from core.errors import UsageError
from core.ids_restore import read_ids, select
from tests import neofmt
from tests.builders import chroma_state, edge, graph_state, live_graph, live_vectors, node, vec, write_bundle


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_graph(d, [node("live-a", "CONCEPT", note="live wins")], [])
    live_vectors(d, "memories", [vec("m-live")])
    write_bundle(d.backup_root, nodes=[
        node("frontier", "SYSTEM_ANCHOR"), node("m1", "AGENT_MEMORY", semanticVectorId="m1"),
        node("m2", "AGENT_MEMORY"), node("n-x", "AGENT_MEMORY", semanticVectorId="vec-x"),
        node("live-a", "CONCEPT", note="bundle"), node("summary_s1", "SESSION_SUMMARY")],
        edges=[edge("e-spawn", "frontier", "m1", "SPAWNED_MEMORY"), edge("e-live", "m1", "live-a", "RELATES_TO"),
               edge("e-m2", "m2", "m1", "RELATES_TO"), edge("e-sum", "summary_s1", "m1", "SUMMARIZES"),
               edge("e-other", "m2", "live-a", "RELATES_TO")],
        memories=[vec("m1", document="the restore after the wipe"), vec("m2"), vec("vec-x"), vec("m-live")],
        summaries=[vec("summary_s1")], kb=[vec("kb-1")])
    return d


def bundle(d: DataDir) -> Path:
    return next(d.backup_root.glob("backup-*"))


def cli(capsys: pytest.CaptureFixture[str], d: DataDir, *argv: str, stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str]:
    capsys.readouterr()
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", StringIO(stdin))
    code = main(["--data-dir", str(d.root), *argv])
    return code, capsys.readouterr().out


def test_a_memory_comes_back_alone_with_its_node_and_the_edges_it_can_have(
        dd: DataDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    nodes_before, edges_before = graph_state(dd)
    mem_before = chroma_state(dd, "memories")
    code, out = cli(capsys, dd, "restore", "latest", "--ids", "-", "--json", stdin="m1\n", monkeypatch=monkeypatch)
    assert code == 0
    res = json.loads(out)
    sel = res["selection"]
    assert sel["picked"]["nodes"] == 1 and sel["picked"]["memories"] == 1
    assert sel["records"] == {"nodes": 1, "edges": 4, "memories": 1, "summaries": 0, "kb": 0, "temporalSummaries": 0}
    g = res["subsystems"]["graph"]["counts"]["graph"]
    assert g["nodes"]["inserted"] == 1 and g["edges"]["inserted"] == 1  # m1, and its edge to the live node
    assert res["subsystems"]["graph"]["filterStats"]["orphanEdges"] == 3  # the others' far ends exist nowhere
    assert res["subsystems"]["mc"]["counts"]["memories"]["inserted"] == 1
    assert "kb" not in res["subsystems"] and "concepts" not in res["subsystems"]  # only what the selection holds
    nodes, edges = graph_state(dd)
    assert set(nodes) == {*nodes_before, "m1"} and set(edges) == {*edges_before, "e-live"}
    assert nodes["live-a"] == nodes_before["live-a"]  # merge never touches a live row
    mem = chroma_state(dd, "memories")
    assert set(mem) == {*mem_before, "m1"} and mem["m1"][0] == "the restore after the wipe"
    # the selection is a bundle under the state dir, never one of the backup root's
    assert [b.name for b in list_bundles(dd.backup_root).bundles] == [bundle(dd).name]
    assert Path(sel["bundle"]).is_relative_to(dd.state_dir)
    # undo, like any merge run, removes exactly what it inserted
    code, _ = cli(capsys, dd, "undo", res["runId"], "--json")
    assert code == 0
    assert graph_state(dd) == (nodes_before, edges_before)
    assert set(chroma_state(dd, "memories")) == set(mem_before)


def test_a_node_brings_its_memory_by_semantic_vector_id_and_summaries_by_id(dd: DataDir) -> None:
    sel = select(dd, bundle(dd), read_ids("n-x\nsummary_s1\n"))
    assert (sel.records.nodes, sel.records.memories, sel.records.summaries) == (2, 1, 1)
    assert sel.found == 2 and sel.missing_count == 0 and set(sel.substrates) == {"mc", "graph"}
    again = select(dd, bundle(dd), read_ids("summary_s1\nn-x"))  # the same request: the same selection
    assert again.bundle == sel.bundle and again.records == sel.records


def test_search_json_pipes_into_restore(dd: DataDir, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    code, found = cli(capsys, dd, "search", "latest", "wipe", "--json")
    assert code == 0 and [h["id"] for h in json.loads(found)["hits"]] == ["m1"]
    code, out = cli(capsys, dd, "restore", "latest", "--ids", "-", "--dry-run", "--json", stdin=found,
                    monkeypatch=monkeypatch)
    assert code == 0
    res = json.loads(out)
    # the hit named the memory (its kind), so the memory and its node come, and nothing was written
    assert res["dryRun"] is True and res["selection"]["picked"] == {
        "nodes": 0, "edges": 0, "memories": 1, "summaries": 0, "kb": 0, "temporalSummaries": 0}
    assert res["subsystems"]["graph"]["counts"]["graph"]["nodes"]["inserted"] == 1
    assert "m1" not in graph_state(dd)[0]


def test_refusals(dd: DataDir, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("m1\n")
    code, out = cli(capsys, dd, "restore", "latest", "--ids", str(ids), "--mode", "replace", "--json")
    assert code == 2 and "merge" in json.loads(out)["error"]["message"]
    ids.write_text("nope\nnot-here\n")
    code, out = cli(capsys, dd, "restore", "latest", "--ids", str(ids), "--json")
    assert code == 2 and "none of the 2 id(s)" in json.loads(out)["error"]["message"]
    code, out = cli(capsys, dd, "restore", "latest", "--ids", str(tmp_path / "missing.txt"), "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "USAGE"
    with pytest.raises(UsageError, match="empty"):
        select(dd, bundle(dd), read_ids("\n\n"))
    ids.write_text("m1\nnot-here\n")
    code, out = cli(capsys, dd, "--readonly", "restore", "latest", "--ids", str(ids))
    assert code == 2


def test_missing_ids_are_named(dd: DataDir) -> None:
    sel = select(dd, bundle(dd), read_ids("m2\nghost-1\nghost-2\n"))
    assert sel.found == 1 and sel.missing == ("ghost-1", "ghost-2") and sel.missing_count == 2


def test_a_memory_found_by_a_word_in_a_brotli_bundle_comes_back_alone_with_its_edges(
        dd: DataDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13's acceptance on today's neo format: the bundle's kb/mc/graph payloads are `.jsonl.br`."""
    b = neofmt.recode(bundle(dd), "jsonl+br")
    meta = json.loads((b / "bundle-meta.json").read_text())
    meta.pop("checksums", None)  # neo's bundles carry none; recoding changed every payload's bytes
    (b / "bundle-meta.json").write_text(json.dumps(meta))
    assert all(p.name.endswith(".jsonl.br") for p in b.glob("*/*-backup-*")) and any(b.glob("mc/*.jsonl.br"))
    code, found = cli(capsys, dd, "search", "latest", "wipe", "--json")
    assert code == 0 and [h["id"] for h in json.loads(found)["hits"]] == ["m1"]
    nodes_before, edges_before = graph_state(dd)
    code, out = cli(capsys, dd, "restore", "latest", "--ids", "-", "--json", stdin=found, monkeypatch=monkeypatch)
    assert code == 0, out
    res = json.loads(out)
    assert res["selection"]["picked"]["memories"] == 1 and res["verification"]["status"] == "passed"
    nodes, edges = graph_state(dd)
    assert set(nodes) == {*nodes_before, "m1"} and set(edges) == {*edges_before, "e-live"}
    assert chroma_state(dd, "memories")["m1"][0] == "the restore after the wipe"
