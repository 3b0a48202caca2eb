"""What a restore could have touched, fingerprinted before its first write, so its verification can prove the
rows that were live before it are still exactly as they were.

"Could have touched" is decided per store, by what a write of the bundle could reach there:
- the graph: every live row of ``Nodes`` and ``Edges``. A node written over (``OR REPLACE``) cascades to edges the
  bundle never names, so no narrower set is safe. The digest is one order-independent sum in SQL (rows, and the
  sum of CRC-32(id) XOR CRC-32(data)), about a second per million rows, with no id held in memory; the rows a
  run inserted add exactly the hashes its journal holds, so the digest after the run is predicted from the one
  before it.
- Chroma: the live rows whose ids the bundle holds. Chroma has no cascade, and ``add``/``upsert`` of the bundle
  can reach no other id. The ids come from the bundle's lines without parsing a vector; each present row's
  (id, CRC of document and metadata) is kept in the run dir, so a difference names the row.
- flat files: every live target file (a merge skips those that exist, unless --force, which the journal records).
A replace truncates the stores it restores by design: nothing live is meant to survive it, so nothing is taken.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from core import chroma_store as cs
from core import graph_store as gs
from core.bundle import collection_files
from core.datadir import DataDir
from core.journal import crc_chroma
from core.jsonl import sha256_file, write_atomic
from core.progress import check_cancel
from core.records import chroma_line_id
from core.scan import iter_lines, open_payload
from core.substrates import FLAT_DIRECTORIES, FLAT_TARGETS, KB, VECTOR_COLLECTIONS, selected
from core.units import iso_ms

PREWRITE_FILE = "prewrite.json"
PREWRITE_IDS_FILE = "prewrite-ids.jsonl"
POSTWRITE_FILE = "postwrite.json"
ID_CHUNK = 10_000
Census = dict[str, dict[str, int]]  # table -> node label or edge type -> rows


@dataclass(frozen=True, kw_only=True)
class Digest:
    """Rows, and the sum of their hashes: equal digests mean the same rows with the same data."""

    rows: int
    sum: int

    def plus(self, rows: int, total: int) -> Digest:
        return Digest(rows=self.rows + rows, sum=self.sum + total)


@dataclass(frozen=True, kw_only=True)
class PreWrite:
    taken_at: str
    mode: str
    graph: Mapping[str, Digest] | None  # table -> digest; None when the run does not restore the graph
    graph_census: Census | None = None  # table -> node label or edge type -> rows (None: an older run)
    collections: Mapping[str, Digest] = field(default_factory=dict)  # key -> its live rows the bundle names
    flat: Mapping[str, str] = field(default_factory=dict)  # "substrate/name" -> sha256 of a live target

    def to_json(self) -> dict[str, object]:
        return {"takenAt": self.taken_at, "mode": self.mode,
                "graph": None if self.graph is None else {t: [d.rows, d.sum] for t, d in self.graph.items()},
                "graphCensus": self.graph_census,
                "collections": {k: [d.rows, d.sum] for k, d in self.collections.items()}, "flat": dict(self.flat)}

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> PreWrite:
        graph = obj.get("graph")
        colls = obj.get("collections")
        flat = obj.get("flat")
        return cls(taken_at=str(obj.get("takenAt")), mode=str(obj.get("mode")),
                   graph=_digests(graph) if isinstance(graph, dict) else None, graph_census=_census(obj.get("graphCensus")),
                   collections=_digests(colls) if isinstance(colls, dict) else {},
                   flat={str(k): str(v) for k, v in flat.items()} if isinstance(flat, dict) else {})


def _digests(obj: Mapping[str, object]) -> dict[str, Digest]:
    out: dict[str, Digest] = {}
    for k, v in obj.items():
        if isinstance(v, list) and len(v) == 2:
            out[str(k)] = Digest(rows=int(v[0]), sum=int(v[1]))
    return out


def _census(obj: object) -> Census | None:
    if not isinstance(obj, dict):
        return None
    return {str(t): {str(k): int(n) for k, n in rows.items() if isinstance(n, int)}
            for t, rows in obj.items() if isinstance(rows, dict)}


def node_label(data: str | bytes) -> str:
    """A node's label as restore read it (``core.records.graph_row``)."""
    try:
        d = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "(unparseable)"
    label = d.get("label") if isinstance(d, dict) else None
    return label if type(label) is str else ("" if label is None else str(label))


@dataclass(frozen=True, kw_only=True)
class GraphState:
    """Each graph table's digest, and its rows per node label / edge type, from the same read."""

    digests: Mapping[str, Digest]
    census: Census | None  # None: kept by an older version, which took none


def graph_state(dd: DataDir) -> GraphState:
    """The digest and census of each graph table now (empty tables when there is no graph DB yet)."""
    conn = gs.open_live(dd.graph_db)
    if conn is None:
        return GraphState(digests={t: Digest(rows=0, sum=0) for t in gs.TABLES}, census={t: {} for t in gs.TABLES})
    try:
        return graph_state_of(conn)
    finally:
        conn.close()


def graph_state_of(conn: sqlite3.Connection) -> GraphState:
    """`graph_state` on an open connection: both tables from one read transaction."""
    conn.execute("BEGIN")
    try:
        digests, census = {}, {}
        for table in gs.TABLES:
            by_key = gs.digest(conn, table, node_label)
            digests[table] = Digest(rows=sum(n for n, _ in by_key.values()), sum=sum(h for _, h in by_key.values()))
            census[table] = {k: n for k, (n, _) in by_key.items()}
    finally:
        conn.execute("COMMIT")
    return GraphState(digests=digests, census=census)


