"""Restoring the flat substrates: files copied whole, atomically, each journaled with the content it replaced.

Merge skips a target that exists (and is not empty) unless --force; replace deletes the concepts files first.
Ledgers have no target in this layout: reported, never restored.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.bundle import substrate_files
from core.journal import flat_ref
from core.jsonl import fsync_dir, write_stream
from core.progress import check_cancel
from core.restore_model import FileOutcome, FilesOutcome, RunState
from core.scan import open_payload
from core.substrates import FLAT_DIRECTORIES


def restore_flat(s: RunState, sub: str) -> None:
    if sub == "ledgers":
        if (s.bundle / "ledgers").is_dir():
            s.subsystems["ledgers"] = FilesOutcome(copied=0, skipped=0, mode=s.opts.mode,
                                                   note="this data dir layout has no ledger target")
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


def _copy(s: RunState, sub: str, src: Path, target: Path, *, exists: bool, mode: int | None = None) -> bool:
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
        b = s.journal.pending("flat", target=flat_ref(sub, target), sha256=sha, previous=previous)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    s.journal.committed(b)
    return True
