"""The run journal: every restore that writes is recorded under `<state dir>/runs/<run id>/`, and can be undone.

Layout of one run:
- `run.json`: bundle, options, start and end, status, counts, the pre-restore safety bundle, undo state.
  Rewritten atomically at start, at the end, and by undo.
- `ids.jsonl`: what the run inserted, streamed as it goes. Before a batch commits, a *pending* record with
  the batch's inserted ids (and a CRC-32 of what was written for each) is appended and fsynced; after the
  commit, a one-line `{"ok": n}` marker follows. A run killed between the two leaves a pending record with
  no marker. `recover_interrupted` resolves it (under the data dir lock, before anything else writes) by
  looking at the stores: the batch committed exactly when its rows are there with the data it wrote.
- `flat/<substrate>/<name>`: the previous content of flat files a restore overwrote, so undo can put them back.

Paths in the journal are relative: a flat file's target to the data dir, its saved previous copy to the run
dir. Undo resolves them against the data dir it is given and refuses, before its first write, any that
resolves outside it (through `..` or a symlink); an absolute path (journals written before paths were
relative) is accepted only when it lies inside the current data dir. So undo in a copied or moved data dir
touches the copy, never the original.

Everything here is owner-only: directories 0700, files 0600 (the journal names ids and holds copies of data).

Dry runs are not journaled: `--dry-run` promises to write nothing, and the journal is the list of runs
that changed something (and can be undone).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import stat
import threading
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from core.bundle import iso_ms
from core.datadir import COLLECTIONS, DataDir
from core.errors import ConsoleError, UsageError
from core.graph import select_by_ids
from core.jsonl import copy_file_hashed, fsync_dir, sha256_file, write_atomic
from core.lock import exclusive
from core.progress import ProgressFn, Ticker, check_cancel, no_progress

RUN_FILE = "run.json"
IDS_FILE = "ids.jsonl"
STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")
UNDO_BATCH = 5_000


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and time-based: `20260510T181010123Z-3fa2c1` (UTC, milliseconds, random suffix)."""
    t = (now or datetime.now(UTC)).astimezone(UTC)
    return t.strftime("%Y%m%dT%H%M%S") + f"{t.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def crc_text(text: str) -> int:
    """What undo compares to decide whether a row was modified since the run wrote it."""
    return zlib.crc32(text.encode())


def crc_bytes(raw: bytes) -> int:
    return zlib.crc32(raw)


def crc_chroma(document: Any, metadata: Any) -> int:
    # Embeddings are not part of it: a cosine collection returns vectors within 1 ulp of what was written.
    return zlib.crc32(orjson.dumps([document, metadata], option=orjson.OPT_SORT_KEYS))


@dataclass
class RunRecord:
    runId: str
    kind: str
    bundle: str
    mode: str
    options: dict[str, Any]
    startedAt: str
    status: str
    pid: int
    host: str
    endedAt: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    safetyBundle: str | None = None
    undo: dict[str, Any] | None = None
    # every pending batch has its ok / rolledBack marker (set at a clean finish, or by recovery)
    resolved: bool = False
    path: Path | None = None  # the run's directory (not serialised)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any], path: Path) -> RunRecord:
        known = {k: obj[k] for k in cls.__dataclass_fields__ if k in obj and k != "path"}
        return cls(**known, path=path)

    @property
    def undoable(self) -> bool:
        return self.mode == "merge" and not (self.undo and self.undo.get("status") == "completed")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_record(run_dir: Path) -> RunRecord | None:
    try:
        return RunRecord.from_json(orjson.loads((run_dir / RUN_FILE).read_bytes()), run_dir)
    except (OSError, orjson.JSONDecodeError, TypeError):
        return None


