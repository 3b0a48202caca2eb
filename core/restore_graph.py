"""Restoring the graph: batches of nodes, then edges, in stream order, each batch one journaled transaction.

A batch is classified inside its own write transaction, against the live rows: an id that exists is skipped
(merge never touches a live row), an edge whose endpoint exists nowhere is an orphan (neo section 4.5), a
filtered label or type is left out. Only the rows found absent are inserted, with `INSERT OR IGNORE`.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from core import graph_store as gs
from core.bundle import substrate_files
from core.errors import ConsoleError, storage_failure
from core.plan import FilterStats
from core.progress import Ticker, check_cancel
from core.records import F_CRC, F_DATA, F_ID, F_LABEL, F_LINE, F_PATH, F_SOURCE, F_TARGET, F_USER, GraphLine
from core.restore_model import (
    EdgeTypeCount,
    GraphOutcome,
    LabelCount,
    NodeEdgeCounts,
    RowCount,
    RunState,
    raise_storage_failure,
)
from core.scan import graph_batches

# Rows per SQLite transaction. 20k keeps peak memory flat in the bundle's size (one batch of parsed rows is
# the biggest thing held; at 50k, allocator fragmentation across batches grew the 1M-row peak by ~30%),
# costs about nothing in throughput against 50k, and holds the write lock for well under a second.
GRAPH_WRITE_BATCH = 20_000
NODE_TALLIES = ("inserted", "skippedExisting", "failed", "filtered")
EDGE_TALLIES = (*NODE_TALLIES, "orphaned")
Tally = dict[str, Counter[str]]  # what happened -> label or type -> rows


class _RowFailed(Exception):
    """A row of a batch's executemany raised: redo the batch row by row."""


class GraphCounters:
    """Running per-label / per-type counts: the live view's `counters` and the result's breakdown."""

    def __init__(self) -> None:
        self.nodes: defaultdict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(NODE_TALLIES, 0))
        self.edges: defaultdict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(EDGE_TALLIES, 0))

    def merge(self, tally: Tally, kind: str) -> None:
        rows = self.nodes if kind == "nodes" else self.edges
        for what, counter in tally.items():
            for key, n in counter.items():
                rows[key][what] += n

    def snapshot(self) -> dict[str, object]:
        return {"nodes": {k: dict(v) for k, v in self.nodes.items()},
                "edges": {k: dict(v) for k, v in self.edges.items()}}

    def total(self, kind: str) -> RowCount:
        rows = (self.nodes if kind == "nodes" else self.edges).values()
        return RowCount(inserted=sum(r["inserted"] for r in rows), skipped_existing=sum(r["skippedExisting"] for r in rows),
                        failed=sum(r["failed"] for r in rows))

    def filter_stats(self) -> FilterStats:
        return FilterStats(filtered_nodes=sum(r["filtered"] for r in self.nodes.values()),
                           filtered_edges=sum(r["filtered"] for r in self.edges.values()),
                           orphan_edges=sum(r["orphaned"] for r in self.edges.values()),
                           accepted_nodes=sum(r["inserted"] + r["skippedExisting"] + r["failed"]
                                              for r in self.nodes.values()))

    def by_label(self) -> dict[str, LabelCount]:
        return {k: LabelCount(inserted=v["inserted"], skipped_existing=v["skippedExisting"], failed=v["failed"],
                              filtered=v["filtered"]) for k, v in sorted(self.nodes.items())}

    def by_edge_type(self) -> dict[str, EdgeTypeCount]:
        return {k: EdgeTypeCount(inserted=v["inserted"], skipped_existing=v["skippedExisting"], failed=v["failed"],
                                 filtered=v["filtered"], orphaned=v["orphaned"]) for k, v in sorted(self.edges.items())}


