"""The restore plan: what a restore of a bundle would do, per node label, edge type, collection and file.

`scan_bundle` is the one expensive pass: it streams the bundle's graph file(s) against the live DB, checks
the bundle's Chroma ids against the live collections in chunks, and looks at the flat targets. It keeps
only aggregate state (counts keyed by label / edge type and endpoint presence, plus the backup node ids
it must remember), so `build_plan` re-derives every number for any filter set, substrate selection and
mode without touching the bundle or the stores again: the TUI recounts on every checkbox tick.

Row invariant, for every node label and edge type row of a selected graph:

    backup = filtered + orphaned + alreadyPresent + wouldInsert        (orphaned is 0 for nodes)

`alreadyPresent` counts accepted rows only (a filtered row is `filtered` even when its id is live), and
for Chroma collections `backup = alreadyPresent + wouldInsert` (a duplicate id in the bundle counts as
already present: by the time it is reached, its first occurrence exists).

Orphans (neo section 4.5) are applied whether or not a filter is active. neo drops orphan edges only when
a filter is active; without one, they reach the FK-checked insert and are counted `failed`. The final
state is identical (the edge is not written either way); applying the rule always keeps `failed` for
real failures and lets the plan say up front which edges point nowhere.
"""

from __future__ import annotations

import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from core import chroma as ch
from core.bundle import resolve_bundle, substrate_files
from core.datadir import COLLECTIONS, SUBSTRATES, DataDir
from core.errors import UsageError
from core.graph import connect, present_ids
from core.jsonl import BUFFER
from core.progress import ProgressFn, Ticker, check_cancel, no_progress

NODE_PREFIX = b'{"type":"node","data":'
EDGE_PREFIX = b'{"type":"edge","data":'
GRAPH_BATCH = 20_000  # lines per live-lookup batch in the scan
CHROMA_CHECK = 10_000  # ids per existence check (chroma's get(ids) limit is ~32k)
MODES = ("merge", "replace")
FLAT_SUBSTRATES = ("concepts", "trajectories", "mailbox", "ledgers")


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

    def to_json(self) -> dict[str, list[str]]:
        return {"labels": sorted(self.labels), "edgeTypes": sorted(self.edge_types)}


def check_only_substrate(only: Iterable[str] | None) -> tuple[str, ...] | None:
    """neo's rule: None = all; [] = nothing; unknown names refused, listing the valid ones."""
    if only is None:
        return None
    names = tuple(only)
    unknown = [n for n in names if n not in SUBSTRATES]
    if unknown:
        raise UsageError(f"Unknown substrate(s) in --only-substrate: {', '.join(unknown)}. Valid: {', '.join(SUBSTRATES)}")
    return names


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"Unknown mode: {mode}. Must be 'merge' or 'replace'.")
    return mode


def selected(only: tuple[str, ...] | None, substrate: str) -> bool:
    return only is None or substrate in only


# --------------------------------------------------------------------------------------------- graph lines


# A parsed graph line as a plain tuple (an object per line costs measurably on the 1M-line path):
# (file, line number, id, label or edge type, data text as stored, user_id, CRC-32 of data, source, target).
# id is None for a record restore cannot write (a node without id, an edge without source/target/type).
GraphLine = tuple[Path, int, str | None, str, str, str | None, int, str | None, str | None]
F_PATH: Final = 0
F_LINE: Final = 1
F_ID: Final = 2
F_LABEL: Final = 3
F_DATA: Final = 4
F_USER: Final = 5
F_CRC: Final = 6
F_SOURCE: Final = 7
F_TARGET: Final = 8


def _row(kind: str, d: dict[str, Any], text: str, crc: int, path: Path, number: int) -> GraphLine:
    props = d.get("properties")
    uid = props.get("userId") if type(props) is dict else None
    uid = uid or d.get("user_id") or None  # neo: data.properties.userId || data.user_id || null
    if kind == "node":
        nid, label = d.get("id"), d.get("label")
        label = label if type(label) is str else ("" if label is None else str(label))
        return (path, number, nid if type(nid) is str and nid else None, label, text, uid, crc, None, None)
    s, t, et = d.get("source"), d.get("target"), d.get("type")
    if not (type(s) is str and type(t) is str and type(et) is str and s and t and et):
        return (path, number, None, et if type(et) is str else "", text, uid, crc, None, None)
    eid = d.get("id") or f"{s}->{t}:{et}"  # neo's fallback id for an edge without one
    return (path, number, eid if type(eid) is str else str(eid), et, text, uid, crc, s, t)


