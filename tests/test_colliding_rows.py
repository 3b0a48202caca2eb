"""Colliding rows: a bundle row whose id is live is "already present"; the plan says how many of those hold other
content than the live row (`alreadyPresentDiffers`), per label, edge type and collection; a merge still keeps
every live row as it is; drill-down lists those rows and shows one field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from console.cli import main
from core import chroma_store as cs
from core import graph_store as gs
from core import live_scan
from core.collisions import colliding_rows, collision
from core.datadir import DataDir, resolve
from core.plan import Filters, build_plan, scan_bundle
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.substrates import COLLECTIONS
from tests.builders import chroma_state, edge, graph_state, live_vectors, node, vec, write_bundle

LIVE_TEXT = {  # the live rows' data as another writer left it: key order, spacing and float digits its own
    "same": '{"id":"same","label":"CONCEPT","properties":{"name":"same"}}',
    "reordered": '{"properties": {"weight": 1.5, "name": "reordered"}, "label": "CONCEPT", "id": "reordered"}',
    "floats": '{"id":"floats","label":"CONCEPT","properties":{"name":"floats","weight":1.50,"score":1E2}}',
    "edited": '{"id":"edited","label":"CONCEPT","properties":{"name":"edited","state":"closed"}}',
    "issue": '{"id":"issue","label":"ISSUE","properties":{"name":"issue"}}',
}
BUNDLE_NODES = [
    node("same", "CONCEPT"),
    node("reordered", "CONCEPT", weight=1.5),
    node("floats", "CONCEPT", weight=1.5, score=100.0),
    node("edited", "CONCEPT", state="open"),
    node("issue", "ISSUE"),
    node("new", "CONCEPT"),
]
LIVE_EDGES = {
    "e-same": ("same", "issue", "RELATES_TO", '{"id":"e-same","source":"same","target":"issue","type":"RELATES_TO",'
                                              '"properties":{"weight":1}}'),
    "e-moved": ("same", "issue", "RELATES_TO", '{"type":"RELATES_TO","id":"e-moved","source":"same",'
                                               '"target":"issue","properties":{"weight":0.25}}'),
    "e-edited": ("edited", "issue", "DISCOVERED_IN", '{"id":"e-edited","source":"edited","target":"issue",'
                                                     '"type":"DISCOVERED_IN","properties":{"weight":1}}'),
}
BUNDLE_EDGES = [
    edge("e-same", "same", "issue", "RELATES_TO"),
    edge("e-moved", "same", "issue", "RELATES_TO", weight=0.25),  # same content, other key order live
    edge("e-edited", "edited", "issue", "DISCOVERED_IN", weight=2),  # other weight
    edge("e-new", "new", "issue", "RELATES_TO"),
]


def live_rows(dd: DataDir) -> None:
    conn = gs.connect(dd.graph_db, create=True)
    try:
        gs.load(conn, [(k, None, v) for k, v in LIVE_TEXT.items()],
                [(k, None, s, t, et, data) for k, (s, t, et, data) in LIVE_EDGES.items()])
    finally:
        conn.close()


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_rows(d)
    write_bundle(d.backup_root, nodes=BUNDLE_NODES, edges=BUNDLE_EDGES)
    return d


def bundle(d: DataDir) -> Path:
    return next(d.backup_root.glob("backup-*"))


def test_a_live_id_with_other_content_counts_as_differs(dd: DataDir) -> None:
    plan = build_plan(scan_bundle(dd, bundle(dd)))
    concept, issue = plan.graph.labels["CONCEPT"], plan.graph.labels["ISSUE"]
    # key order and float digits (1.50, 1E2) are no difference: only "edited" holds other content
    assert (concept.already_present, concept.already_present_differs, concept.would_insert) == (4, 1, 1)
    assert (issue.already_present, issue.already_present_differs) == (1, 0)
    relates, discovered = plan.graph.edge_types["RELATES_TO"], plan.graph.edge_types["DISCOVERED_IN"]
    assert (relates.already_present, relates.already_present_differs, relates.would_insert) == (2, 0, 1)
    assert (discovered.already_present, discovered.already_present_differs) == (1, 1)
    t = plan.totals
    assert (t.already_present, t.already_present_differs, t.would_insert) == (8, 2, 2)


def test_differs_counts_only_what_a_merge_skips(dd: DataDir) -> None:
    scan = scan_bundle(dd, bundle(dd))
    filtered = build_plan(scan, Filters.of(["CONCEPT"], ["DISCOVERED_IN"]))
    assert filtered.graph.labels["CONCEPT"].already_present_differs == 0  # left out: neither present nor differs
    assert filtered.graph.edge_types["DISCOVERED_IN"].already_present_differs == 0
    replace = build_plan(scan, mode="replace", force=True)  # nothing is live after the truncation
    assert replace.totals.already_present_differs == 0
    assert build_plan(scan, only_substrate=["kb"]).totals.already_present_differs == 0


def test_the_probe_path_of_a_large_live_graph_gives_the_same_split(dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_scan, "LIVE_IDS_IN_MEMORY", 0)  # ids probed per batch instead of read into sets
    monkeypatch.setattr(live_scan, "GRAPH_BATCH", 2)  # and batches that split nodes and edges
    t = build_plan(scan_bundle(dd, bundle(dd))).totals
    assert (t.already_present, t.already_present_differs) == (8, 2)


def test_lines_of_another_writer_are_compared_by_value(tmp_path: Path) -> None:
    """A bundle line not in neo's `{"type":"node","data":...}` shape takes the parsed path, with the same answer;
    a repeated live id is compared at each of its lines."""
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_rows(d)
    lines = [b'{ "data": {"label": "CONCEPT", "id": "same", "properties": {"name": "same"}}, "type": "node" }',
             b'{"type":"node","data":{"id":"edited","label":"CONCEPT","properties":{"name":"edited","state":"closed"}}}\r',
             orjson.dumps({"type": "node", "data": node("edited", "CONCEPT", state="open")}),  # a repeat, other content
             orjson.dumps({"type": "node", "data": node("floats", "CONCEPT", weight=1.5, score=100)})]  # 100 ≠ 1E2
    write_bundle(d.backup_root, graph_lines=lines)
    row = build_plan(scan_bundle(d, bundle(d))).graph.labels["CONCEPT"]
    assert (row.already_present, row.already_present_differs) == (4, 2)


def test_merge_keeps_every_colliding_live_row_byte_for_byte(dd: DataDir) -> None:
    before_nodes, before_edges = graph_state(dd)
    res = run_restore(dd, bundle(dd), RestoreOptions(yes=True))
    assert res.status == "completed"
    after_nodes, after_edges = graph_state(dd)
    for k in LIVE_TEXT:
        assert after_nodes[k] == before_nodes[k]
    for k in LIVE_EDGES:
        assert after_edges[k] == before_edges[k]
    assert after_nodes["edited"][1] == LIVE_TEXT["edited"]  # preserve-live kept the live state, not the bundle's
    assert set(after_nodes) - set(before_nodes) == {"new"}


def chroma_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = vec("m-same", metadata={"sessionId": "s1", "n": 1})
    live = [base,
            vec("m-doc", document="edited live"),
            vec("m-meta", metadata={"sessionId": "s2", "n": 1}),
            vec("m-vec", seed=7),
            vec("m-digits", seed=3),
            vec("m-order", metadata={"n": 1, "sessionId": "s1"}),
            vec("m-empty", metadata={})]
    bundle_rows = [dict(base),
                   vec("m-doc", document="doc"),
                   vec("m-meta", metadata={"sessionId": "s1", "n": 1}),
                   vec("m-vec", seed=8),
                   # the same float32 vector written with more digits: no difference once stored
                   {**vec("m-digits", seed=3),
                    "embedding": [float(x) + 1e-12 for x in vec("m-digits", seed=3)["embedding"]]},
                   vec("m-order", metadata={"sessionId": "s1", "n": 1}),
                   vec("m-empty", metadata={}),
                   vec("m-new")]
    return live, bundle_rows


def test_chroma_rows_differ_by_document_metadata_or_vector(tmp_path: Path) -> None:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live, rows = chroma_rows()
    live_vectors(d, "memories", live)
    live_vectors(d, "kb", [vec("k1", document=None), vec("k2", metadata={"source": "a.md"})])
    write_bundle(d.backup_root, memories=rows, kb=[vec("k1", document=None), vec("k2", metadata={"source": "b.md"})])
    before = chroma_state(d, "memories")
    plan = build_plan(scan_bundle(d, bundle(d)))
    assert (plan.memories.already_present, plan.memories.already_present_differs, plan.memories.would_insert) == \
        (7, 3, 1)  # document, metadata, vector; not more digits, key order or an empty metadata
    assert (plan.kb.already_present, plan.kb.already_present_differs) == (2, 1)
    assert build_plan(scan_bundle(d, bundle(d)), mode="replace", force=True).memories.already_present_differs == 0
    res = run_restore(d, bundle(d), RestoreOptions(yes=True, only_substrate=("mc",)))
    assert res.status == "completed"
    after = chroma_state(d, "memories")
    assert {k: after[k] for k in before} == before  # the live rows stay as they were
    assert set(after) - set(before) == {"m-new"}


def test_diff_json_carries_the_count_beside_already_present(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(dd.root), "diff", bundle(dd).name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    concept = out["graph"]["labels"]["CONCEPT"]
    assert list(concept)[2:4] == ["alreadyPresent", "alreadyPresentDiffers"]
    assert (concept["alreadyPresent"], concept["alreadyPresentDiffers"]) == (4, 1)
    assert out["graph"]["edgeTypes"]["DISCOVERED_IN"]["alreadyPresentDiffers"] == 1
    assert out["graph"]["totals"] == {"filteredOut": 0, "alreadyPresent": 8, "alreadyPresentDiffers": 2,
                                      "wouldInsert": 2}
    for key in ("memories", "summaries", "kb"):
        assert out[key]["alreadyPresentDiffers"] == 0


def test_diff_table_shows_the_count(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(dd.root), "diff", bundle(dd).name]) == 0
    out = capsys.readouterr().out
    assert "of which" in out and "differs" in out
    flat = " ".join(out.split())
    assert "already present 8 (2 differ)" in flat
    assert "2 row(s) whose id is live hold other content in the bundle: the merge keeps the live row" in flat


def test_drill_down_pages_the_differing_rows_and_shows_one_field_by_field(tmp_path: Path) -> None:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    nodes = [node(f"n{i}", "CONCEPT", state="live") for i in range(7)]
    conn = gs.connect(d.graph_db, create=True)
    gs.load(conn, [(n["id"], None, orjson.dumps(n).decode()) for n in nodes], [])
    conn.close()
    bundle_nodes = [node(f"n{i}", "CONCEPT", state="live" if i % 2 else "bundle") for i in range(7)]
    write_bundle(d.backup_root, nodes=[*bundle_nodes, node("other", "ISSUE")])
    b = bundle(d)
    first = colliding_rows(d, b, "node", "CONCEPT", limit=3)
    assert [r.id for r in first.rows] == ["n0", "n2", "n4"] and first.more
    second = colliding_rows(d, b, "node", "CONCEPT", offset=3, limit=3)
    assert [r.id for r in second.rows] == ["n6"] and not second.more
    assert colliding_rows(d, b, "node", "ISSUE").rows == ()
    one = collision(d, b, "node", first.rows[1])
    assert one is not None and one.record.id == "n2"
    assert [(c.path, c.a, c.b) for c in one.match.changes] == [("properties.state", "bundle", "live")]
    assert one.match.live is not None and one.match.live["properties"] == {"name": "n2", "state": "live"}


def test_a_cosine_store_rounding_a_restored_vector_is_no_difference(tmp_path: Path) -> None:
    """Chroma's cosine space gives back a vector up to 2 float32 ulps from the one added: after a restore, the
    plan of the same bundle must not call its rows different; a real change of the vector still is one."""
    d = resolve(tmp_path / ".neo-ai-data", env={})
    rows = [vec(f"m{i}", dim=64, seed=i) for i in range(20)]
    col = cs.get_collection(cs.open_client(d), COLLECTIONS["memories"], create=True, space="cosine")
    assert col is not None
    col.add(ids=[r["id"] for r in rows], embeddings=[r["embedding"] for r in rows],
            metadatas=[r["metadata"] for r in rows], documents=[r["document"] for r in rows])
    stored = {r.id: np.asarray(r.embedding, dtype=np.float32) for r in cs.records_by_id(col, [r["id"] for r in rows])}
    assert any((stored[r["id"]] != np.asarray(r["embedding"], dtype=np.float32)).any() for r in rows)  # it rounds
    changed = {**rows[3], "embedding": [x + 0.01 for x in rows[3]["embedding"]]}
    write_bundle(d.backup_root, memories=[*rows[:3], changed, *rows[4:]])
    plan = build_plan(scan_bundle(d, bundle(d)))
    assert (plan.memories.already_present, plan.memories.already_present_differs) == (20, 1)
    page = colliding_rows(d, bundle(d), "memories", "memories")
    assert [r.id for r in page.rows] == ["m3"]
    one = collision(d, bundle(d), "memories", page.rows[0])
    assert one is not None and [(c.path, c.change) for c in one.match.changes] == [("embedding", "vector")]


@pytest.mark.parametrize("held", [True, False])
def test_hostile_ids_are_compared_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: bool) -> None:
    """Ids with NUL, bidi marks, emoji and 10 KB: each compared with its own live row (bound, never spliced),
    whether the live ids are held in memory or probed."""
    monkeypatch.setattr(live_scan, "LIVE_IDS_IN_MEMORY", 1_000_000 if held else 0)
    d = resolve(tmp_path / ".neo-ai-data", env={})
    ids = ["a", "a\x00b", "\x00", "\u202e", "😀", "x" * 10_240]
    conn = gs.connect(d.graph_db, create=True)
    gs.load(conn, [(i, None, orjson.dumps(node(i, "CONCEPT")).decode()) for i in ids], [])
    conn.close()
    changed = {"a\x00b", "😀"}
    write_bundle(d.backup_root, nodes=[node(i, "CONCEPT", edited=True) if i in changed else node(i, "CONCEPT")
                                       for i in [*ids, "a\x00"]])
    row = build_plan(scan_bundle(d, bundle(d))).graph.labels["CONCEPT"]
    assert (row.already_present, row.already_present_differs, row.would_insert) == (6, 2, 1)
    page = colliding_rows(d, bundle(d), "node", "CONCEPT")
    assert sorted(r.id for r in page.rows) == sorted(changed)
