"""Retention per substrate, prune, and the backup-first guard.

The rules are neo's restorability floor (#16614) with a policy per recovery substrate (#11649):

* a substrate of a bundle is *restorable* when its files hold bytes, its integrity status is ``pass`` and the
  bundle has a valid (completed) meta;
* unreadable bundles, malformed metas and unevaluated substrates are always kept;
* each substrate keeps its newest ``keep_last`` restorable bundles, and its newest restorable bundle whatever
  its age and whatever the policy (so an empty policy never deletes the last good copy);
* each substrate keeps every bundle younger than its ``max_age_days``;
* a bundle is atomic: it is kept while any substrate keeps it, and never partly deleted.

Deleting renames to a hidden ``.trash-backup-*`` name first, so an interrupted prune never leaves a
half-deleted folder that still looks like a bundle; the next prune removes the trash.
"""

from __future__ import annotations

import getpass
import math
import os
import re
import secrets
import shlex
import shutil
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from core.bundle import (
    BUNDLE_PREFIX,
    TRASH_PREFIX,
    BundleInfo,
    Residue,
    SubstrateInfo,
    iso_ms,
    list_bundles,
)
from core.datadir import RECOVERY_SUBSTRATES, DataDir
from core.errors import ConsoleError, GuardRefused, UsageError
from core.jsonl import fsync_dir
from core.lock import exclusive
from core.progress import Progress, ProgressFn, check_cancel, no_progress

GUARD_EXIT_OK, GUARD_EXIT_REFUSED = 0, 3
OVERRIDE_JOURNAL = "guard-overrides.jsonl"
DEFAULT_GUARD_MAX_AGE = timedelta(hours=24)  # #10780's "a backup < 24 h old"
KNOWN_STATUSES = ("pass", "fail", "empty")  # anything else (skipped, missing, unknown) is unevaluated
_SNAPSHOT_NAME = re.compile(r"^backup-(\d+)$")  # defrag snapshots: backup-<epochMs>


# --------------------------------------------------------------------------------------------- policy


@dataclass
class SubstratePolicy:
    keep_last: int
    max_age_days: float
    cadence_hint: str | None = None  # documentation only: nothing is scheduled

    def to_json(self) -> dict[str, Any]:
        return {"keepLast": self.keep_last, "maxAgeDays": self.max_age_days, "cadenceHint": self.cadence_hint}


SHIPPED_SUBSTRATES: dict[str, SubstratePolicy] = {
    "kb": SubstratePolicy(2, 14, "weekly"),  # a cache: re-syncable, lighter
    "mc": SubstratePolicy(7, 30, "daily"),  # the primary store: amnesia is permanent
    # graph: as mc unless set (resolved in policy_from_config)
}
SHIPPED_DEFRAG = SubstratePolicy(3, 7, None)
# A count, as neo's keepPartials; 2 rather than 0 so a staging dir that another writer (neo's own backup,
# which does not take our lock) is still filling is the newest and survives.
SHIPPED_KEEP_PARTIALS = 2


@dataclass
class RetentionPolicy:
    substrates: dict[str, SubstratePolicy]
    defrag_snapshot: SubstratePolicy
    keep_partials: int
    source: str = "shipped defaults"

    def to_json(self) -> dict[str, Any]:
        return {
            **{s: p.to_json() for s, p in self.substrates.items()},
            "defragSnapshot": self.defrag_snapshot.to_json(),
            "keepPartials": self.keep_partials,
            "source": self.source,
        }


def _count(value: Any, key: str, path: Path | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{key} must be a whole number >= 0, got {value!r}", path=path)
    return value


MAX_DAYS = 100_000  # ~270 years: "keep forever" without overflowing timedelta


def _days(value: Any, key: str, path: Path | None) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or not 0 <= value <= MAX_DAYS):
        raise UsageError(f"{key} must be a number of days from 0 to {MAX_DAYS}, got {value!r}", path=path)
    return value


