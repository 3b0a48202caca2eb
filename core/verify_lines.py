"""Checking every line of a bundle's payload files, one line at a time: what `verify` says of each line (and what
a restore's staging receives of each graph line), including a graph file's second half checked elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import ClassVar, Protocol

import orjson

from core.codec import PayloadUnreadable
from core.jsonl import is_finite_vector, loads_lenient
from core.progress import Ticker, check_cancel, no_progress
from core.records import EDGE_PREFIX, NODE_PREFIX
from core.restorability import substrate_of
from core.scan import BUFFER, iter_numbered
from core.wire import wire

MAX_FINDINGS = 50
# A restore's graph sink: every graph line verify parsed, as (file, line number, "node" | "edge", the data
# object, the data bytes exactly as the line holds them or None when the line is not in neo's shape).
GraphSink = Callable[[Path, int, str, dict[str, object], bytes | None], None]


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    # the recovery substrate the fault spoils when ``file`` does not say it (a count in the meta); else the file's
    substrate: str | None = field(default=None, metadata=wire(skip=True))

    __wire__: ClassVar = ("code", "message", "file", "line", "text")

    @property
    def spoils(self) -> str:
        """The recovery substrate this fault makes unrestorable, or restorability.WHOLE_BUNDLE."""
        return self.substrate or substrate_of(self.file)

    @property
    def text(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else (f"{self.file}: " if self.file else "")
        return f"{where}{self.message}"

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class HalfReport:
    """What checking the second half of a graph file found: counts by category, faults in line order."""

    counts: dict[str, int]
    errors: list[Finding]
    warnings: list[Finding]


class GraphHalf(Protocol):
    """The second half of a graph file, from line ``first_line`` on, checked (and staged) by a helper process
    while this one reads the lines before it."""

    first_line: int

    def report(self, cancel: threading.Event | None) -> HalfReport: ...

    def close(self) -> None: ...


# A restore's offer to check a large graph file's second half elsewhere: the half, started, or None.
GraphSplit = Callable[[Path], GraphHalf | None]


class Faults:
    """What the line checks write to: the faults found so far, and the rows counted before the current file."""

    def __init__(self) -> None:
        self.errors: list[Finding] = []
        self.warnings: list[Finding] = []
        self.row_total = 0


def vector_problem(emb: object, dimension: int | None) -> str | None:
    if emb is None:
        return "missing-embedding"
    if not isinstance(emb, list):
        return "missing-embedding"
    if not emb:
        return "empty-embedding"
    if dimension is not None and len(emb) != dimension:
        return f"wrong-dimension: {len(emb)} values, expected {dimension}"
    if not is_finite_vector(emb):
        return "non-finite-values"
    return None


class LineChecker:
    def __init__(self, bundle: Path, dimension: int | None, res: Faults, graph_sink: GraphSink | None = None) -> None:
        self.bundle = bundle
        self.dimension = dimension
        self.res = res
        self.graph_sink = graph_sink

    def error(self, code: str, message: str, file: Path | None = None, line: int | None = None) -> None:
        if len(self.res.errors) < MAX_FINDINGS:
            rel = str(file.relative_to(self.bundle)) if file is not None else None
            self.res.errors.append(Finding(code, message, rel, line))

    def parse(self, path: Path, number: int, raw: bytes, terminated: bool, is_last: bool) -> object:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if is_last and not terminated:
                self.error("truncated-line", "truncated last line (no newline, not JSON): the file was cut off", path, number)
                return None
            try:
                obj = loads_lenient(raw)
            except ValueError:
                self.error("not-json", f"line is not JSON ({exc})", path, number)
                return None
            if isinstance(obj, dict) and isinstance(obj.get("embedding"), list) and not is_finite_vector(obj["embedding"]):
                self.error("non-finite-values", "embedding holds a non-finite value (NaN or Infinity)", path, number)
            else:
                self.error("not-json", f"line is not strict JSON ({exc})", path, number)
            return None

    def check_file(self, path: Path, kind: str, ticker: Ticker, cancel: threading.Event | None,
                   lines: Iterator[tuple[int, bytes]] | None = None, *, to_end: bool = True) -> dict[str, int]:
        """kind: vector | graph | flat. Returns row counts by category. ``lines``: a part of the file only (numbered
        as in the file); ``to_end`` says whether that part ends where the file does."""
        counts: dict[str, int] = {}
        prev: tuple[int, bytes] | None = None
        try:
            for number, raw in iter_numbered(path) if lines is None else lines:
                if prev is not None:
                    self._one(path, prev[0], prev[1], True, False, kind, counts)
                prev = (number, raw)
                if number % 2000 == 0:
                    check_cancel(cancel)
                    ticker.update(self.res.row_total + sum(counts.values()))
        except PayloadUnreadable as exc:
            # torn, mislabelled or trailing bytes: the lines read so far are not the file, whatever they hold
            self.error("payload-unreadable", exc.reason, path)
            return counts
        if prev is not None:
            self._one(path, prev[0], prev[1], prev[1].endswith(b"\n"), to_end, kind, counts)
        return counts

    def check_split(self, path: Path, half: GraphHalf, ticker: Ticker, cancel: threading.Event | None
                    ) -> dict[str, int]:
        """A graph file whose second half ``half`` checks: this process reads the lines before it, then takes
        the half's counts and faults as if it had read them itself (faults past the cap are dropped alike)."""
        with open(path, "rb", buffering=BUFFER) as fh:
            counts = self.check_file(path, "graph", ticker, cancel, islice(enumerate(fh, 1), half.first_line - 1),
                                     to_end=False)
        rest = half.report(cancel)
        for key, n in rest.counts.items():
            counts[key] = counts.get(key, 0) + n
        self.res.errors += rest.errors[:max(0, MAX_FINDINGS - len(self.res.errors))]
        self.res.warnings += rest.warnings[:max(0, MAX_FINDINGS - len(self.res.warnings))]
        return counts

    def _one(self, path: Path, number: int, raw: bytes, terminated: bool, is_last: bool, kind: str,
             counts: dict[str, int]) -> None:
        body = raw.rstrip(b"\r\n")
        if not body.strip():
            return
        if b"\r" in body:
            # legal JSON whitespace, but neo's line reader (readline) splits on a lone CR, so its importers
            # fail on this line (a CRLF ending is one break there). Flat files neo copies verbatim: a warning.
            message = "line holds a raw carriage return: neo's line reader splits it in two"
            if kind == "flat":
                if len(self.res.warnings) < MAX_FINDINGS:
                    self.res.warnings.append(Finding("raw-carriage-return", message,
                                                     str(path.relative_to(self.bundle)), number))
            else:
                self.error("raw-carriage-return", message, path, number)
        if kind == "graph":
            self._graph(path, number, body, terminated, is_last, counts)
            return
        obj = self.parse(path, number, body, terminated, is_last)
        if obj is None:
            counts["bad"] = counts.get("bad", 0) + 1
            return
        if kind == "vector":
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"]:
                self.error("missing-id", "row has no non-empty string id", path, number)
            else:
                problem = vector_problem(obj.get("embedding"), self.dimension)
                if problem:
                    self.error(problem.split(":")[0], f"embedding: {problem}", path, number)
                elif self.dimension is None:
                    self.dimension = len(obj["embedding"])
            counts["rows"] = counts.get("rows", 0) + 1
        else:
            counts["rows"] = counts.get("rows", 0) + 1

    def _graph(self, path: Path, number: int, body: bytes, terminated: bool, is_last: bool,
               counts: dict[str, int]) -> None:
        """One graph line, parsed once. neo's shape, `{"type":"node","data":<data>}`, is parsed as its data alone:
        when that parses to an object, the line is exactly {type, data} (the same value a whole-line parse
        gives) and the data bytes are the line's own, verbatim, for a restore to store."""
        kind = "node" if body.startswith(NODE_PREFIX) else ("edge" if body.startswith(EDGE_PREFIX) else None)
        data: object = None
        text: bytes | None = None
        if kind is not None and body.endswith(b"}"):
            try:
                data = orjson.loads(body[22:-1])
            except orjson.JSONDecodeError:
                data = None
            if type(data) is dict:
                text = body[22:-1]
        if text is None:
            obj = self.parse(path, number, body, terminated, is_last)
            if obj is None:
                counts["bad"] = counts.get("bad", 0) + 1
                return
            t = obj.get("type") if isinstance(obj, dict) else None
            kind = t if t in ("node", "edge") else None
            data = obj.get("data") if isinstance(obj, dict) else None
        key = "nodes" if kind == "node" else "edges"
        counts[key] = counts.get(key, 0) + 1
        if kind is None or not isinstance(data, dict):
            self.error("bad-graph-line", 'graph line must be {"type":"node"|"edge","data":{...}}', path, number)
        elif kind == "node" and not data.get("id"):
            self.error("missing-id", "node has no id", path, number)
        elif kind == "edge" and not (data.get("source") and data.get("target") and data.get("type")):
            self.error("bad-edge", "edge needs source, target and type", path, number)
        elif self.graph_sink is not None:
            self.graph_sink(path, number, kind, data, text)


def check_half(bundle: Path, path: Path, offset: int, first_line: int, sink: GraphSink) -> HalfReport:
    """A helper process's part of a split graph file: the lines from byte ``offset`` (line ``first_line``) to the
    end, checked exactly as ``verify_bundle`` checks them and passed to ``sink``."""
    res = Faults()
    with open(path, "rb", buffering=BUFFER) as fh:
        fh.seek(offset)
        counts = LineChecker(bundle, None, res, sink).check_file(path, "graph", Ticker("verify", None, no_progress), None,
                                                               enumerate(fh, first_line))
    return HalfReport(counts, res.errors, res.warnings)

