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

Every write is a temp file in the target dir, fsynced and renamed: a ledger is old or new, never torn.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from core.neo_paths import HEAL_ATTEMPTS_FILE, HEAL_EVENTS_FILE, RECOVERY_RUNS_DIR, NeoPaths

MEMBERS = ("healAttempts", "healEvents", "recoveryRuns")
MAX_JSON_BYTES = 64 << 20
BUFFER = 1 << 20


@dataclass(frozen=True)
class LedgerProblem:
    file: str  # relative to the bundle, e.g. ledgers/recovery-runs/run-1.jsonl
    line: int | None
    message: str


def _regular(path: Path) -> bool:
    """A regular file that is not a symlink: nothing outside the bundle is opened through a member."""
    return path.is_file() and not path.is_symlink()


def jsonl_members(folder: Path) -> list[Path]:
    """``ledgers/*.jsonl`` and ``ledgers/recovery-runs/*.jsonl``, sorted."""
    out = sorted(p for p in folder.glob("*.jsonl"))
    runs = folder / RECOVERY_RUNS_DIR
    if runs.is_dir() and not runs.is_symlink():
        out += sorted(runs.glob("*.jsonl"))
    return out


def validate_ledgers(folder: Path) -> Iterator[LedgerProblem]:
    """neo's checks before any write: every JSONL line parses, ``heal-attempts.json`` parses whole."""
    base = folder.parent
    for path in jsonl_members(folder):
        rel = str(path.relative_to(base))
        if not _regular(path):
            yield LedgerProblem(rel, None, "not a regular file (a symlink or a special file)")
            continue
        with open(path, "rb", buffering=BUFFER) as fh:
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    yield LedgerProblem(rel, number, f"not JSON: {exc}")
    attempts = folder / HEAL_ATTEMPTS_FILE
    if attempts.exists() or attempts.is_symlink():
        rel = str(attempts.relative_to(base))
        if not _regular(attempts):
            yield LedgerProblem(rel, None, "not a regular file (a symlink or a special file)")
        elif attempts.stat().st_size > MAX_JSON_BYTES:
            yield LedgerProblem(rel, None, f"larger than {MAX_JSON_BYTES >> 20} MiB: not read")
        elif attempts.stat().st_size:  # neo copies a 0-byte source as is (`source file empty`)
            try:
                orjson.loads(attempts.read_bytes())
            except orjson.JSONDecodeError as exc:
                yield LedgerProblem(rel, None, f"not JSON: {exc}")


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

    @property
    def writes(self) -> int:
        return sum(1 for s in self.steps for c in s.copies if c.action != "keep")


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
        _check_file_target(target)
        live = target.exists()
        action = "replace" if mode == "replace" and live else ("keep" if live else "write")
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
            if dst.is_symlink() or (dst.exists() and not dst.is_file()):
                raise LedgerRefused("a live recovery-run entry is not a regular file", dst)
            copies.append(LedgerCopy(src, dst, "keep" if dst.exists() else "write"))
    steps.append(LedgerStep("recoveryRuns", live_dir, True, tuple(copies), removes))
    return LedgerPlan(mode, tuple(steps))


def copy_atomic(source: Path, target: Path) -> int:
    """Copy through a temp file in the target's dir: fsync, rename, fsync the dir. Returns the bytes copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # a live ledger keeps its mode; a new one is readable by neo's daemon whatever its uid, as neo's copy leaves it
    mode = target.stat().st_mode & 0o777 if target.is_file() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, BUFFER)
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return size


@dataclass(frozen=True)
class LedgerOutcome:
    member: str
    copied: int
    kept: int
    removed: int
    mode: str
    note: str | None


def apply_ledgers(plan: LedgerPlan) -> tuple[LedgerOutcome, ...]:
    """Phase 2: carry out an authorised plan."""
    out: list[LedgerOutcome] = []
    for step in plan.steps:
        copied = kept = 0
        for path in step.removes:
            path.unlink(missing_ok=True)
        for c in step.copies:
            if c.action == "keep":
                kept += 1
                continue
            copy_atomic(c.source, c.target)
            copied += 1
        out.append(LedgerOutcome(step.member, copied, kept, len(step.removes), plan.mode, step.note))
    return tuple(out)