def _table(value: Any, key: str, path: Path | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UsageError(f"{key} must be a table, got {value!r}", path=path)
    return value


def _apply_table(table: Mapping[str, Any], key: str, start: SubstratePolicy, path: Path | None) -> SubstratePolicy:
    unknown = sorted(set(table) - {"keep_last", "max_age_days", "cadence_hint"})
    if unknown:
        raise UsageError(f"unknown key {key}.{unknown[0]} (known: keep_last, max_age_days, cadence_hint)", path=path)
    hint = table.get("cadence_hint", start.cadence_hint)
    if hint is not None and not isinstance(hint, str):
        raise UsageError(f"{key}.cadence_hint must be a string, got {hint!r}", path=path)
    return SubstratePolicy(
        _count(table["keep_last"], f"{key}.keep_last", path) if "keep_last" in table else start.keep_last,
        _days(table["max_age_days"], f"{key}.max_age_days", path) if "max_age_days" in table else start.max_age_days,
        hint,
    )


def policy_from_config(config: Mapping[str, Any], *, path: Path | None = None) -> RetentionPolicy:
    """Shipped defaults, then neo's bundle-level `[retention] keep_minimum / max_days`, then per-substrate tables.

    The bundle-level keys are the base of every substrate that does not set its own value, so a config with
    only `keep_minimum = 3, max_days = 30` is neo's classic bundle-level policy.
    """
    if "retention" not in config:
        return RetentionPolicy(
            {"kb": SHIPPED_SUBSTRATES["kb"], "mc": SHIPPED_SUBSTRATES["mc"], "graph": SHIPPED_SUBSTRATES["mc"]},
            SHIPPED_DEFRAG, SHIPPED_KEEP_PARTIALS,
        )
    table = _table(config["retention"], "[retention]", path)
    known = ("keep_minimum", "max_days", "keep_partials", *RECOVERY_SUBSTRATES, "defrag_snapshot")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise UsageError(f"unknown key [retention] {unknown[0]} (known: {', '.join(known)})", path=path)
    keep_min = _count(table["keep_minimum"], "[retention] keep_minimum", path) if "keep_minimum" in table else None
    max_days = _days(table["max_days"], "[retention] max_days", path) if "max_days" in table else None

    subs: dict[str, SubstratePolicy] = {}
    for s in RECOVERY_SUBSTRATES:
        parent = subs["mc"] if s == "graph" else SHIPPED_SUBSTRATES[s]
        start = SubstratePolicy(
            parent.keep_last if keep_min is None or s == "graph" else keep_min,
            parent.max_age_days if max_days is None or s == "graph" else max_days,
            parent.cadence_hint,
        )
        key = f"[retention.{s}]"
        subs[s] = _apply_table(_table(table[s], key, path), key, start, path) if s in table else start
    defrag = SHIPPED_DEFRAG
    if "defrag_snapshot" in table:
        key = "[retention.defrag_snapshot]"
        defrag = _apply_table(_table(table["defrag_snapshot"], key, path), key, SHIPPED_DEFRAG, path)
    partials = SHIPPED_KEEP_PARTIALS
    if "keep_partials" in table:
        partials = _count(table["keep_partials"], "[retention] keep_partials", path)
    return RetentionPolicy(subs, defrag, partials, f"config {path}" if path else "config")


def load_policy(dd: DataDir) -> RetentionPolicy:
    return policy_from_config(dd.config, path=dd.config_path)


# ----------------------------------------------------------------------------------------- evaluation


@dataclass
class SubstrateVerdict:
    """One recovery substrate of one bundle, as retention sees it."""

    restorable: bool
    unevaluated: bool
    bytes: int
    rows: int | None
    integrity: str | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"restorable": self.restorable, "bytes": self.bytes, "rows": self.rows,
                "integrity": self.integrity, "unevaluated": self.unevaluated, "error": self.error}


@dataclass
class BundleVerdict:
    name: str
    path: Path
    time: datetime
    age_hours: float
    meta_state: str
    verdict: str  # keep | delete
    reasons: list[str]
    substrates: dict[str, SubstrateVerdict]
    bytes: int

    @property
    def keep(self) -> bool:
        return self.verdict == "keep"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "time": _iso(self.time), "ageHours": self.age_hours, "metaState": self.meta_state,
                "verdict": self.verdict, "reasons": self.reasons, "bytes": self.bytes,
                "substrates": {s: v.to_json() for s, v in self.substrates.items()}}