def chroma_hash(row_id: str, document: object, metadata: object) -> int:
    """A Chroma row's hash: its id's CRC XOR the journal's CRC of what restore wrote (document, metadata)."""
    return gs.row_hash(row_id, b"") ^ crc_chroma(document, metadata)


def _bundle_ids(files: list[Path], cancel: threading.Event | None) -> Iterator[list[str]]:
    chunk: list[str] = []
    for _path, _number, raw in iter_lines(files):
        rid = chroma_line_id(raw)
        if rid is not None:
            chunk.append(rid)
        if len(chunk) >= ID_CHUNK:
            check_cancel(cancel)
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def flat_targets(dd: DataDir, only: tuple[str, ...] | None) -> dict[str, Path]:
    """"substrate/name" -> every live flat target file of the selected substrates."""
    out: dict[str, Path] = {}
    for sub in FLAT_TARGETS:
        if not selected(only, sub):
            continue
        target = dd.flat_target(sub)
        files = sorted(target.glob("*.jsonl")) if sub in FLAT_DIRECTORIES and target.is_dir() else \
            ([target] if sub not in FLAT_DIRECTORIES and target.is_file() else [])
        for f in files:
            out[f"{sub}/{f.name}"] = f
    return out


def take_prewrite(dd: DataDir, run_dir: Path, *, mode: str, only: tuple[str, ...] | None,
                  bundles: Mapping[str, Path], client: cs.ClientAPI | None,
                  cancel: threading.Event | None = None, kb_collection: str | None = None) -> PreWrite:
    """Fingerprint what the run could touch (see the module docstring) and keep it in the run dir."""
    taken = iso_ms_now()
    if mode == "replace":
        pre = PreWrite(taken_at=taken, mode=mode, graph=None)
        write_atomic(run_dir / PREWRITE_FILE, orjson.dumps(pre.to_json()))
        return pre
    state = graph_state(dd) if selected(only, "graph") else None
    collections: dict[str, Digest] = {}
    fd = os.open(run_dir / PREWRITE_IDS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # owner-only, as the journal
    with os.fdopen(fd, "wb") as out:
        for c in VECTOR_COLLECTIONS:
            if not selected(only, c.substrate) or c.substrate not in bundles:
                continue
            col = cs.get_collection(client, kb_collection if c is KB and kb_collection else dd.collection_name(c.key))
            d = Digest(rows=0, sum=0)
            if col is not None:
                for chunk in _bundle_ids(collection_files(bundles[c.substrate], c.key), cancel):
                    rows = cs.stored(col, list(dict.fromkeys(chunk)))
                    if not rows:
                        continue
                    pairs = [(rid, chroma_hash(rid, doc, meta)) for rid, (doc, meta) in rows.items()]
                    d = d.plus(len(pairs), sum(h for _, h in pairs))
                    out.write(orjson.dumps({"c": c.key, "rows": pairs}) + b"\n")
            collections[c.key] = d
    flat = {name: sha256_file(path) for name, path in flat_targets(dd, only).items()}
    pre = PreWrite(taken_at=taken, mode=mode, graph=state.digests if state else None,
                   graph_census=state.census if state else None, collections=collections, flat=flat)
    write_atomic(run_dir / PREWRITE_FILE, orjson.dumps(pre.to_json()))
    return pre


def iso_ms_now() -> str:
    return iso_ms(datetime.now(UTC))


def save_postwrite(dd: DataDir, run_dir: Path, state: GraphState | None = None) -> None:
    """The graph's digest and census when the run's writers are done, before a post-restore hook rewrites what
    it owns (`state`: already read, by `core.post_write`)."""
    state = state or graph_state(dd)
    write_atomic(run_dir / POSTWRITE_FILE, orjson.dumps({
        "takenAt": iso_ms_now(), "graph": {t: [d.rows, d.sum] for t, d in state.digests.items()},
        "census": state.census}))


def read_json(path: Path) -> dict[str, object] | None:
    try:
        obj = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def read_prewrite(run_dir: Path) -> PreWrite | None:
    obj = read_json(run_dir / PREWRITE_FILE)
    return PreWrite.from_json(obj) if obj is not None else None


def read_postwrite(run_dir: Path) -> GraphState | None:
    """What `save_postwrite` kept."""
    obj = read_json(run_dir / POSTWRITE_FILE)
    graph = obj.get("graph") if obj is not None else None
    if obj is None or not isinstance(graph, dict):
        return None
    return GraphState(digests=_digests(graph), census=_census(obj.get("census")))


def prewrite_rows(run_dir: Path, key: str) -> Iterator[list[tuple[str, int]]]:
    """The (id, hash) chunks of a collection's live rows taken before the first write."""
    path = run_dir / PREWRITE_IDS_FILE
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(rec, dict) and rec.get("c") == key and isinstance(rec.get("rows"), list):
                yield [(str(p[0]), int(p[1])) for p in rec["rows"] if isinstance(p, list) and len(p) == 2]


class Reservoir:
    """A fixed-size, deterministic sample of a stream of ids (the same run samples the same rows)."""

    def __init__(self, size: int, seed: str) -> None:
        self.size = size
        self.seen = 0
        self.items: list[str] = []
        self.rng = random.Random(seed)

    def add(self, item: str) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = self.rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = item


def payload_sha256(path: Path) -> str:
    """The sha256 of a bundle file's decoded payload (what a restore writes out), streamed."""
    h = hashlib.sha256()
    with open_payload(path) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
