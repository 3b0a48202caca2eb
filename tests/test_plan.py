"""The restore plan: every number re-derived from the scan's aggregates, checked against a brute-force oracle
of neo's semantics (section 4.5, first occurrence wins) and against what a real restore then does."""

from __future__ import annotations

import itertools
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.datadir import DataDir, resolve
from core.errors import UsageError
from core.plan import EdgeTypeRow, Filters, PlanTotals, build_plan, scan_bundle
from core.restore import run_restore
from core.restore_model import EdgeTypeCount, RestoreOptions, RestoreTotals
from core.wire import encode
from tests.builders import edge, graph_state, live_graph, node, staged, write_bundle

# Live after the "wipe": A and G survive (G is a KB_GAP), X is new live-only, and one live edge.
LIVE_NODES = [node("A", "CONCEPT", live=True), node("G", "KB_GAP", live=True), node("X", "FILE", live=True)]
LIVE_EDGES = [edge("eL", "A", "X", "CONTAINS", live=True)]
BUNDLE_NODES = [
    node("A", "CONCEPT"), node("B", "FILE"), node("C", "KB_GAP"), node("G", "KB_GAP"),
    node("D", "CLASS"), node("D", "FILE"),  # a duplicate id under two labels
    node("M", "MESSAGE"), node("N", "TOOLING_GAP"),
]
BUNDLE_EDGES = [
    edge("e1", "A", "B", "CONTAINS"),
    edge("e2", "B", "C", "DISCOVERED_IN"),
    edge("e3", "C", "nowhere", "RELATES_TO"),  # points at a node that exists nowhere: always an orphan
    edge("e4", "M", "G", "RELATES_TO"),  # G filtered under KB_GAP but live: kept
    edge("e5", "M", "C", "RELATES_TO"),  # C filtered under KB_GAP and not live: orphan
    edge("eL", "A", "X", "CONTAINS"),  # id live
    edge(None, "B", "M", "SENT_TO"), edge(None, "B", "M", "SENT_TO"),  # one fallback id, twice
    edge("e6", "D", "M", "RELATES_TO"),
    edge("e7", "M", "X", "RELATES_TO"),  # X exists only live
    edge("e8", "N", "D", "EVALUATED_BY"),
    edge("e8", "N", "A", "EVALUATED_BY"),  # a duplicate edge id with other endpoints
]
LABELS = ["FILE", "KB_GAP", "CLASS", "CONCEPT", "TOOLING_GAP"]
TYPES = ["CONTAINS", "RELATES_TO", "EVALUATED_BY"]


def make(tmp: Path, name: str = "dd") -> tuple[DataDir, Path]:
    dd = resolve(tmp / name, env={})
    live_graph(dd, LIVE_NODES, LIVE_EDGES)
    b = write_bundle(dd.backup_root, nodes=BUNDLE_NODES, edges=BUNDLE_EDGES)
    return dd, b


def oracle(filters: Filters, replace: bool = False) -> dict[str, dict[str, dict[str, int]]]:
    """neo's restore, simulated line by line with sets: the semantics the plan must predict."""
    nodes_present = set() if replace else {n["id"] for n in LIVE_NODES}
    edges_present = set() if replace else {e["id"] for e in LIVE_EDGES}
    out: dict[str, dict[str, dict[str, int]]] = {"nodes": {}, "edges": {}}

    def bump(kind: str, key: str, what: str) -> None:
        row = out[kind].setdefault(key, {"backup": 0, "filtered": 0, "orphaned": 0, "already_present": 0,
                                         "would_insert": 0})
        row["backup"] += 1
        row[what] += 1

    for n in BUNDLE_NODES:
        if n["label"] in filters.labels:
            bump("nodes", n["label"], "filtered")
        elif n["id"] in nodes_present:
            bump("nodes", n["label"], "already_present")
        else:
            nodes_present.add(n["id"])
            bump("nodes", n["label"], "would_insert")
    for e in BUNDLE_EDGES:
        eid = e.get("id") or f"{e['source']}->{e['target']}:{e['type']}"
        if e["type"] in filters.edge_types:
            bump("edges", e["type"], "filtered")
        elif e["source"] not in nodes_present or e["target"] not in nodes_present:
            bump("edges", e["type"], "orphaned")
        elif eid in edges_present:
            bump("edges", e["type"], "already_present")
        else:
            edges_present.add(eid)
            bump("edges", e["type"], "would_insert")
    return out


