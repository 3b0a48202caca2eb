"""Bundles on disk: naming, discovery, the listing of a backup root, reading a bundle's meta.

A bundle is a ``backup-<ISO time, colons as dashes>/`` folder with one folder per substrate and a
``bundle-meta.json`` receipt written last. Staging (``.backup-partial-*``) and trash (``.trash-backup-*``) are
residue, never bundles.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson

from core.datadir import DataDir
from core.errors import UsageError
from core.restorability import Answer, State, Survey, VerifyRecord, judge, rows_of, survey
from core.scan import payload_files
from core.substrates import (
    FLAT_SUBSTRATES,
    MEMORIES,
    RECOVERY_SUBSTRATES,
    SUBSTRATES,
    SUMMARIES,
    TEMPORAL_SUMMARIES_KEY,
    TEMPORAL_SUMMARIES_PREFIX,
    collection_key,
)
from core.units import colon_free, hours, iso_z
from core.verify_cache import VerifyCache
from core.wire import wire

BUNDLE_PREFIX = "backup-"
PARTIAL_PREFIX = ".backup-partial-"
TRASH_PREFIX = ".trash-backup-"
META_FILE = "bundle-meta.json"
LEDGER_FILE = "heal-attempts.json"
INTEGRITY_STATUSES = ("pass", "fail", "empty", "skipped")  # neo calls this set frozen

MAX_META_BYTES = 64 << 20  # a receipt is kilobytes; more is not one, and is never read whole

# raw neo meta: JSON read from a bundle, kept as it is
Meta = Mapping[str, Any]

_TIME_FIX = re.compile(r"T(\d{2})-(\d{2})-(\d{2})")


def bundle_name(t: datetime) -> str:
    return BUNDLE_PREFIX + colon_free(t)


def parse_bundle_time(name: str) -> datetime | None:
    """neo's rule: strip `backup-`, turn `THH-MM-SS` back into `THH:MM:SS`, parse; None if it does not parse."""
    if not name.startswith(BUNDLE_PREFIX):
        return None
    text = _TIME_FIX.sub(r"T\1:\2:\3", name[len(BUNDLE_PREFIX) :], count=1)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def substrate_files(bundle: Path, substrate: str) -> list[Path]:
    """The files restore would read for a substrate: its payload files, plus ledgers' fixed members. A symlink
    is never one of them (nor a folder reached through one): the bundle's cheap checks report it as a fault."""
    d = bundle / substrate
    if d.is_symlink() or not d.is_dir():
        return []
    with os.scandir(d):  # glob() hides a PermissionError; an unreadable dir must not look empty
        pass
    files = payload_files(d, compressed=substrate not in FLAT_SUBSTRATES)
    if substrate == "ledgers":
        extra = d / LEDGER_FILE
        if extra.is_file():
            files.insert(0, extra)
        runs = d / "recovery-runs"
        if not runs.is_symlink():
            files += payload_files(runs, compressed=False)
    return [f for f in files if not f.is_symlink()]


def collection_files(bundle: Path, key: str) -> list[Path]:
    """The bundle files restored into one collection (kb, memories, summaries, temporalSummaries)."""
    if key not in (MEMORIES.key, SUMMARIES.key, TEMPORAL_SUMMARIES_KEY):
        return substrate_files(bundle, key)
    return [f for f in substrate_files(bundle, "mc") if collection_key("mc", f.name) == key]


def captures_collection(bundle: Path, meta: Meta | None, key: str) -> bool:
    """Did the bundle capture this collection (a file of it, or a declared count, zero included)? Every bundle
    captures kb, memories and summaries; temporal summaries only a writer that knows them (neo-today.md 2.2), so
    a bundle without them says nothing about the live collection and a replace leaves it alone."""
    if key != TEMPORAL_SUMMARIES_KEY or collection_files(bundle, key):
        return True
    emb = (meta or {}).get("embedding")
    counts = emb.get("counts") if isinstance(emb, Mapping) else None
    return isinstance(counts, Mapping) and key in counts


