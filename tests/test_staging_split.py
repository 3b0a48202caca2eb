"""A large graph file is validated and staged in two halves at once (this process and a helper process). An
operator must not be able to tell: the same rows go in, the same counts per label and type, the same failures
at the same line numbers, the same refusal for a bad line in either half, and nothing written when the helper
fails or the restore is cancelled."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import core.staging
from core.datadir import DataDir, resolve
from core.errors import BundleInvalid, ConsoleError
from core.journal import committed_batches, list_runs, pairs
from core.plan import Filters
from core.progress import Cancelled
from core.restore import RestoreOptions, run_restore
from core.staging import GraphStaging
from core.verify import verify_bundle
from tests.builders import BUNDLE_NAME, edge, graph_state, live_graph, node, write_bundle
from tests.neofmt import encode

LABELS = ("CONCEPT", "FILE", "ISSUE", "KB_GAP")


def graph_lines(n: int, pad: int) -> list[bytes]:
    """Nodes then edges, with what a restore must count exactly wherever the file is cut: ids repeated far apart
    (a node with another label, an edge with other endpoints), edges to nodes of the other half, to live-only
    nodes and to nowhere, a filtered label, user ids that cannot be stored, a row identical to a live one."""
    nodes = [node(f"n{i:05d}", LABELS[i % 4], text="x" * (40 + (i * 7 + pad) % 90)) for i in range(n)]
    nodes[n // 3]["properties"]["userId"] = {"not": "bindable"}
    nodes[n - 5]["properties"]["userId"] = [1, 2]
    nodes.append(node("n00002", "ISSUE", text="repeated id, other label, far from the first"))
    edges = [edge(f"e{i:05d}", f"n{(i * 13) % n:05d}", f"n{(i * 29 + 7) % n:05d}", ("RELATES_TO", "CONTAINS")[i % 2])
             for i in range(n)]
    edges += [edge("e00001", "n00003", "n00004", "RELATES_TO"),  # repeated edge id, other endpoints
              edge(None, "n00010", "live-only", "MENTIONS"), edge(None, "n00011", "nowhere", "MENTIONS"),
              edge("e-orphan", "ghost-a", "ghost-b", "CONTAINS")]
    edges[n // 2]["properties"]["userId"] = {"also": "not bindable"}
    lines = [orjson.dumps({"type": "node", "data": d}) for d in nodes]
    lines += [orjson.dumps({"type": "edge", "data": d}) for d in edges]
    # nodes and edges interleaved at the end too: the halves' runs of one kind do not line up with the cut
    lines += [orjson.dumps({"type": "node", "data": node(f"late{i}", "FILE")}) for i in range(3)]
    lines += [orjson.dumps({"type": "edge", "data": edge(f"late-e{i}", f"late{i}", "n00000", "CONTAINS")})
              for i in range(3)]
    return lines


def base(root: Path, lines: list[bytes]) -> tuple[DataDir, Path]:
    dd = resolve(root, env={})
    live_graph(dd, [node("live-only", "CONCEPT"), node("n00006", "CONCEPT", text="x" * (40 + (6 * 7) % 90)),
                    node("n00009", "FILE", text="live content, not the bundle's")])
    bundle = write_bundle(dd.backup_root, graph_lines=lines)
    return dd, bundle


def restore(dd: DataDir, bundle: Path, split_at: int | None, monkeypatch: pytest.MonkeyPatch,
            **opts: Any) -> tuple[Any, int]:
    """Run the restore with the split on (files from ``split_at`` bytes) or off; -> (result, halves used)."""
    monkeypatch.setattr(core.staging, "SPLIT_MIN_BYTES", split_at if split_at is not None else 1 << 62)
    used = {"n": 0}
    real = core.staging.GraphStaging.split

    def split(self: core.staging.GraphStaging, path: Path) -> Any:
        half = real(self, path)
        used["n"] += half is not None
        return half

    monkeypatch.setattr(core.staging.GraphStaging, "split", split)
    result = run_restore(dd, bundle, RestoreOptions(**opts))
    return result, used["n"]


def outcome(dd: DataDir, result: Any) -> tuple[Any, ...]:
    graph = result.subsystems["graph"]
    (run,) = list_runs(dd)
    journal = sorted((kind, rid, crc) for rec in committed_batches(run.path, "graph") for kind in ("nodes", "edges")
                     for rid, crc in pairs(rec, kind))
    return (graph.counts, graph.filter_stats, graph.by_label, graph.by_edge_type,
            sorted((f.file, f.line, f.reason) for f in result.failures), graph_state(dd), journal)


@pytest.mark.parametrize("pad", [0, 1, 5])
def test_a_split_restore_is_the_same_restore_line_for_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          pad: int) -> None:
    lines = graph_lines(1_500 + pad * 37, pad)
    one, bundle_one = base(tmp_path / "one", lines)
    two, bundle_two = base(tmp_path / "two", lines)
    opts = {"filters": Filters.of(["KB_GAP"], ["CONTAINS"])}
    single, halves = restore(one, bundle_one, None, monkeypatch, **opts)
    assert halves == 0
    split, halves = restore(two, bundle_two, 1, monkeypatch, **opts)
    assert halves == 1  # the helper really took the second half
    assert split.status == single.status == "completed"
    assert outcome(two, split) == outcome(one, single)
    graph = split.subsystems["graph"]
    assert graph.counts.nodes.failed == 2 and graph.counts.edges.failed == 1  # both halves' unstorable user ids
    assert graph.filter_stats.orphan_edges >= 2 and graph.by_label["ISSUE"].skipped_existing >= 1
    assert not list((two.state_dir / "staging").iterdir())  # both staging files are gone


def test_a_bad_line_in_either_half_refuses_the_same_way_before_any_write(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    lines = graph_lines(1_200, 0)
    lines[100] = b'{"type":"node","data":{"id":"broken"'  # in the first half
    lines[-40] = b'{"type":"edge","data":{"id":"e-x","source":"n00001","target":"n00002"}}'  # no type: second half
    refusals = []
    for name, split_at in (("one", None), ("two", 1)):
        dd, bundle = base(tmp_path / name, lines)
        before = graph_state(dd)
        with pytest.raises(BundleInvalid) as err:
            restore(dd, bundle, split_at, monkeypatch)
        assert graph_state(dd) == before
        refusals.append(orjson.dumps(err.value.to_json()).decode().replace(str(tmp_path / name), "DD"))
    assert refusals[0] == refusals[1]
    # and the faults behind it, each where it is in the file, whichever process found it
    found = []
    for name, split_at in (("one", 1 << 62), ("two", 1)):
        monkeypatch.setattr(core.staging, "SPLIT_MIN_BYTES", split_at)
        dd = resolve(tmp_path / name, env={})
        staging = GraphStaging.for_restore(dd, dd.backup_root / BUNDLE_NAME, Filters())
        try:
            res = verify_bundle(dd.backup_root / BUNDLE_NAME, graph_sink=staging.add, graph_split=staging.split)
        finally:
            staging.remove()
        found.append([(f.code, f.file, f.line) for f in res.errors])
    assert found[0] == found[1]
    assert [line for _, _, line in found[1]] == [101, len(lines) - 39]


def test_a_helper_that_fails_is_a_clear_error_and_nothing_is_written(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dd, bundle = base(tmp_path / "dd", graph_lines(1_000, 0))
    before = graph_state(dd)
    monkeypatch.setattr(core.staging, "_HELPER", "import sys; sys.stderr.write('helper gave up\\n'); sys.exit(3)")
    with pytest.raises(ConsoleError) as err:
        restore(dd, bundle, 1, monkeypatch)
    message = str(err.value)
    assert "exited with status 3" in message and "helper gave up" in message and "nothing was written" in message
    assert graph_state(dd) == before
    assert not list((dd.state_dir / "staging").iterdir())


def test_a_cancel_while_the_helper_runs_stops_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dd, bundle = base(tmp_path / "dd", graph_lines(1_000, 0))
    before = graph_state(dd)
    monkeypatch.setattr(core.staging, "_HELPER", "import time; time.sleep(120)")
    pids: list[int] = []
    real_init = core.staging.SecondHalf.__init__

    def init(self: Any, *args: Any) -> None:
        real_init(self, *args)
        pids.append(self.helper.proc.pid)

    monkeypatch.setattr(core.staging.SecondHalf, "__init__", init)
    monkeypatch.setattr(core.staging, "SPLIT_MIN_BYTES", 1)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_restore(dd, bundle, RestoreOptions(), cancel=cancel)
    assert time.monotonic() - started < 30
    assert pids and not Path(f"/proc/{pids[0]}").exists() or _zombie_free(pids[0])
    assert graph_state(dd) == before
    assert not list((dd.state_dir / "staging").iterdir())


def _zombie_free(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_small_and_compressed_files_are_read_by_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = graph_lines(300, 0)
    dd, bundle = base(tmp_path / "dd", lines)
    (graph,) = (bundle / "graph").glob("*.jsonl")
    _, halves = restore(dd, bundle, graph.stat().st_size + 1, monkeypatch)
    assert halves == 0
    dd2, bundle2 = base(tmp_path / "dd2", lines)
    (graph,) = (bundle2 / "graph").glob("*.jsonl")
    graph.with_name(graph.name + ".br").write_bytes(encode(graph.read_bytes(), "jsonl+br"))
    graph.unlink()
    result, halves = restore(dd2, bundle2, 1, monkeypatch)
    assert halves == 0 and result.status == "completed"
    assert graph_state(dd2) == graph_state(dd)
