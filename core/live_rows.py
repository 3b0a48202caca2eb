"""A bundle's records beside the live rows with the same ids: absent live, identical, or different (and how).

Live rows are read by id only (one query per batch of ids), in the bundle's own shape: a graph row's ``data``
parsed, a Chroma row as ``{id, embedding, metadata, document}``. "Identical" is ``core.same_content``'s rule, the
one the plan's split of "already present" uses (a live vector a store's rounding away from the bundle's is the
same vector).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core import chroma_store as cs
from core import graph_store as gs
from core.browse import EDGE, GRAPH_KINDS, NODE, Record
from core.datadir import DataDir
from core.field_diff import FieldChange, field_changes
from core.same_content import STORE_ULPS, chroma_value, graph_value, identical, normal
from core.substrates import COLLECTION_BY_KEY
from core.wire import wire

ABSENT, IDENTICAL, DIFFERENT, NO_TARGET = "absent", "identical", "different", "no-target"


@dataclass(frozen=True, kw_only=True)
class LiveMatch:
    """How the live store holds one bundle record's id."""

    state: str  # absent | identical | different | no-target (this layout has no store for the kind)
    changes: tuple[FieldChange, ...] = field(default=(), metadata=wire(skip=True))
    live: Mapping[str, object] | None = field(default=None, metadata=wire(skip=True))


def live_values(dd: DataDir, kind: str, ids: list[str], *,
                client: cs.ClientAPI | None = None) -> dict[str, dict[str, object]] | None:
    """The live rows of these ids (by id), or None when this layout has no store for the kind."""
    if not ids:
        return {}
    if kind in GRAPH_KINDS:
        conn = gs.open_live(dd.graph_db)
        if conn is None:
            return {}
        try:
            rows = gs.rows_data(conn, gs.NODES if kind == NODE else gs.EDGES, ids)
        finally:
            conn.close()
        return {rid: graph_value(data) for rid, data in rows}
    collection = COLLECTION_BY_KEY.get(kind)
    if collection is None:
        return None
    col = cs.get_collection(client if client is not None else cs.open_client(dd, create=False), collection.name)
    if col is None:
        return {}
    return {r.id: chroma_value(r) for r in cs.records_by_id(col, ids)}


def compare_live(dd: DataDir, records: Iterable[Record]) -> dict[tuple[str, str], LiveMatch]:
    """Each record's live counterpart: absent, identical, or different with its field changes (bundle = a,
    live = b)."""
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_kind[r.kind].append(r)
    client = None
    if any(k not in GRAPH_KINDS and k in COLLECTION_BY_KEY for k in by_kind):
        client = cs.open_client(dd, create=False)
    out: dict[tuple[str, str], LiveMatch] = {}
    for kind, recs in by_kind.items():
        live = live_values(dd, kind, list(dict.fromkeys(r.id for r in recs)), client=client)
        for r in recs:
            if live is None:
                out[(kind, r.id)] = LiveMatch(state=NO_TARGET)
                continue
            other = live.get(r.id)
            if other is None:
                out[(kind, r.id)] = LiveMatch(state=ABSENT)
                continue
            mine, theirs = normal(kind, r.value), normal(kind, other)
            if identical(kind, mine, theirs):
                out[(kind, r.id)] = LiveMatch(state=IDENTICAL, live=theirs)
            else:
                out[(kind, r.id)] = LiveMatch(state=DIFFERENT, live=theirs, changes=field_changes(mine, theirs, ulps=0 if kind in GRAPH_KINDS else STORE_ULPS))
    return out


__all__ = ["ABSENT", "DIFFERENT", "EDGE", "IDENTICAL", "NODE", "NO_TARGET", "LiveMatch", "compare_live",
           "live_values"]
