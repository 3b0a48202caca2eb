"""Did a restore do what its plan said: `core.compare`, on real restores, beside the check the restore screen made
from JSON dicts before the check moved into core (kept here, verbatim in its logic, as the reference)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from core.compare import compare, replan
from core.datadir import DataDir, resolve
from core.plan import Filters, Plan, build_plan, scan_bundle
from core.progress import Progress
from core.restore import run_restore
from core.restore_model import RestoreCancelled, RestoreOptions, RestoreResult
from core.wire import encode
from tests.builders import edge, live_graph, live_vectors, node, vec, write_bundle

ALL = ("kb", "mc", "graph", "concepts", "trajectories", "mailbox")


def _n(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _dig(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(k)
    return obj


def screen_comparison(rj: Mapping[str, Any], pj: Mapping[str, Any],
                      only: list[str] | None) -> list[tuple[str, int | None, int | None]]:
    """console/screens/restore.py's `comparison()` before issue 9, on the wire dicts of a result and its plan."""
    rows: list[tuple[str, int | None, int | None]] = []
    subs = set(ALL if only is None else only)
    if "graph" in subs:
        g = _dig(rj, "subsystems", "graph", "counts", "graph") or {}
        nodes, edges = g.get("nodes") or {}, g.get("edges") or {}
        totals = _dig(pj, "graph", "totals") or {}
        fs = _dig(rj, "subsystems", "graph", "filterStats") or {}
        rows.append(("graph inserted", _n(nodes.get("inserted")) + _n(edges.get("inserted")),
                     _n(totals.get("wouldInsert"))))
        rows.append(("graph skipped (present)", _n(nodes.get("skippedExisting")) + _n(edges.get("skippedExisting")),
                     _n(totals.get("alreadyPresent"))))
        if isinstance(fs, Mapping) and fs:
            left_out = _n(fs.get("filteredNodes")) + _n(fs.get("filteredEdges")) + _n(fs.get("orphanEdges"))
            rows.append(("graph left out", left_out, _n(totals.get("filteredOut"))))
        rows.append(("graph failed", _n(nodes.get("failed")) + _n(edges.get("failed")), 0))
    for key, sub in (("memories", "mc"), ("summaries", "mc"), ("kb", "kb")):
        if sub not in subs:
            continue
        plan = _n(_dig(pj, key, "wouldInsert"))
        if key == "kb":
            kb = _dig(rj, "subsystems", "kb") or {}
            got, failed = kb.get("inserted"), kb.get("failed")
        else:
            c = _dig(rj, "subsystems", "mc", "counts", key) or {}
            got, failed = c.get("inserted"), c.get("failed")
        rows.append((f"{key} inserted", _n(got) if got is not None else None, plan))
        if _n(failed):
            rows.append((f"{key} failed", _n(failed), 0))
    return rows


def lines(plan: Plan, result: RestoreResult) -> list[tuple[str, int | None, int | None]]:
    return [(line.what, line.result, line.plan) for line in compare(plan, result).lines]


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_graph(d, [node("A", "CONCEPT")], [])
    live_vectors(d, "memories", [vec("m1")])
    return d


def bundle(dd: DataDir) -> Path:
    return write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT"), node("B", "FILE"), node("K", "KB_GAP")],
                        edges=[edge("e1", "A", "B", "CONTAINS"), edge("e2", "K", "A", "DISCOVERED_IN"),
                               edge("e3", "B", "nowhere", "RELATES_TO")],
                        memories=[vec("m1"), vec("m2"), vec("m3", metadata={"bad": {"nested": 1}})],
                        kb=[vec("k1", metadata={"source": "s", "name": "n", "type": "src"}, document=None)])


@pytest.mark.parametrize("only", [None, ["graph"], ["mc", "kb"], []])
def test_a_restore_does_what_its_plan_said(dd: DataDir, only: list[str] | None) -> None:
    b = bundle(dd)
    f = Filters.of(["KB_GAP"])
    plan = build_plan(scan_bundle(dd, b), f, only)
    res = run_restore(dd, b, RestoreOptions(filters=f, only_substrate=only), plan=plan)
    assert lines(plan, res) == screen_comparison(encode(res), encode(plan), only)  # type: ignore[arg-type]
    cmp = compare(plan, res)
    if only is None or "mc" in only:  # m3's metadata is refused by Chroma: one failed row, said as such
        assert [line.what for line in cmp.lines if not line.same] == ["memories inserted", "memories failed"]
        assert not cmp.same
    else:
        assert cmp.same
    if only is None or "graph" in only:
        assert cmp.key("nodes", "FILE") is not None and cmp.key("nodes", "FILE").same  # type: ignore[union-attr]
        assert cmp.key("edges", "RELATES_TO").planned == 0  # type: ignore[union-attr]  # e3 is an orphan


def test_a_live_write_between_plan_and_run_shows_as_a_difference(dd: DataDir) -> None:
    b = bundle(dd)
    plan = build_plan(scan_bundle(dd, b), only_substrate=["graph"])
    live_graph(dd, [node("B", "FILE", written="after the plan")], [])
    res = run_restore(dd, b, RestoreOptions(only_substrate=["graph"]))
    assert lines(plan, res) == screen_comparison(encode(res), encode(plan), ["graph"])  # type: ignore[arg-type]
    cmp = compare(plan, res)
    assert {line.what: (line.result, line.plan) for line in cmp.lines if not line.same} == {
        "graph inserted": (3, 4), "graph skipped (present)": (2, 1)}
    assert not cmp.key("nodes", "FILE").same  # type: ignore[union-attr]


def test_a_resumed_run_is_compared_with_a_new_plan(dd: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    from core import restore_graph

    monkeypatch.setattr(restore_graph, "GRAPH_WRITE_BATCH", 2)
    nodes = [node(f"n{i}", "CONCEPT") for i in range(12)]
    b = write_bundle(dd.backup_root, nodes=nodes, edges=[edge(f"e{i}", f"n{i}", f"n{i + 1}", "R") for i in range(11)])
    opts = RestoreOptions(only_substrate=["graph"])
    first = build_plan(scan_bundle(dd, b), only_substrate=["graph"])
    cancel = threading.Event()

    def stop_after_a_batch(p: Progress) -> None:
        if p.task == "graph" and p.done >= 2:
            cancel.set()

    with pytest.raises(RestoreCancelled):
        run_restore(dd, b, opts, on_progress=stop_after_a_batch, cancel=cancel, plan=first)
    again = replan(dd, b, opts)
    assert again.totals.already_present > first.totals.already_present  # the first attempt's rows are live now
    res = run_restore(dd, b, opts, plan=again)
    assert compare(again, res).same and not compare(first, res).same


def test_a_dry_run_compares_with_itself(dd: DataDir) -> None:
    b = bundle(dd)
    res = run_restore(dd, b, RestoreOptions(dry_run=True, only_substrate=["graph"]))
    assert res.plan is not None and compare(res.plan, res).same
