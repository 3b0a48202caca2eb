"""The history of a backup root at a glance: one row per bundle, one series per substrate (or, on demand, per
collection, node label or edge type), a sparkline per series, and every drop beyond a threshold or to zero
marked at the bundle where it happened.

A look reads each bundle's meta and nothing else: counts are what the meta records (neo's integrity counts,
its embedding counts, its export messages). The split by node label and edge type is not in neo's meta; it
comes from ``core.census``, counted once per bundle when asked for and kept (keyed by the graph files'
stamps), so only the first look at a bundle's labels reads its rows.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.bundle import BundleInfo, Meta, list_root
from core.census import Census, CensusCache, census_of
from core.datadir import DataDir
from core.errors import UsageError
from core.progress import ProgressFn, check_cancel, no_progress
from core.substrates import KB, MEMORIES, RECOVERY_SUBSTRATES, SUMMARIES, TEMPORAL_SUMMARIES_KEY
from core.units import iso_z
from core.wire import wire

VIEWS = ("substrates", "collections", "labels", "edge-types")
DEFAULT_THRESHOLD = 0.20
SPARKS = "▁▂▃▄▅▆▇█"
SPARK_ZERO = "_"  # a count of zero: distinct from the smallest bar without colour
SPARK_UNKNOWN = "·"  # no count (a torn meta, a bundle not counted yet)
CAPTURE_SOURCES = (("kb", "kb"), ("mc.memories", "memories"), ("mc.summaries", "summaries"))

_GRAPH_MSG = re.compile(r"(\d+)\s+graph elements")
_KB_MSG = re.compile(r"Exported\s+(\d+)\s+knowledge base chunks")
_MC_MSG = re.compile(r"Exported\s+(\d+)\s+memories(?:,\s+(\d+)\s+summaries)?")


def parse_threshold(text: str) -> float:
    """``20%``, ``20`` or ``0.2``: a drop beyond this fraction of the previous count is marked."""
    raw = text.strip()
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise UsageError(f"--threshold wants a percentage such as 20% (got {text!r})") from None
    if raw.endswith("%") or value > 1:
        value /= 100
    if not 0 < value <= 1:
        raise UsageError(f"--threshold must be above 0% and at most 100% (got {text!r})")
    return value


# ------------------------------------------------------------------------------------------ counts from a meta


def _count(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _dig(meta: Meta, *path: str) -> object:
    cur: object = meta
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _first(*values: object) -> int | None:
    for v in values:
        n = _count(v)
        if n is not None:
            return n
    return None


def _bundle_count(meta: Meta, sub: str) -> int | None:
    for entry in meta.get("integrity") or []:
        if isinstance(entry, Mapping) and entry.get("subsystem") == sub:
            return _count(entry.get("bundleCount"))
    return None


def _message(meta: Meta, sub: str, pattern: re.Pattern[str], group: int = 1) -> int | None:
    msg = _dig(meta, "subsystems", sub, "message")
    m = pattern.search(msg) if isinstance(msg, str) else None
    return int(m.group(group)) if m and m.group(group) is not None else None


def meta_counts(meta: Meta | None) -> dict[str, int | None]:
    """What a meta says each substrate and collection holds (None where it says nothing usable)."""
    if not meta:
        return {}
    emb = _dig(meta, "embedding", "counts")
    emb = emb if isinstance(emb, Mapping) else {}
    graph = _first(_bundle_count(meta, "graph"), _dig(meta, "subsystems", "graph", "count"),
                   _dig(meta, "subsystems", "graph", "graph", "exported"), _message(meta, "graph", _GRAPH_MSG))
    kb = _first(emb.get(KB.key), _bundle_count(meta, "kb"), _dig(meta, "subsystems", "kb", "count"),
                _message(meta, "kb", _KB_MSG))
    memories = _first(emb.get(MEMORIES.key), _dig(meta, "subsystems", "mc", "memories", "exported"),
                      _message(meta, "mc", _MC_MSG))
    summaries = _first(emb.get(SUMMARIES.key), _dig(meta, "subsystems", "mc", "summaries", "exported"),
                       _message(meta, "mc", _MC_MSG, 2))
    temporal = _count(emb.get(TEMPORAL_SUMMARIES_KEY))
    mc = _first(_bundle_count(meta, "mc"), None if memories is None or summaries is None else
                memories + summaries + (temporal or 0))
    return {"graph": graph, "kb": kb, "mc": mc, MEMORIES.key: memories, SUMMARIES.key: summaries,
            TEMPORAL_SUMMARIES_KEY: temporal}


# ------------------------------------------------------------------------------------------ the result


@dataclass(frozen=True, kw_only=True)
class CaptureMark:
    """neo's capture receipt for one source of a bundle (neo-today.md section 3)."""

    source: str  # kb | mc.memories | mc.summaries
    row_state: str | None
    lineage: str | None  # same | changed | unknown
    collapsed: bool | None  # zero rows from a changed collection that held rows: not a recovery source


