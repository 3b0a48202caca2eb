"""The plan's graph lines: the one per-line reader, the live id sets, and a second process for a big file.

A big plain graph file is read in two parts at once (the plan's scan is CPU-bound and one Python process runs
on one core): this process reads the first part while a helper process parses the rest, looks its ids up in
the live graph and compares its live lines' content with the live rows, and streams back compact columns in file
order. The caller feeds them through the same aggregation as its own lines, after its own and in order, so every
count is the single-process one. The helper is a fresh interpreter, never a fork: the TUI scans from a thread
of a multi-threaded process.

Wire: frames of ``MAGIC``, a 4-byte length and a JSON array (orjson: the fastest to decode of the formats
measured, pickle and separator-joined columns included, and exact for every string a JSON line can hold): a
`Batch` per batch, ``["end", lines read, bad lines]`` last. A frame that is not one, or a helper that stops
before its end frame, is an error, never a shorter plan.
"""

from __future__ import annotations

import gc
import io
import os
import select
import sqlite3
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from itertools import compress
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from core import graph_store as gs
from core.errors import ConsoleError
from core.helper_process import BOOT, HelperProcess, line_start_at
from core.progress import check_cancel
from core.same_content import differing_lines
from core.scan import BUFFER

SPLIT_BYTES = 32 << 20  # a plain graph file at least this big is read by two processes
# the helper's part starts at the first line start at or after this fraction of the file: this process does more
# per line (every count, every id map), so the helper takes more lines (measured on nodes-then-edges files)
SPLIT_AT = 0.3
MAX_BAD_LINES = 50  # lines that are not graph records, listed; the warning says when there are more
MAGIC = b"rcs1"
HEAD = struct.Struct("<4sI")
MAX_FRAME = 1 << 30
HELD_BYTES = 32 << 20  # of frames the helper holds while the caller is still on its own part
CHILD = BOOT  # the helper's program (a test puts a stand-in here)


class GraphSink(Protocol):
    def nodes(self, ids: list[str], labels: list[str], raws: list[bytes]) -> None: ...
    def edges(self, eids: list[str], types: list[str], srcs: list[str], tgts: list[str], raws: list[bytes]) -> None: ...
    def bad(self, number: int, reason: str) -> None: ...
    def batch_done(self) -> None: ...


def read_records(lines: Iterable[bytes], first: int, batch: int, sink: GraphSink) -> int:
    """Parse each line, pick the fields a plan needs, hand them to ``sink`` in batches of one kind, in file
    order (a batch ends at ``batch`` lines or where the kind changes). -> the number of the last line read.

    This is the hot loop of the plan (1M lines must cost about one JSON parse), so it is written flat."""
    loads = orjson.loads
    ids: list[str] = []
    labels: list[str] = []
    nraws: list[bytes] = []  # each batch's lines, for the ids that turn out to be live
    eids: list[str] = []
    types: list[str] = []
    srcs: list[str] = []
    tgts: list[str] = []
    eraws: list[bytes] = []
    number = first - 1
    for number, raw in enumerate(lines, start=first):
        try:
            obj = loads(raw)
            kind, data = obj["type"], obj["data"]
            if kind == "node":
                nid, label = data["id"], data.get("label")
            elif kind == "edge":
                s, t, et = data["source"], data["target"], data["type"]
                eid = data.get("id") or f"{s}->{t}:{et}"
            else:
                continue  # neo ignores records of another type
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            if raw.strip():
                sink.bad(number, "not a graph record with the fields restore needs")
            continue
        if kind == "node":
            if eids:  # a batch holds one kind: the edges before the first node after them go first
                sink.edges(eids, types, srcs, tgts, eraws)
                eids, types, srcs, tgts, eraws = [], [], [], [], []
            if type(nid) is not str or not nid:
                sink.bad(number, "node has no id")
                continue
            ids.append(nid)
            labels.append(label if type(label) is str else "")
            nraws.append(raw)
            if len(ids) >= batch:
                sink.nodes(ids, labels, nraws)
                ids, labels, nraws = [], [], []
                sink.batch_done()
        else:
            if ids:
                sink.nodes(ids, labels, nraws)
                ids, labels, nraws = [], [], []
            if not (type(s) is str and type(t) is str and type(et) is str and s and t and et):
                sink.bad(number, "edge needs source, target and type")
                continue
            eids.append(eid if type(eid) is str else str(eid))
            types.append(et)
            srcs.append(s)
            tgts.append(t)
            eraws.append(raw)
            if len(eids) >= batch:
                sink.edges(eids, types, srcs, tgts, eraws)
                eids, types, srcs, tgts, eraws = [], [], [], [], []
                sink.batch_done()
    if ids:
        sink.nodes(ids, labels, nraws)
    if eids:
        sink.edges(eids, types, srcs, tgts, eraws)
    return number


