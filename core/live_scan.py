"""The one expensive pass of a plan: a bundle against the live stores, kept as aggregates.

`scan_bundle` streams the bundle's graph file(s) against the live DB, checks the bundle's Chroma ids against the
live collections in chunks, and looks at the flat targets. It keeps only aggregate state (counts keyed by label
/ edge type and endpoint presence, plus the backup node ids it must remember), so `core.plan.build_plan`
re-derives every number for any filter set, substrate selection and mode without touching the bundle or the
stores again: the TUI recounts on every checkbox tick.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import compress, islice, repeat
from operator import is_, itemgetter
from pathlib import Path
from typing import Any, TypeVar, cast

from core import chroma_store as cs
from core import codec
from core import graph_store as gs
from core.bundle import captures_collection, collection_files, read_meta, resolve_bundle, substrate_files
from core.datadir import DataDir
from core.errors import UsageError
from core.flat_scan import FlatScan, scan_flat
from core.kb_divergence import DivergentExample, kb_divergence
from core.progress import ProgressFn, Ticker, check_cancel, no_progress
from core.records import chroma_line_id
from core.same_content import LinesDiffering, differing_rows
from core.scan import iter_lines, open_payload
from core.scan_split import MAX_BAD_LINES, Helper, LiveIds, open_head, read_records, split_point
from core.substrates import (
    COLLECTION_BY_KEY,
    KB,
    PLAN_COLLECTIONS,
)

GRAPH_BATCH = 10_000  # lines per live-lookup batch in the scan (a batch's lines are held until it is compared)
CHROMA_CHECK = 10_000  # ids per existence check (chroma's get(ids) limit is ~32k)
CHROMA_CHECK_BYTES = 16 << 20  # and at most this much of their lines (and of the live rows fetched beside them)


# An endpoint's state: (labels of the backup occurrences of that id seen so far, live?). Interned so the
# node map holds one shared tuple per distinct state instead of one per node.
State = tuple[frozenset[str], bool]
NO_LABELS: frozenset[str] = frozenset()
# (label, live, labels of earlier occurrences of the same id or None)
NodeKey = tuple[str, bool, frozenset[str] | None]
# (type, source state, target state, id live, earlier occurrences (type, src, tgt) or None)
EdgeKey = tuple[str, State, State, bool, frozenset[tuple[str, State, State]] | None]
NodeItem = tuple[str, str]  # (id, label)
EdgeItem = tuple[str, str, str, str]  # (id, type, source, target)


@dataclass(frozen=True)
class BadLine:
    file: str
    line: int
    reason: str


@dataclass
class GraphScan:
    files: list[str] = field(default_factory=list)
    lines: int = 0
    bytes: int = 0
    nodes: Counter[NodeKey] = field(default_factory=Counter)
    edges: Counter[EdgeKey] = field(default_factory=Counter)
    # the lines of `nodes` / `edges` whose id is live with other content (their keys say what a plan makes of them)
    nodes_differ: Counter[NodeKey] = field(default_factory=Counter)
    edges_differ: Counter[EdgeKey] = field(default_factory=Counter)
    live_nodes: int = 0
    live_edges: int = 0
    live_labels: dict[str, int] = field(default_factory=dict)
    live_types: dict[str, int] = field(default_factory=dict)
    bad: list[BadLine] = field(default_factory=list)  # lines that are not graph records

    @property
    def labels(self) -> list[str]:
        """Every node label in the bundle or live, most common in the bundle first (for checkboxes)."""
        c: Counter[str] = Counter()
        for (label, _live, _prior), n in self.nodes.items():
            c[label] += n
        return sorted(set(c) | set(self.live_labels), key=lambda k: (-c[k], k))

    @property
    def edge_types(self) -> list[str]:
        c: Counter[str] = Counter()
        for key, n in self.edges.items():
            c[key[0]] += n
        return sorted(set(c) | set(self.live_types), key=lambda k: (-c[k], k))


@dataclass
class CollectionScan:
    key: str  # memories | summaries | temporalSummaries | kb
    collection: str
    files: list[str] = field(default_factory=list)
    backup: int = 0  # rows in the bundle
    distinct: int = 0  # distinct ids in the bundle
    present: int = 0  # distinct bundle ids that exist live
    differs: int = 0  # of those, the ids whose live row holds other content
    live: int = 0  # rows in the live collection
    natural_key_divergent: int | None = None  # kb only; None when the scan was skipped
    divergent_examples: list[DivergentExample] = field(default_factory=list)
    captured: bool = True  # False: the bundle never captured this collection (a replace leaves it alone)


@dataclass
class Scan:
    bundle: Path
    graph: GraphScan
    collections: dict[str, CollectionScan]
    flat: dict[str, FlatScan]
    warnings: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return self.graph.labels

    @property
    def edge_types(self) -> list[str]:
        return self.graph.edge_types


LIVE_IDS_IN_MEMORY = 1_000_000  # live graphs up to this many rows are read into id sets: one pass, no probes


class _LiveIds(LiveIds):
    def __init__(self, conn: sqlite3.Connection | None) -> None:
        super().__init__(conn, LIVE_IDS_IN_MEMORY)


def scan_graph(dd: DataDir, bundle: Path, *, on_progress: ProgressFn = no_progress,
               cancel: threading.Event | None = None, total_lines: int | None = None) -> GraphScan:
    """Stream the bundle's graph files once against the live DB and aggregate.

    This is the hot loop of the plan (1M lines must cost about one JSON parse): `read_records` parses and
    picks four fields per line; each batch is classified in bulk (C-level map/zip/Counter over the batch, live
    ids from sets or one query per batch). The census of the live graph (a json_extract over every live node)
    runs on a thread, on its own connection, while the bundle is parsed; the last ~70% of a big last file is
    parsed, looked up and compared by a helper process (`core.scan_split`) while this one reads the rest.
    """
    files = substrate_files(bundle, "graph")
    out = GraphScan(files=[str(f.relative_to(bundle)) for f in files])
    conn, census_conn, differs_conn = (gs.open_live(dd.graph_db) for _ in range(3))
    gc_was_on = gc.isenabled()
    with ExitStack() as stack:
        split = split_point(files[-1]) if files and codec.payload_encoding(files[-1].name) == codec.PLAIN else None
        helper = None
        if split is not None:  # started first: its start-up overlaps this process's part
            try:
                helper = Helper(files[-1], split, dd.graph_db, GRAPH_BATCH, LIVE_IDS_IN_MEMORY)
                stack.callback(helper.close)
            except OSError:  # no interpreter to start (a frozen build): one process reads it all
                split = None
        for c in (conn, census_conn, differs_conn):
            if c is not None:
                stack.callback(c.close)
        live = _LiveIds(conn)  # each table's ids read when first needed (a helper may look up all the edges)
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="plan-census"))
        census = pool.submit(gs.census, census_conn)
        differs_pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="plan-differs"))
        # a 1M-line scan keeps ~1M small objects alive in its maps: the cyclic collector would walk them all
        # again and again for cycles that do not exist (reference counting frees everything here)
        gc.disable()
        stack.callback(lambda: gc.enable() if gc_was_on else None)
        agg = _GraphAggregator(out, live, LinesDiffering(differs_conn, live, differs_pool))
        agg.ticker, agg.cancel = Ticker("graph", total_lines, on_progress, unit="lines"), cancel
        before = 0  # lines of the last file before the helper's part
        for path in files:
            agg.file = str(path.relative_to(bundle))
            head = split is not None and path is files[-1]
            with open_head(path, split) if head and split is not None else open_payload(path) as fh:
                before = read_records(fh, 1, GRAPH_BATCH, agg)
        agg.differs.settle()  # this part's differing lines counted before the helper's, as one process would
        if helper is not None:
            for batch in helper.batches(cancel):
                cols = batch.columns
                if batch.kind == "n":
                    agg.nodes(cols[0], cols[1], [], batch.lives, batch.differ)
                else:
                    agg.edges(cols[0], cols[1], cols[2], cols[3], [], batch.lives, batch.differ, batch.again)
                for number, reason in batch.bad:
                    agg.bad(before + number, reason)
                agg.batch_done()
            for number, reason in helper.bad:
                agg.bad(before + number, reason)
        out.live_nodes, out.live_edges, out.live_labels, out.live_types = census.result()
        agg.ticker.update(out.lines, force=True)
        out.bytes = sum(f.stat().st_size for f in files)
    return out


EdgeState = tuple[str, State, State, bool]  # (type, source state, target state, id live)


class _States(dict[tuple[str, bool], State]):
    """(label, live) -> the interned state of a node seen once with that label."""

    def __init__(self, intern: Callable[[frozenset[str], bool], State]) -> None:
        super().__init__()
        self._intern = intern

    def __missing__(self, key: tuple[str, bool]) -> State:
        state = self[key] = self._intern(frozenset((key[0],)), key[1])
        return state


class _StatesOf(dict[str, State]):
    """label -> the interned state of a node seen once with that label, for one liveness."""

    def __init__(self, single: _States, live: bool) -> None:
        super().__init__()
        self._single, self._live = single, live

    def __missing__(self, label: str) -> State:
        state = self[label] = self._single[(label, self._live)]
        return state


V = TypeVar("V")


def _prime(*columns: list[str]) -> None:
    """Hash every id first, in one C-level pass: a fresh string's hash is computed on its first lookup, and
    lookups of already hashed strings in a large map run about twice as fast (their cache misses overlap)."""
    for c in columns:
        deque(map(hash, c), 0)


def _insert_new(held: dict[str, V], keys: list[str], values: list[V]) -> bool:
    """Insert ``keys`` -> ``values`` if every key is new and distinct, one lookup each; else leave ``held`` as it
    was and say so (dicts keep insertion order: the keys this call added are the last ones)."""
    before = len(held)
    deque(map(held.setdefault, keys, values), 0)
    added = len(held) - before
    if added == len(keys):
        return True
    for key in list(islice(reversed(held), added)):
        del held[key]
    return False


class _GraphAggregator:
    """The scan's per-batch classification and the id maps it must hold (backup node id -> state).

    A batch whose ids are all new (the normal case) is classified in bulk; a batch holding a repeated id goes
    line by line, because a repeat's fate depends on the lines before it.
    """

    def __init__(self, out: GraphScan, live: LiveIds, differs: LinesDiffering) -> None:
        self.out, self.live, self.differs = out, live, differs
        self.file, self.cancel, self.ticker = "", cast(threading.Event | None, None), Ticker("graph", None, no_progress)
        self.node_map: dict[str, State] = {}
        self.edge_map: dict[str, EdgeKey] = {}
        self.edge_dups: dict[str, frozenset[tuple[str, State, State]]] = {}
        self.aside: list[tuple[list[str], list[EdgeKey]]] = []  # new edge ids of the helper's, not yet in edge_map
        self.states: dict[State, State] = {}
        self.edge_keys: dict[EdgeKey, EdgeKey] = {}
        self.single = _States(self._state)
        self.single_by_live = {lv: _StatesOf(self.single, lv) for lv in (True, False)}
        self.no_live, self.no_dead = self._state(NO_LABELS, True), self._state(NO_LABELS, False)

    def bad(self, number: int, reason: str) -> None:
        if len(self.out.bad) < MAX_BAD_LINES:
            self.out.bad.append(BadLine(self.file, number, reason))

    def batch_done(self) -> None:
        check_cancel(self.cancel)
        self.ticker.update(self.out.lines)

    def _state(self, labels: frozenset[str], is_live: bool) -> State:
        key = (labels, is_live)
        return self.states.setdefault(key, key)

    def _differing(self, table: str, ids: list[str], raws: list[bytes], keys: Iterable[Hashable],
                   lives: list[bool], counter: Counter[Any], differ: list[int] | None) -> None:
        """Count the key of each line whose id is live (``lives``) and whose content is not the live row's
        (``differ``: their positions, when the helper process compared them)."""
        if differ is not None:
            if differ:
                counter.update(map([*keys].__getitem__, differ))
        elif any(lives):
            self.differs.ask(table, [*compress(ids, lives)], [*compress(raws, lives)], [*compress(keys, lives)],
                             counter)

    def nodes(self, ids: list[str], labels: list[str], raws: list[bytes], lives: list[bool] | None = None,
              differ: list[int] | None = None) -> None:
        """A batch of node lines (``lives`` and ``differ``: what the helper process found out about them)."""
        if not ids:
            return
        self.out.lines += len(ids)
        _prime(ids)
        if lives is None:
            lives = self.live.lives(gs.NODES, ids)
        states = list(map(dict.__getitem__, map(self.single_by_live.__getitem__, lives), labels))
        if not _insert_new(self.node_map, ids, states):
            keys = self._nodes_one_by_one(ids, labels, lives)
            self._differing(gs.NODES, ids, raws, keys, [k[1] for k in keys], self.out.nodes_differ, differ)
            return
        seen, live = Counter(labels), Counter(compress(labels, lives))
        self.out.nodes.update({(label, True, None): n for label, n in live.items()})
        self.out.nodes.update({(label, False, None): n - live[label] for label, n in seen.items() if n > live[label]})
        self._differing(gs.NODES, ids, raws, zip(labels, lives, repeat(None)), lives, self.out.nodes_differ, differ)

    def _nodes_one_by_one(self, ids: list[str], labels: list[str], lives: list[bool]) -> list[NodeKey]:
        node_map = self.node_map
        keys: list[NodeKey] = []
        for nid, label, lv in zip(ids, labels, lives, strict=True):
            prev = node_map.get(nid)
            if prev is None:
                keys.append((label, lv, None))
                node_map[nid] = self.single[(label, lv)]
            else:  # a duplicate id: its fate depends on the labels of the earlier occurrences
                keys.append((label, prev[1], prev[0]))
                node_map[nid] = self._state(prev[0] | {label}, prev[1])
        self.out.nodes.update(keys)
        return keys

    def edges(self, eids: list[str], types: list[str], srcs: list[str], tgts: list[str], raws: list[bytes],
              lives: list[bool] | None = None, differ: list[int] | None = None, again: bool = True) -> None:
        """A batch of edge lines. ``again`` False: the helper process saw none of these ids earlier in its part;
        unless this process saw them, they are new, and they are set aside instead of entering the id map (only a
        repeat needs the map: the first repeat puts them in)."""
        if not eids:
            return
        self.out.lines += len(eids)
        node_map, edge_map = self.node_map, self.edge_map
        _prime(srcs, tgts)
        src_states = list(map(node_map.get, srcs))
        tgt_states = list(map(node_map.get, tgts))
        if None in src_states or None in tgt_states:  # endpoints that are not bundle nodes: live or nowhere
            n = len(eids)
            src_out = [*compress(range(n), map(is_, src_states, repeat(None)))]
            tgt_out = [*compress(range(n), map(is_, tgt_states, repeat(None)))]
            live_outside = self.live.present(gs.NODES, [*map(srcs.__getitem__, src_out), *map(tgts.__getitem__, tgt_out)])
            no_live, no_dead = self.no_live, self.no_dead
            for states, ends, out in ((src_states, srcs, src_out), (tgt_states, tgts, tgt_out)):
                for i in out:
                    states[i] = no_live if ends[i] in live_outside else no_dead
        if lives is None:
            lives = self.live.lives(gs.EDGES, eids)
        # interned: edges sharing a key share one tuple, so the map costs an id and a slot per edge
        srcs_in, tgts_in = cast(list[State], src_states), cast(list[State], tgt_states)  # no None left
        keys: list[EdgeKey] = list(zip(types, srcs_in, tgts_in, lives, repeat(None)))
        keys = list(map(self.edge_keys.setdefault, keys, keys))
        if not again and (not edge_map or edge_map.keys().isdisjoint(eids)):
            self.aside.append((eids, keys))
            self.out.edges.update(keys)
        else:
            for ids, earlier in self.aside:
                deque(map(edge_map.setdefault, ids, earlier), 0)
            self.aside.clear()
            _prime(eids)
            if _insert_new(edge_map, eids, keys):
                self.out.edges.update(keys)
            else:
                keys = self._edges_one_by_one(eids, types, srcs_in, tgts_in, lives)
        self._differing(gs.EDGES, eids, raws, keys, [*map(itemgetter(3), keys)], self.out.edges_differ,
                        differ)

    def _edges_one_by_one(self, eids: list[str], types: list[str], src_states: list[State], tgt_states: list[State],
                          lives: list[bool]) -> list[EdgeKey]:
        edge_map = self.edge_map
        keys: list[EdgeKey] = []
        for eid, et, src, tgt, lv in zip(eids, types, src_states, tgt_states, lives, strict=True):
            first = edge_map.get(eid)
            if first is None:
                key: EdgeKey = (et, src, tgt, lv, None)
                keys.append(key)
                edge_map[eid] = self.edge_keys.setdefault(key, key)
            else:  # a duplicate id (e.g. two id-less edges with one `source->target:type` fallback)
                prior = self.edge_dups.get(eid, frozenset(((first[0], first[1], first[2]),)))
                keys.append((et, src, tgt, first[3], prior))
                self.edge_dups[eid] = prior | {(et, src, tgt)}
        self.out.edges.update(keys)
        return keys


def scan_collection(client: cs.ClientAPI | None, bundle: Path, key: str, *, cancel: threading.Event | None = None,
                    ticker: Ticker | None = None, name: str | None = None) -> CollectionScan:
    files = collection_files(bundle, key)
    out = CollectionScan(key, name or COLLECTION_BY_KEY[key].name, [str(f.relative_to(bundle)) for f in files])
    col = cs.get_collection(client, out.collection)
    out.live = cs.count(col)
    seen: set[str] = set()
    pending: list[str] = []
    raws: list[bytes] = []  # the pending ids' lines: a live id's content is compared
    held = 0

    def flush() -> None:
        nonlocal held
        if pending and col is not None and out.live:
            present, differs = differing_rows(col, key, pending, raws)
            out.present += present
            out.differs += differs
        pending.clear()
        raws.clear()
        held = 0

    for _path, _number, raw in iter_lines(files):
        out.backup += 1
        rid = chroma_line_id(raw)
        if rid is None or rid in seen:
            continue
        seen.add(rid)
        pending.append(rid)
        raws.append(raw)
        held += len(raw)
        if len(pending) >= CHROMA_CHECK or held >= CHROMA_CHECK_BYTES:
            check_cancel(cancel)
            flush()
            if ticker is not None:
                ticker.update(out.backup)
    flush()
    out.distinct = len(seen)
    return out


def scan_bundle(dd: DataDir, bundle: Path | str, *, on_progress: ProgressFn = no_progress,
                cancel: threading.Event | None = None, kb_collection: str | None = None) -> Scan:
    """The one expensive pass: graph stream + live lookups, Chroma existence checks, flat targets.

    ``kb_collection``: the knowledge base's target (``--target-collection``), else the one neo's config names."""
    path = bundle if isinstance(bundle, Path) else resolve_bundle(dd.backup_root, bundle)
    if not path.is_dir():
        raise UsageError("bundle directory not found", path=path)
    graph = scan_graph(dd, path, on_progress=on_progress, cancel=cancel)
    meta = read_meta(path)[1]
    names = {c.key: kb_collection if c is KB and kb_collection else dd.collection_name(c.key) for c in PLAN_COLLECTIONS}
    collections: dict[str, CollectionScan] = {}
    warnings: list[str] = []
    keys = [c.key for c in PLAN_COLLECTIONS if collection_files(path, c.key)]
    client = cs.open_client(dd, create=False) if keys else None
    for c in PLAN_COLLECTIONS:
        check_cancel(cancel)
        if c.key in keys:
            ticker = Ticker(c.key, None, on_progress)
            scanned = scan_collection(client, path, c.key, cancel=cancel, ticker=ticker,
                                      name=names[c.key])
            ticker.update(scanned.backup, force=True)
        else:
            scanned = CollectionScan(c.key, names[c.key])
            scanned.live = cs.count(cs.get_collection(client, scanned.collection))
        scanned.captured = captures_collection(path, meta, c.key)
        collections[c.key] = scanned
    kb = collections[KB.key]
    kb_col = cs.get_collection(client, kb.collection) if kb.backup and kb.live else None
    if kb_col is not None:
        kb.natural_key_divergent, kb.divergent_examples = kb_divergence(
            kb_col, collection_files(path, KB.key), path, cancel=cancel)
    if graph.bad:
        first = graph.bad[0]
        more = "+" if len(graph.bad) >= MAX_BAD_LINES else ""
        warnings.append(f"{len(graph.bad)}{more} graph line(s) are not restorable "
                        f"records and are left out of these numbers; a restore refuses the bundle or fails those "
                        f"rows (first: {first.file}:{first.line}: {first.reason})")
    return Scan(path, graph, collections, scan_flat(dd, path), warnings)