def plan_rows(plan: Any) -> dict[str, dict[str, dict[str, int]]]:
    keys = ("backup", "filtered", "orphaned", "already_present", "would_insert")
    rows: dict[str, dict[str, dict[str, int]]] = {"nodes": {}, "edges": {}}
    for kind, src in (("nodes", plan.graph.labels), ("edges", plan.graph.edge_types)):
        for k, r in src.items():
            if r.backup:
                rows[kind][k] = {f: getattr(r, f, 0) for f in keys}
    return rows


def filter_sets() -> list[Filters]:
    out = []
    for n in range(len(LABELS) + 1):
        for labels in itertools.combinations(LABELS, n):
            for m in range(len(TYPES) + 1):
                for types in itertools.combinations(TYPES, m):
                    out.append(Filters.of(labels, types))
    return out


def test_plan_matches_the_oracle_for_every_filter_set_and_mode(tmp_path: Path) -> None:
    dd, b = make(tmp_path)
    scan = scan_bundle(dd, b)
    for f in filter_sets():
        for mode in ("merge", "replace"):
            plan = build_plan(scan, f, mode=mode)
            assert plan_rows(plan) == oracle(f, replace=mode == "replace"), (f, mode)
            for kind, src in (("labels", plan.graph.labels), ("edge_types", plan.graph.edge_types)):
                for key, r in src.items():  # the documented row invariant
                    orphaned = r.orphaned if isinstance(r, EdgeTypeRow) else 0
                    assert r.backup == r.filtered + orphaned + r.already_present + r.would_insert, (kind, key)
            t, fs = plan.graph.totals, plan.graph.filter_stats
            assert t.filtered_out == fs.filtered_nodes + fs.filtered_edges + fs.orphan_edges
            assert t.filtered_out + t.already_present + t.would_insert == len(BUNDLE_NODES) + len(BUNDLE_EDGES)


def test_live_column_counts_live_rows_per_label_and_type(tmp_path: Path) -> None:
    dd, b = make(tmp_path)
    plan = build_plan(scan_bundle(dd, b))
    assert plan.graph.labels["CONCEPT"].live == 1 and plan.graph.labels["KB_GAP"].live == 1
    assert plan.graph.labels["FILE"].live == 1  # X: live only, still listed
    assert plan.graph.edge_types["CONTAINS"].live == 1
    assert (plan.graph.live.nodes, plan.graph.live.edges) == (3, 1)


def test_orphan_rule_both_ways(tmp_path: Path) -> None:
    """An edge to a filtered node that exists live is kept; an edge to a node that exists nowhere is dropped."""
    dd, b = make(tmp_path)
    plan = build_plan(scan_bundle(dd, b), Filters.of(["KB_GAP"]))
    rel = plan.graph.edge_types["RELATES_TO"]
    # e3 (C -> nowhere) and e5 (M -> C, C filtered and not live) are orphans; e4 (M -> G, G live), e6, e7 go in
    assert (rel.orphaned, rel.would_insert) == (2, 3)
    res = run_restore(dd, b, RestoreOptions(filters=Filters.of(["KB_GAP"])))
    _, edges = graph_state(dd)
    assert "e4" in edges and "e7" in edges
    assert "e3" not in edges and "e5" not in edges
    assert res.graph is not None and res.graph.by_edge_type["RELATES_TO"].orphaned == 2


def test_orphans_without_filters_are_dropped_not_failed(tmp_path: Path) -> None:
    """Decision: the orphan rule applies without filters too (neo would count them `failed` via the FK)."""
    dd, b = make(tmp_path)
    plan = build_plan(scan_bundle(dd, b))
    assert plan.graph.filter_stats.orphan_edges == 1  # e3 only
    res = run_restore(dd, b, RestoreOptions())
    assert res.graph is not None
    assert res.graph.filter_stats.orphan_edges == 1
    assert res.graph.counts.edges.failed == 0
    assert res.failures_total == 0


@pytest.mark.parametrize("labels,types", [((), ()), (("KB_GAP",), ()), (("FILE", "CLASS"), ("CONTAINS",)),
                                          (("CONCEPT", "TOOLING_GAP"), ("RELATES_TO", "EVALUATED_BY"))])