def is_temporal_summary(path: Path) -> bool:
    return path.name.startswith(TEMPORAL_SUMMARIES_PREFIX)


@dataclass(frozen=True, kw_only=True)
class SubstrateInfo:
    name: str = field(metadata=wire(skip=True))
    present: bool
    files: tuple[str, ...] = ()
    bytes: int = 0
    rows: int | None = None  # from the meta or the verify cache, never by reading the rows (see rows_from)
    integrity: str | None = None  # the meta's status for kb/mc/graph
    error: str | None = None
    answer: Answer | None = field(default=None, metadata=wire(skip=True))  # kb/mc/graph: is it restorable?
    rows_from: str | None = None  # verify | checksums | integrity | embedding

    __wire__: ClassVar = ("present", "files", "bytes", "rows", "integrity", "recovery_restorable", "error",
                          "state", "word", "why", "rows_from")
    __wire_names__: ClassVar = {"recovery_restorable": "restorable"}

    @property
    def restorable(self) -> bool:
        """Counts as a copy (verified or claimed): what retention's floor and the guard's --no-verify count."""
        return self.answer is not None and self.answer.counts

    @property
    def recovery_restorable(self) -> bool | None:
        """`restorable` for a recovery substrate; None for the others (they have no integrity entry)."""
        return self.restorable if self.name in RECOVERY_SUBSTRATES else None

    @property
    def state(self) -> str | None:
        """verified | claimed | failed | not-restorable, for a recovery substrate."""
        return self.answer.state.value if self.answer is not None else None

    @property
    def word(self) -> str | None:
        """What a ✗ cell says (torn, symlink, empty, no meta, collapsed, ...)."""
        return self.answer.word if self.answer is not None else None

    @property
    def why(self) -> str | None:
        return self.answer.reason if self.answer is not None else None


@dataclass(frozen=True, kw_only=True)
class BundleInfo:
    name: str
    path: Path
    time: datetime = field(metadata=wire(encode=iso_z))
    age_hours: float  # at the time of the listing
    meta_state: str  # valid | absent | malformed
    meta: Meta | None = field(default=None, metadata=wire(skip=True))
    meta_error: str | None = None
    substrates: Mapping[str, SubstrateInfo] = field(default_factory=dict)
    error: str | None = field(default=None, metadata=wire(skip=True))  # set when the folder could not be read
    survey: Survey | None = field(default=None, metadata=wire(skip=True))  # its files' stamps and cheap faults
    record: VerifyRecord | None = field(default=None, metadata=wire(skip=True))  # a verify of exactly these files

    __wire__: ClassVar = ("name", "path", "time", "age_hours", "meta_state", "meta_error", "reason", "total_bytes",
                          "has_checksums", "substrates")
    __wire_names__: ClassVar = {"total_bytes": "bytes", "has_checksums": "checksums"}

    @property
    def reason(self) -> object:
        """Why the bundle was taken (`pre-restore` for a safety bundle), as the meta says."""
        return (self.meta or {}).get("reason")

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes for s in self.substrates.values())

    @property
    def has_checksums(self) -> bool:
        return isinstance((self.meta or {}).get("checksums"), dict)

    def integrity(self, substrate: str) -> str | None:
        return integrity_status(self.meta, substrate)

    def restorable(self, substrate: str) -> bool:
        """Verified or claimed (see core/restorability.py): what retention's floor counts."""
        sub = self.substrates.get(substrate)
        return self.error is None and sub is not None and sub.restorable

    def answer(self, substrate: str) -> Answer:
        sub = self.substrates.get(substrate)
        if self.error is not None or sub is None or sub.answer is None:
            return Answer(State.FAILED, "unreadable", f"the bundle could not be read ({self.error})")
        return sub.answer

    @property
    def unverified(self) -> bool:
        """Some recovery substrate is only claimed: a verify would settle it."""
        return any(self.answer(s).state is State.CLAIMED for s in RECOVERY_SUBSTRATES)


