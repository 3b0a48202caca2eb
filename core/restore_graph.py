"""Restoring the graph: every line is parsed once, during validation, into a staging table; the merge then
writes it in chunks of consecutive lines, each chunk one journaled transaction, in stream order.

The staging pass (`core.staging.GraphStaging`, fed line by line by `verify_bundle`) extracts what the merge needs (id, label
or type, user id, endpoints, the `data` text exactly as the bundle holds it, its CRC) and marks the lines a
filter leaves out and those restore cannot write. Nothing live is touched until validation has passed.

A chunk is classified and written inside its own write transaction, against the live rows, by SQLite itself
(`core.graph_store.merge_staged`): an id that exists is skipped (merge never touches a live row), an edge whose
endpoint exists nowhere is an orphan (neo section 4.5), the first occurrence of an id in the bundle wins. The
journal records the ids the statement returned (exactly the rows it inserted), before the COMMIT.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import compress
from operator import not_
from pathlib import Path

from core import graph_staging as stg
from core import graph_store as gs
from core.bundle import substrate_files
from core.errors import storage_failure
from core.memory import release_freed_memory
from core.plan import FilterStats
from core.progress import Ticker, check_cancel
from core.restore_model import (
    EdgeTypeCount,
    GraphOutcome,
    LabelCount,
    NodeEdgeCounts,
    RowCount,
    RunState,
    raise_storage_failure,
)
from core.staging import GraphStaging

# Lines per merge transaction (one INSERT … SELECT each). Large enough that SQLite sorts a real run of keys
# before it walks the B-trees, small enough that a cancel is honoured within about a second and the ids a
# chunk returns stay a few MB.
GRAPH_WRITE_BATCH = 100_000
NODE_TALLIES = ("inserted", "skippedExisting", "failed", "filtered")
EDGE_TALLIES = (*NODE_TALLIES, "orphaned")
Tally = dict[str, Counter[str]]  # what happened -> label or type -> rows


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


class _Checkpoints:
    """The WAL's checkpoints on a connection and a thread of their own, beside the merge: copying a committed
    chunk's pages into the database file (and its fsync) then overlaps the next chunk's insert instead of
    stalling its COMMIT, as the writer's automatic checkpoint would. PASSIVE: it never waits for a lock, and a
    checkpoint is safe to interrupt at any point (the WAL keeps every committed page until it is copied)."""

    def __init__(self, writer: sqlite3.Connection, path: Path) -> None:
        writer.execute("PRAGMA wal_autocheckpoint = 0")  # this connection only: neo's keep their own
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="graph-checkpoint")
        self._pending: Future[object] | None = None

    def after_commit(self) -> None:
        if self._pending is None or self._pending.done():
            self._pending = self._pool.submit(self._checkpoint)

    def _checkpoint(self) -> object:
        return self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.exception()  # a checkpoint that failed leaves the WAL as it was: nothing is lost
        self._pool.shutdown()
        self._conn.close()


class GraphRestore:
    def __init__(self, state: RunState, staging: GraphStaging) -> None:
        self.s = state
        self.staging = staging
        self.gc = GraphCounters()
        self.read_state: int | None = None  # read receipts put back (--preserve-read-state)

    def run(self) -> None:
        s = self.s
        files = substrate_files(s.bundle, "graph")
        conn = gs.connect_for_restore(s.dd.graph_db)
        checkpoints = _Checkpoints(conn, s.dd.graph_db)
        try:
            if s.replace:
                gs.truncate(conn, keep_read_state=s.opts.preserve_read_state)
            stg.merge_connection(conn)
            for part in self.staging.parts:
                stg.attach_staging(conn, part.path, part.schema)  # closing the connection detaches it
            total = self.staging.lines
            total_bytes = sum(f.stat().st_size for f in files)
            ticker = Ticker("graph", total, s.on_progress)
            done = 0
            for kind, lo, hi, schema in self.staging.chunks(GRAPH_WRITE_BATCH):
                check_cancel(s.cancel)
                try:
                    self._chunk(conn, kind, lo, hi, schema)
                except sqlite3.Error as exc:
                    if storage_failure(exc):  # the disk, not a row: the chunk rolled back and the run stops
                        raise
                    self._careful(conn, kind, lo, hi, schema)  # isolate the rows the database refuses
                checkpoints.after_commit()
                release_freed_memory()  # else the chunks' short-lived allocations ratchet the peak RSS up
                done += hi - lo + 1
                ticker.update(done, bytes_done=int(total_bytes * done / total) if total else 0,
                              counters=self.gc.snapshot())
            ticker.update(done, bytes_done=total_bytes, force=True, counters=self.gc.snapshot())
            if s.replace and s.opts.preserve_read_state:
                self.read_state = gs.reapply_read_state(conn)
        except Exception as exc:
            raise_storage_failure(exc, s.dd.graph_db, "the graph")
            raise
        finally:
            checkpoints.close()
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

    def _fail(self, file: int, line: int, reason: str) -> None:
        self.s.fail(self.staging.files[file], line, reason)

    def _journal(self, tx: gs.Transaction, kind: int, pairs: list[tuple[str, int]]) -> int | None:
        """The pending record of what the chunk inserted, durable before its COMMIT."""
        journal = self.s.journal
        if journal is None or not pairs:
            return None
        b = journal.pending("graph", nodes=pairs if kind == 0 else [], edges=pairs if kind == 1 else [])
        tx.on_rollback.append(lambda: journal.rolled_back(b))  # COMMIT failed: say the batch never landed
        return b

    def _done(self, b: int | None, tally: Tally, kind: int) -> None:
        if b is not None and self.s.journal is not None:
            self.s.journal.committed(b)
        self.gc.merge(tally, "nodes" if kind == 0 else "edges")

    def _chunk(self, conn: sqlite3.Connection, kind: int, lo: int, hi: int, schema: str) -> None:
        """One transaction: insert the chunk's absent rows, count every line, journal what went in, commit.

        The insert returns the ids it wrote; a line whose id did not come back was already there or (an edge)
        points at a node that exists nowhere: only those edges' endpoints are looked up, in bulk, in the same
        transaction, against the same rows the insert saw. The lines stream past once: an id on several lines
        counts the same that way unless it went in (then only its first writable line did), and a chunk holding
        such an id is counted again, in order, by `_classify`."""
        tally: Tally = defaultdict(Counter)
        failures: list[tuple[int, int, str]] = []
        with gs.transaction(conn) as tx:
            inserted = stg.merge_staged(conn, kind, lo, hi, schema)
            for st, label, file, line, reason in stg.unwritable_lines(conn, lo, hi, schema):  # filtered or invalid
                if st == stg.STAGED_INVALID:
                    tally["failed"][label or "(invalid)"] += 1
                    failures.append((file, line, reason or "cannot be written"))
                else:
                    tally["filtered"][label] += 1
            pairs: list[tuple[str, int]] = []
            later: list[tuple[str, str | None, str | None]] = []  # (type, source, target) of edges not inserted
            for ids, labels, crcs, sources, targets in stg.writable_lines(conn, lo, hi, schema):
                went = [*map(inserted.__contains__, ids)]
                stayed = [*map(not_, went)]
                tally["inserted"].update(compress(labels, went))
                pairs += compress(zip(ids, crcs, strict=True), went)
                if kind == 1:
                    later += compress(zip(labels, sources, targets, strict=True), stayed)
                else:
                    tally["skippedExisting"].update(compress(labels, stayed))
            if len(pairs) > len(inserted):  # an id that went in is on more lines than one: count in order
                tally, failures, pairs = self._classify(conn, kind, lo, hi, schema, inserted)
            elif later:
                exists = gs.present_ids(conn, gs.NODES, list({e for _, s, t in later for e in (s, t) if e}))
                for label, source, target in later:
                    tally["skippedExisting" if source in exists and target in exists else "orphaned"][label] += 1
            b = self._journal(tx, kind, pairs)
        for failure in failures:
            self._fail(*failure)
        self._done(b, tally, kind)

    def _classify(self, conn: sqlite3.Connection, kind: int, lo: int, hi: int, schema: str, inserted: set[str]
                  ) -> tuple[Tally, list[tuple[int, int, str]], list[tuple[str, int]]]:
        """Every line of a chunk that carries an id more than once, in stream order: the first writable line of
        an id is the one that went in; an edge line whose id did not go in, or is repeated, is an orphan when an
        endpoint exists nowhere."""
        tally: Tally = defaultdict(Counter)
        failures: list[tuple[int, int, str]] = []
        lines = list(stg.staged_lines(conn, lo, hi, schema))
        cand: list[stg.StagedLine] = []
        seen: dict[str | None, int] = {}  # id -> lines of this chunk that carry it
        for line in lines:
            st = line[0]
            if st == stg.STAGED_INVALID:
                tally["failed"][line[2] or "(invalid)"] += 1
                failures.append((line[4], line[5], line[6] or "cannot be written"))
            elif st == stg.STAGED_FILTERED:
                tally["filtered"][line[2]] += 1
            else:
                cand.append(line)
                seen[line[1]] = seen.get(line[1], 0) + 1
        exists: set[str] = set()
        if kind == 1:  # endpoints of the edges that did not go in (and of every line of a repeated id)
            ask = {e for c in cand if c[1] not in inserted or seen[c[1]] > 1 for e in (c[7], c[8]) if e}
            exists = gs.present_ids(conn, gs.NODES, list(ask)) if ask else set()
        pairs: list[tuple[str, int]] = []
        placed: set[str | None] = set()  # ids whose writable first line has been counted
        for _st, rid, label, crc, _file, _line, _reason, source, target in cand:
            if kind == 1 and (rid not in inserted or seen[rid] > 1) and not (source in exists and target in exists):
                tally["orphaned"][label] += 1
            elif rid in placed or rid not in inserted:
                tally["skippedExisting"][label] += 1  # live, or an earlier line of the bundle went in
                placed.add(rid)
            else:
                assert rid is not None
                placed.add(rid)
                tally["inserted"][label] += 1
                pairs.append((rid, crc))
        return tally, failures, pairs

    def _careful(self, conn: sqlite3.Connection, kind: int, lo: int, hi: int, schema: str) -> None:
        """The chunk row by row, so only the rows the database refuses fail (the fast statement raised)."""
        tally: Tally = defaultdict(Counter)
        failures: list[tuple[int, int, str]] = []
        with gs.transaction(conn) as tx:
            pairs: list[tuple[str, int]] = []
            for (_seq, _k, st, rid, user, source, target, label, data, crc, file, line,
                 reason) in stg.staged_rows(conn, lo, hi, schema):
                if st == stg.STAGED_INVALID or rid is None:
                    tally["failed"][label or "(invalid)"] += 1
                    failures.append((file, line, reason or "cannot be written"))
                    continue
                if st == stg.STAGED_FILTERED:
                    tally["filtered"][label] += 1
                    continue
                if kind == 1 and not (source and target and stg.node_exists(conn, source)
                                      and stg.node_exists(conn, target)):
                    tally["orphaned"][label] += 1
                    continue
                try:
                    written = (gs.insert_node(conn, (rid, user, data)) if kind == 0 else
                               gs.insert_edge(conn, (rid, user, source, target, label, data)))
                except sqlite3.Error as exc:
                    if storage_failure(exc):
                        raise
                    tally["failed"][label] += 1
                    failures.append((file, line, f"{type(exc).__name__}: {exc}"))
                    continue
                if written:
                    tally["inserted"][label] += 1
                    pairs.append((rid, crc))
                else:
                    tally["skippedExisting"][label] += 1
            b = self._journal(tx, kind, pairs)
        for failure in failures:
            self._fail(*failure)
        self._done(b, tally, kind)


def restore_graph(state: RunState, staging: GraphStaging) -> None:
    GraphRestore(state, staging).run()
