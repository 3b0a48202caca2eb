"""Live-graph reads from the UI's event loop, through aiosqlite (read-only, never blocking the loop).

The console's census of the live graph (node and edge counts on the bundles screen, per label and edge type on
demand) is a few aggregate queries: aiosqlite runs them on its own thread and the event loop awaits them, so
no worker thread is tied up and the screen stays live while SQLite counts. The connection is opened read-only
(``mode=ro``): the census can never change the live graph.

Bulk work (backup, plan, restore) uses plain sqlite3 in thread workers instead: one executemany per large
transaction is as fast there, while every awaited aiosqlite call costs a thread hop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite


@dataclass
class GraphCensus:
    exists: bool
    nodes: int = 0
    edges: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    edge_types: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def read_only_uri(path: Path) -> str:
    """A ``file:`` URI that opens ``path`` read-only; ``?``, ``#`` and ``%`` in the path are escaped."""
    return f"{path.resolve().as_uri()}?mode=ro"


async def graph_census(path: Path, *, by_label: bool = False) -> GraphCensus:
    """Node and edge counts (and, if asked, counts per label and edge type) of the live graph."""
    if not path.exists():
        return GraphCensus(exists=False)
    try:
        async with aiosqlite.connect(read_only_uri(path), uri=True) as db:
            await db.execute("PRAGMA busy_timeout = 5000")
            async with db.execute("SELECT (SELECT count(*) FROM Nodes), (SELECT count(*) FROM Edges)") as cur:
                row = await cur.fetchone()
            census = GraphCensus(True, int(row[0]), int(row[1])) if row else GraphCensus(True)
            if by_label:
                async with db.execute(
                    "SELECT json_extract(data, '$.label'), count(*) FROM Nodes GROUP BY 1"
                ) as cur:
                    census.labels = {str(k): int(v) async for k, v in cur}
                async with db.execute("SELECT type, count(*) FROM Edges GROUP BY 1") as cur:
                    census.edge_types = {str(k): int(v) async for k, v in cur}
            return census
    except aiosqlite.Error as exc:
        return GraphCensus(exists=True, error=str(exc))
