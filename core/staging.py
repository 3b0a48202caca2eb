"""A restore's staging pass: every bundle graph line, parsed once by validation, written to a staging file the
merge then reads (`core.graph_staging`). A large plain graph file is validated and staged in two halves at once:
this process reads the first half while a helper process reads the second into a staging file of its own, so
the one pass that parses every line runs on two cores. Lines keep their stream order: the first half's
chunks merge before the second's, exactly as if one process had read the file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from core import graph_staging as stg
from core.codec import PLAIN, payload_encoding
from core.datadir import DataDir
from core.errors import ConsoleError, StorageFailed, storage_error
from core.helper_process import BOOT, HelperProcess, line_start_at
from core.plan import Filters
from core.progress import check_cancel
from core.records import F_ID, F_LABEL, F_SOURCE, F_TARGET, F_USER, graph_row
from core.verify_lines import Finding, HalfReport, check_half

STAGE_ROWS = 10_000  # parsed lines per staging insert: the biggest thing the staging pass holds
_BINDABLE = (str, int, float, type(None))
# A plain graph file at least this large is read in two halves at once. Below it a helper's start (a Python
# interpreter and the imports, ~0.2 s of the other core) would cost about what it saves.
SPLIT_MIN_BYTES = int(os.environ.get("RECOVERY_CONSOLE_SPLIT_MIN_BYTES", 32 << 20))
_HELPER = BOOT  # the helper's program (a test puts a stand-in here)


def staging_path(dd: DataDir) -> Path:
    """Where a restore stages the bundle's graph: in the data dir (the live DB's filesystem), owner-only."""
    return dd.state_dir / "staging" / "graph.sqlite"


def _half_path(first: Path) -> Path:
    return first.with_name("graph-2.sqlite")


def drop_stale_staging(dd: DataDir) -> None:
    """A run killed mid-restore leaves its staging files behind: the next run removes them (under the lock)."""
    stg.drop_staging(staging_path(dd))
    stg.drop_staging(_half_path(staging_path(dd)))


@dataclass
class StagingPart:
    """One staging file: the schema the merge attaches it under, and its runs of one kind [kind, first, last]."""

    schema: str
    path: Path
    segments: list[list[int]] = field(default_factory=list)


class GraphStaging:
    """The bundle's graph lines, parsed once and written to staging in stream order.

    `add` is the verify pass's graph sink: it receives every graph line verify parsed (kind, the `data` object,
    and the `data` bytes exactly as the line holds them, or None when the line is not in neo's shape).
    `split` is its offer to read a large file's second half in a helper process.
    """

    def __init__(self, path: Path, bundle: Path, filters: Filters, *, first_seq: int = 1) -> None:
        self.path = path
        self.bundle = bundle
        self.labels_out, self.types_out = filters.labels, filters.edge_types
        self.files: list[Path] = []
        self._file_index: dict[Path, int] = {}
        self.parts = [StagingPart(stg.SCHEMAS[0], path)]
        self.segments = self.parts[0].segments  # this process's runs
        self.lines = 0  # lines staged, in every part
        self._seq = first_seq - 1
        self._rows: list[stg.StagedRow] = []
        self._conn: sqlite3.Connection | None = None
        with self._storage():
            self._conn = stg.create_staging(self.path)

    @classmethod
    def for_restore(cls, dd: DataDir, bundle: Path, filters: Filters) -> GraphStaging:
        return cls(staging_path(dd), bundle, filters)

    @contextmanager
    def _storage(self) -> Iterator[None]:
        """A full disk (or an I/O error) while staging is one error naming the staging file; nothing live
        has been written yet."""
        try:
            yield
        except Exception as exc:
            disk = storage_error(exc, self.path, "staging the bundle's graph before the first write; nothing was "
                                 "written: free space in the data dir, then run the same restore again")
            if disk is not None:
                raise disk from exc
            raise

    @property
    def last_seq(self) -> int:
        return self._seq

    def file_index(self, path: Path) -> int:
        index = self._file_index.get(path)
        if index is None:
            index = self._file_index[path] = len(self.files)
            self.files.append(path)
        return index

    def add(self, path: Path, number: int, kind: str, data: dict[str, object], text: bytes | None) -> None:
        raw = text if text is not None else orjson.dumps(data)
        row = graph_row(kind, data, "", zlib.crc32(raw), path, number)  # `data` is staged as `raw`: no decode
        k = 0 if kind == "node" else 1
        rid, label, user = row[F_ID], row[F_LABEL], row[F_USER]
        reason = None
        if rid is None:
            st, reason = stg.STAGED_INVALID, "node has no id" if k == 0 else "edge needs source, target and type"
        elif not isinstance(user, _BINDABLE) or (type(user) is int and not -(1 << 63) <= user < (1 << 63)):
            st, reason = stg.STAGED_INVALID, f"user id of type {type(user).__name__} cannot be stored"
        elif label in (self.labels_out if k == 0 else self.types_out):
            st = stg.STAGED_FILTERED
        else:
            st = stg.STAGED_OK
        index = self._file_index.get(path)
        if index is None:
            index = self.file_index(path)
        self.lines += 1
        self._seq += 1
        seq = self._seq
        if self.segments and self.segments[-1][0] == k:
            self.segments[-1][2] = seq
        else:
            self.segments.append([k, seq, seq])
        self._rows.append((seq, k, st, rid, user if st != stg.STAGED_INVALID else None, row[F_SOURCE], row[F_TARGET],
                           label, raw, row[6], index, number, reason))
        if len(self._rows) >= STAGE_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._rows and self._conn is not None:
            with self._storage():
                stg.stage(self._conn, self._rows)
            self._rows.clear()

    def finish(self) -> None:
        """Every line staged and the files closed: ready for the merge to attach."""
        self.flush()
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def remove(self) -> None:
        self._close()
        for part in self.parts:
            stg.drop_staging(part.path)
        stg.drop_staging(_half_path(self.path))  # a helper's file whose report never came

    def chunks(self, size: int) -> list[tuple[int, int, int, str]]:
        """(kind, first seq, last seq, schema) of every merge chunk, in stream order: consecutive lines of one
        kind in one staging file, at most `size`."""
        return [(k, a, min(hi, a + size - 1), part.schema) for part in self.parts
                for k, lo, hi in part.segments for a in range(lo, hi + 1, size)]

    def split(self, path: Path) -> SecondHalf | None:
        """The verify pass's offer (`core.verify_lines.GraphSplit`): a plain graph file large enough, its second
        half validated and staged by a helper process, started now; else None (also when no interpreter can be
        started: one process reads it all)."""
        if payload_encoding(path.name) not in (None, PLAIN) or len(self.parts) > 1:
            return None
        size = path.stat().st_size
        if size < SPLIT_MIN_BYTES:
            return None
        offset = line_start_at(path, size // 2)
        if offset >= size:
            return None
        part = StagingPart(stg.SCHEMAS[1], _half_path(self.path))
        try:
            half = SecondHalf(self, part, path, offset, _lines_before(path, offset) + 1)
        except OSError:
            return None
        self.parts.append(part)
        return half


def _lines_before(path: Path, offset: int) -> int:
    """The lines of a file before byte ``offset`` (a line start), counted in blocks."""
    newlines = 0
    with open(path, "rb") as fh:
        while offset > 0 and (block := fh.read(min(offset, 1 << 20))):
            newlines += block.count(b"\n")
            offset -= len(block)
    return newlines


class SecondHalf:
    """A helper process validating and staging a graph file from ``first_line`` on (`core.verify_lines.GraphHalf`).

    Its staged lines are numbered after every line this process can stage before them (a line number is an upper
    bound on the lines before it), so the two parts' sequence numbers never interleave."""

    def __init__(self, owner: GraphStaging, part: StagingPart, path: Path, offset: int, first_line: int) -> None:
        self.owner, self.part, self.path, self.first_line = owner, part, path, first_line
        stg.drop_staging(part.path)
        args = {"bundle": str(owner.bundle), "file": str(path), "offset": offset, "firstLine": first_line,
                "staging": str(part.path), "firstSeq": owner.last_seq + first_line, "fileIndex": owner.file_index(path),
                "labelsOut": sorted(owner.labels_out), "typesOut": sorted(owner.types_out)}
        self.helper = HelperProcess("core.staging:stage_half_main", [orjson.dumps(args).decode()], program=_HELPER)

    def report(self, cancel: threading.Event | None) -> HalfReport:
        proc = self.helper.proc
        while True:
            check_cancel(cancel)
            try:
                out, _ = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                continue
        try:
            got = orjson.loads(out)
        except orjson.JSONDecodeError:
            got = None
        if not isinstance(got, dict) or proc.returncode != 0:
            said = self.helper.last_word()
            raise ConsoleError(f"the helper process validating the second half of {self.path.name} (from line "
                               f"{self.first_line}) exited with status {proc.returncode}"
                               f"{': ' + said if said else ''}; nothing was written", path=self.path)
        if "storage" in got:
            raise StorageFailed(str(got["message"]), code=str(got["storage"]), path=got.get("path") or None)
        if "error" in got:
            raise ConsoleError(f"validating the second half of {self.path.name} failed: {got['error']}; nothing "
                               "was written", path=self.path)
        self.part.segments[:] = got["segments"]
        self.owner.lines += int(got["lines"])
        return HalfReport(dict(got["counts"]), [Finding(**f) for f in got["errors"]],
                          [Finding(**f) for f in got["warnings"]])

    def close(self) -> None:
        """Stop the helper if it still runs (a cancel, a failure in this process); its file goes with the
        staging's."""
        self.helper.close()


def _finding(f: Finding) -> dict[str, object]:
    return {"code": f.code, "message": f.message, "file": f.file, "line": f.line, "substrate": f.substrate}


def stage_half_main(argv: list[str]) -> None:
    """The helper process (`core.helper_process`): its task in ``argv``; validate and stage the half, report on
    stdout."""
    args = orjson.loads(argv[0])
    path = Path(args["file"])
    out: dict[str, object]
    try:
        staging = GraphStaging(Path(args["staging"]), Path(args["bundle"]),
                               Filters.of(args["labelsOut"], args["typesOut"]), first_seq=args["firstSeq"])
        staging._file_index[path] = int(args["fileIndex"])
        report = check_half(Path(args["bundle"]), path, int(args["offset"]), int(args["firstLine"]), staging.add)
        staging.finish()
        out = {"counts": report.counts, "errors": [_finding(f) for f in report.errors],
               "warnings": [_finding(f) for f in report.warnings], "segments": staging.segments,
               "lines": staging.lines}
    except StorageFailed as exc:
        out = {"storage": exc.code, "message": exc.reason, "path": exc.path}
    except Exception as exc:  # reported to the restore, which refuses with it
        out = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.buffer.write(orjson.dumps(out))
