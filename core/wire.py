"""The one JSON encoder: any engine result -> the exact value the CLI prints under ``--json``.

Results are frozen dataclasses with snake_case attributes; the wire has camelCase keys. ``encode`` walks a
result and turns it into plain JSON values by these rules, so no result class writes a dict by hand:

- a dataclass becomes an object of its fields, in declaration order, each under its name in camelCase
  (``skipped_existing`` -> ``skippedExisting``). A field declares anything else next to itself, with
  ``field(metadata=wire(...))``: another key (``name``), left out (``skip``), left out when None
  (``omit_none``), a function that turns the value into what is encoded (``encode``), or its object's keys
  spliced into the parent (``inline``).
- a computed property is on the wire only when the class lists it in ``__wire__``: that ClassVar is then the
  complete key order, fields and properties by attribute name (a field missing from it is an error, so a new
  field cannot silently fall off the wire). A property's key is its name in camelCase, or the one given in
  ``__wire_names__``.
- a Mapping keeps its keys (data: labels, ids) and their order; a list or tuple is a list; a set is a sorted
  list; a Path is its string; a datetime is JavaScript's ``toISOString()`` (UTC, milliseconds, ``Z``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from pathlib import PurePath
from typing import Any, TypeAlias, TypeVar

from core.units import iso_ms

T = TypeVar("T")
Json: TypeAlias = dict[str, "Json"] | list["Json"] | str | int | float | bool | None

_KEY = "wire"


@dataclasses.dataclass(frozen=True)
class WireField:
    name: str | None = None
    skip: bool = False
    omit_none: bool = False
    inline: bool = False
    encode: Callable[[Any], object] | None = None


def wire(name: str | None = None, *, skip: bool = False, omit_none: bool = False, inline: bool = False,
         encode: Callable[[Any], object] | None = None) -> dict[str, WireField]:
    """Field metadata: ``x: int = field(default=0, metadata=wire("otherName"))``."""
    return {_KEY: WireField(name, skip, omit_none, inline, encode)}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# (attribute, key, how) per wire entry of a class; how is None for a computed property
_Plan = tuple[tuple[str, str, WireField | None], ...]


@cache
def _plan(cls: type) -> _Plan:
    declared = {f.name: f.metadata.get(_KEY) or WireField() for f in dataclasses.fields(cls)}
    order: tuple[str, ...] | None = getattr(cls, "__wire__", None)
    if order is None:
        order = tuple(declared)
    else:
        missing = [f for f, how in declared.items() if not how.skip and f not in order]
        if missing:
            raise TypeError(f"{cls.__name__}.__wire__ leaves out the field(s) {', '.join(missing)}")
    names: Mapping[str, str] = getattr(cls, "__wire_names__", {})
    out: list[tuple[str, str, WireField | None]] = []
    for attr in order:
        how = declared.get(attr)
        if how is None:
            if not isinstance(getattr(cls, attr, None), property):
                raise TypeError(f"{cls.__name__}.__wire__ names {attr}, neither a field nor a property")
            out.append((attr, names.get(attr, camel(attr)), None))
        elif not how.skip:
            out.append((attr, how.name or camel(attr), how))
    return tuple(out)


def encode(value: object) -> Json:
    """The wire value of ``value`` (a result, or anything a result holds)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Json] = {}
        for attr, key, how in _plan(type(value)):
            v = getattr(value, attr)
            if how is not None:
                if how.omit_none and v is None:
                    continue
                if how.encode is not None:
                    v = how.encode(v)
                if how.inline:
                    inner = encode(v)
                    if not isinstance(inner, dict):
                        raise TypeError(f"{type(value).__name__}.{attr} is inline but not an object")
                    out.update(inner)
                    continue
            out[key] = encode(v)
        return out
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, set | frozenset):
        return [encode(v) for v in sorted(value)]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, datetime):
        return iso_ms(value)
    raise TypeError(f"no wire form for {type(value).__name__}")


def decode(cls: type[T], obj: Mapping[str, object], **extra: object) -> T:
    """A flat dataclass back from its wire object (a journal's run record): each field from its wire key, when
    present; unknown keys are ignored, so an older or newer record still reads."""
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        how = f.metadata.get(_KEY) or WireField()
        key = how.name or camel(f.name)
        if not how.skip and key in obj:
            values[f.name] = obj[key]
    return cls(**values, **extra)