def parse_graph_line(raw: bytes, path: Path = Path(), number: int = 0) -> tuple[str, GraphLine] | None:
    """(kind, row) for a node or edge line, None for a record of another type; ValueError if not a record.

    neo writes `{"type":"node","data":<Nodes.data>}`. When a line has that prefix and the rest parses as
    one JSON value, that value *is* `data` (a line with extra keys would not parse), so it is stored verbatim
    instead of re-serialised: restored rows are byte-identical to the bundle.
    """
    raw = raw.rstrip(b"\r\n")
    kind = "node" if raw.startswith(NODE_PREFIX) else ("edge" if raw.startswith(EDGE_PREFIX) else None)
    if kind is not None and raw.endswith(b"}"):
        body = raw[22:-1]
        try:
            d = orjson.loads(body)
        except orjson.JSONDecodeError:
            d = None
        if type(d) is dict:
            return kind, _row(kind, d, body.decode(), zlib.crc32(body), path, number)
    whole = orjson.loads(raw)
    if not isinstance(whole, dict):
        raise ValueError("graph line is not a JSON object")
    kind, d = whole.get("type"), whole.get("data")
    if kind not in ("node", "edge"):
        return None
    if not isinstance(d, dict):
        raise ValueError("graph line has no data object")
    encoded = orjson.dumps(d)
    return kind, _row(kind, d, encoded.decode(), zlib.crc32(encoded), path, number)


def iter_graph_lines(files: list[Path]) -> Iterator[tuple[Path, int, bytes]]:
    """(file, 1-based line number, line without newline) for every non-blank line, streamed."""
    for path in files:
        with open(path, "rb", buffering=BUFFER) as fh:
            for number, raw in enumerate(fh, start=1):
                body = raw.rstrip(b"\r\n")
                if body.strip():
                    yield path, number, body


def graph_batches(files: list[Path], size: int,
                  on_error: Callable[[Path, int, str], None]) -> Iterator[tuple[str, list[GraphLine]]]:
    """Batches of consecutive rows of one kind (nodes or edges), at most `size` each, streamed.

    Splitting where the kind changes keeps stream order exact: every node before an edge in the file is
    written (and visible to the endpoint check) before that edge is classified. The common line shape is
    parsed inline; anything else goes through `parse_graph_line`.
    """
    loads, crc32, make = orjson.loads, zlib.crc32, _row
    batch: list[GraphLine] = []
    kind = ""
    for path in files:
        with open(path, "rb", buffering=BUFFER) as fh:
            for number, raw in enumerate(fh, start=1):
                k = "node" if raw.startswith(NODE_PREFIX) else ("edge" if raw.startswith(EDGE_PREFIX) else "")
                row = None
                if k and raw.endswith(b"}\n"):
                    body = raw[22:-2]
                    try:
                        d = loads(body)
                    except orjson.JSONDecodeError:
                        d = None
                    if type(d) is dict:
                        row = make(k, d, body.decode(), crc32(body), path, number)
                if row is None:
                    if not raw.strip():
                        continue
                    try:
                        parsed = parse_graph_line(raw, path, number)
                    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
                        on_error(path, number, f"not a graph record: {exc}")
                        continue
                    if parsed is None:
                        continue  # neo ignores records of another type
                    k, row = parsed
                if batch and (k != kind or len(batch) >= size):
                    out, batch = batch, []
                    yield kind, out
                    del out  # the consumer holds the only reference while the next batch is parsed
                kind = k
                batch.append(row)
    if batch:
        yield kind, batch


class LiveIndex:
    """Existence checks against the live graph, one query per batch (≈1 µs per id, no id set in memory)."""

    def __init__(self, conn: Any | None) -> None:
        self.conn = conn

    def _present(self, table: str, ids: Iterable[str]) -> set[str]:
        if self.conn is None:
            return set()
        wanted = ids if isinstance(ids, list) else list(ids)
        if not wanted:
            return set()
        return present_ids(self.conn, table, wanted)  # bound parameters, exact for every id

    def nodes(self, ids: Iterable[str]) -> set[str]:
        return self._present("Nodes", ids)

    def edges(self, ids: Iterable[str]) -> set[str]:
        return self._present("Edges", ids)


