"""Retention per substrate: the policy, and what it keeps and would delete, with every reason.

The rules are neo's restorability floor (#16614) with a policy per recovery substrate (#11649):

* a substrate of a bundle is *restorable* when its files hold bytes, its integrity status is ``pass`` and the
  bundle has a valid (completed) meta;
* unreadable bundles, malformed metas and unevaluated substrates are always kept;
* each substrate keeps its newest ``keep_last`` restorable bundles, and its newest restorable bundle whatever
  its age and whatever the policy (so an empty policy never deletes the last good copy);
* each substrate keeps every bundle younger than its ``max_age_days``;
* a bundle is atomic: it is kept while any substrate keeps it, and never partly deleted.

Evaluating reads only; `core.prune` deletes what it marks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

from core.bundle import (
    BUNDLE_PREFIX,
    TRASH_PREFIX,
    BundleInfo,
    Listing,
    Residue,
    SubstrateInfo,
    dir_bytes,
    list_bundles,
)
from core.datadir import DataDir
from core.errors import UsageError
from core.substrates import RECOVERY_SUBSTRATES
from core.units import hours, num
from core.wire import wire

KNOWN_STATUSES = ("pass", "fail", "empty")  # anything else (skipped, missing, unknown) is unevaluated
_SNAPSHOT_NAME = re.compile(r"^backup-(\d+)$")  # defrag snapshots: backup-<epochMs>


# --------------------------------------------------------------------------------------------- policy


@dataclass(frozen=True, kw_only=True)
class SubstratePolicy:
    keep_last: int
    max_age_days: float
    cadence_hint: str | None = None  # documentation only: nothing is scheduled


SHIPPED_SUBSTRATES: dict[str, SubstratePolicy] = {
    "kb": SubstratePolicy(keep_last=2, max_age_days=14, cadence_hint="weekly"),  # a cache: re-syncable, lighter
    "mc": SubstratePolicy(keep_last=7, max_age_days=30, cadence_hint="daily"),  # the primary store: amnesia is permanent
    # graph: as mc unless set (resolved in policy_from_config)
}
SHIPPED_DEFRAG = SubstratePolicy(keep_last=3, max_age_days=7)
# A count, as neo's keepPartials; 2 rather than 0 so a staging dir that another writer (neo's own backup,
# which does not take our lock) is still filling is the newest and survives.
SHIPPED_KEEP_PARTIALS = 2


@dataclass(frozen=True, kw_only=True)
class RetentionPolicy:
    substrates: Mapping[str, SubstratePolicy] = field(metadata=wire(inline=True))
    defrag_snapshot: SubstratePolicy
    keep_partials: int
    source: str = "shipped defaults"


def _count(value: object, key: str, path: Path | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{key} must be a whole number >= 0, got {value!r}", path=path)
    return value


MAX_DAYS = 100_000  # ~270 years: "keep forever" without overflowing timedelta


def _days(value: object, key: str, path: Path | None) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or not 0 <= value <= MAX_DAYS):
        raise UsageError(f"{key} must be a number of days from 0 to {MAX_DAYS}, got {value!r}", path=path)
    return value


def _table(value: object, key: str, path: Path | None) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise UsageError(f"{key} must be a table, got {value!r}", path=path)
    return value


def _apply_table(table: Mapping[str, object], key: str, start: SubstratePolicy, path: Path | None) -> SubstratePolicy:
    unknown = sorted(set(table) - {"keep_last", "max_age_days", "cadence_hint"})
    if unknown:
        raise UsageError(f"unknown key {key}.{unknown[0]} (known: keep_last, max_age_days, cadence_hint)", path=path)
    hint = table.get("cadence_hint", start.cadence_hint)
    if hint is not None and not isinstance(hint, str):
        raise UsageError(f"{key}.cadence_hint must be a string, got {hint!r}", path=path)
    return SubstratePolicy(
        keep_last=_count(table["keep_last"], f"{key}.keep_last", path) if "keep_last" in table else start.keep_last,
        max_age_days=(_days(table["max_age_days"], f"{key}.max_age_days", path) if "max_age_days" in table
                      else start.max_age_days),
        cadence_hint=hint,
    )


def policy_from_config(config: Mapping[str, object], *, path: Path | None = None) -> RetentionPolicy:
    """Shipped defaults, then neo's bundle-level `[retention] keep_minimum / max_days`, then per-substrate tables.

    The bundle-level keys are the base of every substrate that does not set its own value, so a config with
    only `keep_minimum = 3, max_days = 30` is neo's classic bundle-level policy.
    """
    if "retention" not in config:
        return RetentionPolicy(
            substrates={"kb": SHIPPED_SUBSTRATES["kb"], "mc": SHIPPED_SUBSTRATES["mc"], "graph": SHIPPED_SUBSTRATES["mc"]},
            defrag_snapshot=SHIPPED_DEFRAG, keep_partials=SHIPPED_KEEP_PARTIALS,
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
            keep_last=parent.keep_last if keep_min is None or s == "graph" else keep_min,
            max_age_days=parent.max_age_days if max_days is None or s == "graph" else max_days,
            cadence_hint=parent.cadence_hint,
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
    return RetentionPolicy(substrates=subs, defrag_snapshot=defrag, keep_partials=partials,
                           source=f"config {path}" if path else "config")


def load_policy(dd: DataDir) -> RetentionPolicy:
    return policy_from_config(dd.config, path=dd.config_path)


# ----------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, kw_only=True)
class SubstrateVerdict:
    """One recovery substrate of one bundle, as retention sees it."""

    restorable: bool
    bytes: int
    rows: int | None
    integrity: str | None
    unevaluated: bool
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class BundleVerdict:
    name: str
    path: Path = field(metadata=wire(skip=True))
    time: datetime
    age_hours: float
    meta_state: str
    verdict: str  # keep | delete
    reasons: tuple[str, ...]
    bytes: int
    substrates: Mapping[str, SubstrateVerdict]

    @property
    def keep(self) -> bool:
        return self.verdict == "keep"


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class ResidueVerdict:
    name: str
    path: Path = field(metadata=wire(skip=True))
    kind: str  # staging | trash | unparseable
    location: str  # "backups" or "defrag/<target>"
    bytes: int
    mtime: datetime
    verdict: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class SnapshotVerdict:
    """A defrag pre-nuke snapshot: a physical Chroma copy in `<defrag_root>/<target>/backup-<epochMs>`."""

    target: str
    name: str
    path: Path = field(metadata=wire(skip=True))
    time: datetime | None
    age_hours: float | None
    bytes: int
    verdict: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class RetentionSummary:
    keep: int
    delete: int
    delete_bytes: int


@dataclass(frozen=True, kw_only=True)
class RetentionReport:
    policy: RetentionPolicy
    now: datetime
    backup_root: Path
    bundles: tuple[BundleVerdict, ...]
    substrates: Mapping[str, Coverage]
    residue: tuple[ResidueVerdict, ...]
    defrag_root: Path
    defrag_snapshots: tuple[SnapshotVerdict, ...]

    __wire__: ClassVar = ("policy", "now", "backup_root", "bundles", "substrates", "residue", "defrag_root",
                          "defrag_snapshots", "summary")

    def deletions(self) -> list[BundleVerdict]:
        return [b for b in self.bundles if not b.keep]

    def verdict(self, name: str) -> BundleVerdict | None:
        return next((b for b in self.bundles if b.name == name), None)

    @property
    def summary(self) -> RetentionSummary:
        doomed = self.deletions()
        return RetentionSummary(keep=len(self.bundles) - len(doomed), delete=len(doomed),
                                delete_bytes=sum(b.bytes for b in doomed))


def _substrate_verdict(b: BundleInfo, s: str) -> SubstrateVerdict:
    sub = b.substrates.get(s) or SubstrateInfo(name=s, present=False)
    # neo: unevaluated = a valid meta, bytes on disk, and a status that is not one of the known outcomes
    unevaluated = (b.meta_state == "valid" and sub.error is None and sub.bytes > 0
                   and sub.integrity not in KNOWN_STATUSES)
    return SubstrateVerdict(restorable=b.restorable(s), bytes=sub.bytes, rows=sub.rows, integrity=sub.integrity,
                            unevaluated=unevaluated, error=sub.error)


def judge_bundles(bundles: Sequence[BundleInfo], policy: RetentionPolicy, now: datetime) -> list[BundleVerdict]:
    """Every bundle's verdict and every reason that applies, newest first. Pure: reads nothing from disk."""
    ordered = sorted(bundles, key=lambda b: (b.time, b.name), reverse=True)
    floors: dict[str, set[str]] = {}
    newest: dict[str, str] = {}
    for s in RECOVERY_SUBSTRATES:
        names = [b.name for b in ordered if b.restorable(s)]
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
                keep.append(f"{s}: within {num(policy.substrates[s].max_age_days)} days")
        notes: list[str] = []
        if b.meta_state == "absent":
            notes.append("no bundle-meta.json: counts toward no floor, kept only by age")
        if not keep:
            days = age.total_seconds() / 86400
            over = ", ".join(f"{s} {num(days)}d > {num(policy.substrates[s].max_age_days)}d"
                             for s in RECOVERY_SUBSTRATES)
            notes.append(f"no policy keeps it ({over})")
        out.append(BundleVerdict(name=b.name, path=b.path, time=b.time, age_hours=hours(age), meta_state=b.meta_state,
                                 verdict="keep" if keep else "delete", reasons=tuple(keep + notes), bytes=b.total_bytes,
                                 substrates=subs))
    return out