def _rowids(conn: sqlite3.Connection, table: str) -> dict[str, int]:
    """Every id of a table with its rowid, from one result row split in C (a row per id hands the GIL over on
    every row); a table holding an id that is not text without a newline is read row by row."""
    assert table in gs.TABLES
    ids, rowids, n, plain = conn.execute(
        f"SELECT group_concat(id, char(10)), group_concat(rowid), count(*), "
        f"total(typeof(id) = 'text' AND instr(id, char(10)) = 0) FROM {table}").fetchone()
    if not n:
        return {}
    if plain != n:
        return gs.all_rowids(conn, table)
    return dict(zip(ids.split("\n"), map(int, rowids.split(",")), strict=True))


class LiveIds(Mapping[str, "dict[str, int] | None"]):
    """Which ids exist live: a table's ids read once (with their rowids), when first asked, when the live graph
    has at most ``in_memory`` rows, else probed per batch (one bound-parameter query per chunk of ids, about 1 µs
    an id). As a mapping: table -> its ids and rowids, or None when they are probed."""

    def __init__(self, conn: sqlite3.Connection | None, in_memory: int) -> None:
        self.conn = conn
        self.in_memory = conn is not None and sum(gs.counts(conn)) <= in_memory
        self._held: dict[str, dict[str, int]] = {}

    def held(self, table: str) -> dict[str, int] | None:
        if not self.in_memory or self.conn is None:
            return None
        ids = self._held.get(table)
        if ids is None:
            ids = self._held[table] = _rowids(self.conn, table)
        return ids

    __getitem__ = held

    def __iter__(self) -> Iterator[str]:
        return iter(gs.TABLES)

    def __len__(self) -> int:
        return len(gs.TABLES)

    @property
    def nodes(self) -> dict[str, int] | None:
        return self.held(gs.NODES)

    @property
    def edges(self) -> dict[str, int] | None:
        return self.held(gs.EDGES)

    def lives(self, table: str, ids: list[str]) -> list[bool]:
        """Per id of ``ids``: is it live?"""
        held = self.held(table)
        return list(map((held if held is not None else self.present(table, ids)).__contains__, ids))

    def present(self, table: str, ids: list[str]) -> set[str]:
        held = self.held(table)
        if held is not None:
            return held.keys() & ids
        if self.conn is None or not ids:
            return set()
        return gs.present_ids(self.conn, table, ids)


def split_point(path: Path) -> int | None:
    """Where the helper's part of a plain graph file starts (a line start), or None: the file is read whole."""
    size = path.stat().st_size
    if size < max(SPLIT_BYTES, 2):
        return None
    start = line_start_at(path, min(max(int(size * SPLIT_AT), 1), size))
    return start if 0 < start < size else None


class _Head(io.RawIOBase):
    def __init__(self, raw: io.FileIO, left: int) -> None:
        super().__init__()
        self._raw, self._left = raw, left

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._raw.readinto(memoryview(b)[:self._left]) if self._left > 0 else 0
        self._left -= n or 0
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_head(path: Path, stop: int) -> io.BufferedReader:
    """The first ``stop`` bytes of a file, buffered (``stop`` is a line start: the last line is whole)."""
    return io.BufferedReader(_Head(io.FileIO(path, "rb"), stop), BUFFER)


