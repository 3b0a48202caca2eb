"""Restore just these: the records an operator picked (a search's hits, a file of ids), with what they need.

A selection is written as a small bundle of its own, under the console's state dir (never the backup root, so
it is never listed, kept or pruned as a backup), and restored by the one restore path: the same validation,
plan, journal, merge that never touches a live row, and undo by run id. Nothing about restoring is written twice.

What a picked id brings along:
- a graph node brings the edges that touch it: those between picked nodes and those to a node that exists live
  are restored; the plan counts the others (their other end exists nowhere) as orphaned, neo's rule;
- a graph node brings the Memory Core rows it stands for: neo gives an ``AGENT_MEMORY`` node its memory's id
  (``properties.semanticVectorId`` names it too) and a ``SESSION_SUMMARY`` node its summary's id
  (``summary_<sessionId>``), so a node brings the memory and summary rows with its id or its semanticVectorId;
- a memory or summary row brings the graph node with its id, and through it that node's edges;
- a picked edge or KB chunk is restored alone (an edge's ends must be live or picked).

Two streaming passes over the bundle: one finds the picked records and what they bring, one copies their lines
as they are (so restored rows are byte-identical to the bundle's). Memory holds the picked ids, not the bundle.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from core.backup import integrity_entry
from core.browse import COLLECTION_KINDS, EDGE, NODE, files_of
from core.bundle import parse_bundle_time, read_meta
from core.datadir import DataDir
from core.errors import UsageError
from core.progress import ProgressFn, Ticker, check_cancel, no_progress
from core.records import chroma_line_id
from core.restore import run_restore
from core.restore_model import RestoreOptions, RestoreResult
from core.scan import open_payload
from core.substrates import KB, MEMORIES, SUMMARIES, TEMPORAL_SUMMARIES_KEY, selected
from core.units import colon_free, iso_ms
from core.wire import wire
from core.writer import BundleWriter

SELECTIONS = "selections"  # under the state dir
MAX_MISSING = 50
# the Memory Core rows a graph node stands for (same id); the KB is never brought along
MEMORY_CORE = (MEMORIES.key, SUMMARIES.key, TEMPORAL_SUMMARIES_KEY)
Wanted = frozenset[tuple[str | None, str]]  # (kind or None for any kind, id)


def read_ids(text: str) -> Wanted:
    """The ids to restore: one per line, or a ``search --json`` result (its hits, each with its kind)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("hits"), list):
            out: set[tuple[str | None, str]] = set()
            for hit in doc["hits"]:
                if isinstance(hit, dict) and isinstance(hit.get("id"), str) and hit["id"]:
                    kind = hit.get("kind")
                    out.add((kind if isinstance(kind, str) else None, hit["id"]))
            return frozenset(out)
    return frozenset((None, line.rstrip("\r")) for line in text.split("\n") if line.rstrip("\r"))


@dataclass(frozen=True, kw_only=True)
class SelectionCounts:
    nodes: int = 0
    edges: int = 0
    memories: int = 0
    summaries: int = 0
    kb: int = 0
    temporal_summaries: int = 0

    @property
    def total(self) -> int:
        return self.nodes + self.edges + self.memories + self.summaries + self.kb + self.temporal_summaries

    def words(self) -> str:
        """``1 node · 2 edges · 1 memory``: the non-zero counts (``nothing`` when all are zero)."""
        parts = [(self.nodes, "node", "nodes"), (self.edges, "edge", "edges"), (self.memories, "memory", "memories"),
                 (self.summaries, "summary", "summaries"), (self.kb, "KB chunk", "KB chunks"),
                 (self.temporal_summaries, "temporal summary", "temporal summaries")]
        out = [f"{n:,} {one if n == 1 else many}" for n, one, many in parts if n]
        return " · ".join(out) or "nothing"