@dataclass(frozen=True, kw_only=True)
class Residue:
    name: str
    path: Path = field(metadata=wire(skip=True))
    kind: str  # staging | trash | unparseable
    bytes: int
    mtime: datetime = field(metadata=wire(encode=iso_z))


@dataclass(frozen=True, kw_only=True)
class Listing:
    """One read of a backup root: what `list` prints and what retention and the guard judge."""

    root: Path = field(metadata=wire("backupRoot"))
    exists: bool
    bundles: tuple[BundleInfo, ...] = ()
    residue: tuple[Residue, ...] = ()
    legacy_files: tuple[str, ...] = ()
    now: datetime = field(metadata=wire(skip=True))  # when it was read: the bundles' ages count from here

    @property
    def unverified(self) -> int:
        """Bundles with a substrate only claimed, not verified."""
        return sum(b.unverified for b in self.bundles)


def integrity_status(meta: Meta | None, substrate: str) -> str | None:
    if not meta or not isinstance(meta.get("integrity"), list):
        return None
    for entry in meta["integrity"]:
        if isinstance(entry, dict) and entry.get("subsystem") == substrate:
            status = entry.get("status")
            return status if isinstance(status, str) else None
    return None


def read_meta(bundle: Path) -> tuple[str, Meta | None, str | None]:
    """(state, meta, error). Valid means neo's completed receipt: a `completedAt` string and an `integrity` array."""
    path = bundle / META_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_META_BYTES + 1)
    except FileNotFoundError:
        return "absent", None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "malformed", None, "a symbolic link (never followed)"
        return "malformed", None, f"unreadable: {exc.strerror}"
    if len(raw) > MAX_META_BYTES:
        return "malformed", None, f"larger than {MAX_META_BYTES >> 20} MB: not a receipt"
    try:
        meta = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return "malformed", None, f"not JSON: {exc}"
    if not isinstance(meta, dict):
        return "malformed", None, "not a JSON object"
    if not isinstance(meta.get("completedAt"), str) or not meta["completedAt"]:
        return "malformed", meta, "no completedAt (not a completed receipt)"
    if not isinstance(meta.get("integrity"), list):
        return "malformed", meta, "no integrity array"
    return "valid", meta, None


def _member_order(rel: str) -> tuple[int, str]:
    # restore's order: ledgers' fixed member first, then each folder's payloads by name, recovery runs last
    return (0 if rel.endswith("/" + LEDGER_FILE) else rel.count("/"), rel)


def _substrate(sub: str, meta: Meta | None, seen: Survey, answer: Answer | None, record: VerifyRecord | None,
               present: bool) -> SubstrateInfo:
    stamps = sorted(seen.payloads.get(sub, ()), key=lambda st: _member_order(st.rel))
    rows, source = rows_of(sub, meta, seen, record)
    unreadable = [f.message for f in seen.faults if f.code == "unreadable" and (f.file or "").split("/")[0] == sub]
    return SubstrateInfo(name=sub, present=present, files=tuple(st.rel for st in stamps),
                         bytes=sum(st.size for st in stamps), rows=rows, rows_from=source,
                         integrity=integrity_status(meta, sub) if sub in RECOVERY_SUBSTRATES else None,
                         error=unreadable[0] if unreadable else None, answer=answer)