@dataclass
class Coverage:
    """How far back one substrate can be recovered: the amnesia window and the oldest point in time."""

    newest_restorable: str | None
    newest_time: datetime | None
    age_hours: float | None  # the amnesia window: what a restore now would lose
    oldest_restorable: str | None
    oldest_time: datetime | None
    oldest_kept: str | None  # the oldest restorable bundle that survives a prune
    oldest_kept_time: datetime | None
    restorable_bundles: int
    kept_restorable_bundles: int

    def to_json(self) -> dict[str, Any]:
        return {"newestRestorable": self.newest_restorable, "newestTime": _iso(self.newest_time),
                "ageHours": self.age_hours, "oldestRestorable": self.oldest_restorable,
                "oldestTime": _iso(self.oldest_time), "oldestKept": self.oldest_kept,
                "oldestKeptTime": _iso(self.oldest_kept_time), "restorableBundles": self.restorable_bundles,
                "keptRestorableBundles": self.kept_restorable_bundles}


@dataclass
class ResidueVerdict:
    name: str
    path: Path
    kind: str  # staging | trash | unparseable
    location: str  # "backups" or "defrag/<target>"
    bytes: int
    mtime: datetime
    verdict: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "location": self.location, "bytes": self.bytes,
                "mtime": _iso(self.mtime), "verdict": self.verdict, "reason": self.reason}


@dataclass
class SnapshotVerdict:
    """A defrag pre-nuke snapshot: a physical Chroma copy in `<defrag_root>/<target>/backup-<epochMs>`."""

    target: str
    name: str
    path: Path
    time: datetime | None
    age_hours: float | None
    bytes: int
    verdict: str
    reasons: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "name": self.name, "time": _iso(self.time), "ageHours": self.age_hours,
                "bytes": self.bytes, "verdict": self.verdict, "reasons": self.reasons}


@dataclass
class RetentionReport:
    policy: RetentionPolicy
    now: datetime
    backup_root: Path
    defrag_root: Path
    bundles: list[BundleVerdict]
    substrates: dict[str, Coverage]
    residue: list[ResidueVerdict]
    defrag_snapshots: list[SnapshotVerdict]

    def deletions(self) -> list[BundleVerdict]:
        return [b for b in self.bundles if not b.keep]

    def to_json(self) -> dict[str, Any]:
        doomed = self.deletions()
        return {
            "policy": self.policy.to_json(),
            "now": _iso(self.now),
            "backupRoot": str(self.backup_root),
            "bundles": [b.to_json() for b in self.bundles],
            "substrates": {s: c.to_json() for s, c in self.substrates.items()},
            "residue": [r.to_json() for r in self.residue],
            "defragRoot": str(self.defrag_root),
            "defragSnapshots": [s.to_json() for s in self.defrag_snapshots],
            "summary": {"keep": len(self.bundles) - len(doomed), "delete": len(doomed),
                        "deleteBytes": sum(b.bytes for b in doomed)},
        }


def _iso(t: datetime | None) -> str | None:
    return iso_ms(t) if t is not None else None


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def _num(x: float) -> str:
    """14 -> '14', 0.5 -> '0.5', 41.04 -> '41'."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def is_restorable(b: BundleInfo, substrate: str) -> bool:
    """neo's floor: a completed (valid) meta, no read error, bytes on disk and integrity `pass`."""
    sub = b.substrates.get(substrate)
    return b.error is None and b.meta_state == "valid" and sub is not None and sub.restorable


def _substrate_verdict(b: BundleInfo, s: str) -> SubstrateVerdict:
    sub = b.substrates.get(s) or SubstrateInfo(s, False)
    # neo: unevaluated = a valid meta, bytes on disk, and a status that is not one of the known outcomes
    unevaluated = (b.meta_state == "valid" and sub.error is None and sub.bytes > 0
                   and sub.integrity not in KNOWN_STATUSES)
    return SubstrateVerdict(is_restorable(b, s), unevaluated, sub.bytes, sub.rows, sub.integrity, sub.error)