# ------------------------------------------------------------------------------------------------ the scan

# An endpoint's state: (labels of the backup occurrences of that id seen so far, live?). Interned so the
# node map holds one shared tuple per distinct state instead of one per node.
State = tuple[frozenset[str], bool]
NO_LABELS: frozenset[str] = frozenset()


@dataclass
class GraphScan:
    files: list[str] = field(default_factory=list)
    lines: int = 0
    bytes: int = 0
    # (label, live, labels of earlier occurrences of the same id or None) -> rows
    nodes: Counter[tuple[str, bool, frozenset[str] | None]] = field(default_factory=Counter)
    # (type, source state, target state, id live, earlier occurrences (type, src, tgt) or None) -> rows
    edges: Counter[tuple[str, State, State, bool, frozenset[tuple[str, State, State]] | None]] = field(
        default_factory=Counter)
    live_nodes: int = 0
    live_edges: int = 0
    live_labels: dict[str, int] = field(default_factory=dict)
    live_types: dict[str, int] = field(default_factory=dict)
    bad: list[dict[str, Any]] = field(default_factory=list)  # lines that are not graph records

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
    key: str  # memories | summaries | kb
    collection: str
    files: list[str] = field(default_factory=list)
    backup: int = 0  # rows in the bundle
    distinct: int = 0  # distinct ids in the bundle
    present: int = 0  # distinct bundle ids that exist live
    live: int = 0  # rows in the live collection
    natural_key_divergent: int | None = None  # kb only; None when the scan was skipped
    divergent_examples: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FlatScan:
    substrate: str
    target: str | None
    # (bundle file name, target path, target exists and is non-empty)
    files: list[tuple[str, str, bool]] = field(default_factory=list)
    note: str | None = None


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


def open_live_graph(dd: DataDir) -> Any | None:
    """A read-only connection to the live graph, or None when there is no DB yet (everything is new)."""
    if not dd.graph_db.exists():
        return None
    return connect(dd.graph_db, readonly=True)


def live_census(conn: Any | None) -> tuple[int, int, dict[str, int], dict[str, int]]:
    if conn is None:
        return 0, 0, {}, {}
    labels = {str(k): int(n) for k, n in conn.execute(
        "SELECT json_extract(data, '$.label'), count(*) FROM Nodes GROUP BY 1") if k is not None}
    types = {str(k): int(n) for k, n in conn.execute("SELECT type, count(*) FROM Edges GROUP BY type")}
    n_nodes = conn.execute("SELECT count(*) FROM Nodes").fetchone()[0]
    n_edges = conn.execute("SELECT count(*) FROM Edges").fetchone()[0]
    return int(n_nodes), int(n_edges), labels, types


