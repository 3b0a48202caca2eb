"""Restoring the flat substrates: files copied whole, atomically, each journaled with the content it replaced.

Merge skips a target that exists (and is not empty) unless --force; replace deletes the concepts files first.
Ledgers go where neo keeps them (``core.ledgers`` decides, and validation authorised every member before the
restore's first write); merge never overwrites a live ledger, --force or not.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.bundle import substrate_files
from core.errors import ConsoleError
from core.journal import flat_ref
from core.jsonl import fsync_dir, write_stream
from core.ledgers import LedgerRefused, plan_ledgers
from core.progress import check_cancel
from core.restore_model import FileOutcome, FilesOutcome, LedgerOutcome, LedgersOutcome, RunState
from core.scan import open_payload
from core.substrates import FLAT_DIRECTORIES


def restore_flat(s: RunState, sub: str) -> None:
    if sub == "ledgers":
        if (s.bundle / "ledgers").is_dir():
            _restore_ledgers(s)
        return
    files = substrate_files(s.bundle, sub)
    target = s.dd.flat_target(sub)
    if sub in FLAT_DIRECTORIES:
        modes: dict[str, int] = {}
        if s.replace and target.is_dir():
            # the targets a backup captures (and the safety bundle holds): the *.jsonl files
            for old in target.glob("*.jsonl"):
                modes[old.name] = stat.S_IMODE(old.stat().st_mode)  # its replacement keeps it
                old.unlink()
        copied = skipped = 0
        for f in files:
            if _copy(s, sub, f, target / f.name, exists=(target / f.name).exists(), mode=modes.get(f.name)):
                copied += 1
            else:
                skipped += 1
        s.subsystems[sub] = FilesOutcome(copied=copied, skipped=skipped, mode=s.opts.mode,
                                         note=None if files else f"bundle has no {sub}/*.jsonl")
        return
    if sub == "mailbox" and not (s.bundle / sub).is_dir():
        s.warnings.append("bundle has no mailbox/ (optional in older bundles); skipped")
        return
    if not files:
        s.subsystems[sub] = FileOutcome(copied=False, skipped=False, mode=s.opts.mode,
                                        note=f"bundle has no {sub}/*.jsonl")
        return
    exists = target.is_file() and target.stat().st_size > 0
    did = _copy(s, sub, files[0], target, exists=exists)
    s.subsystems[sub] = FileOutcome(copied=did, skipped=not did, mode=s.opts.mode)


def _restore_ledgers(s: RunState) -> None:
    """neo's three ledgers: the plan is taken again (validation already took and authorised it), then carried
    out member by member; each write is journaled like any flat file, so undo puts back what it replaced."""
    try:
        plan = plan_ledgers(s.bundle / "ledgers", s.dd.neo, s.opts.mode)
    except LedgerRefused as exc:  # changed since validation: still before this substrate's first write
        raise ConsoleError(f"ledgers refused: {exc}", path=exc.path) from None
    if not any(step.copies or step.removes for step in plan.steps):
        return  # an empty ledgers/ (every bundle has one): nothing to restore, nothing to say
    out: dict[str, LedgerOutcome] = {}
    for step in plan.steps:
        check_cancel(s.cancel)
        for path in step.removes:  # replace: what the bundle's recovery runs replace (the safety bundle has it)
            path.unlink(missing_ok=True)
        copied = kept = 0
        for c in step.copies:
            if c.action == "keep":
                kept += 1
            elif _copy(s, "ledgers", c.source, c.target, exists=False, member=step.member):
                copied += 1
        out[step.member] = LedgerOutcome(copied=copied, skipped=kept, removed=len(step.removes) or None,
                                         note=step.note)
    s.subsystems["ledgers"] = LedgersOutcome(heal_attempts=out["healAttempts"], heal_events=out["healEvents"],
                                             recovery_runs=out["recoveryRuns"], mode=s.opts.mode)


def _copy(s: RunState, sub: str, src: Path, target: Path, *, exists: bool, mode: int | None = None,
          member: str | None = None) -> bool:
    """Copy one flat file atomically; merge skips an existing target unless --force. -> copied?

    The copy keeps the mode of the file it replaces (`mode`, when replace deleted that file first); a new
    file gets what a plain create gives under the process umask (0666 & ~umask), never the bundle's 0600.
    """
    if exists and not s.replace and not s.opts.force:
        return False
    check_cancel(s.cancel)
    assert s.journal is not None
    previous = None
    if target.exists():
        mode = stat.S_IMODE(target.stat().st_mode)
        previous = s.journal.save_previous(sub, target)  # so undo can put the overwritten file back
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restore-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        with open_payload(src) as fh:
            sha = write_stream(fh, tmp, mode=0o666 if mode is None else 0o600)
        if mode is not None:
            os.chmod(tmp, mode)
        b = s.journal.pending("flat", target=flat_ref(sub, target, member), sha256=sha, previous=previous)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    s.journal.committed(b)
    return True
