"""Hostile text and numbers through both tools: raw CR, CRLF, U+2028/2029, NUL, 200 KB strings, 2^53+1, -0.

Text reaches the same state through either tool. Numbers do not: neo parses with JavaScript's JSON.parse, so
integers above 2^53 are rounded and -0 becomes 0 there, while the console keeps them exact. That difference is
asserted here field by field, not merely allowed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.interop.conftest import World
from tests.interop.data import HOSTILE_STRINGS, INCIDENT_EDGE_TYPES, INCIDENT_LABELS, MAX_SAFE, hostile_source
from tests.interop.state import Seeds, compare

pytestmark = pytest.mark.interop

BIG = MAX_SAFE + 1  # 9007199254740993: the first integer a double cannot hold
NUMERIC_FIELDS = {"big", "negzero", "negzerof", "one", "weight"}  # weight: an edge weight of -0


def _allowed_paths(cmp_allowed: list[str]) -> set[str]:
    """The leaf names behind each js-number-model allowance, e.g. {'big', 'negzero'}."""
    out = set()
    for what in cmp_allowed:
        for part in what.split(": ", 1)[1].split("; "):
            out.add(part.split(":")[0].rsplit(".", 1)[-1])
    return out


def test_console_bundle_with_hostile_data_through_neo_and_console(world: Callable[[str], World], neo_seeds: Seeds) -> None:
    src = world("source").load(hostile_source())
    bundle = Path(src.console("backup")["path"])

    neo_side = world("neo")
    neo_side.restore(bundle).check()  # first: a regression shows as neo's own refusal
    neo_state = neo_side.snapshot()
    graph_bytes = b"".join(f.read_bytes() for f in (bundle / "graph").glob("*.jsonl"))
    assert b"\r" not in graph_bytes, "the raw CR of a CRLF-laid-out data column must not reach a bundle line"
    assert "\u2028".encode() in graph_bytes, "U+2028 goes in raw: JSON allows it and neo's reader does not split on it"
    console_side = world("console")
    console_side.console("restore", str(bundle))
    console_state = console_side.snapshot()

    cmp = compare(neo_state, console_state, allow={"neo-boot-seeds", "neo-boot-collections", "neo-embedding-function-record",
                                                            "js-number-model"},
                  seeds=neo_seeds, a_name="neo", b_name="console")
    cmp.assert_equal()
    # the only numeric differences are the documented ones, and they do occur
    assert _allowed_paths(cmp.allowed["js-number-model"]) == NUMERIC_FIELDS

    # text: identical through both tools, in graph data and in Chroma
    for state in (neo_state, console_state):
        props = state.node_data("hostile-0")["properties"]
        assert {k: props[k] for k in HOSTILE_STRINGS} == HOSTILE_STRINGS
        assert state.node_data("crlf-laid-out")["properties"]["name"] == "pretty-printed on Windows"
        docs = {rid: row.document for rid, row in state.chroma["neo-agent-memory"].items()}
        assert docs["hostile-mem-0"] == "line1\rline2" and docs["hostile-mem-2"] == "a\u0000b"
        assert len(docs["hostile-mem-3"]) == 200_000

    # numbers: exact through the console ...
    text = console_state.nodes["hostile-0"][1]
    assert '"big":9007199254740993' in text and '"negzero":-0,' in text and '"negzerof":-0.0' in text
    assert '"one":1.0' in text
    meta = console_state.chroma["neo-agent-memory"]["hostile-mem-1"].metadata
    assert meta["big"] == BIG and type(meta["one"]) is float
    # Chroma's own metadata store keeps no sign of zero (it hands back 0.0 for -0.0, to either tool)
    assert type(meta["negzero"]) is float and meta["negzero"] == 0
    # ... and what neo makes of them (JavaScript numbers): the documented difference
    text = neo_state.nodes["hostile-0"][1]
    assert '"big":9007199254740992' in text and '"negzero":0,' in text and '"negzerof":0' in text
    assert '"one":1}' in text or '"one":1,' in text
    meta = neo_state.chroma["neo-agent-memory"]["hostile-mem-1"].metadata
    assert meta["big"] == BIG - 1 and type(meta["one"]) is int and type(meta["negzero"]) is int


def test_neo_bundle_with_hostile_data_through_console_and_neo(world: Callable[[str], World], neo_seeds: Seeds) -> None:
    bundle = world("source").load(hostile_source()).backup()
    neo_side = world("neo")
    neo_side.restore(bundle).check()
    neo_state = neo_side.snapshot()
    console_side = world("console")
    verified = console_side.console("verify", str(bundle))
    assert verified["verdict"] == "RESTORABLE", verified["errors"]
    console_side.console("restore", str(bundle))
    console_state = console_side.snapshot()
    # neo's own backup already went through JavaScript numbers: both restores see the same values
    compare(neo_state, console_state, allow={"neo-boot-seeds", "neo-boot-collections", "neo-embedding-function-record"}, seeds=neo_seeds,
            a_name="neo", b_name="console").assert_equal()
    props = console_state.node_data("hostile-0")["properties"]
    assert {k: props[k] for k in HOSTILE_STRINGS} == HOSTILE_STRINGS
    assert str(props["big"]) == str(BIG - 1), "neo's backup rounded it before the console saw it"
    lines = b"".join(f.read_bytes() for f in (bundle / "graph").glob("*.jsonl")).split(b"\n")
    assert any(b"crlf-laid-out" in ln for ln in lines) and all(b"\r" not in ln for ln in lines)
    assert json.loads(next(ln for ln in lines if b"hostile-0" in ln))["data"]["properties"]["ls"] == "x\u2028y\u2029z"


def test_console_bundle_with_hostile_graph_data_through_the_incident_filtered_merge(
    world: Callable[[str], World], neo_seeds: Seeds
) -> None:
    """neo's filter pass drops a line it cannot parse without a word (prepareFilteredGraphDir): a line split by
    a raw CR would vanish from neo's restore silently. Here every row must arrive through both tools."""
    bundle = Path(world("source").load(hostile_source()).console("backup")["path"])
    flags = ("--mode", "merge", "--only-substrate=graph", f"--filter-labels={INCIDENT_LABELS}",
             f"--filter-edge-types={INCIDENT_EDGE_TYPES}")
    neo_side = world("neo")
    neo_side.restore(bundle, *flags).check()
    neo_state = neo_side.snapshot()
    console_side = world("console")
    console_side.console("restore", str(bundle), *flags)
    console_state = console_side.snapshot()
    cmp = compare(neo_state, console_state, allow={"neo-boot-seeds", "js-number-model"}, seeds=neo_seeds,
                  a_name="neo", b_name="console")
    cmp.assert_equal()
    assert {"hostile-0", "hostile-1", "hostile-2", "crlf-laid-out"} <= set(neo_state.nodes)
    assert {"hostile-edge", "hostile-edge-num"} <= set(neo_state.edges)