def scan_graph(dd: DataDir, bundle: Path, *, on_progress: ProgressFn = no_progress,
               cancel: threading.Event | None = None, total_lines: int | None = None) -> GraphScan:
    """Stream the bundle's graph files once against the live DB and aggregate.

    This is the hot loop of the plan (1M lines must cost about one JSON parse), so it is written flat:
    parse, pick four fields, append; classification happens per batch with one live lookup per batch.
    """
    files = substrate_files(bundle, "graph")
    gs = GraphScan(files=[str(f.relative_to(bundle)) for f in files])
    conn = open_live_graph(dd)
    with ExitStack() as stack:
        if conn is not None:
            stack.callback(conn.close)
        agg = _GraphAggregator(gs, LiveIndex(conn))
        stack.callback(agg.close)
        # the census (a json_extract over every live node) runs on the lookup thread while parsing starts
        census = agg.pool.submit(live_census, conn)
        ticker = Ticker("graph", total_lines, on_progress, unit="lines")
        loads = orjson.loads
        nodes: list[tuple[str, str]] = []
        edges: list[tuple[str, str, str, str]] = []
        add_node, add_edge = nodes.append, edges.append
        n = 0  # lines in the current batch (a local: attribute and len() calls per line add up at 1M lines)
        for path in files:
            with open(path, "rb", buffering=BUFFER) as fh:
                for number, raw in enumerate(fh, start=1):
                    try:
                        obj = loads(raw)
                        kind, data = obj["type"], obj["data"]
                        if kind == "node":
                            nid, label = data["id"], data.get("label")
                        elif kind == "edge":
                            s, t, et = data["source"], data["target"], data["type"]
                            eid = data.get("id") or f"{s}->{t}:{et}"
                        else:
                            continue  # neo ignores records of another type
                    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                        if raw.strip():
                            agg.bad(bundle, path, number, "not a graph record with the fields restore needs")
                        continue
                    if kind == "node":
                        if edges:  # a batch holds one kind: flush the edges before the first node after them
                            agg.submit("edge", edges)
                            gs.lines += n
                            edges, n = [], 0
                            add_edge = edges.append
                        if type(nid) is not str or not nid:
                            agg.bad(bundle, path, number, "node has no id")
                            continue
                        add_node((nid, label if type(label) is str else ""))
                    else:
                        if nodes:
                            agg.submit("node", nodes)
                            gs.lines += n
                            nodes, n = [], 0
                            add_node = nodes.append
                        if not (type(s) is str and type(t) is str and type(et) is str and s and t and et):
                            agg.bad(bundle, path, number, "edge needs source, target and type")
                            continue
                        add_edge((eid if type(eid) is str else str(eid), et, s, t))
                    n += 1
                    if n >= GRAPH_BATCH:
                        gs.lines += n
                        if nodes:
                            agg.submit("node", nodes)
                            nodes = []
                            add_node = nodes.append
                        else:
                            agg.submit("edge", edges)
                            edges = []
                            add_edge = edges.append
                        n = 0
                        check_cancel(cancel)
                        ticker.update(gs.lines)
        gs.lines += n
        agg.submit("node", nodes)
        agg.submit("edge", edges)
        agg.finish()
        gs.live_nodes, gs.live_edges, gs.live_labels, gs.live_types = census.result()
        ticker.update(gs.lines, force=True)
        gs.bytes = sum(f.stat().st_size for f in files)
    return gs


class _GraphAggregator:
    """The scan's per-batch classification and the id maps it must hold (backup node id -> state).

    Live lookups run on one worker thread (sqlite releases the GIL while it steps) while the main thread
    parses the next batch. The maps are only mutated in `_finish`, after the worker's lookup for that batch
    returned and before the next lookup is submitted, so the worker never reads a map being written.
    """

    def __init__(self, gs: GraphScan, live: LiveIndex) -> None:
        self.gs = gs
        self.live = live
        self.node_map: dict[str, State] = {}
        self.edge_map: dict[str, tuple[str, State, State, bool]] = {}
        self.edge_dups: dict[str, frozenset[tuple[str, State, State]]] = {}
        self.intern: dict[Any, Any] = {}
        self.single: dict[tuple[str, bool], State] = {}
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="plan-lookup")
        self.pending: tuple[str, list[Any], Future[Any]] | None = None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def bad(self, bundle: Path, path: Path, number: int, reason: str) -> None:
        if len(self.gs.bad) < 50:
            self.gs.bad.append({"file": str(path.relative_to(bundle)), "line": number, "reason": reason})

    def _state(self, labels: frozenset[str], is_live: bool) -> State:
        key = (labels, is_live)
        return self.intern.setdefault(key, key)

    def submit(self, kind: str, batch: list[Any]) -> None:
        """Classify the batch in flight, then start the live lookup of this one (the caller drops `batch`)."""
        if not batch:
            return
        self.finish()
        fn = self._lookup_nodes if kind == "node" else self._lookup_edges
        self.pending = (kind, batch, self.pool.submit(fn, batch))

    def finish(self) -> None:
        if self.pending is None:
            return
        kind, batch, fut = self.pending
        self.pending = None
        if kind == "node":
            self._classify_nodes(batch, fut.result())
        else:
            self._classify_edges(batch, *fut.result())

    def _lookup_nodes(self, batch: list[tuple[str, str]]) -> set[str]:
        node_map = self.node_map
        return self.live.nodes([nid for nid, _ in batch if nid not in node_map])

    def _lookup_edges(self, batch: list[tuple[str, str, str, str]]) -> tuple[set[str], set[str]]:
        node_map, edge_map = self.node_map, self.edge_map
        outside = self.live.nodes([e for _, _, s, t in batch for e in (s, t) if e not in node_map])
        return outside, self.live.edges([eid for eid, _, _, _ in batch if eid not in edge_map])

    def _classify_nodes(self, batch: list[tuple[str, str]], present: set[str]) -> None:
        node_map, single = self.node_map, self.single
        keys: list[tuple[str, bool, frozenset[str] | None]] = []
        for nid, label in batch:
            prev = node_map.get(nid)
            if prev is None:
                lv = nid in present
                keys.append((label, lv, None))
                st = single.get((label, lv))
                if st is None:
                    st = single[(label, lv)] = self._state(frozenset((label,)), lv)
                node_map[nid] = st
            else:  # a duplicate id: its fate depends on the labels of the earlier occurrences
                keys.append((label, prev[1], prev[0]))
                node_map[nid] = self._state(prev[0] | {label}, prev[1])
        self.gs.nodes.update(keys)

    def _classify_edges(self, batch: list[tuple[str, str, str, str]], live_outside: set[str],
                        live_ids: set[str]) -> None:
        node_map, edge_map, intern = self.node_map, self.edge_map, self.intern
        no_live, no_dead = self._state(NO_LABELS, True), self._state(NO_LABELS, False)
        keys: list[tuple[str, State, State, bool, frozenset[tuple[str, State, State]] | None]] = []
        for eid, et, s, t in batch:
            src = node_map.get(s) or (no_live if s in live_outside else no_dead)
            tgt = node_map.get(t) or (no_live if t in live_outside else no_dead)
            first = edge_map.get(eid)
            if first is None:
                lv = eid in live_ids
                keys.append((et, src, tgt, lv, None))
                # interned: edges sharing a key share one tuple, so the map costs an id and a slot per edge
                key = (et, src, tgt, lv)
                edge_map[eid] = intern.setdefault(key, key)
            else:  # a duplicate id (e.g. two id-less edges with one `source->target:type` fallback)
                prior = self.edge_dups.get(eid, frozenset((first[:3],)))
                keys.append((et, src, tgt, first[3], prior))
                self.edge_dups[eid] = prior | {(et, src, tgt)}
        self.gs.edges.update(keys)


