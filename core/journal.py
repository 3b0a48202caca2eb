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

A flat file is journaled by what it is, not where it was: `{"substrate": "mailbox", "name": "sent-to-cull.jsonl"}`,
resolved against the data dir undo is given (its concepts folder, trajectories file, mailbox file, wherever
they are configured). So undo in a copied or moved data dir touches the copy, never the original, and a mailbox
configured outside the data dir (beside a graph DB set by NEO_MEMORY_DB_PATH) is undone where it is. Undo
refuses, before its first write, a name with a separator or `..`, a substrate without a target, and a target
in neo's layout under the data dir that resolves outside it (through a symlink: a copy whose concepts folder
links back to the original's). Older journals named a target by a path,
relative to the data dir or absolute inside it: those still read, and still must stay inside the data dir.
A saved previous copy is named relative to the run dir and must stay inside it.

Everything here is owner-only: directories 0700, files 0600 (the journal names ids and holds copies of data).

Dry runs are not journaled: `--dry-run` promises to write nothing, and the journal is the list of runs
that changed something (and can be undone).
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import secrets
import socket
import sqlite3
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson

from core import chroma_store as cs
from core import graph_store as gs
from core.datadir import DataDir
from core.errors import UsageError
from core.jsonl import copy_file_hashed, sha256_file, write_atomic
from core.substrates import COLLECTION_BY_KEY, FLAT_DIRECTORIES, FLAT_TARGETS
from core.units import iso_ms
from core.wire import decode, encode, wire

