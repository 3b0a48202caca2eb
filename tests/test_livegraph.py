"""The UI's aiosqlite census of the live graph."""

from __future__ import annotations

from console.livegraph import graph_census
from core.datadir import DataDir
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