@dataclass(frozen=True, kw_only=True)
class Drop:
    series: str
    bundle: str  # where it happened
    previous: str  # the bundle before it with a count
    before: int
    after: int
    change: float  # (after - before) / before: -1.0 is a drop to zero
    to_zero: bool


@dataclass(frozen=True, kw_only=True)
class TimelineRow:
    bundle: str
    time: datetime = field(metadata=wire(encode=iso_z))
    meta_state: str
    reason: object = field(default=None, metadata=wire(omit_none=True))
    counts: Mapping[str, int | None]  # by series key; None: no count
    restorable: Mapping[str, str]  # kb | mc | graph -> verified | claimed | failed | not-restorable
    capture: tuple[CaptureMark, ...] = ()
    drops: tuple[str, ...] = ()  # the series that dropped at this bundle


@dataclass(frozen=True, kw_only=True)
class Series:
    key: str
    kind: str  # substrate | collection | label | edge-type | total
    values: tuple[int | None, ...]  # aligned with the rows: newest first
    sparkline: str  # oldest on the left, newest on the right
    low: int | None
    high: int | None


@dataclass(frozen=True, kw_only=True)
class Timeline:
    backup_root: Path
    view: str
    threshold: float
    rows: tuple[TimelineRow, ...]  # newest first
    series: tuple[Series, ...]
    drops: tuple[Drop, ...]  # newest first
    uncounted: tuple[str, ...] = ()  # bundles whose label / edge-type split is not counted yet


def sparkline(values: Sequence[int | None]) -> str:
    """One character per value in the order given; scaled to the largest value."""
    top = max((v for v in values if v is not None), default=0)
    out = []
    for v in values:
        if v is None:
            out.append(SPARK_UNKNOWN)
        elif v == 0 or top == 0:
            out.append(SPARK_ZERO)
        else:
            out.append(SPARKS[max(0, min(len(SPARKS) - 1, round(v / top * (len(SPARKS) - 1))))])
    return "".join(out)


def find_drops(key: str, names: Sequence[str], values: Sequence[int | None], threshold: float) -> list[Drop]:
    """Drops along one series, given oldest first: each compared with the last bundle before it with a count."""
    out = []
    prev: tuple[str, int] | None = None
    for name, v in zip(names, values, strict=True):
        if v is None:
            continue
        if prev is not None and prev[1] > 0 and (v == 0 or (prev[1] - v) / prev[1] > threshold):
            out.append(Drop(series=key, bundle=name, previous=prev[0], before=prev[1], after=v,
                            change=round((v - prev[1]) / prev[1], 4), to_zero=v == 0))
        prev = (name, v)
    return out


def capture_marks(meta: Meta | None) -> tuple[CaptureMark, ...]:
    sources = _dig(meta or {}, "capture", "sources")
    if not isinstance(sources, Mapping):
        return ()
    out = []
    for source, _key in CAPTURE_SOURCES:
        e = sources.get(source)
        if isinstance(e, Mapping):
            state, lineage, collapsed = e.get("rowState"), e.get("lineage"), e.get("collapsed")
            out.append(CaptureMark(source=source, row_state=state if isinstance(state, str) else None,
                                   lineage=lineage if isinstance(lineage, str) else None,
                                   collapsed=collapsed if isinstance(collapsed, bool) else None))
    return tuple(out)


def _restorable(b: BundleInfo) -> dict[str, str]:
    return {sub: b.answer(sub).state.value for sub in RECOVERY_SUBSTRATES}


