"""Does a bundle row whose id is live hold the live row's content? The plan's split of "already present" into
identical and differs, and the values search and drill-down put side by side.

"Identical" is ``core.browse.content_key``'s rule, the one the bundle-vs-bundle diff and search use: parsed
values compared, so key order and another writer's float formatting are no difference; a vector compares as
float32 (what Chroma stores); a Chroma metadata of ``{}`` and none are the same (Chroma stores an empty metadata
as none). A live vector may also be a few units in the last place from the one written: Chroma's cosine space
gives back a vector up to 2 float32 ulps from the one added, so a restored row would never be identical to its
bundle; up to ``STORE_ULPS`` apart is the store's rounding, not another content. A graph line is first compared as
bytes, in SQLite, with the live ``data`` (a bundle written from the live graph holds it verbatim); only a line
whose bytes differ is parsed and compared by value.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, deque
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import compress, repeat
from operator import and_, not_
from typing import Any

import numpy as np
import orjson

from core import chroma_store as cs
from core import graph_store as gs
from core.browse import GRAPH_KINDS, NODE, content_key
from core.field_diff import float32_differ

# how neo and this console write a graph line: the data object is the bytes between prefix and closing brace
LINE_PREFIX = {gs.NODES: b'{"type":"node","data":', gs.EDGES: b'{"type":"edge","data":'}
UNPARSEABLE = "(unparseable live data)"
STORE_ULPS = 4
LINES_AT_ONCE = 2_048  # lines compared per statement (their bytes are copied twice on the way into SQLite)


def graph_value(data: object) -> dict[str, object]:
    """A live graph row's ``data`` as a record (data that is not a JSON object is a value of its own)."""
    try:
        parsed = orjson.loads(data)  # type: ignore[arg-type]  # a TEXT or BLOB column; anything else raises
    except (orjson.JSONDecodeError, TypeError):
        return {UNPARSEABLE: data if isinstance(data, str) else repr(data)}
    return parsed if isinstance(parsed, dict) else {"(value)": parsed}


def chroma_value(r: cs.Record) -> dict[str, object]:
    """A live Chroma row in the bundle's shape (the vector as a list of floats, for showing it)."""
    emb = r.embedding
    vec = [float(x) for x in emb] if emb is not None else None
    return {"id": r.id, "embedding": vec, "metadata": dict(r.metadata) if r.metadata else None,
            "document": r.document}


def normal(kind: str, value: Mapping[str, object]) -> dict[str, object]:
    """What is compared of a record: a graph record's data as it is; a Chroma row's four fields, an empty
    metadata as none."""
    if kind in GRAPH_KINDS:
        return dict(value)
    return {"id": value.get("id"), "embedding": value.get("embedding"), "metadata": value.get("metadata") or None,
            "document": value.get("document")}


def same_vector(a: object, b: object) -> bool:
    """Two vectors as Chroma stores them: float32, and a store's rounding (``STORE_ULPS``) is no difference."""
    if a is None or b is None:
        return a is b
    try:
        x, y = np.asarray(a), np.asarray(b)
    except (TypeError, ValueError):  # ragged
        return content_key("", {"embedding": a}) == content_key("", {"embedding": b})
    if x.ndim != 1 or y.ndim != 1 or x.dtype.kind not in "fiu" or y.dtype.kind not in "fiu":
        return content_key("", {"embedding": a}) == content_key("", {"embedding": b})
    if x.shape != y.shape:
        return False
    return not float32_differ(x.astype(np.float32), y.astype(np.float32), STORE_ULPS).any()


def identical(kind: str, bundle: Mapping[str, object], live: Mapping[str, object]) -> bool:
    a, b = normal(kind, bundle), normal(kind, live)
    if kind in GRAPH_KINDS:
        return content_key(kind, a) == content_key(kind, b)
    head = orjson.OPT_SORT_KEYS
    return orjson.dumps([a["document"], a["metadata"]], option=head) == \
        orjson.dumps([b["document"], b["metadata"]], option=head) and same_vector(a["embedding"], b["embedding"])