def judge_bundles(bundles: Sequence[BundleInfo], policy: RetentionPolicy, now: datetime) -> list[BundleVerdict]:
    """Every bundle's verdict and every reason that applies, newest first. Pure: reads nothing from disk."""
    ordered = sorted(bundles, key=lambda b: (b.time, b.name), reverse=True)
    floors: dict[str, set[str]] = {}
    newest: dict[str, str] = {}
    for s in RECOVERY_SUBSTRATES:
        names = [b.name for b in ordered if is_restorable(b, s)]
        floors[s] = set(names[: policy.substrates[s].keep_last])
        if names:
            newest[s] = names[0]

    out: list[BundleVerdict] = []
    for b in ordered:
        age = now - b.time
        subs = {s: _substrate_verdict(b, s) for s in RECOVERY_SUBSTRATES}
        keep: list[str] = []
        if b.error:
            keep.append(f"unreadable: kept ({b.error})")
        keep += [f"unreadable: kept ({s}: {i.error})" for s, i in b.substrates.items() if i.error]
        if b.meta_state == "malformed":
            keep.append(f"malformed meta: kept ({b.meta_error})" if b.meta_error else "malformed meta: kept")
        keep += [f"{s}: unevaluated (integrity {v.integrity or 'missing'}): kept"
                 for s, v in subs.items() if v.unevaluated]
        keep += [f"{s}: newest restorable, kept whatever its age" for s in RECOVERY_SUBSTRATES if newest.get(s) == b.name]
        for s in RECOVERY_SUBSTRATES:
            if b.name in floors[s]:
                keep.append(f"{s}: among newest {policy.substrates[s].keep_last} restorable")
        for s in RECOVERY_SUBSTRATES:
            if age <= timedelta(days=policy.substrates[s].max_age_days):
                keep.append(f"{s}: within {_num(policy.substrates[s].max_age_days)} days")
        notes: list[str] = []
        if b.meta_state == "absent":
            notes.append("no bundle-meta.json: counts toward no floor, kept only by age")
        if not keep:
            days = age.total_seconds() / 86400
            over = ", ".join(f"{s} {_num(days)}d > {_num(policy.substrates[s].max_age_days)}d"
                             for s in RECOVERY_SUBSTRATES)
            notes.append(f"no policy keeps it ({over})")
        out.append(BundleVerdict(b.name, b.path, b.time, _hours(age), b.meta_state,
                                 "keep" if keep else "delete", keep + notes, subs, b.total_bytes))
    return out


def coverage(bundles: Sequence[BundleInfo], verdicts: Sequence[BundleVerdict], now: datetime) -> dict[str, Coverage]:
    kept = {v.name for v in verdicts if v.keep}
    ordered = sorted(bundles, key=lambda b: (b.time, b.name), reverse=True)
    out: dict[str, Coverage] = {}
    for s in RECOVERY_SUBSTRATES:
        good = [b for b in ordered if is_restorable(b, s)]
        good_kept = [b for b in good if b.name in kept]
        first, last = (good[0], good[-1]) if good else (None, None)
        last_kept = good_kept[-1] if good_kept else None
        out[s] = Coverage(
            first.name if first else None, first.time if first else None,
            _hours(now - first.time) if first else None,
            last.name if last else None, last.time if last else None,
            last_kept.name if last_kept else None, last_kept.time if last_kept else None,
            len(good), len(good_kept),
        )
    return out


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                continue
    return total


def _mtime(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.lstat().st_mtime, UTC)
    except OSError:
        return datetime.fromtimestamp(0, UTC)


def judge_residue(residue: Sequence[Residue], keep_partials: int, location: str = "backups") -> list[ResidueVerdict]:
    """Staging beyond the newest `keep_partials` and every trash dir go; unparseable names are never touched."""
    staging = sorted((r for r in residue if r.kind == "staging"), key=lambda r: (r.mtime, r.name), reverse=True)
    rank = {r.name: i for i, r in enumerate(staging)}
    out: list[ResidueVerdict] = []
    for r in residue:
        if r.kind == "staging":
            if rank[r.name] < keep_partials:
                verdict, reason = "keep", f"staging: among newest {keep_partials} kept (keep_partials)"
            else:
                verdict, reason = "delete", f"staging residue beyond keep_partials = {keep_partials}"
        elif r.kind == "trash":
            verdict, reason = "delete", "leftover trash of an interrupted prune"
        else:
            verdict, reason = "keep", "name does not parse as a bundle time: never touched"
        out.append(ResidueVerdict(r.name, r.path, r.kind, location, r.bytes, r.mtime, verdict, reason))
    return out


