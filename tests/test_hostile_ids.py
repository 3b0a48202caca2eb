"""Every id lookup is exact for every string JSON can carry: NUL, bidi controls, emoji, 10 KB ids.

The existence checks of the plan, the restore, recovery and undo once went through SQLite's `json_each`,
which cuts a string at an embedded U+0000: such a node was never found again, so a re-run failed and undo left
it behind, and `a\\0b` even matched a live `a`. Lone surrogates are left out: they cannot come from UTF-8 JSON.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import live_scan
from core.datadir import DataDir, resolve
from core.graph_store import EDGES, NODES, connect
from core.journal import RunJournal, list_runs, recover_interrupted
from core.plan import build_plan, scan_bundle
from core.restore import run_restore
from core.restore_model import RestoreOptions, RestoreTotals
from core.undo import undo_run
from tests.builders import edge, graph_state, live_graph, node, write_bundle

SPECIAL = ["a", "a\x00", "a\x00b", "\x00", "\x00\x00", "\u202e", "\u202eevil\u202c", "\u200f\u061c", "😀",
           "👩\u200d👩\u200d👧", "x" * 10_240, "\u2028", "\\u0000", '"', "\\", "\x7f\x85\x9b", "\ufeff", "\x1b[2J"]
IDS = st.one_of(st.sampled_from(SPECIAL),
                st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12))


def test_sqlite3_binds_a_str_with_nul_whole() -> None:
    """The premise of the fix: a bound parameter keeps every byte (only SQL text and json_each cut at NUL)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO t VALUES (?)", [("a",), ("a\x00b",), ("\x00",)])
    assert conn.execute("SELECT id, length(CAST(id AS BLOB)) FROM t WHERE id = ?", ("a\x00b",)).fetchall() == \
        [("a\x00b", 3)]
    assert conn.execute("SELECT id FROM t WHERE id = ?", ("\x00",)).fetchall() == [("\x00",)]
    assert conn.execute("SELECT count(*) FROM t WHERE id = ?", ("a\x00",)).fetchone() == (0,)


@pytest.mark.parametrize("held", [True, False], ids=["ids-read-once", "ids-probed"])
def test_the_plans_live_lookup_finds_exactly_the_ids_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              held: bool) -> None:
    """Both ways the plan asks which ids are live (the id sets of a small live graph, bound-parameter probes of a
    big one) answer exactly, for ids with NUL, RTL marks, emoji and 10 KB."""
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    present = ["a", "a\x00b", "\x00", "\u202e", "😀", "x" * 10_240]
    live_graph(dd, [node(i, "CONCEPT") for i in present], [edge("e\x00", "a", "\x00", "T")])
    monkeypatch.setattr(live_scan, "LIVE_IDS_IN_MEMORY", 1_000_000 if held else 0)
    conn = connect(dd.graph_db, readonly=True)
    try:
        live = live_scan._LiveIds(conn)
        assert (live.nodes is not None) is held
        asked = [*present, "a\x00", "b", "\x00\x00", "x" * 10_239, "", "\u202e\x00"]
        assert live.present(NODES, asked) == set(present)
        assert live.present(EDGES, ["e", "e\x00", "e\x00\x00"]) == {"e\x00"}
        assert live.present(NODES, []) == set()
        many = [f"n{i}" for i in range(70_000)] + present  # more than one chunk of bound variables
        assert live.present(NODES, many) == set(present)
    finally:
        conn.close()


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[str], list[bool], list[tuple[str, str, str, str, bool]]]:
    node_ids = draw(st.lists(IDS, min_size=1, max_size=6, unique=True))
    live = draw(st.lists(st.booleans(), min_size=len(node_ids), max_size=len(node_ids)))
    edge_ids = draw(st.lists(IDS, max_size=5, unique=True))
    edges = [(eid, draw(st.sampled_from(node_ids)), draw(st.sampled_from(node_ids)), draw(IDS), draw(st.booleans()))
             for eid in edge_ids]
    return node_ids, live, edges