def _fast_id(raw: bytes) -> str | None:
    """The id of a Chroma line without parsing its vector: neo writes `{"id":"...","embedding":...`."""
    if raw.startswith(b'{"id":"'):
        end = raw.find(b'"', 7)
        if end > 7 and b"\\" not in raw[7:end]:
            return raw[7:end].decode()
    return None


def chroma_line_id(raw: bytes) -> str | None:
    fast = _fast_id(raw)
    if fast is not None:
        return fast
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and rid else None


def collection_files(bundle: Path, key: str) -> list[Path]:
    """The bundle files restored into one collection, routed by file-name prefix as neo does."""
    if key == "kb":
        return substrate_files(bundle, "kb")
    mc = substrate_files(bundle, "mc")
    if key == "memories":
        return [f for f in mc if f.name.startswith("memory-backup")]
    if key == "temporalSummaries":
        return [f for f in mc if f.name.startswith("temporal-summary-backup")]
    return [f for f in mc if not f.name.startswith(("memory-backup", "temporal-summary-backup"))]


def scan_collection(client: Any, bundle: Path, key: str, *, cancel: threading.Event | None = None,
                    ticker: Ticker | None = None) -> CollectionScan:
    files = collection_files(bundle, key)
    cs = CollectionScan(key, COLLECTIONS[key], [str(f.relative_to(bundle)) for f in files])
    col = ch.get_collection(client, cs.collection) if client is not None else None
    cs.live = col.count() if col is not None else 0
    seen: set[str] = set()
    pending: list[str] = []

    def flush() -> None:
        if pending and col is not None and cs.live:
            cs.present += len(ch.existing_ids(col, pending))
        pending.clear()

    for _path, _number, raw in iter_graph_lines(files):
        cs.backup += 1
        rid = chroma_line_id(raw)
        if rid is None or rid in seen:
            continue
        seen.add(rid)
        pending.append(rid)
        if len(pending) >= CHROMA_CHECK:
            check_cancel(cancel)
            flush()
            if ticker is not None:
                ticker.update(cs.backup)
    flush()
    cs.distinct = len(seen)
    return cs