def inspect_bundle(path: Path, *, now: datetime | None = None, cache: VerifyCache | None = None) -> BundleInfo:
    """One bundle as a look at the root sees it: its meta, an lstat of each file, the verify cache's record of
    exactly these files, and per recovery substrate the one answer (core/restorability.py). Reads no payload."""
    name = path.name
    t = parse_bundle_time(name)
    if t is None:
        raise UsageError(f"not a bundle name (expected backup-<ISO time>): {name}", path=path)
    state, meta, meta_error = read_meta(path)
    seen = survey(path, meta if state == "valid" else None)
    record = cache.lookup(path, seen) if cache is not None else None
    subs: dict[str, SubstrateInfo] = {}
    for sub in SUBSTRATES:
        answer = judge(sub, state, meta, meta_error, seen, record) if sub in RECOVERY_SUBSTRATES else None
        subs[sub] = _substrate(sub, meta, seen, answer, record, sub in seen.dirs)
    error = next((f.message for f in seen.faults if f.code == "unreadable" and f.file is None), None)
    return BundleInfo(name=name, path=path, time=t, age_hours=hours((now or datetime.now(UTC)) - t),
                      meta_state=state, meta=meta, meta_error=meta_error, substrates=subs, error=error, survey=seen,
                      record=record)


def dir_bytes(path: Path) -> int:
    """Every file's size under ``path`` (symlinks not followed); unreadable entries count 0."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def list_bundles(root: Path, *, now: datetime | None = None, cache: VerifyCache | None = None) -> Listing:
    """Published bundles newest first, plus staging/trash residue that is never counted as a bundle. Reads each
    bundle's meta and lstats its files; never a payload. Without ``cache`` nothing shows as verified."""
    now = now or datetime.now(UTC)
    if not root.is_dir():
        return Listing(root=root, exists=False, now=now)
    bundles: list[BundleInfo] = []
    residue: list[Residue] = []
    legacy: list[str] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith((PARTIAL_PREFIX, TRASH_PREFIX)) and entry.is_dir(follow_symlinks=False):
            kind = "staging" if entry.name.startswith(PARTIAL_PREFIX) else "trash"
            p = Path(entry.path)
            mtime = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
            residue.append(Residue(name=entry.name, path=p, kind=kind, bytes=dir_bytes(p), mtime=mtime))
        elif entry.name.startswith(BUNDLE_PREFIX) and entry.is_dir():
            if parse_bundle_time(entry.name) is None:
                p = Path(entry.path)
                mtime = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                residue.append(Residue(name=entry.name, path=p, kind="unparseable", bytes=dir_bytes(p), mtime=mtime))
                continue
            bundles.append(inspect_bundle(Path(entry.path), now=now, cache=cache))
        elif entry.is_file() and entry.name.endswith(".jsonl") and "-backup-" in entry.name:
            legacy.append(entry.name)  # pre-#10129 flat files: listed, never read
    bundles.sort(key=lambda b: (b.time, b.name), reverse=True)
    return Listing(root=root, exists=True, bundles=tuple(bundles), residue=tuple(residue),
                   legacy_files=tuple(legacy), now=now)


def verify_cache(dd: DataDir) -> VerifyCache:
    """The data dir's verify cache (in its state dir)."""
    return VerifyCache(dd.state_dir)


def list_root(dd: DataDir, *, now: datetime | None = None) -> Listing:
    """The data dir's backup root, with what its verify cache knows: what every look at the root reads."""
    return list_bundles(dd.backup_root, now=now, cache=verify_cache(dd))


_LATEST = re.compile(r"latest(?:~(\d+))?")


def resolve_bundle(root: Path, ref: str) -> Path:
    """A bundle argument: a path, a bundle name under the backup root, `latest`, or `latest~N` (the Nth completed
    bundle before the newest: `latest~1` is the one before it)."""
    m = _LATEST.fullmatch(ref)
    if m is not None:
        back = int(m.group(1) or 0)
        completed = [b for b in list_bundles(root).bundles if b.meta_state == "valid"]
        if back < len(completed):
            return completed[back].path
        if not completed:
            raise UsageError("no completed bundle (one with a valid bundle-meta.json) to call latest", path=root)
        raise UsageError(f"{ref}: there are only {len(completed)} completed bundle(s)", path=root)
    p = Path(ref).expanduser()
    if p.is_dir():
        return p.resolve()
    q = root / ref
    if q.is_dir():
        return q.resolve()
    raise UsageError(f"no such bundle: {ref} (looked for a path and for a name under the backup root)", path=root)
