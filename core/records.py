"""The records of a bundle's lines, parsed: graph lines, Chroma rows' ids, the KB natural key (no I/O here).

neo writes a graph line as ``{"type":"node","data":<Nodes.data>}`` (or ``"edge"``) and a Chroma line as
``{"id":...,"embedding":[...],"metadata":{...},"document":...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import orjson

NODE_PREFIX = b'{"type":"node","data":'
EDGE_PREFIX = b'{"type":"edge","data":'

# A parsed graph line as a plain tuple (an object per line costs measurably on the 1M-line path):
# (file, line number, id, label or edge type, data text as stored, user_id, CRC-32 of data, source, target).
# id is None for a record restore cannot write (a node without id, an edge without source/target/type).
# user_id is whatever the data holds (neo stores it as it is), so it is typed `object`.
GraphLine = tuple[Path, int, str | None, str, str, object, int, str | None, str | None]
F_PATH: Final = 0
F_LINE: Final = 1
F_ID: Final = 2
F_LABEL: Final = 3
F_DATA: Final = 4
F_USER: Final = 5
F_CRC: Final = 6
F_SOURCE: Final = 7
F_TARGET: Final = 8

# neo's KB natural key: {tenantId, repoSlug, source, name, type}
NaturalKey = tuple[object, object, object, object, object]


def node_line(data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return NODE_PREFIX + raw + b"}"


def edge_line(data: str | bytes) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return EDGE_PREFIX + raw + b"}"


def user_id_of(data: Mapping[str, object]) -> object:
    """neo: user_id = data.properties.userId || data.user_id || null."""
    props = data.get("properties")
    uid = props.get("userId") if isinstance(props, dict) else None
    return uid or data.get("user_id") or None


def graph_row(kind: str, d: dict[str, object], text: str, crc: int, path: Path, number: int) -> GraphLine:
    """The row restore writes for one node or edge line; neo's fallback id for an edge without one."""
    props = d.get("properties")
    uid = props.get("userId") if type(props) is dict else None
    user = uid or d.get("user_id") or None  # neo: data.properties.userId || data.user_id || null
    if kind == "node":
        nid, label = d.get("id"), d.get("label")
        label = label if type(label) is str else ("" if label is None else str(label))
        return (path, number, nid if type(nid) is str and nid else None, label, text, user, crc, None, None)
    s, t, et = d.get("source"), d.get("target"), d.get("type")
    if not (type(s) is str and type(t) is str and type(et) is str and s and t and et):
        return (path, number, None, et if type(et) is str else "", text, user, crc, None, None)
    eid = d.get("id") or f"{s}->{t}:{et}"  # neo's fallback id for an edge without one
    return (path, number, eid if type(eid) is str else str(eid), et, text, user, crc, s, t)


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


def natural_key(meta: object) -> NaturalKey | None:
    """neo's KB natural key; None when a row has none of source, name, type."""
    if not isinstance(meta, dict):
        return None
    key = (meta.get("tenantId"), meta.get("repoSlug"), meta.get("source"), meta.get("name"), meta.get("type"))
    return key if any(v is not None for v in key[2:]) else None
