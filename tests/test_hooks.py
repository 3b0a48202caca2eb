"""The post-restore hook allowlist and the filesystem-ingestor (neo's FileSystemIngestor, section 8.2)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.datadir import DataDir, resolve
from core.errors import UsageError
from core.graph_store import connect
from core.hooks import ROOT_ID, check_hook, sync_workspace_to_graph
from core.plan import Filters
from core.restore import run_restore
from core.restore_model import RestoreOptions, RestoreResult
from core.undo import undo_run
from core.wire import encode
from tests.builders import edge, graph_state, live_graph, node, write_bundle


def sub(res: RestoreResult, key: str) -> dict[str, Any]:
    """One substrate's outcome as the result reports it on the wire."""
    out = encode(res.subsystems[key])
    assert isinstance(out, dict)
    return out


def make_workspace(root: Path) -> Path:
    ws = root / "ws"
    for rel, text in (("package.json", "{}\n"), ("src/Neo.mjs", "export default {};\n"),
                      ("src/component/Base.mjs", "class Base {}\n"), ("node_modules/x/index.js", "skip\n"),
                      (".git/HEAD", "ref\n"), ("dist/out.js", "skip\n"), ("resources/images/logo.txt", "skip\n"),
                      ("resources/scss/a.scss", "a{}\n"), ("docs/output/all.json", "skip\n"), ("logo.png", "PNG"),
                      ("app.js.map", "{}"), (".env", "SECRET=1\n")):
        p = ws / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    os.symlink(ws / "src", ws / "link-to-src")
    return ws


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def test_check_hook_messages_and_workspace() -> None:
    check_hook(None)
    with pytest.raises(UsageError, match=r"^Post-restore hook 'dream-service' is intentionally not supported"):
        check_hook("dream-service")
    with pytest.raises(UsageError, match=r"^Unknown post-restore hook: x\. Allowlist: filesystem-ingestor\.$"):
        check_hook("x")
    with pytest.raises(UsageError, match="needs --workspace"):
        check_hook("filesystem-ingestor", None)


def test_ingestor_writes_files_directories_and_contains_edges(dd: DataDir, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    conn = connect(dd.graph_db)
    res = sync_workspace_to_graph(conn, ws)
    conn.close()
    nodes, edges = graph_state(dd)
    ids = set(nodes)
    assert ids == {ROOT_ID, "file-package.json", "file-src", "file-src/Neo.mjs", "file-src/component",
                   "file-src/component/Base.mjs", "file-resources", "file-resources/scss", "file-resources/scss/a.scss",
                   "file-docs"}
    root = orjson.loads(nodes[ROOT_ID][1])
    assert root["label"] == "SYSTEM_ANCHOR" and root["properties"]["name"] == "Neo.mjs Ecosystem Root"
    base = orjson.loads(nodes["file-src/component/Base.mjs"][1])
    assert base["label"] == "FILE"
    props = base["properties"]
    assert props["name"] == "Base.mjs" and props["description"] == "File path: src/component/Base.mjs"
    assert props["path"] == "src/component/Base.mjs" and props["isConceptEdgeStub"] is False
    assert props["hash"] == hashlib.md5(b"class Base {}\n").hexdigest()
    assert isinstance(props["mtimeMs"], float)
    d = orjson.loads(nodes["file-src/component"][1])
    assert d["label"] == "DIRECTORY" and d["properties"]["description"] == "Directory: src/component"
    assert "hash" not in d["properties"]
    contains = {(e[1], e[2]) for e in edges.values() if e[3] == "CONTAINS"}
    assert (ROOT_ID, "file-src") in contains and ("file-src", "file-src/component") in contains
    assert ("file-src/component", "file-src/component/Base.mjs") in contains
    assert len(contains) == len(ids) - 1  # one parent edge per path
    assert res.nodes_inserted == len(ids) and res.edges_inserted == len(ids) - 1


def test_ingestor_is_idempotent_and_updates_without_cascading(dd: DataDir, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    conn = connect(dd.graph_db)
    sync_workspace_to_graph(conn, ws)
    first = graph_state(dd)
    again = sync_workspace_to_graph(conn, ws)
    assert (again.nodes_inserted, again.nodes_updated, again.edges_inserted) == (0, 0, 0)
    assert graph_state(dd) == first
    # a live edge onto a file, then the file changes: the node is updated in place, the edge survives
    conn.close()
    live_graph(dd, [node("CONCEPT:Base", "CONCEPT")], [edge("impl", "CONCEPT:Base", "file-src/Neo.mjs", "IMPLEMENTED_BY")])
    f = ws / "src" / "Neo.mjs"
    f.write_text("export default {changed: true};\n")
    os.utime(f, (1_800_000_000, 1_800_000_000))
    conn = connect(dd.graph_db)
    third = sync_workspace_to_graph(conn, ws)
    conn.close()
    assert third.nodes_updated == 1
    nodes, edges = graph_state(dd)
    assert "impl" in edges
    assert orjson.loads(nodes["file-src/Neo.mjs"][1])["properties"]["hash"] == hashlib.md5(
        b"export default {changed: true};\n").hexdigest()


def test_hook_runs_after_a_restore_and_is_journaled(dd: DataDir, tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    live_graph(dd, [node("file-src", "DIRECTORY", stale=True)], [])
    b = write_bundle(dd.backup_root, nodes=[node("file-src/old.mjs", "FILE"), node("CONCEPT:x", "CONCEPT")],
                     edges=[edge("c1", "file-src", "file-src/old.mjs", "CONTAINS"),
                            edge("i1", "CONCEPT:x", "file-src/Neo.mjs", "IMPLEMENTED_BY")])
    res = run_restore(dd, b, RestoreOptions(filters=Filters.of(["FILE", "DIRECTORY"], ["CONTAINS"]),
                                            post_restore_hook="filesystem-ingestor", workspace=ws))
    hook = res.post_restore_hook
    assert hook and hook.hook == "filesystem-ingestor"
    assert hook.result.ok is True
    assert hook.result.message == "FileSystemIngestor.syncWorkspaceToGraph() completed"
    nodes, _ = graph_state(dd)
    assert "file-src/old.mjs" not in nodes and "file-src/Neo.mjs" in nodes
    # i1 pointed at a file that was neither accepted nor live when the graph was restored: an orphan then
    assert sub(res, "graph")["filterStats"]["orphanEdges"] == 1
    u = undo_run(dd, res.run_id or "")
    nodes, _ = graph_state(dd)
    assert "file-src/Neo.mjs" not in nodes and "CONCEPT:x" not in nodes
    assert "file-src" in nodes  # live before the run (updated by the hook in place: reported, not reverted)
    assert u.not_reverted.get("hookUpdatedNodes") == 1
