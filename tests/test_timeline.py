"""The timeline: every bundle's counts from its meta (no row read on a look), drops beyond the threshold or to
zero marked where they happened, labels and edge types counted once per bundle and kept, capture lineage."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

import core.census
from console.cli import main
from core.datadir import DataDir, resolve
from core.demo import build_demo
from core.errors import UsageError
from core.timeline import build_timeline, find_drops, meta_counts, parse_threshold, sparkline
from tests.builders import edge, node, write_bundle

NOW = datetime(2026, 5, 10, 10, 11, 23, 456_000, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    root = tmp_path_factory.mktemp("timeline") / "dd"
    build_demo(root, scale=0.05, dimension=4, now=NOW)
    return resolve(root, env={})


def test_the_demo_shows_the_wipe_and_the_empty_kb_run_from_the_metas_alone(
        demo: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rows(*_a: object, **_k: object) -> None:
        raise AssertionError("a look at the timeline read a payload")

    monkeypatch.setattr(core.census, "open_payload", no_rows)
    monkeypatch.setattr("core.scan.open_payload", no_rows)
    tl = build_timeline(demo, now=NOW)
    names = [r.bundle for r in tl.rows]
    assert names[:2] == ["backup-2026-05-10T09-11-23.456Z", "backup-2026-05-10T01-11-23.456Z"]
    wipe, before = tl.rows[0], tl.rows[1]
    assert set(wipe.drops) == {"graph", "mc"}  # the wipe, at the backup that copied it
    graph_drop = next(d for d in tl.drops if d.series == "graph")
    assert (graph_drop.bundle, graph_drop.previous) == (wipe.bundle, before.bundle)
    assert graph_drop.before == before.counts["graph"] and graph_drop.after == wipe.counts["graph"]
    assert graph_drop.change < -0.5
    empty_kb = tl.rows[2]
    assert empty_kb.counts["kb"] == 0 and empty_kb.drops == ("kb",)
    assert next(d for d in tl.drops if d.series == "kb").to_zero
    torn = tl.rows[3]
    assert torn.meta_state == "malformed" and set(torn.counts.values()) == {None}
    kb = next(s for s in tl.series if s.key == "kb")
    assert kb.sparkline.endswith("·_██") and len(kb.sparkline) == len(tl.rows)
    assert empty_kb.restorable["kb"] == "not-restorable" and wipe.restorable["graph"] == "claimed"


def test_collections_view_and_threshold(demo: DataDir) -> None:
    tl = build_timeline(demo, view="collections", now=NOW)
    assert [s.key for s in tl.series] == ["memories", "summaries", "kb", "graph"]
    assert {d.series for d in tl.drops if d.bundle == tl.rows[0].bundle} >= {"memories", "graph"}
    strict = build_timeline(demo, threshold=parse_threshold("99%"), now=NOW)
    assert [d.series for d in strict.drops] == ["kb"]  # only the drop to zero is left


def test_labels_counted_once_and_kept_until_the_graph_files_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    write_bundle(dd.backup_root, name="backup-2026-05-09T01-11-23.456Z",
                 nodes=[node(f"f{i}", "FILE") for i in range(10)] + [node("c", "CONCEPT")],
                 edges=[edge(f"e{i}", "c", f"f{i}", "CONTAINS") for i in range(10)])
    newer = write_bundle(dd.backup_root, name="backup-2026-05-10T01-11-23.456Z",
                         nodes=[node("f1", "FILE"), node("c", "CONCEPT")], edges=[edge("e1", "c", "f1", "CONTAINS")])
    calls: list[str] = []
    real = core.census.count_graph

    def counting(bundle: Path, **kw: object) -> core.census.Census:
        calls.append(bundle.name)
        return real(bundle, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(core.census, "count_graph", counting)
    tl = build_timeline(dd, view="labels", count=True)
    assert len(calls) == 2 and tl.uncounted == ()
    assert [s.key for s in tl.series] == ["nodes", "FILE", "CONCEPT"]
    file_row = next(s for s in tl.series if s.key == "FILE")
    assert file_row.values == (1, 10) and [d.series for d in tl.drops] == ["nodes", "FILE"]
    again = build_timeline(dd, view="labels", count=True)
    assert len(calls) == 2 and again.series == tl.series  # kept: no row read on the next look
    not_asked = build_timeline(dd, view="edge-types")
    assert not_asked.series[0].values == (1, 10) and len(calls) == 2  # the same census answers edge types
    graph_file = next((newer / "graph").glob("*.jsonl"))
    graph_file.write_bytes(graph_file.read_bytes() + orjson.dumps({"type": "node", "data": node("f2", "FILE")})
                           + b"\n")
    st = graph_file.stat()
    os.utime(graph_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    fresh = build_timeline(dd, view="labels")
    assert fresh.uncounted == ("backup-2026-05-10T01-11-23.456Z",)  # changed files: not answered from the cache
    recount = build_timeline(dd, view="labels", count=True)
    assert calls[-1] == newer.name and next(s for s in recount.series if s.key == "FILE").values == (2, 10)


def test_capture_lineage_and_collapsed_appear_in_the_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    capture = {"schemaVersion": 1, "comparedTo": "backup-2026-05-09T01-11-23.456Z", "sources": {
        "kb": {"source": "kb", "rowCount": 0, "rowState": "zero", "lineage": "changed", "collectionId": "b",
               "comparedBundle": "backup-2026-05-09T01-11-23.456Z", "previousRowCount": 40, "provenEmpty": False,
               "collapsed": True},
        "mc.memories": {"source": "mc.memories", "rowCount": 3, "rowState": "populated", "lineage": "same",
                        "collectionId": "m", "collapsed": False}}}
    write_bundle(dd.backup_root, name="backup-2026-05-10T01-11-23.456Z", nodes=[node("a", "CONCEPT")],
                 meta={"capture": capture})
    tl = build_timeline(dd)
    marks = {m.source: m for m in tl.rows[0].capture}
    assert marks["kb"].collapsed is True and marks["kb"].lineage == "changed"
    assert marks["mc.memories"].lineage == "same" and marks["mc.memories"].collapsed is False
    capsys.readouterr()
    assert main(["--data-dir", str(dd.root), "timeline"]) == 0
    assert "kb COLLAPSED" in capsys.readouterr().out


def test_counts_from_neo_messages_when_the_meta_has_no_embedding_counts() -> None:
    meta = {"integrity": [], "subsystems": {
        "kb": {"message": "Export complete. Exported 61206 knowledge base chunks."},
        "mc": {"message": "Export complete. Exported 32271 memories, 2204 summaries, 0 temporal summaries, and 0 "
                          "graph elements."},
        "graph": {"message": "Export complete. Exported 0 memories, 0 summaries, 0 temporal summaries, and 37925 "
                             "graph elements."}}}
    c = meta_counts(meta)
    assert (c["kb"], c["memories"], c["summaries"], c["mc"], c["graph"]) == (61206, 32271, 2204, 34475, 37925)
    assert meta_counts({"subsystems": {"kb": {"message": "Export degraded (timeout)"}}})["kb"] is None


def test_sparkline_and_drops_rules() -> None:
    assert sparkline([0, 4, 8, None, 8]) == "_▅█·█"
    drops = find_drops("x", ["a", "b", "c", "d", "e"], [100, 81, None, 40, 0], 0.2)
    assert [(d.bundle, d.previous, d.before, d.after, d.to_zero) for d in drops] == [
        ("d", "b", 81, 40, False), ("e", "d", 40, 0, True)]  # 19% is not a drop; unknown bundles are skipped
    assert parse_threshold("20%") == parse_threshold("20") == parse_threshold("0.2") == 0.2
    for bad in ("0", "-5%", "150%", "many"):
        with pytest.raises(UsageError):
            parse_threshold(bad)


def test_cli_json_and_text(demo: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["--data-dir", str(demo.root), "timeline", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert list(obj) == ["backupRoot", "view", "threshold", "rows", "series", "drops", "uncounted"]
    assert obj["rows"][0]["drops"] == ["mc", "graph"] and obj["series"][0]["kind"] == "substrate"
    assert main(["--data-dir", str(demo.root), "timeline"]) == 0
    out = capsys.readouterr().out
    assert "▼ graph" in out and "(to zero)" in out and "meta MALFORMED" in out
    assert main(["--data-dir", str(demo.root), "timeline", "--threshold", "nope", "--json"]) == 2
