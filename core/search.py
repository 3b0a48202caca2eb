"""Search inside one bundle: records by id, label, edge type, a word of a document or of a graph record's data, a
session id, or a metadata key=value; each hit beside the live row with the same id.

The bundle is streamed once (every payload encoding, through ``core.browse``) and the search stops at the limit.
A line that cannot hold the text is not parsed: a cheap byte test runs first whenever the text is plain ASCII
without JSON escapes, so most of a large bundle costs one lowercase and one substring test per line. Text is
matched case-insensitively against ids, labels and edge types, documents, and every string or number inside a
graph record's data or a row's metadata (never the vector).
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from core.browse import COLLECTION_KINDS, EDGE, GRAPH_KINDS, KINDS, NODE, Record, Unreadable, iter_records
from core.datadir import DataDir
from core.errors import UsageError
from core.field_diff import FieldChange
from core.live_rows import LiveMatch, compare_live
from core.progress import ProgressFn, Ticker, no_progress
from core.substrates import VECTOR_COLLECTIONS
from core.wire import wire

DEFAULT_LIMIT = 50
MAX_UNREADABLE = 20
# collection names an operator may type: the console's keys and Chroma's own names
_COLLECTION_ALIASES = {**{c.name: c.key for c in VECTOR_COLLECTIONS}, **{k: k for k in COLLECTION_KINDS}}


@dataclass(frozen=True, kw_only=True)
class SearchQuery:
    text: str = ""  # empty: every record the other conditions select
    labels: tuple[str, ...] = ()
    edge_types: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = field(default=(), metadata=wire(encode=lambda fs: [f"{k}={v}" for k, v in fs]))
    limit: int = DEFAULT_LIMIT

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of record the restrictions select (none: every kind)."""
        if not (self.labels or self.edge_types or self.collections):
            return KINDS
        chosen = {NODE} if self.labels else set()
        if self.edge_types:
            chosen.add(EDGE)
        chosen.update(self.collections)
        return tuple(k for k in KINDS if k in chosen)


def parse_line(line: str, *, limit: int = DEFAULT_LIMIT) -> SearchQuery:
    """A query typed on one line (the console's search box): words to find, plus ``label:L``, ``type:T``,
    ``collection:C`` and ``field:K=V`` restrictions; quotes group words (``"two words"``)."""
    try:
        tokens = shlex.split(line)
    except ValueError:  # an unbalanced quote: the line is text
        tokens = [line]
    words: list[str] = []
    parts: dict[str, list[str]] = {"label": [], "type": [], "collection": [], "field": []}
    for tok in tokens:
        key, sep, value = tok.partition(":")
        if sep and key in parts and value:
            parts[key].append(value)
        else:
            words.append(tok)
    return make_query(" ".join(words), labels=parts["label"], edge_types=parts["type"],
                      collections=parts["collection"], fields=parts["field"], limit=limit)