RUN_FILE = "run.json"
IDS_FILE = "ids.jsonl"
STATUSES = ("running", "completed", "failed", "cancelled", "interrupted")
# a journal line: a pending batch {"b", "s", ids...} or a marker {"ok": b} / {"rolledBack": b}
JournalEntry = Mapping[str, object]


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and time-based: `20260510T181010123Z-3fa2c1` (UTC, milliseconds, random suffix)."""
    t = (now or datetime.now(UTC)).astimezone(UTC)
    return t.strftime("%Y%m%dT%H%M%S") + f"{t.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def crc_text(text: str) -> int:
    """What undo compares to decide whether a row was modified since the run wrote it."""
    return zlib.crc32(text.encode())


def crc_chroma(document: object, metadata: object) -> int:
    # Embeddings are not part of it: a cosine collection returns vectors within 1 ulp of what was written.
    return zlib.crc32(orjson.dumps([document, metadata], option=orjson.OPT_SORT_KEYS))


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """`run.json`. Options, counts and undo are JSON as written (a record outlives the code that wrote it)."""

    run_id: str
    kind: str
    bundle: str
    mode: str
    options: Mapping[str, object]
    started_at: str
    status: str
    pid: int
    host: str
    ended_at: str | None = None
    counts: Mapping[str, object] = field(default_factory=dict)
    error: str | None = None
    safety_bundle: str | None = None
    undo: Mapping[str, object] | None = None
    # every pending batch has its ok / rolledBack marker (set at a clean finish, or by recovery)
    resolved: bool = False
    path: Path = field(metadata=wire(skip=True))  # the run's directory
    user: str | None = field(default=None, metadata=wire(omit_none=True))  # who ran it (runs before: absent)

    @property
    def undoable(self) -> bool:
        return self.mode == "merge" and not (self.undo and self.undo.get("status") == "completed")

    def save(self) -> None:
        write_atomic(self.path / RUN_FILE, orjson.dumps(encode(self), option=orjson.OPT_INDENT_2) + b"\n")


def current_user() -> str:
    """Who runs this process, for the record (a login name; under sudo, who sudo'd too)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # a container uid with no passwd entry
        name = f"uid {os.getuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{name} (sudo by {sudo})" if sudo and sudo != name else name


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
        obj = orjson.loads((run_dir / RUN_FILE).read_bytes())
        return decode(RunRecord, obj, path=run_dir) if isinstance(obj, dict) else None
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
            rec = dataclasses.replace(rec, status="interrupted")
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
        shown = ", ".join(m.run_id for m in matches[:10])
        more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
        raise UsageError(f"run id prefix {run_id} is ambiguous: it matches {len(matches)} runs: {shown}{more}. "
                         "Give more of the id (see `recovery-console runs`)", path=dd.runs_dir)
    raise UsageError(f"no such run: {run_id} (see `recovery-console runs`)", path=dd.runs_dir)


class RunJournal:
    """The writer side of one run; `pending` / `committed` bracket every batch that inserts."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.dir = record.path
        self._batch = 0
        self._open: set[int] = set()  # pending batches without a marker yet
        fd = os.open(self.dir / IDS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fh: IO[bytes] = os.fdopen(fd, "ab")  # closed in finish()

    @classmethod
    def start(cls, dd: DataDir, *, bundle: Path, mode: str, options: Mapping[str, object]) -> RunJournal:
        dd.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):  # a runs dir made by an older version, before it was owner-only
            os.chmod(dd.runs_dir, 0o700)
        run_id = new_run_id()
        run_dir = dd.runs_dir / run_id
        run_dir.mkdir(mode=0o700)
        rec = RunRecord(run_id=run_id, kind="restore", bundle=str(bundle), mode=mode, options=options,
                        started_at=iso_ms(datetime.now(UTC)), status="running", pid=os.getpid(),
                        host=socket.gethostname(), path=run_dir, user=current_user())
        j = cls(rec)
        j.save()
        return j

    @property
    def run_id(self) -> str:
        return self.record.run_id

    def save(self) -> None:
        self.record.save()

    def update(self, **changes: object) -> None:
        """Change the run record and write it (atomically)."""
        self.record = dataclasses.replace(self.record, **changes)  # type: ignore[arg-type]
        self.save()

    def pending(self, substrate: str, **payload: object) -> int:
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

    def finish(self, status: str, *, counts: Mapping[str, object] | None = None, error: str | None = None) -> None:
        assert status in STATUSES
        with contextlib.suppress(OSError):
            self._fh.close()
        self.update(status=status, resolved=not self._open,  # else recover_interrupted looks at the stores later
                    ended_at=iso_ms(datetime.now(UTC)), counts=self.record.counts if counts is None else counts,
                    error=error)


# ------------------------------------------------------------------------------------- reading the journal


def entries(run_dir: Path, *, markers_only: bool = False) -> Iterator[JournalEntry]:
    """The journal's records; `markers_only`: not the batches themselves (each a few MB of ids), which this
    journal always writes starting with `{"b":`."""
    path = run_dir / IDS_FILE
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for raw in fh:
            if markers_only and raw.startswith(b'{"b":'):
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # a torn last line from a kill: its batch has no marker, so it never committed
            if isinstance(obj, dict):
                yield obj


def _batch_no(value: object) -> int:
    return int(value) if isinstance(value, int | str) else -1


def _outcomes(run_dir: Path) -> dict[int, bool]:
    """batch -> committed? (from the `ok` / `rolledBack` markers); unresolved batches are absent."""
    out: dict[int, bool] = {}
    for rec in entries(run_dir, markers_only=True):
        if "ok" in rec:
            out[_batch_no(rec["ok"])] = True
        elif "rolledBack" in rec:
            out[_batch_no(rec["rolledBack"])] = False
    return out


def committed_batches(run_dir: Path, substrate: str | None = None) -> Iterator[JournalEntry]:
    """The pending records whose batch committed (after recovery every batch is resolved)."""
    done = _outcomes(run_dir)
    for rec in entries(run_dir):
        if "b" in rec and done.get(_batch_no(rec["b"])) and (substrate is None or rec.get("s") == substrate):
            yield rec


def pairs(rec: JournalEntry, key: str) -> list[tuple[str, int]]:
    """The (id, crc) pairs of one kind a batch journaled (`nodes`, `edges`, `rows`)."""
    value = rec.get(key)
    if not isinstance(value, list):
        return []
    return [(str(p[0]), int(p[1])) for p in value if isinstance(p, list) and len(p) == 2]


# --------------------------------------------------------------------------------------- flat file targets


def flat_ref(substrate: str, target: Path, member: str | None = None) -> dict[str, str]:
    """How the journal names a flat file a restore writes: by substrate (and ledger) and file name, never by
    path."""
    ref = {"substrate": substrate, "name": target.name}
    if member is not None:
        ref["member"] = member
    return ref


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in ("/", "\\", "\x00"))


def _inside(path: str, base: Path) -> bool:
    root = os.path.realpath(base)
    return path != root and Path(path).is_relative_to(root)


@dataclass(frozen=True)
class Resolved:
    """A journaled flat target: the real path undo may touch, or None and why it may not."""

    path: Path | None
    shown: str  # the journal's words, with what they resolve to when that differs
    outside: bool  # refused because it resolves outside the data (or run) dir, else not a target at all


def resolve_flat(dd: DataDir, journaled: object) -> Resolved:
    """The file a journal's flat record names, in this data dir (see the module docstring for the rules)."""
    if isinstance(journaled, Mapping):
        sub, name = journaled.get("substrate"), journaled.get("name")
        shown = f"{sub}/{name}"
        if sub == "ledgers" and isinstance(name, str) and _plain_name(name):
            return _resolve_ledger(dd, journaled.get("member"), name, shown)
        if sub not in FLAT_TARGETS or not isinstance(sub, str) or not isinstance(name, str) or not _plain_name(name):
            return Resolved(None, shown, outside=False)
        base = dd.flat_target(sub)
        if sub not in FLAT_DIRECTORIES and name != base.name:
            return Resolved(None, f"{shown} (this data dir's {sub} file is {base.name})", outside=False)
        real = os.path.realpath(base / name if sub in FLAT_DIRECTORIES else base)
        if not dd.flat_target_configured(sub) and not _inside(real, dd.root):
            return Resolved(None, f"{shown} (resolves to {real})", outside=True)
        return Resolved(Path(real), shown, outside=False)
    return within(str(journaled), dd.root)


def _resolve_ledger(dd: DataDir, member: object, name: str, shown: str) -> Resolved:
    """A ledger is where this data dir's neo keeps it (core.neo_paths), whatever the journal's words say."""
    neo = dd.neo
    files = {"healAttempts": neo.heal_attempts_file, "healEvents": neo.heal_events_file}
    if member in files:
        target = files[str(member)]
        if name != target.name:
            return Resolved(None, f"{shown} (this data dir's {member} ledger is {target.name})", outside=False)
        return Resolved(Path(os.path.realpath(target)), shown, outside=False)
    if member == "recoveryRuns":
        real = os.path.realpath(neo.recovery_runs_dir / name)
        if not _inside(real, neo.recovery_runs_dir):
            return Resolved(None, f"{shown} (resolves to {real})", outside=True)
        return Resolved(Path(real), shown, outside=False)
    return Resolved(None, shown, outside=False)


def within(journaled: str, base: Path) -> Resolved:
    """A path a journal names (relative to `base`, or absolute) if its real path stays inside `base`."""
    try:
        real = os.path.realpath(base / journaled)  # `base / absolute` is the absolute path
    except ValueError:  # an embedded NUL: no such path
        return Resolved(None, journaled, outside=True)
    shown = journaled if real == journaled else f"{journaled} (resolves to {real})"
    return Resolved(Path(real) if _inside(real, base) else None, shown, outside=True)


# ------------------------------------------------------------------------------------------------ recovery


class Stores:
    """Lazy access to the live stores for recovery and undo (opened only if a batch needs them)."""

    def __init__(self, dd: DataDir) -> None:
        self.dd = dd
        self._conn: sqlite3.Connection | None = None
        self._client: cs.ClientAPI | None = None
        self._opened_client = False

    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = gs.connect(self.dd.graph_db, create=True)
        return self._conn

    def collection(self, key: str, name: object = None) -> cs.Collection | None:
        """The collection a batch was written to: the one it names (a --target-collection run's KB), else the
        collection this data dir keeps that key in."""
        if not self._opened_client:
            self._client = cs.open_client(self.dd, create=False)
            self._opened_client = True
        return cs.get_collection(self._client, name if isinstance(name, str) and name else self.dd.collection_name(key))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def graph_rows_equal(conn: sqlite3.Connection, table: str, want: Mapping[str, int]) -> int:
    """How many of the (id -> crc) rows are present in `table` with exactly that data."""
    if not want:
        return 0
    return sum(crc_text(data) == want.get(rid) for rid, data in gs.rows_data(conn, table, list(want)))


def _chroma_rows_equal(col: cs.Collection | None, want: Mapping[str, int]) -> int:
    if col is None or not want:
        return 0
    return sum(crc_chroma(d, m) == want[i] for i, d, m in cs.documents(col, list(want)))


def _batch_landed(stores: Stores, rec: JournalEntry) -> bool:
    s = rec.get("s")
    if s == "graph":
        conn = stores.conn()
        return (graph_rows_equal(conn, gs.NODES, dict(pairs(rec, "nodes")))
                + graph_rows_equal(conn, gs.EDGES, dict(pairs(rec, "edges")))) > 0
    if isinstance(s, str) and s in COLLECTION_BY_KEY:
        return _chroma_rows_equal(stores.collection(s, rec.get("collection")), dict(pairs(rec, "rows"))) > 0
    if s == "flat":
        target = resolve_flat(stores.dd, rec.get("target")).path
        if target is None:
            return True  # cannot look there: keep it journaled, so undo refuses and names it
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
            if rec.resolved:
                continue
            done = _outcomes(rec.path)
            markers: list[bytes] = []
            for batch in entries(rec.path):
                if "b" in batch and _batch_no(batch["b"]) not in done:
                    landed = _batch_landed(stores, batch)
                    markers.append(orjson.dumps({"ok": batch["b"]} if landed else {"rolledBack": batch["b"]}))
            if markers:
                with open(rec.path / IDS_FILE, "ab") as fh:
                    # a torn last line (killed mid-write) must not swallow the first marker
                    fh.write(b"\n" + b"\n".join(markers) + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            if rec.status in ("running", "interrupted"):
                rec = dataclasses.replace(
                    rec, status="interrupted", ended_at=rec.ended_at or iso_ms(datetime.now(UTC)),
                    error=rec.error or "the process died before the run finished; committed batches are journaled")
            dataclasses.replace(rec, resolved=True).save()
            fixed.append(rec.run_id)
    finally:
        if own:
            stores.close()
    return fixed