class Helper:
    """The helper process reading a file from ``start`` to its end: its batches, checked, in file order."""

    def __init__(self, path: Path, start: int, graph_db: Path, batch: int, in_memory: int) -> None:
        self.path = path
        self.helper = HelperProcess("core.scan_split:child_main",
                                    [str(path), str(start), str(graph_db), str(batch), str(in_memory)], program=CHILD)
        self.proc = self.helper.proc
        self.fd = self.helper.stdout.fileno()
        self.ready = select.poll()  # not select(): a long-running console may hold more than 1024 descriptors
        self.ready.register(self.fd, select.POLLIN)
        self.buf = bytearray()
        self.bad: list[tuple[int, str]] = []  # bad lines after the last batch
        self.lines = 0  # lines the helper read
        self.ended = False  # its end frame came

    def close(self) -> None:
        """Stop the helper (it is done, or its work is no longer wanted) and reap it."""
        self.helper.close(wait=2 if self.ended else 0)  # it exits right after its end frame

    def _failed(self, what: str, *, ending: bool = False) -> ConsoleError:
        """The error naming the file, with the helper's exit code and last word (``ending``: it closed its end of
        the pipe, so it is exiting: its own exit code is waited for)."""
        code, said = self.helper.exit_code(wait=2 if ending else 0), self.helper.last_word()
        return ConsoleError(f"the plan's helper process reading the last part of this file {what} (exit code "
                            f"{code}{': ' + said if said else ''})", path=self.path)

    def _fill(self, need: int, cancel: threading.Event | None) -> None:
        while len(self.buf) < need:
            check_cancel(cancel)
            if not self.ready.poll(100):
                continue
            chunk = os.read(self.fd, max(need - len(self.buf), 1 << 20))
            if not chunk:
                raise self._failed("stopped before the end of its part", ending=True)
            self.buf += chunk

    def batches(self, cancel: threading.Event | None) -> Iterator[Batch]:
        """The helper's batches, in file order."""
        while True:
            self._fill(HEAD.size, cancel)
            magic, n = HEAD.unpack_from(self.buf)
            if magic != MAGIC or n > MAX_FRAME:
                raise self._failed("sent something that is not a frame")
            self._fill(HEAD.size + n, cancel)
            body = bytes(memoryview(self.buf)[HEAD.size:HEAD.size + n])
            del self.buf[:HEAD.size + n]
            try:
                frame = orjson.loads(body)
            except orjson.JSONDecodeError:
                frame = None
            if not _well_formed(frame):
                raise self._failed("sent a frame that is not a batch")
            if frame[0] == "end":
                self.lines, self.bad = frame[1], [(int(k), str(r)) for k, r in frame[2]]
                self.ended = True
                return
            yield Batch(frame[0], frame[1:-4], *frame[-4:])


def _well_formed(frame: Any) -> bool:
    if type(frame) is not list or not frame:
        return False
    width = {"n": 7, "e": 9, "end": 3}.get(frame[0]) if type(frame[0]) is str else None
    if width is None or len(frame) != width:
        return False
    if frame[0] == "end":
        return type(frame[1]) is int and type(frame[2]) is list
    columns, (lives, differ, again, bad) = frame[1:-4], frame[-4:]
    n = len(lives) if type(lives) is list else -1
    return (n > 0 and all(type(c) is list and len(c) == n for c in columns) and type(differ) is list
            and all(type(i) is int and 0 <= i < n for i in differ) and type(again) is bool and type(bad) is list)


class Batch(NamedTuple):
    """One batch of the helper's: ``columns`` are (ids, labels) of nodes or (ids, types, sources, targets) of
    edges; ``lives``: which ids are live; ``differ``: positions of the live lines whose content is not their live
    row's; ``again``: an edge id of the batch may have come earlier in the helper's part (False: none did);
    ``bad``: (line, reason) of the lines before it that are not graph records, numbered from the helper's first."""

    kind: str  # "n" or "e"
    columns: list[list[str]]
    lives: list[bool]
    differ: list[int]
    again: bool
    bad: list[list[Any]]