@dataclass(frozen=True, kw_only=True)
class Selection:
    source: str  # the bundle the records come from
    source_path: Path
    bundle: Path  # the selection, written as a bundle under the state dir
    requested: int  # ids asked for
    found: int  # of those, ids the bundle holds
    missing: tuple[str, ...] = ()  # ids asked for that the bundle does not hold (the first 50)
    missing_count: int = 0
    picked: SelectionCounts  # records picked by their own id
    records: SelectionCounts  # records in the selection: picked, and what they bring along
    substrates: tuple[str, ...]  # the substrates the selection holds (what its restore selects)


@dataclass(frozen=True, kw_only=True)
class IdsRestoreResult:
    """A restore of a selection: the selection, then the restore's own result, keys as ``restore --json``."""

    selection: Selection
    result: RestoreResult = field(metadata=wire(inline=True))


class _Closure:
    """Pass one: which records are picked and what they bring."""

    def __init__(self, wanted: Wanted) -> None:
        self.any = {rid for kind, rid in wanted if kind is None}
        self.by_kind: dict[str, set[str]] = {}
        for kind, rid in wanted:
            if kind is not None:
                self.by_kind.setdefault(kind, set()).add(rid)
        self.found: set[tuple[str | None, str]] = set()
        self.nodes: set[str] = set()  # graph nodes in the selection
        self.edges: set[str] = set()  # edges picked by id
        self.rows: dict[str, set[str]] = {k: set() for k in COLLECTION_KINDS}  # Chroma rows by collection
        self.picked: dict[str, int] = dict.fromkeys((NODE, EDGE, *COLLECTION_KINDS), 0)

    def wants(self, kind: str, rid: str) -> bool:
        if rid in self.any:
            self.found.add((None, rid))
            return True
        if rid in self.by_kind.get(kind, ()):
            self.found.add((kind, rid))
            return True
        return False


def _graph_pass(bundle: Path, c: _Closure, cancel: threading.Event | None, ticker: Ticker, done: int) -> int:
    for path in files_of(bundle, NODE):
        with open_payload(path) as fh:
            for raw in fh:
                done += 1
                if done % 4096 == 0:
                    check_cancel(cancel)
                    ticker.update(done)
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue  # validation names it when the selection is restored
                data = obj.get("data") if isinstance(obj, dict) else None
                if not isinstance(data, dict):
                    continue
                kind = obj.get("type")
                if kind == NODE and isinstance(data.get("id"), str) and c.wants(NODE, data["id"]):
                    c.picked[NODE] += 1
                    c.nodes.add(data["id"])
                    props = data.get("properties")
                    vector = props.get("semanticVectorId") if isinstance(props, dict) else None
                    for key in MEMORY_CORE:
                        c.rows[key].add(data["id"])
                        if isinstance(vector, str) and vector:
                            c.rows[key].add(vector)
                elif kind == EDGE:
                    s, t, et = data.get("source"), data.get("target"), data.get("type")
                    eid = data.get("id") or f"{s}->{t}:{et}"
                    if isinstance(eid, str) and c.wants(EDGE, eid):
                        c.picked[EDGE] += 1
                        c.edges.add(eid)
    return done


def _chroma_pass(bundle: Path, c: _Closure, cancel: threading.Event | None, ticker: Ticker, done: int) -> int:
    for key in COLLECTION_KINDS:
        for path in files_of(bundle, key):
            with open_payload(path) as fh:
                for raw in fh:
                    done += 1
                    if done % 4096 == 0:
                        check_cancel(cancel)
                        ticker.update(done)
                    rid = chroma_line_id(raw.rstrip(b"\r\n"))
                    if rid is not None and c.wants(key, rid):
                        c.picked[key] += 1
                        c.rows[key].add(rid)
                        if key in MEMORY_CORE:
                            c.nodes.add(rid)  # the graph node standing for it, if the bundle has one
    return done