def coverage(bundles: Sequence[BundleInfo], verdicts: Sequence[BundleVerdict], now: datetime) -> dict[str, Coverage]:
    kept = {v.name for v in verdicts if v.keep}
    ordered = sorted(bundles, key=lambda b: (b.time, b.name), reverse=True)
    out: dict[str, Coverage] = {}
    for s in RECOVERY_SUBSTRATES:
        good = [b for b in ordered if b.restorable(s)]
        good_kept = [b for b in good if b.name in kept]
        first, last = (good[0], good[-1]) if good else (None, None)
        last_kept = good_kept[-1] if good_kept else None
        out[s] = Coverage(
            newest_restorable=first.name if first else None, newest_time=first.time if first else None,
            age_hours=hours(now - first.time) if first else None,
            oldest_restorable=last.name if last else None, oldest_time=last.time if last else None,
            oldest_kept=last_kept.name if last_kept else None, oldest_kept_time=last_kept.time if last_kept else None,
            restorable_bundles=len(good), kept_restorable_bundles=len(good_kept),
        )
    return out


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
        out.append(ResidueVerdict(name=r.name, path=r.path, kind=r.kind, location=location, bytes=r.bytes,
                                  mtime=r.mtime, verdict=verdict, reason=reason))
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
                trash.append(Residue(name=p.name, path=p, kind="trash", bytes=dir_bytes(p), mtime=_mtime(p)))
                continue
            if not p.name.startswith(BUNDLE_PREFIX) or not p.is_dir():
                continue
            m = _SNAPSHOT_NAME.match(p.name)
            try:
                t = datetime.fromtimestamp(int(m.group(1)) / 1000, UTC) if m else None
            except (OverflowError, ValueError, OSError):
                t = None
            if t is None:
                snaps.append(SnapshotVerdict(target=target.name, name=p.name, path=p, time=None, age_hours=None,
                                             bytes=dir_bytes(p), verdict="keep",
                                             reasons=("name does not parse as backup-<epochMs>: never touched",)))
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
                keep.append(f"within {num(policy.max_age_days)} days")
            reasons = keep or [f"no policy keeps it ({num(age.total_seconds() / 86400)}d > "
                               f"{num(policy.max_age_days)}d, not among newest {policy.keep_last})"]
            snaps.append(SnapshotVerdict(target=target.name, name=p.name, path=p, time=t, age_hours=hours(age),
                                         bytes=dir_bytes(p), verdict="keep" if keep else "delete",
                                         reasons=tuple(reasons)))
        residue += judge_residue(trash, 0, f"defrag/{target.name}")
    return snaps, residue


def evaluate(dd: DataDir, *, now: datetime | None = None, policy: RetentionPolicy | None = None,
             count_rows: bool = True, listing: Listing | None = None) -> RetentionReport:
    """What `retention` shows and `prune` deletes. Reads only: the backup root (unless ``listing``, one read of it
    the caller already has, is given) and the defrag root."""
    listing = listing or list_bundles(dd.backup_root, count_rows=count_rows, now=now)
    now = now or listing.now
    policy = policy or load_policy(dd)
    verdicts = judge_bundles(listing.bundles, policy, now)
    snaps, defrag_residue = judge_defrag(dd.defrag_root, policy.defrag_snapshot, now)
    return RetentionReport(
        policy=policy, now=now, backup_root=dd.backup_root, bundles=tuple(verdicts),
        substrates=coverage(listing.bundles, verdicts, now),
        residue=tuple(judge_residue(listing.residue, policy.keep_partials) + defrag_residue),
        defrag_root=dd.defrag_root, defrag_snapshots=tuple(snaps),
    )