def _decoded(state: tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]) -> tuple[dict[str, Any], ...]:
    nodes, edges = state
    return ({k: orjson.loads(v[-1]) for k, v in nodes.items()}, {k: orjson.loads(v[-1]) for k, v in edges.items()})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_hostile_ids_restore_rerun_undo_end_exactly_where_they_should(
    tmp_path_factory: pytest.TempPathFactory,
    scenario: tuple[list[str], list[bool], list[tuple[str, str, str, str, bool]]],
) -> None:
    node_ids, live_mask, edge_specs = scenario
    dd = resolve(tmp_path_factory.mktemp("hostile") / ".neo-ai-data", env={})
    live_nodes = {nid for nid, is_live in zip(node_ids, live_mask, strict=True) if is_live}
    live_edges = [edge(eid, s, t, et, v="live") for eid, s, t, et, want_live in edge_specs
                  if want_live and s in live_nodes and t in live_nodes]
    live_graph(dd, [node(n, "LIVE", v="live") for n in sorted(live_nodes)], live_edges)
    before = graph_state(dd)

    bundle_edges = [edge(eid, s, t, et, v="bundle") for eid, s, t, et, _ in edge_specs]
    # an edge whose target differs from a real node only by a trailing NUL: orphaned, never a match
    orphan_target = node_ids[0] + "\x00"
    if orphan_target not in node_ids and "orphan-\x00" not in {e["id"] for e in bundle_edges}:
        bundle_edges.append(edge("orphan-\x00", node_ids[0], orphan_target, "T"))
    b = write_bundle(dd.backup_root, nodes=[node(n, "BUNDLE", v="bundle") for n in node_ids], edges=bundle_edges)

    new_nodes = {n for n in node_ids if n not in live_nodes}
    live_edge_ids = {e["id"] for e in live_edges}
    new_edges = {e["id"] for e in bundle_edges if e["id"] not in live_edge_ids and e["target"] != orphan_target}
    expected_nodes = {**_decoded(before)[0], **{n: node(n, "BUNDLE", v="bundle") for n in new_nodes}}
    expected_edges = {**_decoded(before)[1], **{e["id"]: e for e in bundle_edges if e["id"] in new_edges}}

    plan = build_plan(scan_bundle(dd, b))
    first = run_restore(dd, b, RestoreOptions())
    assert first.status == "completed" and first.failures_total == 0, first.failures
    expected = RestoreTotals(filtered_out=len(bundle_edges) - len(edge_specs),  # the orphan edge
                             already_present=len(live_nodes) + len(live_edge_ids),
                             inserted=len(new_nodes) + len(new_edges))
    assert first.totals == expected
    predicted = plan.totals  # the plan predicted exactly that
    assert (predicted.filtered_out, predicted.already_present, predicted.would_insert) == \
        (expected.filtered_out, expected.already_present, expected.inserted)
    after = graph_state(dd)
    assert _decoded(after) == (expected_nodes, expected_edges)
    assert {k: after[0][k] for k in before[0]} == before[0]  # live rows untouched, byte for byte
    assert {k: after[1][k] for k in before[1]} == before[1]

    rerun = run_restore(dd, b, RestoreOptions())  # converges: nothing new, no error
    assert rerun.status == "completed" and rerun.failures_total == 0, rerun.failures
    assert rerun.totals.inserted == 0
    assert rerun.totals.already_present == len(node_ids) + len(live_edge_ids) + len(new_edges)
    assert graph_state(dd) == after

    assert undo_run(dd, rerun.run_id or "").removed == {}  # the re-run inserted nothing
    u = undo_run(dd, first.run_id or "")
    assert graph_state(dd) == before  # exactly the run's rows are gone, the live ones are untouched
    assert (u.removed.get("nodes", 0), u.removed.get("edges", 0)) == (len(new_nodes), len(new_edges))
    assert not any(u.missing.values()) and not u.kept_modified and not u.kept_referenced


def test_a_nul_id_batch_that_committed_before_its_marker_is_recovered_and_undone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recovery decides from the stores whether a batch landed: it must find a NUL id it wrote."""
    dd: DataDir = resolve(tmp_path / ".neo-ai-data", env={})
    b = write_bundle(dd.backup_root, nodes=[node("\x00", "CONCEPT"), node("a\x00b", "CONCEPT")])
    real = RunJournal.committed

    def die(self: RunJournal, batch: int) -> None:
        raise SystemExit("killed between COMMIT and the marker")

    monkeypatch.setattr(RunJournal, "committed", die)
    monkeypatch.setattr(RunJournal, "finish", lambda self, *a, **k: None)
    with pytest.raises(SystemExit):
        run_restore(dd, b, RestoreOptions())
    monkeypatch.setattr(RunJournal, "committed", real)
    assert set(graph_state(dd)[0]) == {"\x00", "a\x00b"}
    (rec,) = list_runs(dd)
    assert recover_interrupted(dd) == [rec.run_id]
    u = undo_run(dd, rec.run_id)
    assert u.removed == {"nodes": 2} and graph_state(dd) == ({}, {})
