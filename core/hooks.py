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
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from core import graph_store as gs
from core.errors import UsageError
from core.journal import RunJournal, crc_text
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


@dataclass(frozen=True, kw_only=True)
class IngestResult:
    ok: bool = True
    message: str = HOOK_DONE_MESSAGE
    workspace: str = ""
    paths: int = 0
    nodes_inserted: int = 0
    nodes_updated: int = 0
    nodes_unchanged: int = 0
    edges_inserted: int = 0


@dataclass(frozen=True, kw_only=True)
class HookSkipped:
    """What a dry run reports for the hook it does not run (neo's #11141 review: hooks are no-ops then)."""

    ok: bool = True
    dry_run: bool = True
    message: str = "not run: dry run"


@dataclass(frozen=True, kw_only=True)
class HookOutcome:
    """neo's `{hook, result}` shape."""

    hook: str
    result: IngestResult | HookSkipped


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


def node_data(e: Entry, digest: str | None) -> dict[str, object]:
    props: dict[str, object] = {
        "name": e.rel.rpartition("/")[2],
        "description": f"Directory: {e.rel}" if e.is_dir else f"File path: {e.rel}",
        "path": e.rel, "mtimeMs": e.mtime_ms, "isConceptEdgeStub": False,
    }
    if digest is not None:
        props["hash"] = digest
    return {"id": node_id(e.rel), "label": "DIRECTORY" if e.is_dir else "FILE", "properties": props}


def edge_data(source: str, target: str) -> dict[str, object]:
    eid = str(uuid.uuid5(EDGE_NAMESPACE, f"{source}->{target}:CONTAINS"))
    return {"id": eid, "source": source, "target": target, "type": "CONTAINS", "properties": {"weight": 1}}


def _unchanged(old: Mapping[str, object], e: Entry) -> tuple[bool, str | None]:
    """neo: unchanged mtime or unchanged MD5 -> no upsert. Returns (unchanged, md5 if computed)."""
    raw = old.get("properties")
    props: Mapping[str, object] = raw if isinstance(raw, dict) else {}
    if props.get("mtimeMs") == e.mtime_ms:
        return True, None
    if e.is_dir:
        return False, None
    digest = md5_file(e.path)
    return props.get("hash") == digest, digest


class _Tally:
    def __init__(self) -> None:
        self.paths = self.nodes_inserted = self.nodes_updated = self.nodes_unchanged = self.edges_inserted = 0


def sync_workspace_to_graph(conn: sqlite3.Connection, workspace: Path, *, journal: RunJournal | None = None,
                            on_progress: ProgressFn = no_progress,
                            cancel: threading.Event | None = None) -> IngestResult:
    """Write FILE/DIRECTORY nodes and CONTAINS edges for `workspace` into the graph, idempotently.

    Every batch is one transaction; inserted ids go to the run journal (so undo removes them), nodes
    updated in place are listed there too (undo reports them; it cannot un-update).
    """
    t = _Tally()
    ticker = Ticker("hook", None, on_progress, unit="paths")
    b = None
    with gs.transaction(conn):
        root = orjson.dumps(ROOT_DATA).decode()
        root_pairs = [(ROOT_ID, crc_text(root))] if gs.insert_node_if_absent(conn, ROOT_ID, root) else []
        t.nodes_inserted += len(root_pairs)
        if journal is not None and root_pairs:
            b = journal.pending("graph", origin="hook", nodes=root_pairs, edges=[])
    if journal is not None and b is not None:
        journal.committed(b)
    batch: list[Entry] = []
    for e in walk(workspace):
        batch.append(e)
        if len(batch) >= BATCH:
            _ingest_batch(conn, batch, t, journal)
            batch = []
            check_cancel(cancel)
            ticker.update(t.paths)
    _ingest_batch(conn, batch, t, journal)
    ticker.update(t.paths, force=True)
    return IngestResult(workspace=str(workspace), paths=t.paths, nodes_inserted=t.nodes_inserted,
                        nodes_updated=t.nodes_updated, nodes_unchanged=t.nodes_unchanged,
                        edges_inserted=t.edges_inserted)


def _ingest_batch(conn: sqlite3.Connection, batch: list[Entry], t: _Tally, journal: RunJournal | None) -> None:
    if not batch:
        return
    ids = [node_id(e.rel) for e in batch]
    b = None
    with gs.transaction(conn):
        existing = dict(gs.rows_data(conn, gs.NODES, ids))
        inserted: list[tuple[str, int]] = []
        updated: list[str] = []
        edges: list[tuple[str, int]] = []
        for e, nid in zip(batch, ids, strict=True):
            t.paths += 1
            old_text = existing.get(nid)
            if old_text is not None:
                try:
                    old = orjson.loads(old_text)
                except orjson.JSONDecodeError:
                    old = {}
                same, digest = _unchanged(old if isinstance(old, dict) else {}, e)
                if same:
                    t.nodes_unchanged += 1
                else:
                    if digest is None and not e.is_dir:
                        digest = md5_file(e.path)
                    text = orjson.dumps(node_data(e, digest)).decode()
                    # UPDATE keeps the row (and its edges); OR REPLACE would delete-then-insert and cascade
                    gs.update_node_data(conn, nid, text)
                    updated.append(nid)
                    t.nodes_updated += 1
            else:
                text = orjson.dumps(node_data(e, None if e.is_dir else md5_file(e.path))).decode()
                gs.insert_new_node(conn, nid, text)
                inserted.append((nid, crc_text(text)))
                t.nodes_inserted += 1
            src = parent_id(e.rel)
            if not gs.has_contains_edge(conn, src, nid):
                ed = edge_data(src, nid)
                text = orjson.dumps(ed).decode()
                if gs.insert_contains_edge(conn, str(ed["id"]), src, nid, text):
                    edges.append((str(ed["id"]), crc_text(text)))
                    t.edges_inserted += 1
        if journal is not None and (inserted or edges or updated):
            b = journal.pending("graph", origin="hook", nodes=inserted, edges=edges, updated=updated)
    if journal is not None and b is not None:
        journal.committed(b)


def run_hook(name: str, conn: sqlite3.Connection, *, workspace: Path, journal: RunJournal | None = None,
             on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None) -> HookOutcome:
    """Run an allowlisted hook: neo's `{hook, result}` shape (with the ingestor's counts)."""
    check_hook(name, workspace)
    res = sync_workspace_to_graph(conn, Path(workspace), journal=journal, on_progress=on_progress, cancel=cancel)
    return HookOutcome(hook=name, result=res)
