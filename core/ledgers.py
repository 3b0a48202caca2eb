"""A bundle's ``ledgers/``: neo's incident ledgers, copied verbatim (neo-today.md section 4).

Members: ``heal-attempts.json`` (one JSON document), ``heal-events.jsonl`` (append-only JSONL; neo's backup
copies every ``*.jsonl`` of its heal-events dir beside it, restore brings back only this one) and
``recovery-runs/*.jsonl``. Restoring them follows neo's two phases: every member is authorised (its decision
taken, its target checked) before any is written, so a refusal leaves every live ledger as it was.

- a member absent from the bundle leaves its live ledger untouched, also in replace;
- merge never overwrites a live ledger (neo would with ``--force``; the console does not): a live
  ``heal-attempts.json`` / ``heal-events.jsonl`` is kept, and only the recovery-run files the live dir lacks
  are added;
- replace overwrites the two files and replaces the live recovery-runs dir's ``*.jsonl`` with the bundle's
  (neo empties the whole dir; the console removes only the ``*.jsonl`` files a backup captures, so a safety
  bundle holds everything it removed).

This module decides; ``core.restore_flat`` writes (atomically, journaled for undo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.neo_paths import HEAL_ATTEMPTS_FILE, HEAL_EVENTS_FILE, RECOVERY_RUNS_DIR, NeoPaths

MEMBERS = ("healAttempts", "healEvents", "recoveryRuns")


def _regular(path: Path) -> bool:
    """A regular file that is not a symlink: nothing outside the bundle is copied in through a member."""
    return path.is_file() and not path.is_symlink()


@dataclass(frozen=True)
class LedgerCopy:
    source: Path
    target: Path
    action: str  # write | keep (merge: live kept) | replace (replace: live overwritten)


@dataclass(frozen=True)
class LedgerStep:
    member: str  # healAttempts | healEvents | recoveryRuns
    target: Path
    present: bool  # the bundle holds this member
    copies: tuple[LedgerCopy, ...] = ()
    removes: tuple[Path, ...] = ()  # replace: live recovery-run files the bundle's set replaces

    @property
    def note(self) -> str | None:
        return None if self.present else "source absent"


@dataclass(frozen=True)
class LedgerPlan:
    mode: str
    steps: tuple[LedgerStep, ...]

    def step(self, member: str) -> LedgerStep:
        return next(s for s in self.steps if s.member == member)


class LedgerRefused(Exception):
    """A ledger's target cannot be written as planned; nothing was written."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def _check_file_target(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise LedgerRefused("the live ledger is not a regular file; not overwriting it", target)
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise LedgerRefused("the live ledger's folder is not a directory", parent)


def plan_ledgers(folder: Path, paths: NeoPaths, mode: str) -> LedgerPlan:
    """Phase 1: decide and authorise every member; raises LedgerRefused before anything is written."""
    steps: list[LedgerStep] = []
    for member, name, target in (("healAttempts", HEAL_ATTEMPTS_FILE, paths.heal_attempts_file),
                                 ("healEvents", HEAL_EVENTS_FILE, paths.heal_events_file)):
        source = folder / name
        if not _regular(source):
            steps.append(LedgerStep(member, target, False))
            continue
        live = target.exists() or target.is_symlink()
        if live and mode != "replace":
            steps.append(LedgerStep(member, target, True, (LedgerCopy(source, target, "keep"),)))
            continue
        _check_file_target(target)
        action = "replace" if live else "write"
        steps.append(LedgerStep(member, target, True, (LedgerCopy(source, target, action),)))
    runs = folder / RECOVERY_RUNS_DIR
    live_dir = paths.recovery_runs_dir
    if not runs.is_dir() or runs.is_symlink():
        steps.append(LedgerStep("recoveryRuns", live_dir, False))
        return LedgerPlan(mode, tuple(steps))
    if live_dir.is_symlink() or (live_dir.exists() and not live_dir.is_dir()):
        raise LedgerRefused("the live recovery-runs location is not a directory", live_dir)
    sources = [p for p in sorted(runs.glob("*.jsonl")) if _regular(p)]
    copies: list[LedgerCopy] = []
    removes: tuple[Path, ...] = ()
    if mode == "replace":
        live_files = sorted(live_dir.glob("*.jsonl")) if live_dir.is_dir() else []
        for p in live_files:
            if p.is_symlink() or not p.is_file():
                raise LedgerRefused("a live recovery-run entry is not a regular file; not removing it", p)
        names = {p.name for p in sources}
        removes = tuple(p for p in live_files if p.name not in names)
        for src in sources:
            dst = live_dir / src.name
            copies.append(LedgerCopy(src, dst, "replace" if dst.exists() else "write"))
    else:
        for src in sources:
            dst = live_dir / src.name
            live = dst.exists() or dst.is_symlink()
            copies.append(LedgerCopy(src, dst, "keep" if live else "write"))
    steps.append(LedgerStep("recoveryRuns", live_dir, True, tuple(copies), removes))
    return LedgerPlan(mode, tuple(steps))