def test_restore_counts_equal_the_plan(tmp_path: Path, labels: tuple[str, ...], types: tuple[str, ...]) -> None:
    dd, b = make(tmp_path)
    f = Filters.of(labels, types)
    plan = build_plan(scan_bundle(dd, b), f)
    res = run_restore(dd, b, RestoreOptions(filters=f))
    g = res.graph
    assert g is not None and g.filter_stats == plan.graph.filter_stats
    for kind, rows in (("by_label", plan.graph.labels), ("by_edge_type", plan.graph.edge_types)):
        for key, r in rows.items():
            got = encode(getattr(g, kind).get(key)) or {}
            assert isinstance(got, dict)
            assert got.get("inserted", 0) == r.would_insert, (kind, key)
            assert got.get("skippedExisting", 0) == r.already_present, (kind, key)
            assert got.get("filtered", 0) == r.filtered, (kind, key)
            assert got.get("orphaned", 0) == getattr(r, "orphaned", 0), (kind, key)
    t = plan.totals
    assert res.totals == RestoreTotals(filtered_out=t.filtered_out, already_present=t.already_present,
                                       inserted=t.would_insert)


def test_replace_counts_equal_the_plan(tmp_path: Path) -> None:
    dd, b = make(tmp_path)
    f = Filters.of(["KB_GAP"], ["CONTAINS"])
    plan = build_plan(scan_bundle(dd, b), f, ["graph"], mode="replace")
    res = run_restore(dd, b, RestoreOptions(mode="replace", force=True, yes=True, filters=f,
                                            only_substrate=["graph"]))
    t = plan.totals
    assert res.totals == RestoreTotals(filtered_out=t.filtered_out, already_present=t.already_present,
                                       inserted=t.would_insert)
    nodes, _ = graph_state(dd)
    assert "X" not in nodes  # live-only rows are gone after a replace (the safety bundle has them)


def test_fallback_edge_id_is_source_arrow_target_type(tmp_path: Path) -> None:
    dd, b = make(tmp_path)
    res = run_restore(dd, b, RestoreOptions())
    _, edges = graph_state(dd)
    assert "B->M:SENT_TO" in edges
    assert edges["B->M:SENT_TO"][1:4] == ("B", "M", "SENT_TO")
    assert res.graph is not None
    sent = res.graph.by_edge_type["SENT_TO"]
    assert isinstance(sent, EdgeTypeCount)
    assert (sent.inserted, sent.skipped_existing) == (1, 1)  # the second id-less edge has the same id


def test_only_substrate_rules(tmp_path: Path) -> None:
    dd, b = make(tmp_path)
    scan = scan_bundle(dd, b)
    with pytest.raises(UsageError, match=r"Unknown substrate\(s\) in --only-substrate: bogus\. Valid: kb, mc, graph"):
        build_plan(scan, only_substrate=["graph", "bogus"])
    nothing = build_plan(scan, only_substrate=[])
    assert nothing.graph.totals == PlanTotals(filtered_out=0, already_present=0, would_insert=0)
    assert not nothing.graph.selected and nothing.graph.labels["FILE"].backup == 2
    assert all(not fp.selected for fp in nothing.flat.values())
    with pytest.raises(UsageError, match="Unknown mode: upsert. Must be 'merge' or 'replace'."):
        build_plan(scan, mode="upsert")


def test_plan_json_shape(tmp_path: Path) -> None:
    dd, b = make(tmp_path)
    j = encode(build_plan(scan_bundle(dd, b), Filters.of(["KB_GAP"])))
    assert isinstance(j, dict)
    assert {"bundle", "graph", "memories", "summaries", "kb", "flat"} <= set(j)
    row = ["backup", "live", "alreadyPresent", "alreadyPresentDiffers", "wouldInsert", "filtered"]
    assert list(j["graph"]["labels"]["FILE"]) == row
    assert list(j["graph"]["edgeTypes"]["CONTAINS"]) == [*row, "orphaned"]
    assert list(j["graph"]["totals"]) == ["filteredOut", "alreadyPresent", "alreadyPresentDiffers", "wouldInsert"]
    assert set(j["graph"]["filterStats"]) == {"filteredNodes", "filteredEdges", "orphanEdges", "acceptedNodes"}
    for key in ("memories", "summaries", "kb"):
        assert list(j[key])[:6] == ["selected", "backup", "live", "alreadyPresent", "alreadyPresentDiffers",
                                    "wouldInsert"]
    orjson.dumps(j)  # serialisable as is


