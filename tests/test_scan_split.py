"""The plan's scan of a big graph file in two processes: the helper's part counted exactly as one process counts
it, wherever the split lands; a helper that fails or sends garbage is an error naming the file; a cancel stops it."""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from core import graph_store as gs
from core import live_scan, scan_split
from core.datadir import DataDir, resolve
from core.errors import ConsoleError
from core.plan import build_plan, scan_bundle
from core.progress import Cancelled, Progress
from core.wire import encode
from tests.builders import edge, live_graph, node, write_bundle

LIVE_NODES = [node("L1", "CONCEPT", v=1), node("L2", "CONCEPT", v=1), node("LX", "FILE", live=True)]
LIVE_EDGES = [edge("eLs", "L1", "L2", "CONTAINS", v=1), edge("eLd", "L1", "L2", "CONTAINS", v=1)]


def _n(d: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "node", "data": d})


def _e(d: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "edge", "data": d})


LINES = [
    _n(node("A", "FILE")),
    _n(node("L1", "CONCEPT", v=1)),  # live, the same content
    _n(node("D", "CLASS")),
    b"not json at all",
    _e(edge("e1", "A", "B", "CONTAINS")),  # B is a node further on
    _e(edge("eX", "A", "LX", "RELATES_TO")),  # LX exists only live
    _e(edge("eN", "A", "nowhere", "RELATES_TO")),  # an orphan wherever it is
    _n(node("L2", "CONCEPT", v=2)),  # live, other content
    b"",
    _e(edge("eR", "A", "D", "CONTAINS")),  # its id comes again further on
    _e(edge("eLs", "L1", "L2", "CONTAINS", v=1)),  # live, the same content
    _n(node("B", "FILE")),
    _n(node("D", "FILE")),  # a repeated node id under another label
    _n({"id": "", "label": "X"}),  # a node without id
    _e(edge("eR", "B", "D", "CONTAINS")),  # the repeated edge id, other endpoints
    _e(edge("eLd", "L1", "L2", "CONTAINS", v=2)),  # live, other content
    _e(edge(None, "B", "A", "SENT_TO")), _e(edge(None, "B", "A", "SENT_TO")),  # one fallback id twice
    _e({"id": "eT", "source": "A", "type": "T"}),  # no target
    _e(edge("e9", "D", "L1", "EVALUATED_BY")),
    b'{"type":"memo","data":{}}',  # another record type: ignored
    _e(edge("e10", "B", "LX", "RELATES_TO")),
    _n(node("L1", "LATE", v=1)),  # a live id repeated under another label
    _n(node("Z", "LATE")),
    _e(edge("ez", "Z", "nowhere", "RELATES_TO")),
    b"[]",
]
EARLIER = [_n(node("P", "FILE")), b"{broken", _e(edge("eP", "P", "A", "CONTAINS"))]  # an earlier, smaller file


def make(tmp: Path) -> tuple[DataDir, Path]:
    dd = resolve(tmp / "dd", env={})
    live_graph(dd, LIVE_NODES, LIVE_EDGES)
    b = write_bundle(dd.backup_root, graph_lines=LINES)
    (b / "graph" / "graph-backup-2026-05-10T01-11-39.000Z.jsonl").write_bytes(b"\n".join(EARLIER) + b"\n")
    return dd, b


class Spy(scan_split.Helper):
    made: list[Spy] = []

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        Spy.made.append(self)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> type[Spy]:
    Spy.made = []
    monkeypatch.setattr(live_scan, "Helper", Spy)
    return Spy


def line_starts() -> list[int]:
    starts, at = [], 0
    for raw in LINES[:-1]:
        at += len(raw) + 1
        starts.append(at)
    return starts


def at_line(monkeypatch: pytest.MonkeyPatch, start: int) -> None:
    """Split the big file where its line at byte ``start`` begins."""
    size = sum(len(raw) + 1 for raw in LINES)
    monkeypatch.setattr(scan_split, "SPLIT_BYTES", 1)
    monkeypatch.setattr(scan_split, "SPLIT_AT", (start + 0.25) / size)