class GraphRestore:
    def __init__(self, state: RunState) -> None:
        self.s = state
        self.gc = GraphCounters()
        self.read_state: int | None = None  # read receipts put back (--preserve-read-state)

    def run(self) -> None:
        s = self.s
        files = substrate_files(s.bundle, "graph")
        conn = gs.connect_for_restore(s.dd.graph_db)
        try:
            if s.replace:
                gs.truncate(conn, keep_read_state=s.opts.preserve_read_state)
            live = gs.LiveIndex(conn)
            total = s.v.verify.counts.get("graph")
            total_bytes = sum(f.stat().st_size for f in files)
            ticker = Ticker("graph", total, s.on_progress)
            done = 0
            for kind, batch in graph_batches(files, GRAPH_WRITE_BATCH, self._bad_line):
                check_cancel(s.cancel)
                if kind == "node":
                    self._batch(conn, live, batch, self._nodes_once)
                else:
                    self._batch(conn, live, batch, self._edges_once)
                done += len(batch)
                # drop the batch before the generator parses the next one: peak memory is one batch, not two
                del batch
                ticker.update(done, bytes_done=int(total_bytes * done / total) if total else 0,
                              counters=self.gc.snapshot())
            ticker.update(done, bytes_done=total_bytes, force=True, counters=self.gc.snapshot())
            if s.replace and s.opts.preserve_read_state:
                self.read_state = gs.reapply_read_state(conn)
        except Exception as exc:
            raise_storage_failure(exc, s.dd.graph_db, "the graph")
            raise
        finally:
            conn.close()
            self._summary(files)  # also when cancelled or failed: what was committed

    def _summary(self, files: list[Path]) -> None:
        nodes, edges = self.gc.total("nodes"), self.gc.total("edges")
        imported = sum(c.inserted + c.skipped_existing + c.failed for c in (nodes, edges))
        self.s.subsystems["graph"] = GraphOutcome(
            message=f"Import batch complete. Successfully ingested {imported} records across {len(files)} file(s).",
            imported=imported, mode=self.s.opts.mode, counts=NodeEdgeCounts(nodes=nodes, edges=edges),
            filter_stats=self.gc.filter_stats(), by_label=self.gc.by_label(), by_edge_type=self.gc.by_edge_type(),
            read_receipts_reapplied=self.read_state)

    def _bad_line(self, path: Path, number: int, reason: str) -> None:
        self.gc.nodes["(unparseable)"]["failed"] += 1
        self.s.fail(path, number, reason)

    def _batch(self, conn: sqlite3.Connection, live: gs.LiveIndex, batch: list[GraphLine],
               once: Callable[[sqlite3.Connection, gs.LiveIndex, list[GraphLine], bool], None]) -> None:
        try:
            once(conn, live, batch, False)
        except _RowFailed:
            once(conn, live, batch, True)

    def _write(self, conn: sqlite3.Connection, kind: str, todo: list[GraphLine], careful: bool) -> dict[int, str]:
        """Insert the rows; -> {index: reason} for rows that failed.

        Fast path: one executemany. If any row raises, `_RowFailed` makes the caller roll the batch back and
        redo it `careful`ly, row by row, so only the bad rows fail. (Not a SAVEPOINT around executemany: with
        one open, SQLite's FK-checked inserts into Edges ran ~15x slower.)
        """
        if not todo:
            return {}
        many: Callable[[], int]
        one: Callable[[int], bool]
        if kind == "nodes":
            nodes: list[gs.NodeRow] = [(r[F_ID], r[F_USER], r[F_DATA]) for r in todo]
            many, one = (lambda: gs.insert_nodes(conn, nodes)), (lambda i: gs.insert_node(conn, nodes[i]))
        else:
            edges: list[gs.EdgeRow] = [(r[F_ID], r[F_USER], r[F_SOURCE], r[F_TARGET], r[F_LABEL], r[F_DATA])
                                       for r in todo]
            many, one = (lambda: gs.insert_edges(conn, edges)), (lambda i: gs.insert_edge(conn, edges[i]))
        if careful:
            failed: dict[int, str] = {}
            for i in range(len(todo)):
                try:
                    if not one(i):
                        failed[i] = "not written (the id appeared concurrently)"
                except sqlite3.Error as exc:
                    if storage_failure(exc):
                        raise
                    failed[i] = f"{type(exc).__name__}: {exc}"
            return failed
        try:
            written = many()
        except sqlite3.Error as exc:
            if storage_failure(exc):  # the disk, not a row: the batch rolls back and the run stops
                raise
            raise _RowFailed from exc
        if written != len(todo):  # impossible inside the write transaction after the existence check
            raise ConsoleError(f"internal: {len(todo)} rows checked absent but {written} written; batch rolled back")
        return {}

    def _finish(self, conn: sqlite3.Connection, tx: gs.Transaction, todo: list[GraphLine], kind: str,
                tally: Tally, careful: bool) -> int | None:
        """Write, journal (pending before COMMIT, marker after); -> the journal's batch number."""
        failed = self._write(conn, kind, todo, careful)
        if failed:
            for i, why in failed.items():
                self.s.fail(todo[i][F_PATH], todo[i][F_LINE], why)
            tally["failed"].update(todo[i][F_LABEL] for i in failed)
            todo = [r for i, r in enumerate(todo) if i not in failed]
        tally["inserted"].update(r[F_LABEL] for r in todo)
        journal = self.s.journal
        if journal is None or not todo:
            return None
        pairs = [(r[F_ID], r[F_CRC]) for r in todo]
        b = journal.pending("graph", nodes=pairs if kind == "nodes" else [], edges=pairs if kind == "edges" else [])
        tx.on_rollback.append(lambda: journal.rolled_back(b))  # COMMIT failed: say the batch never landed
        return b

    def _committed(self, b: int | None) -> None:
        if b is not None and self.s.journal is not None:
            self.s.journal.committed(b)

    def _invalid(self, rows: Sequence[GraphLine], tally: Tally, reason: str) -> None:
        """Records restore cannot write (validation refuses them first; counted, never dropped silently)."""
        for r in rows:
            tally["failed"][r[F_LABEL] or "(invalid)"] += 1
            self.s.fail(r[F_PATH], r[F_LINE], reason)

    def _nodes_once(self, conn: sqlite3.Connection, live: gs.LiveIndex, batch: list[GraphLine], careful: bool) -> None:
        fl = self.s.opts.filters.labels
        tally: Tally = defaultdict(Counter)
        invalid: list[GraphLine] = []
        with gs.transaction(conn) as tx:
            existing = live.nodes([r[F_ID] for r in batch if r[F_ID] is not None and r[F_LABEL] not in fl])
            todo: list[GraphLine] = []
            filtered: list[str] = []
            skipped: list[str] = []
            seen: set[str] = set()
            for r in batch:
                rid = r[F_ID]
                if rid is None:
                    invalid.append(r)
                elif r[F_LABEL] in fl:
                    filtered.append(r[F_LABEL])
                elif rid in existing or rid in seen:
                    skipped.append(r[F_LABEL])  # live, or an earlier occurrence in this bundle went in
                else:
                    seen.add(rid)
                    todo.append(r)
            tally["filtered"].update(filtered)
            tally["skippedExisting"].update(skipped)
            b = self._finish(conn, tx, todo, "nodes", tally, careful)
        self._committed(b)
        self._invalid(invalid, tally, "node has no id")
        self.gc.merge(tally, "nodes")

    def _edges_once(self, conn: sqlite3.Connection, live: gs.LiveIndex, batch: list[GraphLine], careful: bool) -> None:
        ft = self.s.opts.filters.edge_types
        tally: Tally = defaultdict(Counter)
        invalid: list[GraphLine] = []
        with gs.transaction(conn) as tx:
            cand = [r for r in batch if r[F_ID] is not None and r[F_LABEL] not in ft]
            # Nodes precede edges, so "exists in Nodes now" is exactly neo's validEndpointIds: accepted backup
            # nodes (inserted, or already live) plus live nodes. Checked inside the write transaction.
            endpoints = live.nodes(list({str(e) for r in cand for e in (r[F_SOURCE], r[F_TARGET])}))
            existing = live.edges([str(r[F_ID]) for r in cand])
            todo: list[GraphLine] = []
            filtered: list[str] = []
            orphaned: list[str] = []
            skipped: list[str] = []
            seen: set[str] = set()
            for r in batch:
                rid = r[F_ID]
                if rid is None:
                    invalid.append(r)
                elif r[F_LABEL] in ft:
                    filtered.append(r[F_LABEL])
                elif r[F_SOURCE] not in endpoints or r[F_TARGET] not in endpoints:
                    orphaned.append(r[F_LABEL])
                elif rid in existing or rid in seen:
                    skipped.append(r[F_LABEL])
                else:
                    seen.add(rid)
                    todo.append(r)
            tally["filtered"].update(filtered)
            tally["orphaned"].update(orphaned)
            tally["skippedExisting"].update(skipped)
            b = self._finish(conn, tx, todo, "edges", tally, careful)
        self._committed(b)
        self._invalid(invalid, tally, "edge needs source, target and type")
        self.gc.merge(tally, "edges")


def restore_graph(state: RunState) -> None:
    GraphRestore(state).run()