def judge_defrag(root: Path, policy: SubstratePolicy, now: datetime) -> tuple[list[SnapshotVerdict], list[ResidueVerdict]]:
    """neo's defrag snapshot rule per target (newest keep_last, or younger than max_age_days)."""
    snaps: list[SnapshotVerdict] = []
    residue: list[ResidueVerdict] = []
    try:
        targets = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:  # no defrag root (the usual case), or one we cannot read: judge nothing, delete nothing
        return snaps, residue
    for target in targets:
        timed: list[tuple[datetime, Path]] = []
        trash: list[Residue] = []
        try:
            entries = sorted(target.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.name.startswith(TRASH_PREFIX) and p.is_dir():
                trash.append(Residue(p.name, p, "trash", _tree_bytes(p), _mtime(p)))
                continue
            if not p.name.startswith(BUNDLE_PREFIX) or not p.is_dir():
                continue
            m = _SNAPSHOT_NAME.match(p.name)
            try:
                t = datetime.fromtimestamp(int(m.group(1)) / 1000, UTC) if m else None
            except (OverflowError, ValueError, OSError):
                t = None
            if t is None:
                snaps.append(SnapshotVerdict(target.name, p.name, p, None, None, _tree_bytes(p), "keep",
                                             ["name does not parse as backup-<epochMs>: never touched"]))
            else:
                timed.append((t, p))
        timed.sort(key=lambda tp: (tp[0], tp[1].name), reverse=True)
        for i, (t, p) in enumerate(timed):
            age = now - t
            keep: list[str] = []
            if i == 0:
                keep.append(f"newest snapshot of {target.name}, kept whatever its age")
            if i < policy.keep_last:
                keep.append(f"among newest {policy.keep_last} snapshots of {target.name}")
            if age <= timedelta(days=policy.max_age_days):
                keep.append(f"within {_num(policy.max_age_days)} days")
            reasons = keep or [f"no policy keeps it ({_num(age.total_seconds() / 86400)}d > "
                               f"{_num(policy.max_age_days)}d, not among newest {policy.keep_last})"]
            snaps.append(SnapshotVerdict(target.name, p.name, p, t, _hours(age), _tree_bytes(p),
                                         "keep" if keep else "delete", reasons))
        residue += judge_residue(trash, 0, f"defrag/{target.name}")
    return snaps, residue


def _surface_unreadable(b: BundleInfo) -> None:
    """pathlib's glob swallows PermissionError, so an unreadable substrate dir would read as an empty one
    (0 bytes, deletable by age). Probe each present dir so a readdir error makes the bundle unreadable: kept."""
    for s, info in b.substrates.items():
        if info.error is None and info.present:
            try:
                with os.scandir(b.path / s):
                    pass
            except OSError as exc:
                info.error = f"{exc.strerror}: {exc.filename}"


def evaluate(
    dd: DataDir, *, now: datetime | None = None, policy: RetentionPolicy | None = None, count_rows: bool = True
) -> RetentionReport:
    """What `retention` shows and `prune` deletes. Reads only."""
    now = now or datetime.now(UTC)
    policy = policy or load_policy(dd)
    listing = list_bundles(dd.backup_root, count_rows=count_rows)
    for b in listing.bundles:
        _surface_unreadable(b)
    verdicts = judge_bundles(listing.bundles, policy, now)
    snaps, defrag_residue = judge_defrag(dd.defrag_root, policy.defrag_snapshot, now)
    return RetentionReport(
        policy, now, dd.backup_root, dd.defrag_root, verdicts, coverage(listing.bundles, verdicts, now),
        judge_residue(listing.residue, policy.keep_partials) + defrag_residue, snaps,
    )


# ---------------------------------------------------------------------------------------------- prune


@dataclass
class Deletion:
    name: str
    kind: str  # bundle | staging | trash | defrag-snapshot
    path: str
    bytes: int
    reason: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "path": self.path, "bytes": self.bytes,
                "reason": self.reason, "error": self.error}


@dataclass
class PruneResult:
    dry_run: bool
    backup_root: str
    deleted: list[Deletion] = field(default_factory=list)  # under dry_run: what would be deleted
    failed: list[Deletion] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    guard: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def freed_bytes(self) -> int:
        return sum(d.bytes for d in self.deleted)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "dryRun": self.dry_run, "backupRoot": self.backup_root,
                "deleted": [d.to_json() for d in self.deleted], "failed": [d.to_json() for d in self.failed],
                "kept": self.kept, "freedBytes": self.freed_bytes, "guard": self.guard}


