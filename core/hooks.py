"""Post-restore hooks: neo's allowlist of one, `filesystem-ingestor`, checked before the first write.

`filesystem-ingestor` re-creates what neo's FileSystemIngestor.syncWorkspaceToGraph() writes (section 8.2):
a `project-root` SYSTEM_ANCHOR, one FILE / DIRECTORY node per non-ignored path with id `file-<relpath>`,
and a CONTAINS edge from the parent directory node (or `project-root`). It is idempotent: a node whose
mtime or MD5 is unchanged is not rewritten, and an existing CONTAINS edge is left alone.

Two deliberate differences from neo, both so a re-run changes nothing:
- a changed node is rewritten with UPDATE, never INSERT OR REPLACE (which would cascade-delete its edges);
- the CONTAINS edge id is a UUID5 of `source->target:CONTAINS` instead of a random UUID, and an existing
  edge is not "reinforced" (neo's linkNodes would grow its weight on every run).
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from core.errors import UsageError
from core.graph import select_by_ids
from core.progress import ProgressFn, Ticker, check_cancel, no_progress

FILESYSTEM_INGESTOR = "filesystem-ingestor"
ALLOWED_HOOKS = (FILESYSTEM_INGESTOR,)
DREAM_SERVICE_REJECTION = (
    "Post-restore hook 'dream-service' is intentionally not supported (per #11141 peer-review): REM cycle does "
    "graph mutation + inference and can blur recovery validation. File a follow-up ticket if needed."
)
HOOK_DONE_MESSAGE = "FileSystemIngestor.syncWorkspaceToGraph() completed"

ROOT_ID = "project-root"
ROOT_DATA = {"id": ROOT_ID, "label": "SYSTEM_ANCHOR",
             "properties": {"name": "Neo.mjs Ecosystem Root",
                            "description": "The physical root directory of the Neo.mjs project."}}
IGNORED_NAMES = frozenset({"node_modules", "dist", ".git", ".DS_Store", "build", ".env", ".neo-ai-data", "tmp",
                           ".idea", ".gemini", ".codex", ".claude", ".agents"})
IGNORED_PATHS = frozenset({"docs/output", "resources/images", "resources/fonts"})
BINARY_EXTENSIONS = frozenset({
    # images
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".ico", ".tif", ".tiff", ".avif", ".heic", ".svg",
    # fonts
    ".woff", ".woff2", ".ttf", ".otf", ".eot",
    # media
    ".mp3", ".mp4", ".wav", ".ogg", ".webm", ".mov", ".avi", ".mkv", ".flac", ".m4a",
    # other binaries
    ".map", ".pdf", ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".jar", ".wasm",
})
EDGE_NAMESPACE = uuid.UUID("6f1c3c2e-6a53-4b0c-9a43-2f8f8e0b7a11")
BATCH = 2_000


def check_hook(name: str | None, workspace: Path | None = None) -> None:
    """neo's allowlist, with neo's messages, before anything is written (neo checked it only afterwards)."""
    if name is None:
        return
    if name == "dream-service":
        raise UsageError(DREAM_SERVICE_REJECTION)
    if name not in ALLOWED_HOOKS:
        raise UsageError(f"Unknown post-restore hook: {name}. Allowlist: {', '.join(ALLOWED_HOOKS)}.")
    if workspace is None:
        raise UsageError(f"--post-restore-hook={name} needs --workspace DIR (the project tree it ingests)")
    if not Path(workspace).is_dir():
        raise UsageError("--workspace is not a directory", path=workspace)


@dataclass
class IngestResult:
    ok: bool = True
    message: str = HOOK_DONE_MESSAGE
    workspace: str = ""
    paths: int = 0
    nodesInserted: int = 0
    nodesUpdated: int = 0
    nodesUnchanged: int = 0
    edgesInserted: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Entry:
    rel: str  # posix path relative to the workspace
    is_dir: bool
    path: str
    mtime_ms: float


def ignored(rel: str, name: str, is_dir: bool) -> bool:
    if name in IGNORED_NAMES or rel in IGNORED_PATHS:
        return True
    return not is_dir and os.path.splitext(name)[1].lower() in BINARY_EXTENSIONS


def walk(workspace: Path) -> Iterator[Entry]:
    """Every non-ignored path, parents before children, sorted so runs are reproducible; symlinks skipped."""
    stack = [("", str(workspace))]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except OSError:
            continue
        subdirs: list[tuple[str, str]] = []
        for e in entries:
            if e.is_symlink():
                continue
            is_dir = e.is_dir(follow_symlinks=False)
            if not is_dir and not e.is_file(follow_symlinks=False):
                continue
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            if ignored(rel, e.name, is_dir):
                continue
            yield Entry(rel, is_dir, e.path, e.stat(follow_symlinks=False).st_mtime_ns / 1e6)
            if is_dir:
                subdirs.append((rel, e.path))
        stack.extend(reversed(subdirs))


def md5_file(path: str) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def node_id(rel: str) -> str:
    return f"file-{rel}"


def parent_id(rel: str) -> str:
    head = rel.rpartition("/")[0]
    return node_id(head) if head else ROOT_ID


def node_data(e: Entry, digest: str | None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "name": e.rel.rpartition("/")[2],
        "description": f"Directory: {e.rel}" if e.is_dir else f"File path: {e.rel}",
        "path": e.rel, "mtimeMs": e.mtime_ms, "isConceptEdgeStub": False,
    }
    if digest is not None:
        props["hash"] = digest
    return {"id": node_id(e.rel), "label": "DIRECTORY" if e.is_dir else "FILE", "properties": props}


def edge_data(source: str, target: str) -> dict[str, Any]:
    eid = str(uuid.uuid5(EDGE_NAMESPACE, f"{source}->{target}:CONTAINS"))
    return {"id": eid, "source": source, "target": target, "type": "CONTAINS", "properties": {"weight": 1}}


def _unchanged(old: dict[str, Any], e: Entry) -> tuple[bool, str | None]:
    """neo: unchanged mtime or unchanged MD5 -> no upsert. Returns (unchanged, md5 if computed)."""
    raw = old.get("properties")
    props: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if props.get("mtimeMs") == e.mtime_ms:
        return True, None
    if e.is_dir:
        return False, None
    digest = md5_file(e.path)
    return props.get("hash") == digest, digest


def sync_workspace_to_graph(conn: Any, workspace: Path, *, journal: Any = None,
                            on_progress: ProgressFn = no_progress,
                            cancel: threading.Event | None = None) -> IngestResult:
    """Write FILE/DIRECTORY nodes and CONTAINS edges for `workspace` into the graph, idempotently.

    Every batch is one transaction; inserted ids go to the run journal (so undo removes them), nodes
    updated in place are listed there too (undo reports them; it cannot un-update).
    """
    from core.journal import crc_text

    res = IngestResult(workspace=str(workspace))
    ticker = Ticker("hook", None, on_progress, unit="paths")
    conn.execute("BEGIN IMMEDIATE")
    try:
        root = orjson.dumps(ROOT_DATA).decode()
        cur = conn.execute("INSERT OR IGNORE INTO Nodes (id, user_id, data) VALUES (?, NULL, ?)", (ROOT_ID, root))
        root_pairs = [(ROOT_ID, crc_text(root))] if cur.rowcount == 1 else []
        res.nodesInserted += len(root_pairs)
        b = journal.pending("graph", origin="hook", nodes=root_pairs, edges=[]) if journal and root_pairs else None
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if b is not None:
        journal.committed(b)
    batch: list[Entry] = []
    for e in walk(workspace):
        batch.append(e)
        if len(batch) >= BATCH:
            _ingest_batch(conn, batch, res, journal, crc_text)
            batch = []
            check_cancel(cancel)
            ticker.update(res.paths)
    _ingest_batch(conn, batch, res, journal, crc_text)
    ticker.update(res.paths, force=True)
    return res


def _ingest_batch(conn: Any, batch: list[Entry], res: IngestResult, journal: Any, crc_text: Any) -> None:
    if not batch:
        return
    ids = [node_id(e.rel) for e in batch]
    conn.execute("BEGIN IMMEDIATE")
    try:
        existing = dict(select_by_ids(conn, "SELECT t.id, t.data FROM v CROSS JOIN Nodes t ON t.id = v.id", ids))
        inserted: list[tuple[str, int]] = []
        updated: list[str] = []
        edges: list[tuple[str, int]] = []
        for e, nid in zip(batch, ids, strict=True):
            res.paths += 1
            old_text = existing.get(nid)
            if old_text is not None:
                try:
                    old = orjson.loads(old_text)
                except orjson.JSONDecodeError:
                    old = {}
                same, digest = _unchanged(old if isinstance(old, dict) else {}, e)
                if same:
                    res.nodesUnchanged += 1
                else:
                    if digest is None and not e.is_dir:
                        digest = md5_file(e.path)
                    text = orjson.dumps(node_data(e, digest)).decode()
                    # UPDATE keeps the row (and its edges); OR REPLACE would delete-then-insert and cascade
                    conn.execute("UPDATE Nodes SET data = ? WHERE id = ?", (text, nid))
                    updated.append(nid)
                    res.nodesUpdated += 1
            else:
                text = orjson.dumps(node_data(e, None if e.is_dir else md5_file(e.path))).decode()
                conn.execute("INSERT INTO Nodes (id, user_id, data) VALUES (?, NULL, ?)", (nid, text))
                inserted.append((nid, crc_text(text)))
                res.nodesInserted += 1
            src = parent_id(e.rel)
            has_edge = conn.execute(
                "SELECT 1 FROM Edges WHERE source = ? AND target = ? AND type = 'CONTAINS' LIMIT 1",
                (src, nid)).fetchone()
            if has_edge is None:
                ed = edge_data(src, nid)
                text = orjson.dumps(ed).decode()
                cur = conn.execute("INSERT OR IGNORE INTO Edges (id, user_id, source, target, type, data) "
                                   "VALUES (?, NULL, ?, ?, 'CONTAINS', ?)", (ed["id"], src, nid, text))
                if cur.rowcount == 1:
                    edges.append((ed["id"], crc_text(text)))
                    res.edgesInserted += 1
        b = None
        if journal is not None and (inserted or edges or updated):
            b = journal.pending("graph", origin="hook", nodes=inserted, edges=edges, updated=updated)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if b is not None:
        journal.committed(b)


def run_hook(name: str, conn: Any, *, workspace: Path, journal: Any = None, on_progress: ProgressFn = no_progress,
             cancel: threading.Event | None = None) -> dict[str, Any]:
    """Run an allowlisted hook and return neo's `{hook, result}` shape (with the ingestor's counts)."""
    check_hook(name, workspace)
    res = sync_workspace_to_graph(conn, Path(workspace), journal=journal, on_progress=on_progress, cancel=cancel)
    return {"hook": name, "result": res.to_json()}
