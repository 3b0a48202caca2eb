"""Search inside a bundle: by id, label, edge type, a word of a document or of the data, a session id, a metadata
key=value; stops at the limit; each hit beside the live row with its id (absent, identical, different and how)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from core.datadir import DataDir, resolve
from core.errors import UsageError
from core.search import make_query, search_bundle
from tests.builders import edge, live_graph, live_vectors, node, vec, write_bundle


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_graph(d, [node("issue-1", "ISSUE", state="closed"), node("same", "CONCEPT")], [])
    write_bundle(d.backup_root, nodes=[
        node("issue-1", "ISSUE", state="open"), node("same", "CONCEPT"),
        node("file-src/Grid.mjs", "FILE", path="src/Grid.mjs"), node("gap", "KB_GAP", note="Ünïcode Wörd")],
        edges=[edge("e1", "gap", "issue-1", "DISCOVERED_IN", justification="from review")],
        memories=[vec("m-restore", document="We restored the graph after the wipe",
                      metadata={"sessionId": "sess-42", "userId": "neo-gpt"}),
                  vec("m-other", document="Nothing to see", metadata={"sessionId": "sess-7", "userId": "neo-opus"})],
        summaries=[vec("summary_sess-42", document="Session 42 restored part of the graph",
                       metadata={"sessionId": "sess-42", "title": "restore"})])
    return d


def bundle(d: DataDir) -> Path:
    return next(d.backup_root.glob("backup-*"))


def ids(d: DataDir, text: str = "", **kw: object) -> list[tuple[str, str]]:
    res = search_bundle(None, bundle(d), make_query(text, **kw))  # type: ignore[arg-type]
    return [(h.kind, h.id) for h in res.hits]


def test_finds_by_id_label_type_document_data_session_and_field(dd: DataDir) -> None:
    assert ids(dd, "issue-1") == [("node", "issue-1"), ("edge", "e1")]  # the edge's data names it
    assert ids(dd, "kb_gap") == [("node", "gap")]  # a label, case-insensitively
    assert ids(dd, "discovered") == [("edge", "e1")]
    assert ids(dd, "WIPE") == [("memories", "m-restore")]  # a word of a document
    assert ids(dd, "grid.mjs") == [("node", "file-src/Grid.mjs")]
    assert ids(dd, "wörd") == [("node", "gap")]  # beyond ASCII: no byte shortcut, same answer
    assert ids(dd, "sess-42") == [("memories", "m-restore"), ("summaries", "summary_sess-42")]
    assert ids(dd, fields=["sessionId=sess-42"], collections=["memories"]) == [("memories", "m-restore")]
    assert ids(dd, fields=["metadata.userId=neo-opus"]) == [("memories", "m-other")]
    assert ids(dd, fields=["properties.state=open"]) == [("node", "issue-1")]
    assert ids(dd, "restore", collections=["neo-agent-sessions"]) == [("summaries", "summary_sess-42")]
    assert ids(dd, "", labels=["FILE"]) == [("node", "file-src/Grid.mjs")]
    assert ids(dd, "", edge_types=["DISCOVERED_IN"]) == [("edge", "e1")]
    assert ids(dd, "0.5") == []  # vectors are never searched
    assert ids(dd, "nothing-like-this") == []


def test_limit_stops_the_stream_and_says_more_match(dd: DataDir) -> None:
    res = search_bundle(None, bundle(dd), make_query("", limit=2))
    assert len(res.hits) == 2 and res.complete is False
    res = search_bundle(None, bundle(dd), make_query("", limit=50))
    assert len(res.hits) == 8 and res.complete is True and res.lines_scanned == 8


def test_each_hit_beside_its_live_row(dd: DataDir) -> None:
    live_vectors(dd, "memories", [vec("m-restore", document="edited live",
                                      metadata={"sessionId": "sess-42", "userId": "neo-gpt"}), vec("m-other",
                                  metadata={"sessionId": "sess-7", "userId": "neo-opus"}, document="Nothing to see")])
    res = search_bundle(dd, bundle(dd), make_query("", limit=50))
    live = {(h.kind, h.id): h for h in res.hits}
    assert live[("node", "same")].live == "identical"
    issue = live[("node", "issue-1")]
    assert issue.live == "different"
    assert [(c.path, c.a, c.b) for c in issue.live_changes] == [("properties.state", "open", "closed")]
    assert live[("node", "file-src/Grid.mjs")].live == "absent"
    assert live[("memories", "m-other")].live == "identical"  # same float32 vector, same metadata
    assert [(c.path, c.note) for c in live[("memories", "m-restore")].live_changes] == [("document", None)]
    assert live[("summaries", "summary_sess-42")].live == "absent"
    mem = live[("memories", "m-restore")]
    assert "embedding" not in mem.record and mem.embedding_dimension == 8


def test_bad_queries_are_usage_errors(dd: DataDir) -> None:
    with pytest.raises(UsageError, match="unknown collection"):
        make_query("x", collections=["nope"])
    with pytest.raises(UsageError, match="KEY=VALUE"):
        make_query("x", fields=["novalue"])
    with pytest.raises(UsageError, match="--limit"):
        make_query("x", limit=0)


def cli(capsys: pytest.CaptureFixture[str], dd: DataDir, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--data-dir", str(dd.root), *argv])
    return code, capsys.readouterr().out


def test_cli_json_and_text(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(capsys, dd, "search", "latest", "wipe", "--json")
    assert code == 0
    obj = json.loads(out)
    assert list(obj) == ["bundle", "path", "query", "complete", "linesScanned", "hitCount", "hits", "unreadable",
                         "unreadableLines"]
    (hit,) = obj["hits"]
    assert hit["kind"] == "memories" and hit["id"] == "m-restore" and hit["matched"] == "document"
    assert hit["live"] == "absent" and hit["embeddingDimension"] == 8 and "embedding" not in hit["record"]
    code, out = cli(capsys, dd, "search", "latest", "issue-1", "--limit", "1")
    assert code == 0 and "1. node ISSUE issue-1" in out and "live, DIFFERENT" in out
    assert 'properties.state: bundle "open" · live "closed"' in out and "stopped at --limit 1" in out
    assert "| recovery-console restore" in out and "--ids -" in out


def test_hostile_records_print_escaped(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    write_bundle(dd.backup_root, name="backup-2026-05-11T01-11-23.456Z",
                 nodes=[node("evil\x1b[2J", "LAB\u202eEL", text="bell\x07 and \x9b csi")])
    code, out = cli(capsys, dd, "search", "latest", "evil")
    assert code == 0 and "\x1b" not in out and "\u202e" not in out and "\x9b" not in out
    assert "\\x1b[2J" in out and "\\u202e" in out