def move_to_trash(path: Path) -> Path:
    """Step one of every deletion: a same-directory rename to a hidden name no bundle enumerator reads."""
    stem = path.name.lstrip(".").removeprefix(BUNDLE_PREFIX)
    dest = path.with_name(f"{TRASH_PREFIX}{stem}-{secrets.token_hex(3)}")
    os.rename(path, dest)
    fsync_dir(path.parent)  # the rename must be durable before any content goes
    return dest


def _remove(path: Path) -> None:
    # a symlinked bundle is removed as a link: prune never deletes outside the backup root
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path)


def _targets(report: RetentionReport) -> list[Deletion]:
    """Trash first (finishing an interrupted prune), then the oldest bundles, then staging and snapshots."""
    out = [Deletion(r.name, r.kind, str(r.path), r.bytes, r.reason)
           for r in report.residue if r.verdict == "delete" and r.kind == "trash"]
    out += [Deletion(b.name, "bundle", str(b.path), b.bytes, b.reasons[-1]) for b in reversed(report.deletions())]
    out += [Deletion(r.name, r.kind, str(r.path), r.bytes, r.reason)
            for r in report.residue if r.verdict == "delete" and r.kind != "trash"]
    out += [Deletion(f"{s.target}/{s.name}", "defrag-snapshot", str(s.path), s.bytes, s.reasons[-1])
            for s in report.defrag_snapshots if s.verdict == "delete"]
    return out


def _prune(
    dd: DataDir, *, dry_run: bool, guard_mode: str, now: datetime | None, on_progress: ProgressFn,
    cancel: threading.Event | None,
) -> PruneResult:
    g: GuardResult | None = None
    if guard_mode == "check":
        g = guard(dd, now=now)
        if not g.ok and not dry_run:
            raise GuardRefused(f"{g.message}\nprune refused; pass --skip-backup-check to prune anyway")
    elif guard_mode == "override":
        g = guard(dd, now=now, skip=True, reason="prune --skip-backup-check")
    report = evaluate(dd, now=now, count_rows=False)
    result = PruneResult(dry_run, str(dd.backup_root), guard=g.to_json() if g else None,
                         kept=[b.name for b in report.bundles if b.keep])
    targets = _targets(report)
    for i, d in enumerate(targets, start=1):
        check_cancel(cancel)
        if not dry_run:
            path = Path(d.path)
            try:
                trash = path if d.kind == "trash" else move_to_trash(path)
                _remove(trash)
            except OSError as exc:
                d.error = f"{exc.strerror or exc}: {exc.filename or path}"
                result.failed.append(d)
                continue
        result.deleted.append(d)
        on_progress(Progress("prune", i, len(targets), unit="items", bytes_done=result.freed_bytes, message=d.name))
    return result


def prune(
    dd: DataDir,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    on_progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
    skip_guard: bool = False,
) -> PruneResult:
    """Delete exactly what `evaluate` marks delete, plus residue. A real prune needs the guard's pass (or an
    override, which is journaled) and the data-dir lock; a dry run needs neither and changes nothing."""
    if dry_run:
        return _prune(dd, dry_run=True, guard_mode="check", now=now, on_progress=on_progress, cancel=cancel)
    with exclusive(dd.state_dir, "prune"):
        return _prune(dd, dry_run=False, guard_mode="override" if skip_guard else "check", now=now,
                      on_progress=on_progress, cancel=cancel)


def sweep_after_backup(dd: DataDir) -> dict[str, Any]:
    """The prune `backup` runs after it publishes: no guard (a backup just ran), never raises for a failure."""
    try:
        with exclusive(dd.state_dir, "prune after backup"):
            return _prune(dd, dry_run=False, guard_mode="none", now=None, on_progress=no_progress,
                          cancel=None).to_json()
    except (ConsoleError, OSError) as exc:
        return {"ok": False, "error": str(exc)}


