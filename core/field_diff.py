"""Two versions of one record, compared field by field: what an operator reads to decide which one to keep.

Objects are walked key by key (``properties.state``, ``metadata.sessionId``); lists of numbers compare as
float32, as Chroma stores a vector, and one longer than a few values (a vector) is one change with a summary
instead of a change per position; any other list is compared whole. Values stay JSON values: the caller escapes them for the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from core.wire import wire

MISSING = "missing"  # the field is absent on that side
SHORT_LIST = 8  # a number list longer than this is a vector: summarised, not listed


@dataclass(frozen=True, kw_only=True)
class FieldChange:
    path: str  # dotted; a key holding a dot or a bracket is quoted as ["key"]
    change: str  # changed | only-a | only-b | vector
    a: object = None  # the value in A (None when absent there, or for a vector: see note)
    b: object = None
    note: str | None = field(default=None, metadata=wire(omit_none=True))


def _key(prefix: str, key: str) -> str:
    part = key if key and all(c not in key for c in '.[]"') else f'["{key}"]'
    if not prefix:
        return part
    return prefix + part if part.startswith("[") else f"{prefix}.{part}"


def _numbers(v: object) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)


def float32_differ(x: np.ndarray, y: np.ndarray, ulps: int = 0) -> np.ndarray:
    """Where two float32 vectors of one length differ by more than ``ulps`` units in the last place."""
    differ = x != y
    if ulps and differ.any():
        apart = np.abs(x.view(np.int32).astype(np.int64) - y.view(np.int32).astype(np.int64))
        differ &= apart > ulps
    return differ


def _vector_note(a: list[float], b: list[float], ulps: int) -> str | None:
    """How two vectors differ as Chroma stores them (float32: another writer's digits are not a difference)."""
    if len(a) != len(b):
        return f"{len(a)} values vs {len(b)}"
    x, y = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    differ = float32_differ(x, y, ulps)
    n = int(differ.sum())
    if not n:
        return None
    worst = float(np.abs(x[differ].astype(np.float64) - y[differ].astype(np.float64)).max())
    return f"{n} of {len(a)} values differ, max |Δ| {worst:.3g}" if math.isfinite(worst) else \
        f"{n} of {len(a)} values differ"


def field_changes(a: object, b: object, *, limit: int = 200, ulps: int = 0) -> tuple[FieldChange, ...]:
    """Every field where ``a`` and ``b`` differ (at most ``limit``; the caller says when there are more).
    ``ulps``: vector values this many float32 units in the last place apart are the same (a store's rounding)."""
    out: list[FieldChange] = []
    _walk("", a, b, out, limit, ulps)
    return tuple(out)


def _walk(path: str, a: object, b: object, out: list[FieldChange], limit: int, ulps: int = 0) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in [*a, *(k for k in b if k not in a)]:
            p = _key(path, str(k))
            if k not in b:
                out.append(FieldChange(path=p, a=a[k], change="only-a"))
            elif k not in a:
                out.append(FieldChange(path=p, b=b[k], change="only-b"))
            else:
                _walk(p, a[k], b[k], out, limit, ulps)
            if len(out) >= limit:
                return
        return
    if _numbers(a) and _numbers(b):
        assert isinstance(a, list) and isinstance(b, list)
        note = _vector_note(a, b, ulps)
        if note is None:
            return
        if len(a) > SHORT_LIST or len(b) > SHORT_LIST:
            out.append(FieldChange(path=path or "(value)", change="vector", note=note))
            return
    if type(a) is not type(b) or a != b:
        out.append(FieldChange(path=path or "(value)", a=a, b=b, change="changed"))