def _series_keys(view: str, counts: list[dict[str, int | None]], censuses: list[Census | None]) -> list[tuple[str, str]]:
    if view == "substrates":
        return [(s, "substrate") for s in RECOVERY_SUBSTRATES]
    if view == "collections":
        keys = [MEMORIES.key, SUMMARIES.key, KB.key]
        if any(c.get(TEMPORAL_SUMMARIES_KEY) for c in counts):
            keys.append(TEMPORAL_SUMMARIES_KEY)
        return [*((k, "collection") for k in keys), ("graph", "substrate")]
    totals: dict[str, int] = {}
    for c in censuses:
        if c is not None:
            for k, n in (c.labels if view == "labels" else c.edge_types).items():
                totals[k] = max(totals.get(k, 0), n)
    kind = "label" if view == "labels" else "edge-type"
    total = ("nodes" if view == "labels" else "edges", "total")
    return [total, *((k, kind) for k in sorted(totals, key=lambda k: (-totals[k], k)))]


def _value(view: str, key: str, counts: dict[str, int | None], census: Census | None) -> int | None:
    if view in ("substrates", "collections"):
        return counts.get(key)
    if census is None:
        return None
    if key == ("nodes" if view == "labels" else "edges"):
        return census.nodes if view == "labels" else census.edges
    return (census.labels if view == "labels" else census.edge_types).get(key, 0)


def build_timeline(dd: DataDir, *, view: str = "substrates", threshold: float = DEFAULT_THRESHOLD,
                   count: bool = False, on_progress: ProgressFn = no_progress,
                   cancel: threading.Event | None = None, now: datetime | None = None) -> Timeline:
    """The timeline of the backup root. ``count`` counts the label / edge-type split of bundles not counted yet
    (one pass over each of their graph files, kept for every later look); without it they read as unknown."""
    if view not in VIEWS:
        raise UsageError(f"unknown timeline view {view!r} (choose from {', '.join(VIEWS)})")
    listing = list_root(dd, now=now)  # with the verify cache: verified, claimed, failed as everywhere else
    bundles = list(listing.bundles)  # newest first
    counts = [meta_counts(b.meta) if b.meta_state == "valid" else {} for b in bundles]
    censuses: list[Census | None] = [None] * len(bundles)
    if view in ("labels", "edge-types"):
        cache = CensusCache(dd.state_dir)
        for i, b in enumerate(bundles):
            check_cancel(cancel)
            try:
                censuses[i] = census_of(cache, b.path, compute=count, on_progress=on_progress, cancel=cancel)
            except OSError:
                censuses[i] = None  # an unreadable graph file: unknown, as a torn meta is
    keys = _series_keys(view, counts, censuses)
    oldest_first = list(range(len(bundles)))[::-1]
    names = [bundles[i].name for i in oldest_first]
    series: list[Series] = []
    drops: list[Drop] = []
    for key, kind in keys:
        values = [_value(view, key, counts[i], censuses[i]) for i in range(len(bundles))]
        known = [v for v in values if v is not None]
        series.append(Series(key=key, kind=kind, values=tuple(values),
                             sparkline=sparkline([values[i] for i in oldest_first]),
                             low=min(known) if known else None, high=max(known) if known else None))
        drops += find_drops(key, names, [values[i] for i in oldest_first], threshold)
    by_bundle: dict[str, list[str]] = {}
    for d in drops:
        by_bundle.setdefault(d.bundle, []).append(d.series)
    rows = []
    for i, b in enumerate(bundles):
        rows.append(TimelineRow(
            bundle=b.name, time=b.time, meta_state=b.meta_state, reason=b.reason,
            counts={key: _value(view, key, counts[i], censuses[i]) for key, _ in keys},
            restorable=_restorable(b), capture=capture_marks(b.meta), drops=tuple(by_bundle.get(b.name, ()))))
    order = {b.name: i for i, b in enumerate(bundles)}
    rank = {key: i for i, (key, _) in enumerate(keys)}
    drops.sort(key=lambda d: (order[d.bundle], rank[d.series]))
    uncounted = tuple(b.name for b, c in zip(bundles, censuses, strict=True) if c is None) \
        if view in ("labels", "edge-types") else ()
    return Timeline(backup_root=dd.backup_root, view=view, threshold=threshold, rows=tuple(rows),
                    series=tuple(series), drops=tuple(drops), uncounted=uncounted)


def lineage_text(marks: Sequence[CaptureMark]) -> str:
    """``memories changed · kb COLLAPSED``: the capture facts worth a glance (same lineage says nothing new)."""
    parts = []
    for m in marks:
        key = dict(CAPTURE_SOURCES).get(m.source, m.source)
        if m.collapsed:
            parts.append(f"{key} COLLAPSED")
        elif m.lineage and m.lineage != "same":
            parts.append(f"{key} lineage {m.lineage}")
    return " · ".join(parts)

