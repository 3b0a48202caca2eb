"""The restore plan: what a restore of a bundle would do, per node label, edge type, collection and file.

`build_plan` derives every number from the aggregates of one `core.live_scan.scan_bundle` pass, for any filter
set, substrate selection and mode, without I/O: cheap enough for every checkbox tick.

Row invariant, for every node label and edge type row of a selected graph:

    backup = filtered + orphaned + alreadyPresent + wouldInsert        (orphaned is 0 for nodes)

`alreadyPresent` counts accepted rows only (a filtered row is `filtered` even when its id is live), and
for Chroma collections `backup = alreadyPresent + wouldInsert` (a duplicate id in the bundle counts as
already present: by the time it is reached, its first occurrence exists).

`alreadyPresentDiffers` is the part of `alreadyPresent` whose id is live with other content (compared as
`core.same_content` compares): the live row a merge keeps is not what the bundle holds. The rest of
`alreadyPresent` is identical to live, or an in-bundle repeat of an id (not compared). A replace leaves nothing
live to differ from; a Chroma row is compared once, at its id's first line.

Orphans (neo section 4.5) are applied whether or not a filter is active. neo drops orphan edges only when
a filter is active; without one, they reach the FK-checked insert and are counted `failed`. The final
state is identical (the edge is not written either way); applying the rule always keeps `failed` for
real failures and lets the plan say up front which edges point nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from core.flat_scan import FlatScan
from core.kb_divergence import DivergentExample
from core.live_scan import CollectionScan, GraphScan, Scan, State, scan_bundle
from core.substrates import KB, MEMORIES, SUMMARIES, TEMPORAL, check_mode, check_only_substrate, selected
from core.wire import wire

# the one expensive pass a plan is built from, offered here beside `build_plan`
__all__ = ["Filters", "Plan", "Scan", "build_plan", "scan_bundle"]


@dataclass(frozen=True)
class Filters:
    """neo's --filter-labels / --filter-edge-types; empty sets mean no filter."""

    labels: frozenset[str] = frozenset()
    edge_types: frozenset[str] = frozenset()

    @property
    def active(self) -> bool:
        return bool(self.labels or self.edge_types)

    @classmethod
    def of(cls, labels: Iterable[str] = (), edge_types: Iterable[str] = ()) -> Filters:
        return cls(frozenset(labels), frozenset(edge_types))


@dataclass(frozen=True, kw_only=True)
class LabelRow:
    """One node label of the plan."""

    backup: int = 0
    live: int = 0
    already_present: int = 0
    already_present_differs: int = 0  # of already_present: the id is live with other content
    would_insert: int = 0
    filtered: int = 0


@dataclass(frozen=True, kw_only=True)
class EdgeTypeRow(LabelRow):
    """One edge type of the plan: an edge also falls out when an endpoint exists nowhere (neo's orphan rule)."""

    orphaned: int = 0


@dataclass(frozen=True, kw_only=True)
class FilterStats:
    """neo's filterStats block."""

    filtered_nodes: int
    filtered_edges: int
    orphan_edges: int
    accepted_nodes: int


@dataclass(frozen=True, kw_only=True)
class PlanTotals:
    filtered_out: int
    already_present: int
    already_present_differs: int = 0
    would_insert: int


@dataclass(frozen=True, kw_only=True)
class LiveCounts:
    nodes: int
    edges: int


@dataclass(frozen=True, kw_only=True)
class GraphPlan:
    selected: bool
    labels: Mapping[str, LabelRow]
    edge_types: Mapping[str, EdgeTypeRow]
    live: LiveCounts

    __wire__: ClassVar = ("selected", "labels", "edge_types", "totals", "filter_stats", "live")

    @property
    def filter_stats(self) -> FilterStats:
        filtered_nodes = sum(r.filtered for r in self.labels.values())
        return FilterStats(filtered_nodes=filtered_nodes, filtered_edges=sum(r.filtered for r in self.edge_types.values()),
                           orphan_edges=sum(r.orphaned for r in self.edge_types.values()),
                           accepted_nodes=sum(r.backup for r in self.labels.values()) - filtered_nodes
                           if self.selected else 0)

    @property
    def totals(self) -> PlanTotals:
        fs = self.filter_stats
        rows: list[LabelRow] = [*self.labels.values(), *self.edge_types.values()]
        return PlanTotals(filtered_out=fs.filtered_nodes + fs.filtered_edges + fs.orphan_edges,
                          already_present=sum(r.already_present for r in rows),
                          already_present_differs=sum(r.already_present_differs for r in rows),
                          would_insert=sum(r.would_insert for r in rows))