# ---------------------------------------------------------------------------------------------- guard


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """'24h', '36h', '90m', '2d', '1d12h' -> timedelta; anything else is a UsageError."""
    compact = str(text).strip().lower().replace(" ", "")
    if not compact or not re.fullmatch(r"(?:\d+(?:\.\d+)?[smhdw])+", compact):
        raise UsageError(f"not a duration: {text!r} (use a number and a unit, e.g. 24h, 36h, 90m, 2d)")
    try:
        delta = timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(compact)))
    except OverflowError:
        raise UsageError(f"duration too large: {text!r}") from None
    if delta <= timedelta(0):
        raise UsageError(f"duration must be greater than zero: {text!r}")
    return delta


def _fmt_hours(hours: float) -> str:
    if abs(hours) < 1:
        return f"{_num(hours * 60)}m"
    if abs(hours) < 48:
        return f"{_num(hours)}h"
    return f"{_num(hours / 24)}d"


def _guard_defaults(dd: DataDir) -> tuple[timedelta, list[str]]:
    path = dd.config_path
    table = _table(dd.config.get("guard", {}), "[guard]", path)
    unknown = sorted(set(table) - {"max_age", "require"})
    if unknown:
        raise UsageError(f"unknown key [guard] {unknown[0]} (known: max_age, require)", path=path)
    max_age = DEFAULT_GUARD_MAX_AGE
    if "max_age" in table:
        if not isinstance(table["max_age"], str):
            raise UsageError(f"[guard] max_age must be a duration string like \"24h\", got {table['max_age']!r}",
                             path=path)
        max_age = parse_duration(table["max_age"])
    require = list(RECOVERY_SUBSTRATES)
    if "require" in table:
        value = table["require"]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"[guard] require must be a list of substrates, got {value!r}", path=path)
        require = value
    return max_age, require


def _check_require(require: Sequence[str]) -> list[str]:
    out = list(dict.fromkeys(require))
    if not out:
        raise UsageError("the guard must require at least one substrate (kb, mc, graph)")
    bad = [s for s in out if s not in RECOVERY_SUBSTRATES]
    if bad:
        raise UsageError(f"unknown substrate for the guard: {bad[0]!r} (choose from kb, mc, graph)")
    return out


def backup_command(dd: DataDir) -> str:
    """The exact command that takes a fresh bundle of this data dir, with every non-default location."""
    parts = ["recovery-console", "backup", "--data-dir", str(dd.root)]
    if dd.config_path is not None:
        parts += ["--config", str(dd.config_path)]
    if dd.backup_root != dd.root / "backups":
        parts += ["--backup-root", str(dd.backup_root)]
    if dd.graph_db != dd.root / "sqlite" / "memory-core-graph.sqlite":
        parts += ["--graph-db", str(dd.graph_db)]
    if dd.chroma_url:
        parts += ["--chroma-url", dd.chroma_url]
    elif dd.chroma_path != dd.root / "chroma" / "unified":
        parts += ["--chroma-path", str(dd.chroma_path)]
    return shlex.join(parts)


def _why_not_restorable(b: BundleInfo, s: str) -> str:
    sub = b.substrates.get(s)
    if b.error or (sub is not None and sub.error):
        return "could not be read"
    if b.meta_state == "absent":
        return "has no bundle-meta.json"
    if b.meta_state == "malformed":
        return f"has a malformed bundle-meta.json ({b.meta_error})"
    status = sub.integrity if sub else None
    if status is None:
        return f"has no {s} integrity entry (not captured)"
    if status != "pass":
        return f"has {s} integrity '{status}'"
    return f"has no {s} bytes on disk"


@dataclass
class GuardSubstrate:
    ok: bool
    newest_restorable: str | None
    age_hours: float | None
    problem: str | None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "newestRestorable": self.newest_restorable, "ageHours": self.age_hours,
                "problem": self.problem}


@dataclass
class GuardResult:
    ok: bool
    exit_code: int
    message: str
    max_age: timedelta
    require: list[str]
    substrates: dict[str, GuardSubstrate]
    would_pass: bool  # what the check found, also when it was skipped
    skipped: bool = False
    journal: Path | None = None
    backup_command: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "exitCode": self.exit_code, "message": self.message,
                "maxAgeHours": _hours(self.max_age), "require": self.require, "wouldPass": self.would_pass,
                "skipped": self.skipped, "journal": str(self.journal) if self.journal else None,
                "backupCommand": self.backup_command,
                "substrates": {s: v.to_json() for s, v in self.substrates.items()}}