def one_process(dd: DataDir, b: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(scan_split, "SPLIT_BYTES", 1 << 62)
    return scan_bundle(dd, b)


def same_scan(split: Any, whole: Any) -> None:
    assert split.graph == whole.graph  # every Counter, the bad lines with file and line, the live census
    assert split.graph.bad == whole.graph.bad
    assert split.warnings == whole.warnings
    assert encode(build_plan(split)) == encode(build_plan(whole))
    assert encode(build_plan(split, mode="replace", force=True)) == encode(build_plan(whole, mode="replace", force=True))


@pytest.mark.parametrize("batch", [1, 3, 10_000])
def test_a_split_anywhere_counts_exactly_as_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         spy: type[Spy], batch: int) -> None:
    dd, b = make(tmp_path)
    monkeypatch.setattr(live_scan, "GRAPH_BATCH", batch)
    whole = one_process(dd, b, monkeypatch)
    assert not spy.made
    # what this bundle holds, so the equality below compares something
    first, big = whole.graph.files
    assert [(x.file, x.line) for x in whole.graph.bad] == [(first, 2), (big, 4), (big, 14), (big, 19), (big, 26)]
    assert "node has no id" in whole.graph.bad[2].reason
    assert sum(whole.graph.nodes_differ.values()) == 2 and sum(whole.graph.edges_differ.values()) == 1
    starts = line_starts() if batch == 3 else line_starts()[::6]
    for start in starts:
        at_line(monkeypatch, start)
        split = scan_bundle(dd, b)
        helper = spy.made[-1]
        assert helper.proc.returncode == 0
        assert helper.lines == sum(1 for s in [0, *line_starts()] if s >= start)  # it read from that line on
        same_scan(split, whole)
    assert len(spy.made) == len(starts)


def test_the_probe_path_of_a_large_live_graph_splits_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              spy: type[Spy]) -> None:
    dd, b = make(tmp_path)
    whole = one_process(dd, b, monkeypatch)
    monkeypatch.setattr(live_scan, "LIVE_IDS_IN_MEMORY", 0)  # the helper probes too: it is told the limit
    monkeypatch.setattr(live_scan, "GRAPH_BATCH", 2)
    at_line(monkeypatch, line_starts()[len(LINES) // 2])
    same_scan(scan_bundle(dd, b), whole)
    assert len(spy.made) == 1


def test_progress_counts_both_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spy: type[Spy]) -> None:
    dd, b = make(tmp_path)
    monkeypatch.setattr(live_scan, "GRAPH_BATCH", 1)
    at_line(monkeypatch, line_starts()[5])
    seen: list[Progress] = []
    scan = scan_bundle(dd, b, on_progress=seen.append)
    graph = [p.done for p in seen if p.task == "graph"]
    assert graph[-1] == scan.graph.lines and graph == sorted(graph)


def test_a_compressed_or_small_file_is_read_by_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           spy: type[Spy]) -> None:
    dd, b = make(tmp_path)
    whole = one_process(dd, b, monkeypatch)
    monkeypatch.setattr(scan_split, "SPLIT_BYTES", 32 << 20)
    same_scan(scan_bundle(dd, b), whole)
    assert not spy.made


@pytest.mark.parametrize(("child", "says"), [
    ("import sys; sys.stderr.write('boom: disk gone\\n'); sys.exit(3)",
     "stopped before the end of its part (exit code 3: boom: disk gone)"),
    ("import sys; sys.stdout.buffer.write(b'garbage garbage garbage'); sys.stdout.flush()",
     "sent something that is not a frame"),
    ("import sys, struct; b = b'[1, 2]'; sys.stdout.buffer.write(struct.pack('<4sI', b'rcs1', len(b)) + b)",
     "sent a frame that is not a batch"),
    ("import sys; from core.scan_split import HEAD, MAGIC; sys.stdout.buffer.write(HEAD.pack(MAGIC, 9) + b'[\"n\",')",
     "stopped before the end of its part (exit code 0)"),
])
def test_a_helper_that_fails_is_an_error_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         spy: type[Spy], child: str, says: str) -> None:
    dd, b = make(tmp_path)
    at_line(monkeypatch, line_starts()[10])
    monkeypatch.setattr(scan_split, "CHILD", f"import sys; sys.path.insert(0, sys.argv[1]); {child}")
    with pytest.raises(ConsoleError) as err:
        scan_bundle(dd, b)
    assert says in err.value.reason and "helper process" in err.value.reason
    assert err.value.path is not None and err.value.path.endswith("graph-backup-2026-05-10T01-11-40.002Z.jsonl")
    assert spy.made[0].proc.returncode is not None


def test_a_cancel_stops_the_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spy: type[Spy]) -> None:
    dd, b = make(tmp_path)
    at_line(monkeypatch, line_starts()[10])
    monkeypatch.setattr(scan_split, "CHILD", "import time; time.sleep(120)")  # a helper that never answers
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        scan_bundle(dd, b, cancel=cancel)
    assert time.monotonic() - started < 10
    assert spy.made[0].proc.returncode is not None  # killed, not left behind