def test_scan_labels_and_edge_types_for_checkboxes(tmp_path: Path) -> None:
    dd, b = make(tmp_path)
    scan = scan_bundle(dd, b)
    assert scan.labels[0] == "FILE"  # most common in the bundle first
    assert set(scan.labels) == {"CONCEPT", "FILE", "KB_GAP", "CLASS", "MESSAGE", "TOOLING_GAP"}
    assert "SENT_TO" in scan.edge_types


def test_plan_of_a_data_dir_without_a_graph_db(tmp_path: Path) -> None:
    dd = resolve(tmp_path / "empty", env={})
    b = write_bundle(dd.backup_root, nodes=BUNDLE_NODES, edges=BUNDLE_EDGES)
    plan = build_plan(scan_bundle(dd, b))
    assert plan.graph.totals.already_present == 3  # only the in-bundle duplicates: D, B->M:SENT_TO, e8
    assert not dd.graph_db.exists()  # planning writes nothing


def test_each_graph_line_is_staged_once_with_its_data_verbatim(tmp_path: Path) -> None:
    raw = b'{"type":"node","data":{"id":"n1","label":"FILE","properties":{"x":1.50,"u":"\\u00e9"}}}'
    rows = staged(tmp_path, [
        raw, b"",
        # a wrapper with an extra key is not neo's exact shape: data is re-serialised from the parsed object
        b'{"type":"node","data":{"id":"n2","label":"X"},"extra":1}',
        b'{"data":{"id":"n3","label":"Y"},"type":"node"}',  # keys in another order: parsed whole
        b'{"type":"edge","data":{"source":"a","target":"b","type":"T","properties":{"userId":"u"}}}',
    ])
    assert [(r["line"], r["id"]) for r in rows] == [(1, "n1"), (3, "n2"), (4, "n3"), (5, "a->b:T")]
    assert rows[0]["data"] == raw[22:-1]  # the line's own bytes, not re-serialised (the merge stores them as TEXT)
    assert orjson.loads(rows[1]["data"]) == {"id": "n2", "label": "X"}
    e = rows[3]
    assert (e["kind"], e["source"], e["target"], e["label"], e["user_id"]) == (1, "a", "b", "T", "u")
    assert all(r["crc"] == zlib.crc32(r["data"]) for r in rows)


def test_scan_counts_every_line_across_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.live_scan.GRAPH_BATCH", 3)  # batches split by size and by kind, nodes after edges too
    dd = resolve(tmp_path / "dd", env={})
    live_graph(dd, LIVE_NODES, LIVE_EDGES)
    lines = [orjson.dumps({"type": "node", "data": n}) for n in BUNDLE_NODES] + \
            [orjson.dumps({"type": "edge", "data": e}) for e in BUNDLE_EDGES[:5]] + \
            [orjson.dumps({"type": "node", "data": node("Z", "LATE")})] + \
            [orjson.dumps({"type": "edge", "data": e}) for e in BUNDLE_EDGES[5:]]
    b = write_bundle(dd.backup_root, graph_lines=lines)
    scan = scan_bundle(dd, b)
    assert scan.graph.lines == len(lines)
    small = build_plan(scan)
    monkeypatch.setattr("core.live_scan.GRAPH_BATCH", 20_000)
    assert build_plan(scan_bundle(dd, b)) == small


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_repeated_ids_across_batches_count_as_in_one_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           batch: int) -> None:
    # batch 1: every repeat (D, the fallback SENT_TO id, e8) meets its first occurrence in an earlier batch
    dd = resolve(tmp_path / "dd", env={})
    live_graph(dd, LIVE_NODES, LIVE_EDGES)
    b = write_bundle(dd.backup_root, nodes=BUNDLE_NODES, edges=BUNDLE_EDGES)
    whole = scan_bundle(dd, b)
    monkeypatch.setattr("core.live_scan.GRAPH_BATCH", batch)
    split = scan_bundle(dd, b)
    assert (split.graph.nodes, split.graph.edges) == (whole.graph.nodes, whole.graph.edges)
    for filters in (Filters(), Filters.of(["CLASS"], []), Filters.of(["FILE"], ["EVALUATED_BY"])):
        assert build_plan(split, filters) == build_plan(whole, filters)