def list_runs(dd: DataDir) -> list[RunRecord]:
    """Every journaled run, newest first. A `running` run whose process is gone is shown `interrupted`."""
    if not dd.runs_dir.is_dir():
        return []
    runs: list[RunRecord] = []
    for entry in sorted(dd.runs_dir.iterdir(), reverse=True):
        rec = _read_record(entry) if entry.is_dir() else None
        if rec is None:
            continue
        if rec.status == "running" and (rec.host != socket.gethostname() or not _pid_alive(rec.pid)):
            rec.status = "interrupted"
        runs.append(rec)
    return runs


def get_run(dd: DataDir, run_id: str) -> RunRecord:
    """The run with this id, or with the only id that starts with it (ambiguous -> UsageError naming them)."""
    usable = bool(run_id) and "/" not in run_id and "\x00" not in run_id
    rec = _read_record(dd.runs_dir / run_id) if usable else None
    if rec is not None:
        return rec
    matches: list[RunRecord] = []
    if usable and dd.runs_dir.is_dir():
        for entry in sorted(dd.runs_dir.iterdir()):
            if entry.name.startswith(run_id) and entry.is_dir() and (found := _read_record(entry)) is not None:
                matches.append(found)
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(m.runId for m in matches[:10])
        more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
        raise UsageError(f"run id prefix {run_id} is ambiguous: it matches {len(matches)} runs: {shown}{more}. "
                         "Give more of the id (see `recovery-console runs`)", path=dd.runs_dir)
    raise UsageError(f"no such run: {run_id} (see `recovery-console runs`)", path=dd.runs_dir)