def selection_dir(dd: DataDir, bundle: Path, wanted: Wanted) -> Path:
    """Where a selection is written: named by its source and a digest of the ids, so the same request (a re-run
    that resumes an interrupted restore) writes the same selection."""
    digest = hashlib.sha256()
    for kind, rid in sorted(wanted, key=lambda w: (w[0] or "", w[1])):
        digest.update(orjson.dumps([kind, rid]) + b"\n")
    return dd.state_dir / SELECTIONS / f"{bundle.name}-{digest.hexdigest()[:12]}"


def _meta(source: Mapping[str, Any] | None, bundle: Path, when: datetime, w: BundleWriter, counts: SelectionCounts,
          requested: int) -> dict[str, Any]:
    src = dict(source or {})
    emb = dict(src.get("embedding") or {}) if isinstance(src.get("embedding"), dict) else {}
    emb["counts"] = {KB.key: counts.kb, MEMORIES.key: counts.memories, SUMMARIES.key: counts.summaries}
    if counts.temporal_summaries:
        emb["counts"][TEMPORAL_SUMMARIES_KEY] = counts.temporal_summaries
    mc = counts.memories + counts.summaries + counts.temporal_summaries
    graph = counts.nodes + counts.edges
    meta: dict[str, Any] = {
        "bundleVersion": src.get("bundleVersion", 1), "timestamp": src.get("timestamp") or colon_free(when),
        "completedAt": iso_ms(datetime.now(UTC)), "reason": "selection",
        "selection": {"from": bundle.name, "requested": requested, "records": counts.total},
        "subsystems": {"kb": {"count": counts.kb}, "mc": {"count": mc}, "graph": {"count": graph}},
        "integrity": [integrity_entry(w, "kb", counts.kb), integrity_entry(w, "mc", mc),
                      integrity_entry(w, "graph", graph)],
        "embedding": emb,
    }
    for key in ("topology", "neoVersion", "gitSha"):
        if key in src:
            meta[key] = src[key]
    return meta


def _copy(bundle: Path, w: BundleWriter, c: _Closure, cancel: threading.Event | None, ticker: Ticker,
          done: int) -> tuple[SelectionCounts, int]:
    """Pass two: the selection's lines, copied as they are, one output file per source file."""
    n: dict[str, int] = dict.fromkeys((NODE, EDGE, *COLLECTION_KINDS), 0)
    for path in files_of(bundle, NODE):
        out = None
        with open_payload(path) as fh:
            for raw in fh:
                done += 1
                if done % 4096 == 0:
                    check_cancel(cancel)
                    ticker.update(done)
                body = raw.rstrip(b"\r\n")
                try:
                    obj = orjson.loads(body)
                except orjson.JSONDecodeError:
                    continue
                data = obj.get("data") if isinstance(obj, dict) else None
                if not isinstance(data, dict):
                    continue
                kind = obj.get("type")
                if kind == NODE:
                    keep = data.get("id") in c.nodes
                elif kind == EDGE:
                    s, t, et = data.get("source"), data.get("target"), data.get("type")
                    keep = (data.get("id") or f"{s}->{t}:{et}") in c.edges or s in c.nodes or t in c.nodes
                else:
                    keep = False
                if keep:
                    if out is None:
                        out = w.open_jsonl(f"graph/{_plain_name(path)}")
                    out.write_raw(body)
                    n[str(kind)] += 1
        if out is not None:
            w.close_jsonl(out)
    for key in COLLECTION_KINDS:
        for path in files_of(bundle, key):
            out = None
            with open_payload(path) as fh:
                for raw in fh:
                    done += 1
                    if done % 4096 == 0:
                        check_cancel(cancel)
                        ticker.update(done)
                    body = raw.rstrip(b"\r\n")
                    rid = chroma_line_id(body)
                    if rid is not None and rid in c.rows[key]:
                        if out is None:
                            out = w.open_jsonl(f"{path.parent.name}/{_plain_name(path)}")
                        out.write_raw(body)
                        n[key] += 1
            if out is not None:
                w.close_jsonl(out)
    counts = SelectionCounts(nodes=n[NODE], edges=n[EDGE], memories=n[MEMORIES.key], summaries=n[SUMMARIES.key],
                             kb=n[KB.key], temporal_summaries=n[TEMPORAL_SUMMARIES_KEY])
    return counts, done