def natural_key(meta: Any) -> tuple[Any, ...] | None:
    """neo's KB natural key {tenantId, repoSlug, source, name, type}; None when a row has none of the last three."""
    if not isinstance(meta, dict):
        return None
    key = (meta.get("tenantId"), meta.get("repoSlug"), meta.get("source"), meta.get("name"), meta.get("type"))
    return key if any(v is not None for v in key[2:]) else None


def kb_divergence(col: Any, files: list[Path], bundle: Path, *, cancel: threading.Event | None = None,
                  limit: int = 10) -> tuple[int, list[dict[str, str]]]:
    """Bundle KB rows whose natural key exists live under a different id (neo's KB_MERGE_NATURAL_KEY_DIVERGENCE)."""
    live: dict[tuple[Any, ...], set[str] | str] = {}
    offset = 0
    while True:
        check_cancel(cancel)
        got = col.get(limit=2000, offset=offset, include=["metadatas"])
        ids = got["ids"]
        if not ids:
            break
        for rid, meta in zip(ids, got["metadatas"] or [None] * len(ids), strict=True):
            k = natural_key(meta)
            if k is None:
                continue
            have = live.get(k)
            if have is None:
                live[k] = rid  # one id per key is the norm: keep a str, not a set
            elif isinstance(have, str):
                live[k] = {have, rid}
            else:
                have.add(rid)
        offset += len(ids)
        if len(ids) < 2000:
            break
    count = 0
    examples: list[dict[str, str]] = []
    for path, number, raw in iter_graph_lines(files):
        if number % 2000 == 0:
            check_cancel(cancel)
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        k = natural_key(obj.get("metadata")) if isinstance(obj, dict) else None
        have = live.get(k) if k is not None else None
        if have is None:
            continue
        rid = obj.get("id")
        if rid == have or (isinstance(have, set) and rid in have):
            continue
        count += 1
        if len(examples) < limit:
            other = have if isinstance(have, str) else sorted(have)[0]
            examples.append({"file": str(path.relative_to(bundle)), "line": str(number), "id": str(rid),
                             "liveId": other, "key": "/".join("" if v is None else str(v) for v in k)})  # type: ignore[union-attr]
    return count, examples


def scan_flat(dd: DataDir, bundle: Path) -> dict[str, FlatScan]:
    out: dict[str, FlatScan] = {}
    concepts = FlatScan("concepts", str(dd.concepts_dir))
    for f in substrate_files(bundle, "concepts"):
        target = dd.concepts_dir / f.name
        concepts.files.append((f.name, str(target), target.exists()))
    if not concepts.files:
        concepts.note = "bundle has no concepts/*.jsonl"
    out["concepts"] = concepts
    for sub, target in (("trajectories", dd.trajectories_file), ("mailbox", dd.mailbox_file)):
        fs = FlatScan(sub, str(target))
        files = substrate_files(bundle, sub)
        if not (bundle / sub).is_dir():
            fs.note = f"bundle has no {sub}/ (optional in older bundles)"
        elif not files:
            fs.note = f"bundle has no {sub}/*.jsonl"
        else:
            exists = target.is_file() and target.stat().st_size > 0
            fs.files.append((files[0].name, str(target), exists))
        out[sub] = fs
    ledgers = FlatScan("ledgers", None)
    ledgers.note = "this data dir layout has no ledger target; ledgers are never restored"
    out["ledgers"] = ledgers
    return out