class RunJournal:
    """The writer side of one run; `pending` / `committed` bracket every batch that inserts."""

    def __init__(self, record: RunRecord) -> None:
        assert record.path is not None
        self.record = record
        self.dir = record.path
        self._batch = 0
        self._open: set[int] = set()  # pending batches without a marker yet
        fd = os.open(self.dir / IDS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fh: IO[bytes] = os.fdopen(fd, "ab")  # closed in finish()

    @classmethod
    def start(cls, dd: DataDir, *, bundle: Path, mode: str, options: dict[str, Any]) -> RunJournal:
        dd.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):  # a runs dir made by an older version, before it was owner-only
            os.chmod(dd.runs_dir, 0o700)
        run_id = new_run_id()
        run_dir = dd.runs_dir / run_id
        run_dir.mkdir(mode=0o700)
        rec = RunRecord(runId=run_id, kind="restore", bundle=str(bundle), mode=mode, options=options,
                        startedAt=iso_ms(datetime.now(UTC)), status="running", pid=os.getpid(),
                        host=socket.gethostname(), path=run_dir)
        j = cls(rec)
        j.save()
        return j

    @property
    def run_id(self) -> str:
        return self.record.runId

    def save(self) -> None:
        write_atomic(self.dir / RUN_FILE, orjson.dumps(self.record.to_json(), option=orjson.OPT_INDENT_2) + b"\n")

    def pending(self, substrate: str, **payload: Any) -> int:
        """Record what a batch is about to commit; durable before the commit so a crash cannot hide it."""
        self._batch += 1
        self._open.add(self._batch)
        self._fh.write(orjson.dumps({"b": self._batch, "s": substrate, **payload}) + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return self._batch

    def committed(self, batch: int) -> None:
        self._mark({"ok": batch}, batch)

    def rolled_back(self, batch: int) -> None:
        """The batch's transaction was rolled back in-process: none of its rows landed."""
        self._mark({"rolledBack": batch}, batch)

    def _mark(self, marker: dict[str, int], batch: int) -> None:
        self._fh.write(orjson.dumps(marker) + b"\n")
        self._fh.flush()
        self._open.discard(batch)

    def save_previous(self, substrate: str, target: Path) -> str:
        """Copy a flat file a restore is about to overwrite (owner-only); -> its path relative to the run dir."""
        d = self.dir
        for part in ("flat", substrate):
            d = d / part
            d.mkdir(exist_ok=True, mode=0o700)
        keep = d / target.name
        if not keep.exists():  # an earlier copy in this run is the pre-run content: never overwrite it
            copy_file_hashed(target, keep, mode=0o600)
        return f"flat/{substrate}/{target.name}"

    def finish(self, status: str, *, counts: dict[str, Any] | None = None, error: str | None = None) -> None:
        assert status in STATUSES
        with contextlib.suppress(OSError):
            self._fh.close()
        self.record.status = status
        self.record.resolved = not self._open  # else recover_interrupted looks at the stores later
        self.record.endedAt = iso_ms(datetime.now(UTC))
        if counts is not None:
            self.record.counts = counts
        self.record.error = error
        self.save()


# ------------------------------------------------------------------------------------- reading the journal


def _records(run_dir: Path) -> Iterator[dict[str, Any]]:
    path = run_dir / IDS_FILE
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                yield orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # a torn last line from a kill: its batch has no marker, so it never committed


def _outcomes(run_dir: Path) -> dict[int, bool]:
    """batch -> committed? (from the `ok` / `rolledBack` markers); unresolved batches are absent."""
    out: dict[int, bool] = {}
    for rec in _records(run_dir):
        if "ok" in rec:
            out[int(rec["ok"])] = True
        elif "rolledBack" in rec:
            out[int(rec["rolledBack"])] = False
    return out


def committed_batches(run_dir: Path, substrate: str | None = None) -> Iterator[dict[str, Any]]:
    """The pending records whose batch committed (after recovery every batch is resolved)."""
    done = _outcomes(run_dir)
    for rec in _records(run_dir):
        if "b" in rec and done.get(int(rec["b"])) and (substrate is None or rec.get("s") == substrate):
            yield rec


def journal_path(dd: DataDir, target: Path) -> str:
    """How the journal names a flat file a restore writes: relative to the data dir, posix separators."""
    return Path(os.path.relpath(target, dd.root)).as_posix()


def _within(journaled: str, base: Path) -> Path | None:
    """The real path a journal entry names (relative to `base`, or absolute), if it stays inside `base`."""
    try:
        real = Path(os.path.realpath(base / journaled))  # `base / absolute` is the absolute path
    except ValueError:  # an embedded NUL: no such path
        return None
    root = Path(os.path.realpath(base))
    return real if real != root and real.is_relative_to(root) else None


@dataclass(frozen=True)
class _FlatUndo:
    target: Path
    previous: Path | None
    recorded_previous: str | None
    sha256: str | None


def _flat_undo_plan(dd: DataDir, rec: RunRecord) -> list[_FlatUndo]:
    """Every flat file the run wrote, resolved; refuses (naming them) any path outside the data or run dir."""
    assert rec.path is not None
    plan: list[_FlatUndo] = []
    targets_out: list[str] = []
    copies_out: list[str] = []
    for b in committed_batches(rec.path, "flat"):
        target = _within(str(b["target"]), dd.root)
        if target is None:
            targets_out.append(_shown(str(b["target"]), dd.root))
        prev = b.get("previous")
        previous = _within(str(prev), rec.path) if prev else None
        if prev and previous is None:
            copies_out.append(_shown(str(prev), rec.path))
        if target is not None:
            plan.append(_FlatUndo(target, previous, prev, b.get("sha256")))
    if targets_out or copies_out:
        parts = [f"{what} {base}: {_listing(paths)}" for what, base, paths in (
            ("files outside the data dir", dd.root, targets_out), ("saved copies outside the run dir", rec.path, copies_out))
            if paths]
        raise ConsoleError(f"undo of run {rec.runId} refused, nothing was changed: its journal names "
                           f"{'; and '.join(parts)}")
    return plan


def _shown(journaled: str, base: Path) -> str:
    try:
        real = os.path.realpath(base / journaled)
    except ValueError:
        real = journaled
    return journaled if real == journaled else f"{journaled} (resolves to {real})"


def _listing(paths: list[str], limit: int = 10) -> str:
    more = f", and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


def _graph_rows_equal(conn: Any, table: str, pairs: list[list[Any]]) -> int:
    """How many (id, crc) pairs are present in `table` with exactly that data."""
    if not pairs:
        return 0
    want = {p[0]: p[1] for p in pairs}
    q = f"SELECT t.id, t.data FROM v CROSS JOIN {table} t ON t.id = v.id"
    return sum(crc_text(data) == want.get(rid) for rid, data in select_by_ids(conn, q, list(want)))


def _chroma_rows_equal(col: Any, pairs: list[list[Any]]) -> int:
    if col is None or not pairs:
        return 0
    want = {p[0]: p[1] for p in pairs}
    got = col.get(ids=list(want), include=["metadatas", "documents"])
    docs = got.get("documents") or [None] * len(got["ids"])
    metas = got.get("metadatas") or [None] * len(got["ids"])
    return sum(crc_chroma(d, m) == want[i] for i, d, m in zip(got["ids"], docs, metas, strict=True))


@dataclass
class Stores:
    """Lazy access to the live stores for recovery and undo (opened only if a batch needs them)."""

    dd: DataDir
    _conn: Any = None
    _client: Any = None

    def conn(self) -> Any:
        if self._conn is None:
            from core.graph import connect

            self._conn = connect(self.dd.graph_db, create=True)
        return self._conn

    def collection(self, key: str) -> Any:
        from core import chroma as ch

        if self._client is None:
            self._client = ch.open_client(self.dd, create=False)
        return ch.get_collection(self._client, COLLECTIONS[key]) if self._client is not None else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _batch_landed(stores: Stores, rec: dict[str, Any]) -> bool:
    s = rec.get("s")
    if s == "graph":
        conn = stores.conn()
        return (_graph_rows_equal(conn, "Nodes", rec.get("nodes", []))
                + _graph_rows_equal(conn, "Edges", rec.get("edges", []))) > 0
    if s in COLLECTIONS:
        return _chroma_rows_equal(stores.collection(s), rec.get("rows", [])) > 0
    if s == "flat":
        target = _within(str(rec["target"]), stores.dd.root)
        if target is None:
            return True  # cannot look outside the data dir: keep it journaled, so undo refuses and names it
        return target.is_file() and sha256_file(target) == rec.get("sha256")
    return False


def recover_interrupted(dd: DataDir, stores: Stores | None = None) -> list[str]:
    """Resolve the unmarked batches of runs that died (or failed mid-batch); call with the data dir lock held.

    Holding the lock means no other run is writing, so every `running` record belongs to a dead process.
    A SQLite batch commits atomically, so "any row of the batch is there with the data it wrote" means it
    committed. Resolving *before* the next run writes matters: a re-run inserts the same rows, and they
    must be attributed to the re-run, not to the run that died. Returns the ids of the runs it resolved.
    """
    own = stores is None
    stores = stores or Stores(dd)
    fixed: list[str] = []
    try:
        for rec in list_runs(dd):
            if rec.resolved or rec.path is None:
                continue
            done = _outcomes(rec.path)
            markers: list[bytes] = []
            for batch in _records(rec.path):
                if "b" in batch and int(batch["b"]) not in done:
                    landed = _batch_landed(stores, batch)
                    markers.append(orjson.dumps({"ok": batch["b"]} if landed else {"rolledBack": batch["b"]}))
            if markers:
                with open(rec.path / IDS_FILE, "ab") as fh:
                    # a torn last line (killed mid-write) must not swallow the first marker
                    fh.write(b"\n" + b"\n".join(markers) + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            if rec.status in ("running", "interrupted"):
                rec.status = "interrupted"
                rec.endedAt = rec.endedAt or iso_ms(datetime.now(UTC))
                rec.error = rec.error or "the process died before the run finished; committed batches are journaled"
            rec.resolved = True
            write_atomic(rec.path / RUN_FILE, orjson.dumps(rec.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
            fixed.append(rec.runId)
    finally:
        if own:
            stores.close()
    return fixed


# ------------------------------------------------------------------------------------------------ undo


@dataclass
class UndoResult:
    runId: str
    status: str = "completed"
    removed: dict[str, int] = field(default_factory=dict)
    # rows the run inserted that were modified live since: kept, listed by id
    keptModified: dict[str, list[str]] = field(default_factory=dict)
    # nodes the run inserted that live edges written since still reference: kept (a delete would cascade)
    keptReferenced: list[str] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)  # already gone before the undo
    restoredFiles: list[str] = field(default_factory=list)
    notReverted: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def _kept(self, key: str, rid: str) -> None:
        lst = self.keptModified.setdefault(key, [])
        if len(lst) < 1000:
            lst.append(rid)

    def _add(self, bucket: dict[str, int], key: str, n: int) -> None:
        bucket[key] = bucket.get(key, 0) + n


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
        assert rec.path is not None
        run_id = rec.runId  # the whole id, when a prefix named it
        if rec.mode == "replace":
            where = f" ({rec.safetyBundle})" if rec.safetyBundle else ""
            raise ConsoleError(
                f"run {run_id} was a replace: undo cannot rebuild what it truncated. Restore its pre-restore "
                f"safety bundle{where} instead: recovery-console restore {rec.safetyBundle or 'BUNDLE'} "
                f"--mode replace --force")
        if rec.status == "running":
            raise ConsoleError(f"run {run_id} is still running (pid {rec.pid})")
        if rec.undo and rec.undo.get("status") == "completed":
            raise ConsoleError(f"run {run_id} was already undone at {rec.undo.get('endedAt')}")
        flat = _flat_undo_plan(dd, rec)  # refuses before the first write
        res = UndoResult(run_id)
        rec.undo = {"status": "running", "startedAt": iso_ms(datetime.now(UTC))}
        _save(rec)
        stores = Stores(dd)
        try:
            _undo_graph(stores, rec.path, res, on_progress, cancel)
            for key in ("kb", "memories", "summaries"):
                _undo_collection(stores, rec.path, key, res, on_progress, cancel)
            _undo_flat(flat, res)
            hook_updates = sum(len(b.get("updated", [])) for b in committed_batches(rec.path, "graph"))
            if hook_updates:
                res.notReverted["hookUpdatedNodes"] = hook_updates
                res.warnings.append(f"{hook_updates} node(s) the post-restore hook updated in place are not reverted")
        except BaseException as exc:
            res.status = "cancelled" if exc.__class__.__name__ == "Cancelled" else "failed"
            rec.undo = {**rec.undo, "status": res.status, "endedAt": iso_ms(datetime.now(UTC)),
                        "error": str(exc), "result": res.to_json()}
            _save(rec)
            raise
        finally:
            stores.close()
        rec.undo = {**rec.undo, "status": "completed", "endedAt": iso_ms(datetime.now(UTC)),
                    "result": {k: v for k, v in res.to_json().items() if k != "keptModified"}}
        _save(rec)
        return res


def _save(rec: RunRecord) -> None:
    assert rec.path is not None
    write_atomic(rec.path / RUN_FILE, orjson.dumps(rec.to_json(), option=orjson.OPT_INDENT_2) + b"\n")


def _chunks(pairs: list[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    for i in range(0, len(pairs), size):
        yield pairs[i:i + size]


def _undo_graph(stores: Stores, run_dir: Path, res: UndoResult, on_progress: ProgressFn,
                cancel: threading.Event | None) -> None:
    """Two streamed passes over the journal (edges, then nodes), so memory stays one chunk whatever the run size."""
    total = sum(len(b.get("nodes", [])) + len(b.get("edges", [])) for b in committed_batches(run_dir, "graph"))
    if not total:
        return
    conn = stores.conn()
    ticker = Ticker("undo", total, on_progress)
    done = 0
    # edges first: a node is deletable only once the run's own edges to it are gone
    for table, key in (("Edges", "edges"), ("Nodes", "nodes")):
        for b in committed_batches(run_dir, "graph"):
            for chunk in _chunks(b.get(key, []), UNDO_BATCH):
                check_cancel(cancel)
                _undo_graph_chunk(conn, table, key, chunk, res)
                done += len(chunk)
                ticker.update(done)
    ticker.update(done, force=True)


def _undo_graph_chunk(conn: Any, table: str, key: str, chunk: list[list[Any]], res: UndoResult) -> None:
    want = {p[0]: p[1] for p in chunk}
    conn.execute("BEGIN IMMEDIATE")
    try:
        present = select_by_ids(conn, f"SELECT t.id, t.data FROM v CROSS JOIN {table} t ON t.id = v.id", list(want))
        res._add(res.missing, key, len(want) - len(present))
        delete: list[str] = []
        for rid, data in present:
            if crc_text(data) != want[rid]:
                res._kept(key, rid)
            else:
                delete.append(rid)
        if table == "Nodes" and delete:
            # still referenced by an edge the undo keeps -> keep the node (no silent cascade)
            q = ("SELECT v.id FROM v WHERE EXISTS (SELECT 1 FROM Edges e WHERE e.source = v.id) "
                 "OR EXISTS (SELECT 1 FROM Edges e WHERE e.target = v.id)")
            referenced = {rid for (rid,) in select_by_ids(conn, q, delete)}
            if referenced:
                res.keptReferenced.extend(sorted(referenced)[: max(0, 1000 - len(res.keptReferenced))])
                res._add(res.notReverted, "referencedNodes", len(referenced))
                delete = [d for d in delete if d not in referenced]
        # Inside BEGIN IMMEDIATE nobody can add an edge between the check and the delete, so no node
        # deleted here has an edge left for ON DELETE CASCADE to remove.
        conn.executemany(f"DELETE FROM {table} WHERE id = ?", [(d,) for d in delete])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    res._add(res.removed, key, len(delete))


def _undo_collection(stores: Stores, run_dir: Path, key: str, res: UndoResult, on_progress: ProgressFn,
                     cancel: threading.Event | None) -> None:
    total = sum(len(b.get("rows", [])) for b in committed_batches(run_dir, key))
    if not total:
        return
    col = stores.collection(key)
    if col is None:
        res._add(res.missing, key, total)
        return
    ticker = Ticker(f"undo {key}", total, on_progress)
    done = 0
    for b in committed_batches(run_dir, key):
        for chunk in _chunks(b.get("rows", []), 1000):
            check_cancel(cancel)
            want = {p[0]: p[1] for p in chunk}
            got = col.get(ids=list(want), include=["metadatas", "documents"])
            docs = got.get("documents") or [None] * len(got["ids"])
            metas = got.get("metadatas") or [None] * len(got["ids"])
            delete = []
            for rid, d, m in zip(got["ids"], docs, metas, strict=True):
                if crc_chroma(d, m) == want[rid]:
                    delete.append(rid)
                else:
                    res._kept(key, rid)
            if delete:
                col.delete(ids=delete)
            res._add(res.removed, key, len(delete))
            res._add(res.missing, key, len(want) - len(got["ids"]))
            done += len(chunk)
            ticker.update(done)
    ticker.update(done, force=True)


def _undo_flat(plan: list[_FlatUndo], res: UndoResult) -> None:
    """Put back or remove each flat file the run wrote, unless it changed since (then it is kept and listed).

    A file put back keeps the mode of the file it replaces (the restore gave that one the original's mode).
    """
    for f in plan:
        target = f.target
        if not target.is_file():
            res._add(res.missing, "files", 1)
            continue
        if sha256_file(target) != f.sha256:
            res._kept("files", str(target))
            continue
        if f.recorded_previous and (f.previous is None or not f.previous.is_file()):
            res._add(res.notReverted, "files", 1)
            res.warnings.append(f"{target}: the copy of its previous content ({f.recorded_previous}) is gone "
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
            res.restoredFiles.append(str(target))
        else:
            target.unlink()
        fsync_dir(target.parent)
        res._add(res.removed, "files", 1)