def differing_lines(conn: sqlite3.Connection, table: str, ids: Sequence[str], raws: Sequence[bytes],
                    positions: Sequence[int], rowids: Mapping[str, int] | None = None) -> list[int]:
    """Of the lines at ``positions`` (ids that are live), those whose data differs from the live row's: the lines
    written as neo writes them are compared as bytes, in one statement, with the rows of their rowids (``rowids``
    holds the live ids', else they are looked up); only the others and those it returns are parsed."""
    if not positions:
        return []
    prefix = LINE_PREFIX[table]
    picked, pick_ids = [*map(raws.__getitem__, positions)], [*map(ids.__getitem__, positions)]
    held = rowids if rowids is not None else gs.rowids_of(conn, table, pick_ids)
    # equal bytes mean equal content (a line with more after its data leaves bytes no JSON value has); a line of
    # another shape, or whose row is gone since it was seen, goes to the parse (which skips a gone row)
    plain = [*map(and_, map(bytes.startswith, picked, repeat(prefix)), map(bytes.endswith, picked, repeat(b"}\n")))]
    plain = [*map(and_, plain, map(held.__contains__, pick_ids))]
    js = [*compress(range(len(picked)), plain)]
    unequal: list[int] = []
    for start in range(0, len(js), LINES_AT_ONCE):
        part = js[start:start + LINES_AT_ONCE]
        unequal += (part[k] for k in gs.lines_unequal(conn, table, [*map(held.__getitem__, map(pick_ids.__getitem__, part))],
                                                        [*map(picked.__getitem__, part)], prefix))
    maybe = sorted([*map(positions.__getitem__, unequal), *compress(positions, map(not_, plain))])
    if not maybe:
        return []
    live = dict(gs.rows_data(conn, table, [ids[i] for i in maybe]))
    out: list[int] = []
    for i in maybe:
        if ids[i] not in live:
            continue  # deleted since it was seen: nothing left to differ from
        data = orjson.loads(raws[i])["data"]  # the scan parsed this line: it is a graph record
        if not identical(NODE, data, graph_value(live[ids[i]])):
            out.append(i)
    return out


class LinesDiffering:
    """`differing_lines` asked on a worker thread, on its own connection (SQLite compares outside the GIL), while
    the caller reads on; at most ``depth`` batches wait, so the lines held stay bounded. Each differing line's key
    is added to the counter given with it by the time `settle` returns."""

    def __init__(self, conn: sqlite3.Connection | None, rowids: Mapping[str, Mapping[str, int] | None],
                 pool: ThreadPoolExecutor, depth: int = 1) -> None:
        self.conn, self.rowids, self.pool, self.depth = conn, rowids, pool, depth
        self.waiting: deque[tuple[Future[list[int]], list[Hashable], Counter[Any]]] = deque()

    def ask(self, table: str, ids: list[str], raws: list[bytes], keys: list[Hashable], counter: Counter[Any]) -> None:
        if self.conn is None or not ids:
            return
        self.waiting.append((self.pool.submit(differing_lines, self.conn, table, ids, raws, range(len(ids)),
                                              self.rowids[table]), keys, counter))
        while len(self.waiting) > self.depth:
            self._settle_one()

    def _settle_one(self) -> None:
        done, keys, counter = self.waiting.popleft()
        counter.update(map(keys.__getitem__, done.result()))

    def settle(self) -> None:
        while self.waiting:
            self._settle_one()


def differing_rows(col: cs.Collection, kind: str, ids: list[str], raws: Sequence[bytes]) -> tuple[int, int]:
    """(live, differing) of these distinct bundle ids of a collection and their lines: the live rows fetched
    per chunk under Chroma's get limit; document, metadata and vector compared (a line that is not a JSON
    object differs: it holds no row)."""
    live = {r.id: r for r in cs.records_by_id(col, ids)}
    differ = 0
    for rid, raw in zip(ids, raws, strict=True):
        r = live.get(rid)
        if r is None:
            continue
        try:
            mine = orjson.loads(raw)
        except orjson.JSONDecodeError:
            mine = None
        theirs = {"embedding": r.embedding, "metadata": r.metadata, "document": r.document}
        differ += not isinstance(mine, dict) or not identical(kind, mine, theirs)
    return len(live), differ