def scan_bundle(dd: DataDir, bundle: Path | str, *, on_progress: ProgressFn = no_progress,
                cancel: threading.Event | None = None) -> Scan:
    """The one expensive pass: graph stream + live lookups, Chroma existence checks, flat targets."""
    path = bundle if isinstance(bundle, Path) else resolve_bundle(dd.backup_root, bundle)
    if not path.is_dir():
        raise UsageError("bundle directory not found", path=path)
    graph = scan_graph(dd, path, on_progress=on_progress, cancel=cancel)
    collections: dict[str, CollectionScan] = {}
    warnings: list[str] = []
    keys = [k for k in ("memories", "summaries", "kb") if collection_files(path, k)]
    client = ch.open_client(dd, create=False) if keys else None
    for key in ("memories", "summaries", "kb"):
        check_cancel(cancel)
        if key in keys:
            ticker = Ticker(key, None, on_progress)
            cs = scan_collection(client, path, key, cancel=cancel, ticker=ticker)
            ticker.update(cs.backup, force=True)
        else:
            cs = CollectionScan(key, COLLECTIONS[key])
            col = ch.get_collection(client, cs.collection) if client is not None else None
            cs.live = col.count() if col is not None else 0
        collections[key] = cs
    kb = collections["kb"]
    if kb.backup and kb.live:
        col = ch.get_collection(client, kb.collection)
        kb.natural_key_divergent, kb.divergent_examples = kb_divergence(
            col, collection_files(path, "kb"), path, cancel=cancel)
    if graph.bad:
        first = graph.bad[0]
        warnings.append(f"{len(graph.bad)}{'+' if len(graph.bad) >= 50 else ''} graph line(s) are not restorable "
                        f"records and are left out of these numbers; a restore refuses the bundle or fails those "
                        f"rows (first: {first['file']}:{first['line']}: {first['reason']})")
    if collection_files(path, "temporalSummaries"):
        warnings.append("mc/temporal-summary-backup-*.jsonl is not restored: this layout has no temporal-summary "
                        "collection")
    return Scan(path, graph, collections, scan_flat(dd, path), warnings)


# ------------------------------------------------------------------------------------------------ the plan


@dataclass
class Row:
    backup: int = 0
    live: int = 0
    alreadyPresent: int = 0
    wouldInsert: int = 0
    filtered: int = 0
    orphaned: int = 0

    def to_json(self, *, edge: bool) -> dict[str, int]:
        d = {"backup": self.backup, "live": self.live, "alreadyPresent": self.alreadyPresent,
             "wouldInsert": self.wouldInsert, "filtered": self.filtered}
        if edge:
            d["orphaned"] = self.orphaned
        return d


@dataclass
class GraphPlan:
    selected: bool
    labels: dict[str, Row]
    edge_types: dict[str, Row]
    live_nodes: int
    live_edges: int

    def _sum(self, rows: dict[str, Row], attr: str) -> int:
        return sum(getattr(r, attr) for r in rows.values())

    @property
    def filter_stats(self) -> dict[str, int]:
        filtered_nodes = self._sum(self.labels, "filtered")
        return {"filteredNodes": filtered_nodes, "filteredEdges": self._sum(self.edge_types, "filtered"),
                "orphanEdges": self._sum(self.edge_types, "orphaned"),
                "acceptedNodes": self._sum(self.labels, "backup") - filtered_nodes if self.selected else 0}

    @property
    def totals(self) -> dict[str, int]:
        fs = self.filter_stats
        return {"filteredOut": fs["filteredNodes"] + fs["filteredEdges"] + fs["orphanEdges"],
                "alreadyPresent": self._sum(self.labels, "alreadyPresent") + self._sum(self.edge_types, "alreadyPresent"),
                "wouldInsert": self._sum(self.labels, "wouldInsert") + self._sum(self.edge_types, "wouldInsert")}

    def to_json(self) -> dict[str, Any]:
        return {"selected": self.selected,
                "labels": {k: r.to_json(edge=False) for k, r in self.labels.items()},
                "edgeTypes": {k: r.to_json(edge=True) for k, r in self.edge_types.items()},
                "totals": self.totals, "filterStats": self.filter_stats,
                "live": {"nodes": self.live_nodes, "edges": self.live_edges}}


@dataclass
class CollectionPlan:
    selected: bool
    backup: int
    live: int
    alreadyPresent: int
    wouldInsert: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"selected": self.selected, "backup": self.backup, "live": self.live,
                "alreadyPresent": self.alreadyPresent, "wouldInsert": self.wouldInsert, **self.extra}


