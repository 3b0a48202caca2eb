"""Bundle against bundle: only in A, only in B, in both identical, in both different, per label, edge type and
collection; content compared by value; ids paged; the on-disk index removed; the CLI's `diff A B`."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from console.cli import main
from core.browse import EDGE, NODE
from core.bundle_diff import BundleIndex, diff_bundles
from core.datadir import DataDir, resolve
from core.plan import Filters
from tests.builders import edge, node, vec, write_bundle

A_NAME = "backup-2026-05-10T01-11-23.456Z"
B_NAME = "backup-2026-05-09T01-11-23.456Z"


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def two_bundles(dd: DataDir) -> tuple[Path, Path]:
    # A: the newer bundle after a loss; B: the older one, complete
    a = write_bundle(dd.backup_root, name=A_NAME, nodes=[
        node("keep", "CONCEPT"), node("changed", "ISSUE", state="closed"), node("new", "CONCEPT")],
        edges=[edge("e-keep", "keep", "changed", "RELATES_TO")],
        memories=[vec("m1"), vec("m2", document="edited")], kb=[vec("k1")])
    # the same `keep` node written by another writer: keys in another order, same values
    keep_b = orjson.dumps({"type": "node", "data": {"label": "CONCEPT", "properties": {"name": "keep"},
                                                    "id": "keep"}})
    lines = [keep_b] + [orjson.dumps({"type": "node", "data": n}) for n in (
        node("changed", "ISSUE", state="open"), node("f1", "FILE"), node("f2", "FILE"), node("f3", "FILE"))]
    lines += [orjson.dumps({"type": "edge", "data": e}) for e in (
        edge("e-keep", "keep", "changed", "RELATES_TO"), edge("c1", "f1", "f2", "CONTAINS"))]
    m1 = vec("m1")
    # another writer's digits: a different text, the same float32 vector Chroma would store
    m1_b = {**m1, "embedding": [x + 1e-12 for x in m1["embedding"]]}
    assert orjson.dumps(m1_b["embedding"]) != orjson.dumps(m1["embedding"])
    b = write_bundle(dd.backup_root, name=B_NAME, graph_lines=lines,
                     memories=[m1_b, vec("m2"), vec("m3")], kb=[vec("k1")])
    return a, b


def test_cells_per_label_edge_type_and_collection(dd: DataDir) -> None:
    a, b = two_bundles(dd)
    d = diff_bundles(a, b)
    assert d.a.name == A_NAME and d.b.name == B_NAME
    assert (d.labels["FILE"].only_a, d.labels["FILE"].only_b, d.labels["FILE"].in_a) == (0, 3, 0)
    concept = d.labels["CONCEPT"]
    assert (concept.only_a, concept.only_b, concept.identical, concept.different) == (1, 0, 1, 0)
    issue = d.labels["ISSUE"]
    assert (issue.identical, issue.different) == (0, 1)  # same id, another state: content compared
    assert d.edge_types["CONTAINS"].only_b == 1 and d.edge_types["RELATES_TO"].identical == 1
    mem = d.collections["memories"]
    assert (mem.only_a, mem.only_b, mem.identical, mem.different) == (0, 1, 1, 1)  # m1 same vector, m2 edited
    assert d.collections["kb"].identical == 1
    assert list(d.labels)[0] == "FILE"  # what changed most comes first
    t = d.totals
    assert (t.only_a, t.only_b, t.identical, t.different) == (1, 5, 4, 2)


def test_ids_paged_in_id_order_and_field_level_pair(dd: DataDir) -> None:
    a, b = two_bundles(dd)
    with BundleIndex(a, b) as index:
        index.build()
        first = index.ids(NODE, "FILE", "onlyInB", offset=0, limit=2)
        rest = index.ids(NODE, "FILE", "onlyInB", offset=2, limit=2)
        assert (first.ids, rest.ids, first.total) == (("f1", "f2"), ("f3",), 3)
        pair = index.pair(NODE, "changed")
        assert pair.a is not None and pair.b is not None
        assert [(c.path, c.a, c.b) for c in pair.changes] == [("properties.state", "closed", "open")]
        mem = index.pair("memories", "m2")
        assert [c.path for c in mem.changes] == ["document"]
        only = index.pair(NODE, "f1")
        assert only.a is None and only.b is not None and only.b["id"] == "f1"
        d = index.diff(ids=True, limit=10)
        assert d.labels["FILE"].ids is not None and d.labels["FILE"].ids["onlyInB"].ids == ("f1", "f2", "f3")
        assert d.edge_types["RELATES_TO"].ids is not None
        assert set(d.edge_types["RELATES_TO"].ids) == {"identical"}  # only non-empty cells
        path = index.path
        assert path.exists()
    assert not path.exists()  # the scratch index is removed


def test_filters_and_only_substrate(dd: DataDir) -> None:
    a, b = two_bundles(dd)
    d = diff_bundles(a, b, filters=Filters.of(["FILE"], ["CONTAINS"]))
    assert "FILE" not in d.labels and "CONTAINS" not in d.edge_types and d.filtered_out == 4
    g = diff_bundles(a, b, only_substrate=["graph"])
    assert g.collections == {} and g.labels["ISSUE"].different == 1
    m = diff_bundles(a, b, only_substrate=["mc"])
    assert m.labels == {} and set(m.collections) == {"memories"}


def test_duplicates_keep_the_first_occurrence_and_bad_lines_are_counted(dd: DataDir) -> None:
    a = write_bundle(dd.backup_root, name=A_NAME, graph_lines=[
        orjson.dumps({"type": "node", "data": node("x", "CONCEPT", v=1)}),
        orjson.dumps({"type": "node", "data": node("x", "CONCEPT", v=2)}),
        b"not json", orjson.dumps({"type": "node", "data": {"label": "NOID"}})])
    b = write_bundle(dd.backup_root, name=B_NAME, nodes=[node("x", "CONCEPT", v=1)])
    d = diff_bundles(a, b)
    assert d.a.duplicate_ids == 1 and d.labels["CONCEPT"].identical == 1  # the first x is compared
    assert d.a.unreadable == 2 and {u.line for u in d.a.unreadable_lines} == {3, 4}


def test_streaming_index_holds_no_bundle_in_memory(dd: DataDir) -> None:
    """Thousands of rows go through the on-disk table; the answer is exact at every count."""
    n = 25_000  # above one insert batch
    a = write_bundle(dd.backup_root, name=A_NAME, nodes=[node(f"n{i}", "CONCEPT") for i in range(n)])
    b = write_bundle(dd.backup_root, name=B_NAME, nodes=[node(f"n{i}", "CONCEPT") for i in range(1_000, n + 500)])
    d = diff_bundles(a, b)
    row = d.labels["CONCEPT"]
    assert (row.only_a, row.only_b, row.identical) == (1_000, 500, n - 1_000)


def cli(capsys: pytest.CaptureFixture[str], dd: DataDir, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--data-dir", str(dd.root), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_two_bundles(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    two_bundles(dd)
    code, out, _ = cli(capsys, dd, "diff", A_NAME, B_NAME, "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["labels"]["FILE"] == {"inA": 0, "inB": 3, "onlyInA": 0, "onlyInB": 3, "identical": 0, "different": 0}
    assert obj["totals"] == {"onlyInA": 1, "onlyInB": 5, "identical": 4, "different": 2}
    assert list(obj) == ["a", "b", "filters", "onlySubstrate", "labels", "edgeTypes", "collections", "totals",
                         "filteredOut"]
    code, out, _ = cli(capsys, dd, "diff", A_NAME, B_NAME, "--ids", "--limit", "1", "--offset", "1", "--json")
    page = json.loads(out)["labels"]["FILE"]["ids"]["onlyInB"]
    assert page == {"offset": 1, "limit": 1, "total": 3, "ids": ["f2"]}
    code, out, _ = cli(capsys, dd, "diff", A_NAME, B_NAME, "--ids", "--limit", "2")
    assert code == 0 and "only in B" in out and "label FILE, only in B (1-2 of 3):" in out and "f2" in out
    assert "more ids: the same command with --offset N" in out


@pytest.mark.parametrize("argv", [
    ("diff", A_NAME, "--ids"),  # ids belong to a diff of two bundles
    ("diff", A_NAME, B_NAME, "--mode", "replace"),  # nothing is restored
    ("diff", A_NAME, "backup-2020-01-01T00-00-00.000Z"),  # no such bundle
])
def test_cli_usage_errors(dd: DataDir, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    two_bundles(dd)
    code, out, _ = cli(capsys, dd, *argv, "--json")
    assert code == 2 and json.loads(out)["error"]["code"] == "USAGE"


def test_hostile_labels_and_ids_are_escaped(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    write_bundle(dd.backup_root, name=A_NAME, nodes=[node("id\x1b[2J", "LAB\x1b]0;pwn\x07EL")])
    write_bundle(dd.backup_root, name=B_NAME, nodes=[])
    code, out, _ = cli(capsys, dd, "diff", A_NAME, B_NAME, "--ids")
    assert code == 0 and "\x1b" not in out and "\\x1b" in out and "\x07" not in out
    _code, out, _ = cli(capsys, dd, "diff", A_NAME, B_NAME, "--ids", "--json")
    assert json.loads(out)["labels"]["LAB\x1b]0;pwn\x07EL"]["ids"]["onlyInA"]["ids"] == ["id\x1b[2J"]


def test_kinds_are_separate_namespaces(dd: DataDir) -> None:
    """A memory and its AGENT_MEMORY node share an id (neo's rule): each is compared with its own kind."""
    a = write_bundle(dd.backup_root, name=A_NAME, nodes=[node("m1", "AGENT_MEMORY")], memories=[vec("m1")])
    b = write_bundle(dd.backup_root, name=B_NAME, nodes=[], memories=[vec("m1")])
    d = diff_bundles(a, b)
    assert d.labels["AGENT_MEMORY"].only_a == 1 and d.collections["memories"].identical == 1
    assert EDGE not in d.labels
