"""The graph DB gets neo's schema, with the cascade and the GraphLog triggers live."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import orjson

from core import graph_store as g
from core.records import user_id_of
from tests.builders import staged


def test_fresh_db_gets_neo_ddl(tmp_path: Path) -> None:
    conn = g.connect(tmp_path / "sqlite" / "memory-core-graph.sqlite")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"Nodes", "Edges", "GraphLog", "SummarizationJobs", "SchemaVersion",
            "idx_edges_source", "idx_edges_target"} <= names
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert triggers == {f"{k}_{op}" for k in ("node", "edge") for op in ("insert", "update", "delete")}
    assert conn.execute("SELECT version FROM SchemaVersion WHERE id='graph'").fetchone() == (1,)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_cascade_and_graphlog_are_live(tmp_path: Path) -> None:
    conn = g.connect(tmp_path / "g.sqlite")
    conn.execute("INSERT INTO Nodes VALUES ('a', NULL, '{}'), ('b', NULL, '{}')")
    conn.execute("INSERT INTO Edges VALUES ('e', NULL, 'a', 'b', 'T', '{}')")
    conn.execute("INSERT OR REPLACE INTO Nodes VALUES ('a', NULL, '{\"new\":1}')")
    assert conn.execute("SELECT count(*) FROM Edges").fetchone() == (0,), "OR REPLACE cascades, as in neo"
    log = conn.execute("SELECT entity_type, count(*) FROM GraphLog GROUP BY 1 ORDER BY 1").fetchall()
    # 2 node inserts + the replacing insert (REPLACE's implicit delete fires no trigger without
    # recursive_triggers); the edge's insert and its cascade delete
    assert log == [("edges", 2), ("nodes", 3)]


def test_april_schema_gets_user_id_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE Nodes (id TEXT PRIMARY KEY, data TEXT NOT NULL);"
                      "CREATE TABLE Edges (id TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL,"
                      " type TEXT NOT NULL, data TEXT NOT NULL);"
                      "INSERT INTO Nodes VALUES ('keep', '{\"id\":\"keep\"}');")
    old.close()
    conn = g.connect(path)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(Nodes)")]
    assert "user_id" in cols
    assert conn.execute("SELECT data FROM Nodes WHERE id='keep'").fetchone() == ('{"id":"keep"}',)


def test_ids_and_user_ids_follow_neo(tmp_path: Path) -> None:
    """The fallback edge id and the user id, as a restore stages them (the path every restore takes), neo's line
    shape and another key order alike."""
    def parsed(data: dict[str, object], *, canonical: bool = True) -> tuple[object, object]:
        kind = "edge" if "source" in data else "node"
        line = orjson.dumps({"type": kind, "data": data} if canonical else {"data": data, "type": kind})
        (row,) = staged(tmp_path / f"case{next(counter)}", [line])
        return row["id"], row["user_id"]

    counter = itertools.count()
    for canonical in (True, False):
        assert parsed({"source": "a", "target": "b", "type": "T"}, canonical=canonical) == ("a->b:T", None)
        assert parsed({"id": "x", "source": "a", "target": "b", "type": "T"}, canonical=canonical)[0] == "x"
        assert parsed({"id": "n", "properties": {"userId": "@u"}, "user_id": "v"}, canonical=canonical)[1] == "@u"
        assert parsed({"id": "n", "properties": {}, "user_id": "v"}, canonical=canonical)[1] == "v"
        assert parsed({"id": "n", "properties": None}, canonical=canonical)[1] is None
    assert user_id_of({"properties": {"userId": "@u"}, "user_id": "v"}) == "@u"  # the demo's and fixtures' writer