@dataclass
class Plan:
    bundle: Path
    mode: str
    force: bool
    filters: Filters
    only_substrate: tuple[str, ...] | None
    graph: GraphPlan
    memories: CollectionPlan
    summaries: CollectionPlan
    kb: CollectionPlan
    flat: dict[str, dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        return self.graph.totals

    def to_json(self) -> dict[str, Any]:
        return {"bundle": str(self.bundle), "mode": self.mode, "force": self.force,
                "filters": self.filters.to_json(),
                "onlySubstrate": list(self.only_substrate) if self.only_substrate is not None else None,
                "graph": self.graph.to_json(), "memories": self.memories.to_json(),
                "summaries": self.summaries.to_json(), "kb": self.kb.to_json(), "flat": self.flat,
                "warnings": self.warnings}


def _ordered(rows: dict[str, Row]) -> dict[str, Row]:
    return dict(sorted(rows.items(), key=lambda kv: (-kv[1].backup, -kv[1].live, kv[0])))


def _valid(s: State, f: frozenset[str], replace: bool) -> bool:
    """neo's validEndpointIds: an accepted backup node, or a live node (nothing is live after a replace)."""
    return bool(s[0] - f) or (s[1] and not replace)


def _plan_graph(gs: GraphScan, filters: Filters, replace: bool, on: bool) -> GraphPlan:
    labels: dict[str, Row] = {k: Row(live=n) for k, n in gs.live_labels.items()}
    types: dict[str, Row] = {k: Row(live=n) for k, n in gs.live_types.items()}
    fl, ft = filters.labels, filters.edge_types
    for (label, is_live, prior), n in gs.nodes.items():
        row = labels.setdefault(label, Row())
        row.backup += n
        if not on:
            continue
        if label in fl:
            row.filtered += n
        elif (is_live and not replace) or (prior is not None and bool(prior - fl)):
            row.alreadyPresent += n
        else:
            row.wouldInsert += n
    for (etype, src, tgt, id_live, earlier), n in gs.edges.items():
        row = types.setdefault(etype, Row())
        row.backup += n
        if not on:
            continue
        if etype in ft:
            row.filtered += n
        elif not (_valid(src, fl, replace) and _valid(tgt, fl, replace)):
            row.orphaned += n
        elif (id_live and not replace) or (earlier is not None and any(
                t not in ft and _valid(s, fl, replace) and _valid(g, fl, replace) for t, s, g in earlier)):
            row.alreadyPresent += n
        else:
            row.wouldInsert += n
    return GraphPlan(on, _ordered(labels), _ordered(types), gs.live_nodes, gs.live_edges)


def _plan_collection(cs: CollectionScan, replace: bool, on: bool) -> CollectionPlan:
    extra: dict[str, Any] = {}
    if cs.key == "kb":
        extra["naturalKeyDivergent"] = cs.natural_key_divergent if not replace else 0
        extra["divergenceScan"] = ("skipped-replace-mode" if replace else
                                   "skipped-empty-target" if not cs.live else "performed")
        if cs.divergent_examples and not replace:
            extra["divergentExamples"] = cs.divergent_examples
    if not on:
        return CollectionPlan(False, cs.backup, cs.live, 0, 0, extra)
    insert = cs.distinct if replace else cs.distinct - cs.present
    return CollectionPlan(True, cs.backup, cs.live, cs.backup - insert, insert, extra)


def _plan_flat(fs: FlatScan, mode: str, force: bool, on: bool) -> dict[str, Any]:
    files = []
    for name, target, exists in fs.files:
        if not on:
            action = "not-selected"
        elif mode == "replace" or not exists:
            action = "overwrite" if exists else "copy"
        else:
            action = "overwrite" if force else "skip"
        files.append({"file": name, "target": target, "targetExists": exists, "action": action})
    out: dict[str, Any] = {"selected": on, "target": fs.target, "files": files,
                           "wouldCopy": sum(f["action"] in ("copy", "overwrite") for f in files),
                           "wouldSkip": sum(f["action"] == "skip" for f in files)}
    if fs.note:
        out["note"] = fs.note
    return out


def build_plan(scan: Scan, filters: Filters = Filters(), only_substrate: Iterable[str] | None = None,
               mode: str = "merge", force: bool = False) -> Plan:
    """Every number of the plan from the scan's aggregates: no I/O, cheap enough for every checkbox tick."""
    only = check_only_substrate(only_substrate)
    replace = check_mode(mode) == "replace"
    mc_on = selected(only, "mc")
    return Plan(
        bundle=scan.bundle, mode=mode, force=force, filters=filters, only_substrate=only,
        graph=_plan_graph(scan.graph, filters, replace, selected(only, "graph")),
        memories=_plan_collection(scan.collections["memories"], replace, mc_on),
        summaries=_plan_collection(scan.collections["summaries"], replace, mc_on),
        kb=_plan_collection(scan.collections["kb"], replace, selected(only, "kb")),
        flat={k: _plan_flat(v, mode, force, selected(only, k)) for k, v in scan.flat.items()},
        warnings=list(scan.warnings),
    )
