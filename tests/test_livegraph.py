"""The UI's aiosqlite census of the live graph."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from console.livegraph import graph_census, read_only_uri
from core.datadir import DataDir, resolve
from tests.builders import chain_graph, insert_graph


async def test_census_counts_by_label_and_type(data_dir: DataDir) -> None:
    assert (await graph_census(data_dir.graph_db)).exists is False
    nodes, edges = chain_graph(12)
    insert_graph(data_dir, nodes, edges)
    insert_graph(data_dir, [{"id": "odd", "label": "odd[/]label", "properties": {}}], [])
    census = await graph_census(data_dir.graph_db, by_label=True)
    assert (census.nodes, census.edges) == (13, 11)
    assert census.labels == {"CONCEPT": 12, "odd[/]label": 1}
    assert census.edge_types == {"RELATES_TO": 11}


async def test_census_opens_read_only_whatever_the_path_holds(tmp_path: Path) -> None:
    """`?`, `#` and `%` in the data dir's path are part of the file name, not of the URI; and the connection
    cannot write: the census never changes the live graph it counts."""
    dd = resolve(tmp_path / "odd?#%20dir" / ".neo-ai-data", env={})
    insert_graph(dd, *chain_graph(3))
    census = await graph_census(dd.graph_db)
    assert (census.exists, census.error, census.nodes, census.edges) == (True, None, 3, 2)
    async with aiosqlite.connect(read_only_uri(dd.graph_db), uri=True) as db:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await db.execute("DELETE FROM Nodes")
    assert (await graph_census(dd.graph_db)).nodes == 3


async def test_census_reports_an_unreadable_graph_instead_of_raising(tmp_path: Path) -> None:
    path = tmp_path / "graph.sqlite"
    path.write_bytes(b"not a database, just bytes" * 100)
    census = await graph_census(path)
    assert census.exists and census.error is not None and "not a database" in census.error
