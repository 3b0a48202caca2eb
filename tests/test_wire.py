"""The one encoder: the rules every result's wire shape follows (the goldens pin the shapes themselves)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from core.wire import camel, decode, encode, wire


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inner:
    skipped_existing: int
    when: datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outer:
    run_id: str
    secret: str = dataclasses.field(default="x", metadata=wire(skip=True))
    note: str | None = dataclasses.field(default=None, metadata=wire(omit_none=True))
    max_age: timedelta = dataclasses.field(default=timedelta(hours=36),
                                           metadata=wire("maxAgeHours", encode=lambda d: d.total_seconds() / 3600))
    parts: Mapping[str, Inner] = dataclasses.field(default_factory=dict)
    extra: Mapping[str, int] = dataclasses.field(default_factory=dict, metadata=wire(inline=True))
    labels: frozenset[str] = frozenset()
    where: Path = Path("/data")

    __wire__: ClassVar = ("total", "run_id", "note", "max_age", "parts", "extra", "labels", "where")

    @property
    def total(self) -> int:
        return sum(p.skipped_existing for p in self.parts.values())


def test_the_rules() -> None:
    t = datetime(2026, 5, 10, 1, 11, 23, 456_789, tzinfo=UTC)
    out = encode(Outer(run_id="r", parts={"B label": Inner(skipped_existing=2, when=t)}, extra={"kb": 1, "mc": 2},
                       labels=frozenset({"b", "a"})))
    assert out == {"total": 2, "runId": "r", "maxAgeHours": 36.0,
                   "parts": {"B label": {"skippedExisting": 2, "when": "2026-05-10T01:11:23.456Z"}},
                   "kb": 1, "mc": 2, "labels": ["a", "b"], "where": "/data"}
    assert isinstance(out, dict) and list(out)[0] == "total"  # the declared order, computed properties included
    assert encode(Outer(run_id="r", note="n"))["note"] == "n"  # type: ignore[index]


def test_a_field_left_off_the_declared_order_is_an_error() -> None:
    @dataclasses.dataclass(frozen=True)
    class Forgot:
        a: int
        b: int

        __wire__: ClassVar = ("a",)

    with pytest.raises(TypeError, match="leaves out the field"):
        encode(Forgot(1, 2))


def test_what_has_no_wire_form_is_refused() -> None:
    with pytest.raises(TypeError, match="no wire form for timedelta"):
        encode({"x": timedelta(1)})


def test_camel_and_decode_round_trip() -> None:
    assert camel("id_already_present") == "idAlreadyPresent" and camel("kb") == "kb"

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Rec:
        run_id: str
        ended_at: str | None = None
        path: Path = dataclasses.field(metadata=wire(skip=True))

    rec = Rec(run_id="r", ended_at="t", path=Path("/p"))
    assert decode(Rec, {**encode(rec), "newer": 1}, path=Path("/p")) == rec  # type: ignore[dict-item]
