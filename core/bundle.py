"""Bundle naming and discovery: `backup-<ISO with colons as dashes>/` folders with a `bundle-meta.json`."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from core.datadir import RECOVERY_SUBSTRATES, SUBSTRATES
from core.errors import UsageError
from core.jsonl import count_nonempty_lines

BUNDLE_PREFIX = "backup-"
PARTIAL_PREFIX = ".backup-partial-"
TRASH_PREFIX = ".trash-backup-"
META_FILE = "bundle-meta.json"
INTEGRITY_STATUSES = ("pass", "fail", "empty", "skipped")  # neo calls this set frozen

_TIME_FIX = re.compile(r"T(\d{2})-(\d{2})-(\d{2})")


def iso_ms(t: datetime) -> str:
    """JavaScript's Date.toISOString(): UTC, milliseconds, Z."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def colon_free(t: datetime) -> str:
    return iso_ms(t).replace(":", "-")


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
    """The files restore would read for a substrate: `*.jsonl` only, plus ledgers' fixed members."""
    d = bundle / substrate
    if not d.is_dir():
        return []
    with os.scandir(d):  # glob() hides a PermissionError; an unreadable dir must not look empty
        pass
    files = sorted(p for p in d.glob("*.jsonl") if p.is_file())
    if substrate == "ledgers":
        extra = d / "heal-attempts.json"
        if extra.is_file():
            files.insert(0, extra)
        files += sorted(p for p in (d / "recovery-runs").glob("*.jsonl") if p.is_file())
    return files


@dataclass
class SubstrateInfo:
    name: str
    present: bool
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    rows: int | None = None
    integrity: str | None = None  # the meta's status for kb/mc/graph
    error: str | None = None

    @property
    def restorable(self) -> bool:
        """neo's per-substrate rule (#16614): bytes on disk and an integrity `pass`."""
        return self.error is None and self.bytes > 0 and self.integrity == "pass"


@dataclass
class BundleInfo:
    name: str
    path: Path
    time: datetime
    meta_state: str  # valid | absent | malformed
    meta: dict[str, Any] | None = None
    meta_error: str | None = None
    substrates: dict[str, SubstrateInfo] = field(default_factory=dict)
    error: str | None = None  # set when the folder could not be read

    @property
    def reason(self) -> str | None:
        return (self.meta or {}).get("reason")

    @property
    def total_bytes(self) -> int:
        return sum(s.bytes for s in self.substrates.values())

    @property
    def has_checksums(self) -> bool:
        return isinstance((self.meta or {}).get("checksums"), dict)

    def integrity(self, substrate: str) -> str | None:
        return integrity_status(self.meta, substrate)


@dataclass
class Residue:
    name: str
    path: Path
    kind: str  # staging | trash | unparseable
    bytes: int
    mtime: datetime


@dataclass
class Listing:
    root: Path
    exists: bool
    bundles: list[BundleInfo]
    residue: list[Residue]
    legacy_files: list[str]


def integrity_status(meta: dict[str, Any] | None, substrate: str) -> str | None:
    if not meta or not isinstance(meta.get("integrity"), list):
        return None
    for entry in meta["integrity"]:
        if isinstance(entry, dict) and entry.get("subsystem") == substrate:
            status = entry.get("status")
            return status if isinstance(status, str) else None
    return None


def read_meta(bundle: Path) -> tuple[str, dict[str, Any] | None, str | None]:
    """(state, meta, error). Valid means neo's completed receipt: a `completedAt` string and an `integrity` array."""
    path = bundle / META_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return "absent", None, None
    except OSError as exc:
        return "malformed", None, f"unreadable: {exc.strerror}"
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


def inspect_bundle(path: Path, *, count_rows: bool = False) -> BundleInfo:
    name = path.name
    t = parse_bundle_time(name)
    if t is None:
        raise UsageError(f"not a bundle name (expected backup-<ISO time>): {name}", path=path)
    state, meta, meta_error = read_meta(path)
    info = BundleInfo(name, path, t, state, meta, meta_error)
    try:
        for sub in SUBSTRATES:
            d = path / sub
            s = SubstrateInfo(sub, d.is_dir())
            if sub in RECOVERY_SUBSTRATES:
                s.integrity = integrity_status(meta, sub)
            try:
                files = substrate_files(path, sub)
                s.files = [str(f.relative_to(path)) for f in files]
                s.bytes = sum(f.stat().st_size for f in files)
                if count_rows:
                    s.rows = sum(count_nonempty_lines(f) for f in files if f.suffix == ".jsonl")
            except OSError as exc:
                s.error = f"{exc.strerror}: {exc.filename}"
            info.substrates[sub] = s
    except OSError as exc:
        info.error = str(exc)
    return info


def _dir_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def list_bundles(root: Path, *, count_rows: bool = False) -> Listing:
    """Published bundles newest first, plus staging/trash residue that is never counted as a bundle."""
    if not root.is_dir():
        return Listing(root, False, [], [], [])
    bundles: list[BundleInfo] = []
    residue: list[Residue] = []
    legacy: list[str] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith((PARTIAL_PREFIX, TRASH_PREFIX)) and entry.is_dir(follow_symlinks=False):
            kind = "staging" if entry.name.startswith(PARTIAL_PREFIX) else "trash"
            p = Path(entry.path)
            mtime = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
            residue.append(Residue(entry.name, p, kind, _dir_bytes(p), mtime))
        elif entry.name.startswith(BUNDLE_PREFIX) and entry.is_dir():
            if parse_bundle_time(entry.name) is None:
                p = Path(entry.path)
                mtime = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                residue.append(Residue(entry.name, p, "unparseable", _dir_bytes(p), mtime))
                continue
            bundles.append(inspect_bundle(Path(entry.path), count_rows=count_rows))
        elif entry.is_file() and entry.name.endswith(".jsonl") and "-backup-" in entry.name:
            legacy.append(entry.name)  # pre-#10129 flat files: listed, never read
    bundles.sort(key=lambda b: (b.time, b.name), reverse=True)
    return Listing(root, True, bundles, residue, legacy)


def resolve_bundle(root: Path, ref: str) -> Path:
    """A bundle argument: a path, a bundle name under the backup root, or `latest`."""
    if ref == "latest":
        listing = list_bundles(root)
        for b in listing.bundles:
            if b.meta_state == "valid":
                return b.path
        raise UsageError("no completed bundle (one with a valid bundle-meta.json) to call latest", path=root)
    p = Path(ref).expanduser()
    if p.is_dir():
        return p.resolve()
    q = root / ref
    if q.is_dir():
        return q.resolve()
    raise UsageError(f"no such bundle: {ref} (looked for a path and for a name under the backup root)", path=root)
