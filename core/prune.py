"""`prune`: delete exactly what retention marks delete, plus staging and trash residue, after the guard.

Deleting renames to a hidden ``.trash-backup-*`` name first, so an interrupted prune never leaves a
half-deleted folder that still looks like a bundle; the next prune removes the trash.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from core.bundle import BUNDLE_PREFIX, TRASH_PREFIX
from core.datadir import DataDir
from core.errors import ConsoleError, GuardRefused
from core.guard import GuardResult, guard
from core.jsonl import fsync_dir
from core.lock import exclusive
from core.progress import Progress, ProgressFn, check_cancel, no_progress
from core.retention import RetentionReport, evaluate


@dataclass(frozen=True, kw_only=True)
class Deletion:
    name: str
    kind: str  # bundle | staging | trash | defrag-snapshot
    path: str
    bytes: int
    reason: str
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class PruneResult:
    dry_run: bool
    backup_root: str
    deleted: tuple[Deletion, ...] = ()  # under dry_run: what would be deleted
    failed: tuple[Deletion, ...] = ()
    kept: tuple[str, ...] = ()
    guard: GuardResult | None = None

    __wire__: ClassVar = ("ok", "dry_run", "backup_root", "deleted", "failed", "kept", "freed_bytes", "guard")

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def freed_bytes(self) -> int:
        return sum(d.bytes for d in self.deleted)


@dataclass(frozen=True, kw_only=True)
class SweepFailed:
    """The prune a backup runs after publishing could not run (the bundle is published all the same)."""

    ok: bool = False
    error: str


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
    out = [Deletion(name=r.name, kind=r.kind, path=str(r.path), bytes=r.bytes, reason=r.reason)
           for r in report.residue if r.verdict == "delete" and r.kind == "trash"]
    out += [Deletion(name=b.name, kind="bundle", path=str(b.path), bytes=b.bytes, reason=b.reasons[-1])
            for b in reversed(report.deletions())]
    out += [Deletion(name=r.name, kind=r.kind, path=str(r.path), bytes=r.bytes, reason=r.reason)
            for r in report.residue if r.verdict == "delete" and r.kind != "trash"]
    out += [Deletion(name=f"{s.target}/{s.name}", kind="defrag-snapshot", path=str(s.path), bytes=s.bytes,
                     reason=s.reasons[-1]) for s in report.defrag_snapshots if s.verdict == "delete"]
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
    deleted: list[Deletion] = []
    failed: list[Deletion] = []
    targets = _targets(report)
    for i, d in enumerate(targets, start=1):
        check_cancel(cancel)
        if not dry_run:
            path = Path(d.path)
            try:
                trash = path if d.kind == "trash" else move_to_trash(path)
                _remove(trash)
            except OSError as exc:
                failed.append(dataclasses.replace(d, error=f"{exc.strerror or exc}: {exc.filename or path}"))
                continue
        deleted.append(d)
        on_progress(Progress("prune", i, len(targets), unit="items", bytes_done=sum(x.bytes for x in deleted),
                             message=d.name))
    return PruneResult(dry_run=dry_run, backup_root=str(dd.backup_root), deleted=tuple(deleted),
                       failed=tuple(failed), kept=tuple(b.name for b in report.bundles if b.keep), guard=g)


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


def sweep_after_backup(dd: DataDir) -> PruneResult | SweepFailed:
    """The prune `backup` runs after it publishes: no guard (a backup just ran), never raises for a failure."""
    try:
        with exclusive(dd.state_dir, "prune after backup"):
            return _prune(dd, dry_run=False, guard_mode="none", now=None, on_progress=no_progress, cancel=None)
    except (ConsoleError, OSError) as exc:
        return SweepFailed(error=str(exc))
