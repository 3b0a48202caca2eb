"""`undo`: remove exactly what a merge run inserted, and nothing written since (the journal says what; see
`core.journal` for how it names things and what it refuses)."""

from __future__ import annotations

import dataclasses
import os
import stat
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core import chroma_store as cs
from core import graph_store as gs
from core.datadir import DataDir
from core.errors import ConsoleError
from core.journal import (
    RunRecord,
    Stores,
    committed_batches,
    crc_chroma,
    crc_text,
    get_run,
    pairs,
    recover_interrupted,
    resolve_flat,
    within,
)
from core.jsonl import copy_file_hashed, fsync_dir, sha256_file
from core.lock import exclusive
from core.progress import Cancelled, ProgressFn, Ticker, check_cancel, no_progress
from core.substrates import VECTOR_COLLECTIONS
from core.units import iso_ms
from core.wire import encode

UNDO_BATCH = 5_000
CHROMA_UNDO_BATCH = 1_000
MAX_LISTED = 1_000  # kept ids listed per kind; all of them are counted


@dataclass(frozen=True, kw_only=True)
class UndoResult:
    run_id: str
    status: str = "completed"
    removed: Mapping[str, int] = field(default_factory=dict)
    # rows the run inserted that were modified live since: kept, listed by id
    kept_modified: Mapping[str, list[str]] = field(default_factory=dict)
    # nodes the run inserted that live edges written since still reference: kept (a delete would cascade)
    kept_referenced: list[str] = field(default_factory=list)
    missing: Mapping[str, int] = field(default_factory=dict)  # already gone before the undo
    restored_files: list[str] = field(default_factory=list)
    not_reverted: Mapping[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class _Tally:
    """What an undo did so far (the result, as it grows)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.removed: dict[str, int] = {}
        self.kept_modified: dict[str, list[str]] = {}
        self.kept_referenced: list[str] = []
        self.missing: dict[str, int] = {}
        self.restored_files: list[str] = []
        self.not_reverted: dict[str, int] = {}
        self.warnings: list[str] = []

    def kept(self, key: str, rid: str) -> None:
        lst = self.kept_modified.setdefault(key, [])
        if len(lst) < MAX_LISTED:
            lst.append(rid)

    @staticmethod
    def add(bucket: dict[str, int], key: str, n: int) -> None:
        bucket[key] = bucket.get(key, 0) + n

    def result(self, status: str) -> UndoResult:
        return UndoResult(run_id=self.run_id, status=status, removed=dict(self.removed),
                          kept_modified={k: list(v) for k, v in self.kept_modified.items()},
                          kept_referenced=list(self.kept_referenced), missing=dict(self.missing),
                          restored_files=list(self.restored_files), not_reverted=dict(self.not_reverted),
                          warnings=list(self.warnings))


@dataclass(frozen=True)
class _FlatUndo:
    target: Path
    previous: Path | None
    recorded_previous: str | None
    sha256: object


def _flat_undo_plan(dd: DataDir, rec: RunRecord) -> list[_FlatUndo]:
    """Every flat file the run wrote, resolved; refuses (naming them) any it may not touch."""
    plan: list[_FlatUndo] = []
    outside: list[str] = []
    unknown: list[str] = []
    copies_out: list[str] = []
    for b in committed_batches(rec.path, "flat"):
        target = resolve_flat(dd, b.get("target"))
        if target.path is None:
            (outside if target.outside else unknown).append(target.shown)
        prev = b.get("previous")
        previous = within(str(prev), rec.path) if prev else None
        if previous is not None and previous.path is None:
            copies_out.append(previous.shown)
        if target.path is not None:
            plan.append(_FlatUndo(target.path, previous.path if previous else None,
                                  str(prev) if prev else None, b.get("sha256")))
    parts = [f"{what}: {_listing(paths)}" for what, paths in (
        (f"files outside the data dir {dd.root}", outside),
        ("flat targets this data dir does not have", unknown),
        (f"saved copies outside the run dir {rec.path}", copies_out)) if paths]
    if parts:
        raise ConsoleError(f"undo of run {rec.run_id} refused, nothing was changed: its journal names "
                           f"{'; and '.join(parts)}")
    return plan


def _listing(paths: list[str], limit: int = 10) -> str:
    more = f", and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


def undo_run(dd: DataDir, run_id: str, *, on_progress: ProgressFn = no_progress,
             cancel: threading.Event | None = None) -> UndoResult:
    """Remove exactly what a merge run inserted, and nothing written since.

    - A row the run inserted and that was modified live since (its data differs) is kept and reported.
    - A node the run inserted that is still referenced by an edge the undo keeps (a live edge written since,
      or a run edge modified since) is kept and reported: deleting it would silently cascade to that edge
      through ON DELETE CASCADE. Skipping it rather than refusing the whole undo removes everything else and
      leaves a consistent graph; the report says exactly which nodes stayed and why.
    - A replace run is refused: it truncated the live data, which only its pre-restore safety bundle holds.
    """
    with exclusive(dd.state_dir, "undo"):
        recover_interrupted(dd)
        rec = get_run(dd, run_id)
        run_id = rec.run_id  # the whole id, when a prefix named it
        if rec.mode == "replace":
            where = f" ({rec.safety_bundle})" if rec.safety_bundle else ""
            raise ConsoleError(
                f"run {run_id} was a replace: undo cannot rebuild what it truncated. Restore its pre-restore "
                f"safety bundle{where} instead: recovery-console restore {rec.safety_bundle or 'BUNDLE'} "
                f"--mode replace --force")
        if rec.status == "running":
            raise ConsoleError(f"run {run_id} is still running (pid {rec.pid})")
        if rec.undo and rec.undo.get("status") == "completed":
            raise ConsoleError(f"run {run_id} was already undone at {rec.undo.get('endedAt')}")
        flat = _flat_undo_plan(dd, rec)  # refuses before the first write
        t = _Tally(run_id)
        undo: dict[str, object] = {"status": "running", "startedAt": iso_ms(datetime.now(UTC))}
        rec = _save(rec, undo)
        stores = Stores(dd)
        try:
            _undo_graph(stores, rec.path, t, on_progress, cancel)
            for c in VECTOR_COLLECTIONS:
                _undo_collection(stores, rec.path, c.key, t, on_progress, cancel)
            _undo_flat(flat, t)
            hook_updates = sum(len(u) for b in committed_batches(rec.path, "graph")
                               if isinstance(u := b.get("updated"), list))
            if hook_updates:
                t.not_reverted["hookUpdatedNodes"] = hook_updates
                t.warnings.append(f"{hook_updates} node(s) the post-restore hook updated in place are not reverted")
        except BaseException as exc:
            status = "cancelled" if isinstance(exc, Cancelled) else "failed"
            _save(rec, {**undo, "status": status, "endedAt": iso_ms(datetime.now(UTC)), "error": str(exc),
                        "result": encode(t.result(status))})
            raise
        finally:
            stores.close()
        res = t.result("completed")
        summary = encode(res)
        assert isinstance(summary, dict)
        _save(rec, {**undo, "status": "completed", "endedAt": iso_ms(datetime.now(UTC)),
                    "result": {k: v for k, v in summary.items() if k != "keptModified"}})
        return res


def _save(rec: RunRecord, undo: Mapping[str, object]) -> RunRecord:
    rec = dataclasses.replace(rec, undo=dict(undo))
    rec.save()
    return rec


def _chunks(items: list[tuple[str, int]], size: int) -> Iterator[list[tuple[str, int]]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _undo_graph(stores: Stores, run_dir: Path, t: _Tally, on_progress: ProgressFn,
                cancel: threading.Event | None) -> None:
    """Two streamed passes over the journal (edges, then nodes), so memory stays one chunk whatever the run size."""
    total = sum(len(pairs(b, "nodes")) + len(pairs(b, "edges")) for b in committed_batches(run_dir, "graph"))
    if not total:
        return
    ticker = Ticker("undo", total, on_progress)
    done = 0
    # edges first: a node is deletable only once the run's own edges to it are gone
    for table, key in ((gs.EDGES, "edges"), (gs.NODES, "nodes")):
        for b in committed_batches(run_dir, "graph"):
            for chunk in _chunks(pairs(b, key), UNDO_BATCH):
                check_cancel(cancel)
                _undo_graph_chunk(stores, table, key, dict(chunk), t)
                done += len(chunk)
                ticker.update(done)
    ticker.update(done, force=True)


def _undo_graph_chunk(stores: Stores, table: str, key: str, want: Mapping[str, int], t: _Tally) -> None:
    conn = stores.conn()
    with gs.transaction(conn):
        present = gs.rows_data(conn, table, list(want))
        missing = len(want) - len(present)
        delete: list[str] = []
        modified: list[str] = []
        for rid, data in present:
            (delete if crc_text(data) == want[rid] else modified).append(rid)
        referenced: set[str] = set()
        if table == gs.NODES and delete:
            # still referenced by an edge the undo keeps -> keep the node (no silent cascade)
            referenced = gs.referenced_nodes(conn, delete)
            delete = [d for d in delete if d not in referenced]
        # Inside the write transaction nobody can add an edge between the check and the delete, so no node
        # deleted here has an edge left for ON DELETE CASCADE to remove.
        gs.delete_rows(conn, table, delete)
    t.add(t.missing, key, missing)
    for rid in modified:
        t.kept(key, rid)
    if referenced:
        t.kept_referenced.extend(sorted(referenced)[: max(0, MAX_LISTED - len(t.kept_referenced))])
        t.add(t.not_reverted, "referencedNodes", len(referenced))
    t.add(t.removed, key, len(delete))


def _undo_collection(stores: Stores, run_dir: Path, key: str, t: _Tally, on_progress: ProgressFn,
                     cancel: threading.Event | None) -> None:
    total = sum(len(pairs(b, "rows")) for b in committed_batches(run_dir, key))
    if not total:
        return
    ticker = Ticker(f"undo {key}", total, on_progress)
    done = 0
    for b in committed_batches(run_dir, key):
        col = stores.collection(key, b.get("collection"))  # the collection this batch went into
        if col is None:
            t.add(t.missing, key, len(pairs(b, "rows")))
            continue
        for chunk in _chunks(pairs(b, "rows"), CHROMA_UNDO_BATCH):
            check_cancel(cancel)
            want = dict(chunk)
            got = cs.documents(col, list(want))
            delete = []
            for rid, d, m in got:
                if crc_chroma(d, m) == want[rid]:
                    delete.append(rid)
                else:
                    t.kept(key, rid)
            if delete:
                cs.delete(col, delete)
            t.add(t.removed, key, len(delete))
            t.add(t.missing, key, len(want) - len(got))
            done += len(chunk)
            ticker.update(done)
    ticker.update(done, force=True)


def _undo_flat(plan: list[_FlatUndo], t: _Tally) -> None:
    """Put back or remove each flat file the run wrote, unless it changed since (then it is kept and listed).

    A file put back keeps the mode of the file it replaces (the restore gave that one the original's mode).
    """
    for f in plan:
        target = f.target
        if not target.is_file():
            t.add(t.missing, "files", 1)
            continue
        if sha256_file(target) != f.sha256:
            t.kept("files", str(target))
            continue
        if f.recorded_previous and (f.previous is None or not f.previous.is_file()):
            t.add(t.not_reverted, "files", 1)
            t.warnings.append(f"{target}: the copy of its previous content ({f.recorded_previous}) is gone "
                              "from the run dir; the restored file is kept")
            continue
        if f.previous is not None:
            mode = stat.S_IMODE(target.stat().st_mode)
            tmp = target.with_name(f".{target.name}.undo-{os.getpid()}")
            tmp.unlink(missing_ok=True)
            try:
                copy_file_hashed(f.previous, tmp, mode=0o600)
                os.chmod(tmp, mode)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            t.restored_files.append(str(target))
        else:
            target.unlink()
        fsync_dir(target.parent)
        t.add(t.removed, "files", 1)