@dataclass(frozen=True, kw_only=True)
class CollectionPlan:
    selected: bool
    backup: int
    live: int
    already_present: int
    already_present_differs: int = 0
    would_insert: int


@dataclass(frozen=True, kw_only=True)
class KbPlan(CollectionPlan):
    natural_key_divergent: int | None  # None when the scan was skipped
    divergence_scan: str  # performed | skipped-empty-target | skipped-replace-mode
    divergent_examples: tuple[DivergentExample, ...] | None = field(default=None, metadata=wire(omit_none=True))


@dataclass(frozen=True, kw_only=True)
class FlatFile:
    file: str
    target: str
    target_exists: bool
    action: str  # copy | overwrite | skip | not-selected


@dataclass(frozen=True, kw_only=True)
class FlatPlan:
    selected: bool
    target: str | None
    files: tuple[FlatFile, ...]
    note: str | None = field(default=None, metadata=wire(omit_none=True))

    __wire__: ClassVar = ("selected", "target", "files", "would_copy", "would_skip", "note")

    @property
    def would_copy(self) -> int:
        return sum(f.action in ("copy", "overwrite") for f in self.files)

    @property
    def would_skip(self) -> int:
        return sum(f.action == "skip" for f in self.files)


@dataclass(frozen=True, kw_only=True)
class Plan:
    bundle: Path
    mode: str
    force: bool
    filters: Filters
    only_substrate: tuple[str, ...] | None
    graph: GraphPlan
    memories: CollectionPlan
    summaries: CollectionPlan
    temporal_summaries: CollectionPlan
    kb: KbPlan
    flat: Mapping[str, FlatPlan]
    warnings: tuple[str, ...] = ()

    @property
    def totals(self) -> PlanTotals:
        return self.graph.totals

    def collection(self, key: str) -> CollectionPlan:
        return {MEMORIES.key: self.memories, SUMMARIES.key: self.summaries, TEMPORAL.key: self.temporal_summaries,
                KB.key: self.kb}[key]


class _Row:
    """A row of the plan as it is counted up."""

    __slots__ = ("already_present", "backup", "differs", "filtered", "live", "orphaned", "would_insert")

    def __init__(self, live: int = 0) -> None:
        self.backup = self.already_present = self.differs = self.would_insert = self.filtered = self.orphaned = 0
        self.live = live

    def label(self) -> LabelRow:
        return LabelRow(backup=self.backup, live=self.live, already_present=self.already_present,
                        already_present_differs=self.differs, would_insert=self.would_insert, filtered=self.filtered)

    def edge_type(self) -> EdgeTypeRow:
        return EdgeTypeRow(backup=self.backup, live=self.live, already_present=self.already_present,
                           already_present_differs=self.differs, would_insert=self.would_insert,
                           filtered=self.filtered, orphaned=self.orphaned)


def _ordered(rows: dict[str, _Row]) -> list[tuple[str, _Row]]:
    return sorted(rows.items(), key=lambda kv: (-kv[1].backup, -kv[1].live, kv[0]))


def _valid(s: State, f: frozenset[str], replace: bool) -> bool:
    """neo's validEndpointIds: an accepted backup node, or a live node (nothing is live after a replace)."""
    return bool(s[0] - f) or (s[1] and not replace)