class _Batches:
    """The helper's side: each batch's live flags, and the positions of its live lines that differ from their
    live rows (compared on a thread, on its own connection, while the next batch is parsed), sent in order."""

    def __init__(self, live: LiveIds, conn: sqlite3.Connection | None, pool: ThreadPoolExecutor,
                 send: Callable[[bytes], None]) -> None:
        self.live, self.conn, self.pool, self.send = live, conn, pool, send
        self.waiting: deque[tuple[list[Any], Future[list[int]] | None, list[Any]]] = deque()
        self.bad_lines: list[list[Any]] = []
        self.n_bad = 0
        self.seen: set[int] = set()  # the hashes of the edge ids so far (a collision only costs the caller time)

    def nodes(self, ids: list[str], labels: list[str], raws: list[bytes]) -> None:
        self._batch(gs.NODES, ["n", ids, labels], raws, False)

    def edges(self, eids: list[str], types: list[str], srcs: list[str], tgts: list[str], raws: list[bytes]) -> None:
        before = len(self.seen)
        self.seen.update(map(hash, eids))
        self._batch(gs.EDGES, ["e", eids, types, srcs, tgts], raws, len(self.seen) - before != len(eids))

    def _batch(self, table: str, columns: list[Any], raws: list[bytes], again: bool) -> None:
        ids = columns[1]
        lives = self.live.lives(table, ids)
        live_at = [*compress(range(len(ids)), lives)]
        asked = self.pool.submit(differing_lines, self.conn, table, ids, raws, live_at, self.live.held(table)) \
            if live_at and self.conn is not None else None
        self.waiting.append(([*columns, lives], asked, [again, self.bad_lines]))
        self.bad_lines = []
        while len(self.waiting) > 1:
            self._send_one()

    def _send_one(self) -> None:
        frame, asked, tail = self.waiting.popleft()
        self.send(orjson.dumps([*frame, asked.result() if asked is not None else [], *tail]))

    def bad(self, number: int, reason: str) -> None:
        if self.n_bad < MAX_BAD_LINES:
            self.bad_lines.append([number, reason])
            self.n_bad += 1

    def batch_done(self) -> None:
        return None

    def settle(self, lines: int) -> None:
        while self.waiting:
            self._send_one()
        self.send(orjson.dumps(["end", lines, self.bad_lines]))


class _Outbox:
    """Frames waiting for the pipe: at most ``limit`` bytes of them (a bigger frame waits alone)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.held, self.frames = limit, 0, deque[bytes | None]()
        self.changed = threading.Condition()

    def put(self, frame: bytes | None) -> None:
        size = len(frame or b"")
        with self.changed:
            self.changed.wait_for(lambda: not self.frames or self.held + size <= self.limit)
            self.frames.append(frame)
            self.held += size
            self.changed.notify_all()

    def get(self) -> bytes | None:
        with self.changed:
            self.changed.wait_for(lambda: self.frames)
            frame = self.frames.popleft()
            self.held -= len(frame or b"")
            self.changed.notify_all()
            return frame


def _write_all(fd: int, data: bytes) -> None:
    """Every byte, however many writes it takes (a stopped and continued process's pipe write returns short;
    sys.stdout's buffered writer was seen to drop the rest of a frame then)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def child_main(argv: Sequence[str]) -> None:
    """The helper process: ``path start graph_db batch in_memory``; frames on stdout."""
    path, start, graph_db, batch, in_memory = Path(argv[0]), int(argv[1]), Path(argv[2]), int(argv[3]), int(argv[4])
    gc.disable()  # nothing here makes cycles; the collector would walk every batch's objects again and again
    out = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not land between frames
    frames = _Outbox(HELD_BYTES)

    def write() -> None:  # on a thread: the parse goes on while the caller is still busy with its own part
        try:
            while (frame := frames.get()) is not None:
                _write_all(out, HEAD.pack(MAGIC, len(frame)))
                _write_all(out, frame)
        except BaseException:  # the caller is gone (a closed pipe): nothing is left to do
            os._exit(1)

    writer = threading.Thread(target=write, name="plan-helper-writer", daemon=True)
    writer.start()
    with ExitStack() as stack:
        conn, differs_conn = gs.open_live(graph_db), gs.open_live(graph_db)
        for c in (conn, differs_conn):
            if c is not None:
                stack.callback(c.close)
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="plan-helper-differs"))
        sink = _Batches(LiveIds(conn, in_memory), differs_conn, pool, frames.put)
        with open(path, "rb", buffering=BUFFER) as fh:
            fh.seek(start)
            lines = read_records(fh, 1, batch, sink)
        sink.settle(lines)
    frames.put(None)
    writer.join()
    os._exit(0)  # everything is written: no interpreter teardown for the caller to wait for
