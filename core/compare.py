"""Did a restore do what its plan said? The result's counters beside the plan's predictions, line by line.

A difference is not an error by itself: a live write between plan and run, or a row the database refused,
explains one; the comparison says where. A resumed run is compared with a new plan (`replan`): the rows the
earlier attempt inserted are live by then, so the first plan would count them as inserts twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from core.compose import plan_sources
from core.datadir import DataDir
from core.live_scan import scan_bundle
from core.plan import Plan, build_plan
from core.progress import ProgressFn, no_progress
from core.restore_model import RestoreOptions, RestoreResult, RowCount
from core.substrates import (
    KB,
    MEMORIES,
    PLAN_COLLECTIONS,
    SUMMARIES,
    TEMPORAL,
    check_only_substrate,
    selected,
)


@dataclass(frozen=True, kw_only=True)
class Line:
    """One line of the result-vs-plan table."""

    what: str
    result: int | None  # None: the result does not say (the substrate did not run)
    plan: int

    @property
    def same(self) -> bool:
        return self.result is None or self.result == self.plan


@dataclass(frozen=True, kw_only=True)
class KeyMatch:
    """What was inserted for one node label, edge type or collection, beside what the plan said."""

    kind: str  # nodes | edges | chroma
    key: str
    inserted: int
    planned: int

    @property
    def same(self) -> bool:
        return self.inserted == self.planned


@dataclass(frozen=True, kw_only=True)
class Comparison:
    lines: tuple[Line, ...]
    keys: tuple[KeyMatch, ...]

    @property
    def same(self) -> bool:
        return all(line.same for line in self.lines)

    def key(self, kind: str, key: str) -> KeyMatch | None:
        return next((k for k in self.keys if k.kind == kind and k.key == key), None)


def compare(plan: Plan, result: RestoreResult) -> Comparison:
    """The result's counters against the plan's predictions, for the substrates the plan selected."""
    only = check_only_substrate(plan.only_substrate)
    lines: list[Line] = []
    keys: list[KeyMatch] = []
    g = result.graph
    if selected(only, "graph"):
        totals = plan.graph.totals
        nodes = g.counts.nodes if g else RowCount()
        edges = g.counts.edges if g else RowCount()
        lines.append(Line(what="graph inserted", result=nodes.inserted + edges.inserted, plan=totals.would_insert))
        lines.append(Line(what="graph skipped (present)", result=nodes.skipped_existing + edges.skipped_existing,
                          plan=totals.already_present))
        if g is not None:
            fs = g.filter_stats
            lines.append(Line(what="graph left out", result=fs.filtered_nodes + fs.filtered_edges + fs.orphan_edges,
                              plan=totals.filtered_out))
        lines.append(Line(what="graph failed", result=nodes.failed + edges.failed, plan=0))
        for kind, planned_rows, done_rows in (("nodes", plan.graph.labels, g.by_label if g else {}),
                                              ("edges", plan.graph.edge_types, g.by_edge_type if g else {})):
            for label in dict.fromkeys([*planned_rows, *done_rows]):
                done = done_rows.get(label)
                planned = planned_rows.get(label)
                keys.append(KeyMatch(kind=kind, key=label,
                                     inserted=done.inserted if isinstance(done, RowCount) else 0,
                                     planned=planned.would_insert if planned is not None else 0))
    for c in PLAN_COLLECTIONS:
        if not selected(only, c.substrate):
            continue
        if c is TEMPORAL and not plan.temporal_summaries.backup:
            continue  # most bundles hold no temporal summaries (neo's backup does not export them yet)
        got: int | None = None
        failed = 0
        if c is KB and result.kb is not None:
            got, failed = result.kb.inserted, result.kb.failed
        elif c is not KB and result.mc is not None:
            count = {MEMORIES: result.mc.counts.memories, SUMMARIES: result.mc.counts.summaries,
                     TEMPORAL: result.mc.counts.temporal_summaries}[c]
            got, failed = count.inserted, count.failed
        would = plan.collection(c.key).would_insert
        lines.append(Line(what=f"{c.key} inserted", result=got, plan=would))
        if failed:
            lines.append(Line(what=f"{c.key} failed", result=failed, plan=0))
        keys.append(KeyMatch(kind="chroma", key=c.key, inserted=got or 0, planned=would))
    return Comparison(lines=tuple(lines), keys=tuple(keys))


def replan(dd: DataDir, bundle: Path, opts: RestoreOptions, *, on_progress: ProgressFn = no_progress,
           cancel: threading.Event | None = None) -> Plan:
    """The plan of the same restore against the live stores as they are now (before resuming a run)."""
    if opts.sources:
        return plan_sources(dd, opts.sources, opts, on_progress=on_progress, cancel=cancel)
    scan = scan_bundle(dd, bundle, on_progress=on_progress, cancel=cancel, kb_collection=opts.target_collection)
    return build_plan(scan, opts.filters, only_substrate=opts.only_substrate, mode=opts.mode, force=opts.force)
