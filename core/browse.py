"""A bundle read record by record, for the operator who looks inside it: the bundle-vs-bundle diff and search.

Every record is a graph node or edge (its ``data`` object) or a Chroma row (the whole line: id, embedding,
metadata, document), with its kind, its group (label, edge type or collection key), its id as restore would
write it, and where it is (file, line, byte offset in the decoded stream, so it can be read again without a
second full pass). Lines come through ``core.scan.open_payload``, so every payload encoding reads the same way.
Nothing is held beyond the current line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import orjson

from core.bundle import collection_files, substrate_files
from core.progress import check_cancel
from core.scan import open_payload
from core.substrates import KB, MEMORIES, SUMMARIES, TEMPORAL_SUMMARIES_KEY, selected

NODE, EDGE = "node", "edge"
GRAPH_KINDS = (NODE, EDGE)
# the Chroma exports a bundle can hold, in the plan's order, then neo's newer fourth collection
COLLECTION_KINDS = (MEMORIES.key, SUMMARIES.key, KB.key, TEMPORAL_SUMMARIES_KEY)
KINDS = (*GRAPH_KINDS, *COLLECTION_KINDS)
CANCEL_EVERY = 4096  # lines between cancel checks


class Record(NamedTuple):
    """One record (a tuple: a million of them are made in a diff, and a frozen dataclass costs twice as much)."""

    kind: str  # node | edge | memories | summaries | kb | temporalSummaries
    group: str  # node label, edge type, or the collection key
    id: str
    value: dict[str, object]  # a graph record's data object; a Chroma row as a whole
    file: Path
    line: int  # 1-based
    offset: int  # byte offset of the line in the file's decoded stream


@dataclass(frozen=True, kw_only=True)
class Unreadable:
    """A line that is not a record restore could write (it is left out of a diff or a search, and counted)."""

    file: str
    line: int
    reason: str


OnBad = Callable[[Path, int, str], None]


def kind_substrate(kind: str) -> str:
    """The bundle folder (and --only-substrate name) a kind of record lives in."""
    if kind in GRAPH_KINDS:
        return "graph"
    return KB.substrate if kind == KB.key else MEMORIES.substrate


def kinds_of(only: tuple[str, ...] | None) -> tuple[str, ...]:
    """The kinds of record an --only-substrate selection covers."""
    return tuple(k for k in KINDS if selected(only, kind_substrate(k)))


def files_of(bundle: Path, kind: str) -> list[Path]:
    if kind in GRAPH_KINDS:
        return substrate_files(bundle, "graph")
    return collection_files(bundle, kind)


def graph_record(obj: object) -> tuple[str, str, str, dict[str, object]] | str:
    """(kind, group, id, data) of a parsed graph line, or why restore could not write it; a record of another
    type (neo ignores it) comes back as the empty string."""
    if type(obj) is not dict:
        return "not a JSON object"
    kind, data = obj.get("type"), obj.get("data")
    if kind != NODE and kind != EDGE:
        return ""
    if type(data) is not dict:
        return "graph line has no data object"
    if kind == NODE:
        nid, label = data.get("id"), data.get("label")
        if type(nid) is not str or not nid:
            return "node has no id"
        return NODE, label if type(label) is str else ("" if label is None else str(label)), nid, data
    s, t, et = data.get("source"), data.get("target"), data.get("type")
    if not (type(s) is str and type(t) is str and type(et) is str and s and t and et):
        return "edge needs source, target and type"
    eid = data.get("id") or f"{s}->{t}:{et}"  # neo's fallback id for an edge without one
    return EDGE, et, eid if type(eid) is str else str(eid), data


def chroma_record(obj: object) -> str | None:
    """The id of a parsed Chroma line, or None when it has none."""
    rid = obj.get("id") if isinstance(obj, dict) else None
    return rid if isinstance(rid, str) and rid else None


def iter_records(bundle: Path, kinds: tuple[str, ...] = KINDS, *, on_bad: OnBad | None = None,
                 cancel: threading.Event | None = None, on_line: Callable[[int], None] | None = None,
                 prefilter: Callable[[bytes], bool] | None = None) -> Iterator[Record]:
    """Every record of these kinds, file by file in neo's order (graph files hold nodes and edges together).

    ``prefilter`` sees each raw line first: a line it rejects is not parsed (search's substring test).
    ``on_line`` gets the running count of lines read (for progress).
    """
    loads = orjson.loads
    lines = 0
    graph = [k for k in kinds if k in GRAPH_KINDS]
    sources: list[tuple[str | None, Path]] = []
    if graph:
        sources += [(None, f) for f in files_of(bundle, NODE)]
    sources += [(k, f) for k in kinds if k in COLLECTION_KINDS for f in files_of(bundle, k)]
    try:
        for collection, path in sources:
            with open_payload(path) as fh:
                offset = 0
                for number, raw in enumerate(fh, start=1):
                    start, offset = offset, offset + len(raw)
                    lines += 1
                    if lines % CANCEL_EVERY == 0:
                        check_cancel(cancel)
                        if on_line is not None:
                            on_line(lines)
                    body = raw.rstrip(b"\r\n")
                    if not body.strip() or (prefilter is not None and not prefilter(body)):
                        continue
                    try:
                        obj = loads(body)
                    except orjson.JSONDecodeError as exc:
                        if on_bad is not None:
                            on_bad(path, number, f"not JSON: {exc}")
                        continue
                    if collection is None:
                        got = graph_record(obj)
                        if isinstance(got, str):
                            if got and on_bad is not None:
                                on_bad(path, number, got)
                            continue
                        kind, group, rid, data = got
                        if kind in graph:
                            yield Record(kind, group, rid, data, path, number, start)
                        continue
                    cid = chroma_record(obj)
                    if cid is None:
                        if on_bad is not None:
                            on_bad(path, number, "row has no id")
                        continue
                    assert isinstance(obj, dict)
                    yield Record(collection, collection, cid, obj, path, number, start)
    finally:  # also when the consumer stops early (a search at its limit): the count is exact
        if on_line is not None:
            on_line(lines)


def read_record(bundle: Path, kind: str, file: Path, offset: int) -> Record | None:
    """The record at a decoded byte offset of one file (a plain file seeks; a compressed one is read up to it)."""
    with open_payload(file) as fh:
        if fh.seekable():
            fh.seek(offset)
        else:
            left = offset
            while left:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    return None
                left -= len(chunk)
        raw = fh.readline()
    body = raw.rstrip(b"\r\n")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if kind in GRAPH_KINDS:
        got = graph_record(obj)
        if isinstance(got, str):
            return None
        k, group, rid, data = got
        return Record(k, group, rid, data, file, 0, offset)
    cid = chroma_record(obj)
    if cid is None or not isinstance(obj, dict):
        return None
    return Record(kind, kind, cid, obj, file, 0, offset)


def content_key(kind: str, value: dict[str, object]) -> bytes:
    """What "the same content" means, as bytes: a graph record's data with its keys sorted (two writers may
    order keys differently; the values decide); a Chroma row's document and metadata the same way, plus its
    vector as float32 (what Chroma stores), so a vector written with more or fewer digits still compares equal."""
    sort = orjson.OPT_SORT_KEYS
    if kind in GRAPH_KINDS:
        return orjson.dumps(value, option=sort)
    head = orjson.dumps([value.get("document"), value.get("metadata")], option=sort)
    emb = value.get("embedding")
    if isinstance(emb, list | np.ndarray):  # a bundle's list, or a live row's array
        try:
            vec = np.asarray(emb)
        except (TypeError, ValueError):  # ragged
            vec = None
        if vec is not None and vec.ndim == 1 and vec.dtype.kind in "fiu":
            return head + b"|" + vec.astype(np.float32).tobytes()
    return head + b"|" + orjson.dumps(emb, option=sort)