def parse_field(text: str) -> tuple[str, str]:
    """``key=value`` (the key may be dotted: ``properties.state``, ``metadata.sessionId``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--field wants KEY=VALUE, got {text!r}")
    return key.strip(), value


def make_query(text: str = "", *, labels: Iterable[str] = (), edge_types: Iterable[str] = (),
               collections: Iterable[str] = (), fields: Iterable[str] = (), limit: int = DEFAULT_LIMIT) -> SearchQuery:
    """A query from what an operator typed; a collection may be named by key or by its Chroma name."""
    keys = []
    for c in collections:
        key = _COLLECTION_ALIASES.get(c)
        if key is None:
            raise UsageError(f"unknown collection {c!r} (choose from {', '.join(COLLECTION_KINDS)})")
        keys.append(key)
    if limit < 1:
        raise UsageError("--limit must be 1 or more")
    return SearchQuery(text=text, labels=tuple(labels), edge_types=tuple(edge_types), collections=tuple(keys),
                       fields=tuple(parse_field(f) for f in fields), limit=limit)


@dataclass(frozen=True, kw_only=True)
class SearchHit:
    kind: str  # node | edge | memories | summaries | kb | temporalSummaries
    group: str  # label, edge type or collection
    id: str
    file: str
    line: int
    matched: str  # where the text was found: id | label | type | document | data | metadata; field | any: no text
    record: Mapping[str, object]  # the record as the bundle has it, without its vector
    embedding_dimension: int | None = field(default=None, metadata=wire(omit_none=True))
    live: str  # absent | identical | different | no-target | unchecked
    live_changes: tuple[FieldChange, ...] = field(default=(), metadata=wire(omit_none=True))
    offset: int = field(default=0, metadata=wire(skip=True))  # where the line starts (the console reads it again)


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    bundle: str
    path: Path
    query: SearchQuery
    hits: tuple[SearchHit, ...]
    lines_scanned: int
    complete: bool  # False: stopped at the limit, and at least one more record matches
    unreadable: int
    unreadable_lines: tuple[Unreadable, ...] = ()

    __wire__: ClassVar = ("bundle", "path", "query", "complete", "lines_scanned", "hit_count", "hits",
                          "unreadable", "unreadable_lines")

    @property
    def hit_count(self) -> int:
        return len(self.hits)


def _ascii_needle(text: str) -> bytes | None:
    """The lowercased bytes a raw line must contain, when a byte test is exact enough to skip a line."""
    if not text or not text.isascii() or any(c in text for c in '"\\') or any(ord(c) < 0x20 for c in text):
        return None
    return text.lower().encode()


def _prefilter(q: SearchQuery) -> Callable[[bytes], bool] | None:
    needle = _ascii_needle(q.text)
    values = [v.encode() for _k, v in q.fields if v and _ascii_needle(v) is not None]
    if needle is None and not values:
        return None

    def test(raw: bytes) -> bool:
        if needle is not None and needle not in raw.lower():
            return False
        return all(v in raw for v in values)

    return test


def _contains(value: object, needle: str) -> bool:
    """Does any string or number inside ``value`` hold ``needle`` (already casefolded)?"""
    if isinstance(value, str):
        return needle in value.casefold()
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return needle in str(value)
    if isinstance(value, Mapping):
        return any(_contains(v, needle) for v in value.values())
    if isinstance(value, list):
        return any(_contains(v, needle) for v in value)
    return False


def _lookup(value: Mapping[str, object], dotted: str) -> tuple[bool, object]:
    cur: object = value
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def _field_value(r: Record, key: str) -> tuple[bool, object]:
    """A key as the operator names it: as written, else under ``properties`` (graph) or ``metadata`` (Chroma)."""
    found, value = _lookup(r.value, key)
    if found:
        return found, value
    inner = r.value.get("properties" if r.kind in GRAPH_KINDS else "metadata")
    return _lookup(inner, key) if isinstance(inner, Mapping) else (False, None)


def _same(value: object, wanted: str) -> bool:
    if isinstance(value, str):
        return value == wanted
    if isinstance(value, bool):
        return wanted.lower() == str(value).lower()
    if value is None:
        return wanted in ("null", "None", "")
    return str(value) == wanted


def matches(r: Record, q: SearchQuery) -> str | None:
    """Where the record matches the query (id, label, type, document, data, metadata, any), or None."""
    if r.kind == NODE and q.labels and r.group not in q.labels:
        return None
    if r.kind == EDGE and q.edge_types and r.group not in q.edge_types:
        return None
    for key, wanted in q.fields:
        found, value = _field_value(r, key)
        if not found or not _same(value, wanted):
            return None
    if not q.text:
        return "field" if q.fields else "any"
    needle = q.text.casefold()
    if needle in r.id.casefold():
        return "id"
    if r.kind in GRAPH_KINDS:
        if needle in r.group.casefold():
            return "label" if r.kind == NODE else "type"
        return "data" if _contains({k: v for k, v in r.value.items() if k != "id"}, needle) else None
    doc = r.value.get("document")
    if isinstance(doc, str) and needle in doc.casefold():
        return "document"
    return "metadata" if _contains(r.value.get("metadata"), needle) else None


def _without_vector(r: Record) -> tuple[Mapping[str, object], int | None]:
    if r.kind in GRAPH_KINDS or "embedding" not in r.value:
        return r.value, None
    emb = r.value.get("embedding")
    return {k: v for k, v in r.value.items() if k != "embedding"}, len(emb) if isinstance(emb, list) else None


def search_bundle(dd: DataDir | None, bundle: Path, q: SearchQuery, *, on_progress: ProgressFn = no_progress,
                  cancel: threading.Event | None = None) -> SearchResult:
    """The first ``q.limit`` records that match, in the bundle's order; each beside its live row (no live
    comparison when ``dd`` is None)."""
    if not bundle.is_dir():
        raise UsageError("bundle directory not found", path=bundle)
    found: list[tuple[Record, str]] = []
    bad: list[Unreadable] = []
    counts = {"lines": 0, "unreadable": 0}

    def on_bad(path: Path, number: int, reason: str) -> None:
        counts["unreadable"] += 1
        if len(bad) < MAX_UNREADABLE:
            bad.append(Unreadable(file=str(path.relative_to(bundle)), line=number, reason=reason))

    ticker = Ticker("search", None, on_progress, unit="lines")

    def on_line(n: int) -> None:
        counts["lines"] = n
        ticker.update(n)

    complete = True
    for rec in iter_records(bundle, q.kinds, on_bad=on_bad, cancel=cancel, on_line=on_line,
                            prefilter=_prefilter(q)):
        where = matches(rec, q)
        if where is None:
            continue
        if len(found) >= q.limit:
            complete = False
            break
        found.append((rec, where))
    live: dict[tuple[str, str], LiveMatch] = compare_live(dd, [r for r, _ in found]) if dd is not None else {}
    hits = []
    for rec, where in found:
        record, dim = _without_vector(rec)
        match = live.get((rec.kind, rec.id))
        hits.append(SearchHit(kind=rec.kind, group=rec.group, id=rec.id, file=str(rec.file.relative_to(bundle)),
                              line=rec.line, matched=where, record=record, embedding_dimension=dim,
                              live=match.state if match is not None else "unchecked",
                              live_changes=match.changes if match is not None else (), offset=rec.offset))
    return SearchResult(bundle=bundle.name, path=bundle, query=q, hits=tuple(hits), lines_scanned=counts["lines"],
                        complete=complete, unreadable=counts["unreadable"], unreadable_lines=tuple(bad))