def _plain_name(path: Path) -> str:
    """A payload's name as plain JSONL (a selection is small: it is never compressed)."""
    name = path.name
    return name[: name.index(".jsonl") + len(".jsonl")] if ".jsonl" in name else name


def select(dd: DataDir, bundle: Path, wanted: Wanted, *, on_progress: ProgressFn = no_progress,
           cancel: threading.Event | None = None) -> Selection:
    """Write the selection of ``wanted`` from ``bundle`` as a bundle under the state dir."""
    if not wanted:
        raise UsageError("no ids to restore: the list is empty")
    if not bundle.is_dir():
        raise UsageError("bundle directory not found", path=bundle)
    c = _Closure(wanted)
    ticker = Ticker("select", None, on_progress, unit="lines")
    done = _graph_pass(bundle, c, cancel, ticker, 0)
    done = _chroma_pass(bundle, c, cancel, ticker, done)
    if not c.found:
        raise UsageError(f"none of the {len(wanted)} id(s) is in {bundle.name}", path=bundle)
    when = parse_bundle_time(bundle.name) or datetime.now(UTC)
    root = selection_dir(dd, bundle, wanted)
    if root.exists():
        shutil.rmtree(root)  # ours, and rebuilt from the same request: the same content
    root.mkdir(parents=True, mode=0o700)
    w = BundleWriter(root, when)
    try:
        counts, done = _copy(bundle, w, c, cancel, ticker, done)
        _state, source_meta, _err = read_meta(bundle)
        final = w.publish(_meta(source_meta, bundle, when, w, counts, len(wanted)))
    except BaseException:
        w.abort()
        raise
    ticker.update(done, force=True)
    missing = sorted(rid for kind, rid in wanted if (kind, rid) not in c.found)
    picked = SelectionCounts(nodes=c.picked[NODE], edges=c.picked[EDGE], memories=c.picked[MEMORIES.key],
                             summaries=c.picked[SUMMARIES.key], kb=c.picked[KB.key],
                             temporal_summaries=c.picked[TEMPORAL_SUMMARIES_KEY])
    subs = tuple(s for s, n in (("kb", counts.kb), ("mc", counts.memories + counts.summaries +
                                                     counts.temporal_summaries), ("graph", counts.nodes + counts.edges))
                 if n)
    return Selection(source=bundle.name, source_path=bundle, bundle=final, requested=len(wanted),
                     found=len(c.found), missing=tuple(missing[:MAX_MISSING]), missing_count=len(missing),
                     picked=picked, records=counts, substrates=subs)


def check_merge(opts: RestoreOptions) -> None:
    if opts.mode != "merge":
        raise UsageError("restoring selected ids is a merge: it never replaces live data (drop --mode replace)")


def selection_options(sel: Selection, opts: RestoreOptions) -> RestoreOptions:
    """The restore of a selection: merge (preserve-live), only the substrates it holds (and the caller chose)."""
    check_merge(opts)
    only = tuple(s for s in sel.substrates if selected(tuple(opts.only_substrate)
                                                       if opts.only_substrate is not None else None, s))
    return replace(opts, only_substrate=only)


def restore_ids(dd: DataDir, bundle: Path, wanted: Wanted, opts: RestoreOptions, *,
                on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None,
                predict: bool = False) -> IdsRestoreResult:
    """Select, then restore the selection by the one restore path (its plan, journal and undo)."""
    check_merge(opts)
    sel = select(dd, bundle, wanted, on_progress=on_progress, cancel=cancel)
    result = run_restore(dd, sel.bundle, selection_options(sel, opts), on_progress=on_progress, cancel=cancel,
                         predict=predict)
    return IdsRestoreResult(selection=sel, result=result)