def _plan_graph(gs: GraphScan, filters: Filters, replace: bool, on: bool) -> GraphPlan:
    labels: dict[str, _Row] = {k: _Row(live=n) for k, n in gs.live_labels.items()}
    types: dict[str, _Row] = {k: _Row(live=n) for k, n in gs.live_types.items()}
    fl, ft = filters.labels, filters.edge_types
    for (label, is_live, prior), n in gs.nodes.items():
        row = labels.setdefault(label, _Row())
        row.backup += n
        if not on:
            continue
        if label in fl:
            row.filtered += n
        elif (is_live and not replace) or (prior is not None and bool(prior - fl)):
            row.already_present += n
            if is_live and not replace:
                row.differs += gs.nodes_differ.get((label, is_live, prior), 0)
        else:
            row.would_insert += n
    for (etype, src, tgt, id_live, earlier), n in gs.edges.items():
        row = types.setdefault(etype, _Row())
        row.backup += n
        if not on:
            continue
        if etype in ft:
            row.filtered += n
        elif not (_valid(src, fl, replace) and _valid(tgt, fl, replace)):
            row.orphaned += n
        elif (id_live and not replace) or (earlier is not None and any(
                t not in ft and _valid(s, fl, replace) and _valid(g, fl, replace) for t, s, g in earlier)):
            row.already_present += n
            if id_live and not replace:
                row.differs += gs.edges_differ.get((etype, src, tgt, id_live, earlier), 0)
        else:
            row.would_insert += n
    return GraphPlan(selected=on, labels={k: r.label() for k, r in _ordered(labels)},
                     edge_types={k: r.edge_type() for k, r in _ordered(types)},
                     live=LiveCounts(nodes=gs.live_nodes, edges=gs.live_edges))


def _plan_collection(scanned: CollectionScan, replace: bool, on: bool) -> CollectionPlan:
    insert = (scanned.distinct if replace else scanned.distinct - scanned.present) if on else 0
    return CollectionPlan(selected=on, backup=scanned.backup, live=scanned.live,
                          already_present=scanned.backup - insert if on else 0,
                          already_present_differs=scanned.differs if on and not replace else 0, would_insert=insert)


def _plan_kb(scanned: CollectionScan, replace: bool, on: bool) -> KbPlan:
    base = _plan_collection(scanned, replace, on)
    return KbPlan(selected=base.selected, backup=base.backup, live=base.live, already_present=base.already_present,
                  already_present_differs=base.already_present_differs, would_insert=base.would_insert,
                  natural_key_divergent=scanned.natural_key_divergent if not replace else 0,
                  divergence_scan=("skipped-replace-mode" if replace else
                                   "skipped-empty-target" if not scanned.live else "performed"),
                  divergent_examples=(tuple(scanned.divergent_examples)
                                      if scanned.divergent_examples and not replace else None))


def _plan_flat(fs: FlatScan, mode: str, force: bool, on: bool) -> FlatPlan:
    files = []
    for name, target, exists in fs.files:
        if not on:
            action = "not-selected"
        elif mode == "replace" or not exists:
            action = "overwrite" if exists else "copy"
        else:
            # merge never overwrites a live ledger, --force or not (core.ledgers)
            action = "overwrite" if force and fs.substrate != "ledgers" else "skip"
        files.append(FlatFile(file=name, target=target, target_exists=exists, action=action))
    return FlatPlan(selected=on, target=fs.target, files=tuple(files), note=fs.note or None)


def build_plan(scan: Scan, filters: Filters = Filters(), only_substrate: Iterable[str] | None = None,
               mode: str = "merge", force: bool = False) -> Plan:
    """Every number of the plan from the scan's aggregates: no I/O, cheap enough for every checkbox tick."""
    only = check_only_substrate(only_substrate)
    replace = check_mode(mode) == "replace"
    mc_on = selected(only, "mc")
    return Plan(
        bundle=scan.bundle, mode=mode, force=force, filters=filters, only_substrate=only,
        graph=_plan_graph(scan.graph, filters, replace, selected(only, "graph")),
        memories=_plan_collection(scan.collections[MEMORIES.key], replace, mc_on),
        summaries=_plan_collection(scan.collections[SUMMARIES.key], replace, mc_on),
        temporal_summaries=_plan_collection(scan.collections[TEMPORAL.key], replace,
                                            mc_on and scan.collections[TEMPORAL.key].captured),
        kb=_plan_kb(scan.collections[KB.key], replace, selected(only, KB.substrate)),
        flat={k: _plan_flat(v, mode, force, selected(only, k)) for k, v in scan.flat.items()},
        warnings=tuple(scan.warnings),
    )