def test_a_cancel_during_the_first_part_stops_the_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         spy: type[Spy]) -> None:
    dd, b = make(tmp_path)
    monkeypatch.setattr(live_scan, "GRAPH_BATCH", 1)
    at_line(monkeypatch, line_starts()[10])
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        scan_bundle(dd, b, cancel=cancel)
    assert spy.made[0].proc.returncode is not None


def test_a_helper_stopped_and_continued_loses_no_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      spy: type[Spy]) -> None:
    """Ctrl-Z and `fg` stop the helper with the console: a pipe write it was blocked in returns short, and the
    rest of that batch must still arrive (frames here are far over a pipe's 64 KiB)."""
    dd = resolve(tmp_path / "dd", env={})
    live_graph(dd, [node(f"n{i}", "FILE") for i in range(0, 30_000, 7)])
    lines = [_n(node(f"n{i}", "FILE")) for i in range(30_000)] + \
            [_e(edge(f"e{i}", f"n{i}", f"n{(i * 13) % 30_000}", "CONTAINS")) for i in range(30_000)]
    b = write_bundle(dd.backup_root, graph_lines=lines)
    whole = one_process(dd, b, monkeypatch)
    monkeypatch.setattr(scan_split, "SPLIT_BYTES", 1)
    monkeypatch.setattr(scan_split, "SPLIT_AT", 0.2)

    def slowly(_: Progress) -> None:  # this process lingers over its own part: the helper fills the pipe
        time.sleep(0.05)

    done = threading.Event()

    def stop_and_continue() -> None:
        while not done.is_set():
            if spy.made and spy.made[0].proc.poll() is None:
                spy.made[0].proc.send_signal(signal.SIGSTOP)
                time.sleep(0.001)
                spy.made[0].proc.send_signal(signal.SIGCONT)
            time.sleep(0.003)

    poker = threading.Thread(target=stop_and_continue)
    poker.start()
    try:
        split = scan_bundle(dd, b, on_progress=slowly)
    finally:
        done.set()
        poker.join()
    same_scan(split, whole)
    assert spy.made[0].lines > 40_000


def test_no_interpreter_to_start_reads_the_file_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               spy: type[Spy]) -> None:
    dd, b = make(tmp_path)
    whole = one_process(dd, b, monkeypatch)
    at_line(monkeypatch, line_starts()[10])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    same_scan(scan_bundle(dd, b), whole)
    assert not spy.made


def test_a_process_holding_many_descriptors_still_reads_its_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    spy: type[Spy]) -> None:
    """A console that has run a while may hold descriptors numbered over 1024 (select()'s limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("cannot hold 1,100 descriptors here")
    dd, b = make(tmp_path)
    whole = one_process(dd, b, monkeypatch)
    at_line(monkeypatch, line_starts()[10])
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1_100)]
    try:
        same_scan(scan_bundle(dd, b), whole)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert spy.made[0].fd > 1024


@pytest.mark.parametrize("odd", [None, "line\nbreak", b"blob"], ids=["plain", "newline", "blob"])
def test_live_ids_read_in_one_row_are_exactly_the_rows(tmp_path: Path, odd: str | bytes | None) -> None:
    """The ids and rowids come as one joined row, split in Python; an id the join cannot carry (a newline, a value
    that is not text) sends the table to a row-by-row read: either way, exactly the table's ids and rowids."""
    dd = resolve(tmp_path / "dd", env={})
    live_graph(dd, [node(i, "FILE") for i in ("a", "a\x00b", "😀", "x" * 10_240)], [edge("e", "a", "😀", "T")])
    conn = gs.connect(dd.graph_db)
    if odd is not None:
        conn.execute("INSERT INTO Nodes (id, data) VALUES (?, '{}')", (odd,))
    ro = gs.connect(dd.graph_db, readonly=True)
    try:
        live = scan_split.LiveIds(ro, 1_000_000)
        assert live.nodes == dict(ro.execute("SELECT id, rowid FROM Nodes"))
        assert live.edges == {"e": 1}
        assert scan_split.LiveIds(ro, 0).nodes is None  # a bigger live graph is probed instead
    finally:
        ro.close()
        conn.close()


def test_no_live_graph_yet_splits_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spy: type[Spy]) -> None:
    dd = resolve(tmp_path / "dd", env={})
    b = write_bundle(dd.backup_root, graph_lines=LINES)
    assert not dd.graph_db.exists()
    whole = one_process(dd, b, monkeypatch)
    at_line(monkeypatch, line_starts()[7])
    same_scan(scan_bundle(dd, b), whole)
    assert spy.made[0].proc.returncode == 0 and not dd.graph_db.exists()