def record_override(dd: DataDir, entry: Mapping[str, Any]) -> Path:
    """One JSON line per override, appended with a single O_APPEND write and fsynced."""
    dd.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = dd.state_dir / OVERRIDE_JOURNAL
    line = orjson.dumps(dict(entry)) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.write(fd, line) != len(line):
            raise ConsoleError("short write to the override journal", path=path)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container uid with no passwd entry
        return f"uid {os.getuid()}"


def guard(
    dd: DataDir,
    *,
    max_age: timedelta | None = None,
    require: Sequence[str] | None = None,
    skip: bool = False,
    now: datetime | None = None,
    reason: str | None = None,
) -> GuardResult:
    """Pass only when every required substrate has a restorable copy younger than max_age.

    max_age and require default to `[guard] max_age` / `require` in the config, then 24h and kb, mc, graph.
    With skip, the result is ok whatever it found, and the override is appended to the journal.
    """
    cfg_age, cfg_require = _guard_defaults(dd)
    max_age = cfg_age if max_age is None else max_age
    if max_age <= timedelta(0):
        raise UsageError("the guard's max age must be greater than zero")
    required = _check_require(cfg_require if require is None else require)
    now = now or datetime.now(UTC)
    bundles = list_bundles(dd.backup_root).bundles
    latest = bundles[0] if bundles else None
    details: dict[str, GuardSubstrate] = {}
    problems: list[str] = []
    for s in required:
        good = next((b for b in bundles if is_restorable(b, s)), None)
        if good is None:
            problem = "no restorable copy in any bundle"
            if latest is None:
                problem += f" (no bundles in {dd.backup_root})"
            else:
                problem += f"; the newest bundle {latest.name} {_why_not_restorable(latest, s)}"
            details[s] = GuardSubstrate(False, None, None, problem)
        else:
            age = now - good.time
            fresh = age <= max_age
            problem = None
            if not fresh:
                problem = (f"the newest restorable copy is {_fmt_hours(_hours(age))} old ({good.name}), "
                           f"older than {_fmt_hours(_hours(max_age))}")
                if latest is not None and latest.name != good.name:
                    problem += f"; the newest bundle {latest.name} {_why_not_restorable(latest, s)}"
            details[s] = GuardSubstrate(fresh, good.name, _hours(age), problem)
        if details[s].problem:
            problems.append(f"  {s}: {details[s].problem}")
    would_pass = not problems
    command = backup_command(dd)
    limit = _fmt_hours(_hours(max_age))
    if would_pass:
        ages = ", ".join(f"{s} {_fmt_hours(details[s].age_hours or 0)}" for s in required)
        verdict = f"backup guard ok: newest restorable copies are {ages} old (max {limit})"
    else:
        failing = [s for s in required if not details[s].ok]
        others = [s for s in required if details[s].ok]
        verdict = "\n".join([
            f"backup guard: no fresh restorable backup of {', '.join(failing)} (max age {limit})",
            *problems,
            f"  take one now: {command}",
            *([f"  if {', '.join(failing)} is empty on purpose, require only the rest: "
               f"recovery-console guard --require {','.join(others)}"] if others else []),
            f"  to run anyway: --skip-backup-check (recorded in {dd.state_dir / OVERRIDE_JOURNAL})",
        ])
    if not skip:
        return GuardResult(would_pass, GUARD_EXIT_OK if would_pass else GUARD_EXIT_REFUSED, verdict, max_age,
                           required, details, would_pass, backup_command=command)
    journal = record_override(dd, {
        "time": iso_ms(datetime.now(UTC)), "user": _user(), "sudoUser": os.environ.get("SUDO_USER"),
        "uid": os.getuid(), "pid": os.getpid(), "host": socket.gethostname(),
        "reason": reason or "guard --skip-backup-check", "maxAgeHours": _hours(max_age), "require": required,
        "wouldHavePassed": would_pass, "found": verdict,
    })
    message = (f"backup guard skipped by --skip-backup-check (recorded in {journal}); "
               + ("it would have passed" if would_pass else f"it would have refused:\n{verdict}"))
    return GuardResult(True, GUARD_EXIT_OK, message, max_age, required, details, would_pass, True, journal, command)
