"""The one answer to "is this substrate of this bundle restorable?", without reading a payload byte.

Four states, from what a look at the root can know plus what a full verify found earlier:

* ``verified``: a full verify passed for these exact files (the verify cache holds its result, keyed by every
  file's path, size, mtime and inode, so any change to the bundle drops it back to unknown);
* ``failed``: a verify or a cheap check found a fault (a symlink, a missing or resized payload, a payload the
  checksums do not list, a checksum key that leaves the bundle, a torn file a verify read);
* ``claimed``: the meta says so (integrity ``pass``, bytes on disk, capture not collapsed) and the cheap checks
  agree, but nothing has read the rows yet;
* ``not-restorable``: no meta, a malformed meta, empty, not captured, or collapsed.

The cheap checks read each bundle's ``bundle-meta.json`` and lstat its files; they never open a payload. Most
neo bundles carry no checksums and no sizes, so a payload cut at a line boundary passes them: such a bundle is
*claimed* until a verify reads it (the guard does, see core/guard.py).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from core import codec
from core.substrates import RECOVERY_SUBSTRATES, REQUIRED_SUBDIRS, SUBSTRATES

Meta = Mapping[str, Any]

WHOLE_BUNDLE = "*"  # a fault no single substrate owns: every substrate of the bundle fails with it
LEDGER_MEMBER = "ledgers/heal-attempts.json"
# neo's capture sources behind each recovery substrate (the graph has none: neo leaves it out on purpose)
CAPTURE_SOURCES: Mapping[str, tuple[str, ...]] = {"kb": ("kb",), "mc": ("mc.memories", "mc.summaries"), "graph": ()}
# verify's count keys behind each substrate's rows
COUNT_KEYS: Mapping[str, tuple[str, ...]] = {"mc": ("memories", "summaries", "temporalSummaries")}


class State(StrEnum):
    VERIFIED = "verified"
    CLAIMED = "claimed"
    FAILED = "failed"
    NOT_RESTORABLE = "not-restorable"

    @property
    def counts(self) -> bool:
        """Does a copy in this state count toward retention's floor and the guard (with --no-verify)?"""
        return self in (State.VERIFIED, State.CLAIMED)


# ------------------------------------------------------------------------------------------ the cheap look


@dataclass(frozen=True)
class Stamp:
    """One regular file of a bundle as the filesystem describes it: what a verify's result is keyed by."""

    rel: str
    size: int
    mtime_ns: int
    ino: int


@dataclass(frozen=True)
class Fault:
    code: str  # symlink | not-a-file | unreadable | bad-checksum-key | missing | size-mismatch | unlisted | ...
    message: str
    file: str | None = None  # relative to the bundle
    substrate: str = WHOLE_BUNDLE  # the substrate it spoils, or every one


@dataclass(frozen=True)
class Survey:
    """A bundle seen without opening a payload: its files' stamps and what the cheap checks found."""

    stamps: tuple[Stamp, ...]
    faults: tuple[Fault, ...]
    dirs: frozenset[str] = frozenset()
    payloads: Mapping[str, tuple[Stamp, ...]] = field(default_factory=dict)  # per substrate, the files restore reads

    def payload_bytes(self, substrate: str) -> int:
        return sum(s.size for s in self.payloads.get(substrate, ()))

    def faults_of(self, substrate: str) -> list[Fault]:
        return [f for f in self.faults if f.substrate in (substrate, WHOLE_BUNDLE)]


def substrate_of(rel: str | None) -> str:
    """The recovery substrate a fault in this member spoils, or WHOLE_BUNDLE. A fault in a flat substrate's file
    spoils the whole bundle: a default restore reads every folder, and refuses the bundle for it."""
    head = (rel or "").split("/", 1)[0]
    return head if head in RECOVERY_SUBSTRATES else WHOLE_BUNDLE


def is_payload_name(name: str) -> bool:
    return codec.is_payload_name(name)


def payload_substrate(rel: str) -> str | None:
    """The substrate whose restore reads this member (neo's rule: a substrate folder's payload files, plus the
    ledgers' fixed members), or None for a file no restore reads."""
    parts = rel.split("/")
    if len(parts) == 2 and parts[0] in SUBSTRATES and is_payload_name(parts[1]):
        return parts[0]
    if rel == LEDGER_MEMBER or (len(parts) == 3 and parts[:2] == ["ledgers", "recovery-runs"]
                                and is_payload_name(parts[2])):
        return "ledgers"
    return None


def safe_member(rel: object) -> str | None:
    """``rel`` if it names a file inside a bundle (relative, forward slashes, no ``..``/``.``/empty part), else
    None: a checksum key is meta text, and meta text never decides which file outside the bundle gets read."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel or rel.startswith("/"):
        return None
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return None
    return rel


class OutsideBundle(OSError):
    """A member that is not a plain file reached through plain folders inside the bundle."""


def open_member(bundle: Path, rel: str) -> int:
    """An O_RDONLY fd on ``bundle/rel``, opened one component at a time with O_NOFOLLOW relative to the folder
    above it: no symlink, ``..`` or absolute path inside the bundle can lead anywhere else, even if the bundle
    changes between the check and the open. The caller owns (closes) the fd."""
    if safe_member(rel) is None:
        raise OutsideBundle(f"not a path inside the bundle: {rel!r}")
    *folders, name = rel.split("/")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(bundle, flags | os.O_DIRECTORY)
    try:
        for part in folders:
            try:
                nxt = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            except OSError as exc:
                raise OutsideBundle(f"{rel}: {part}/ is not a plain folder inside the bundle ({exc.strerror})") from exc
            os.close(fd)
            fd = nxt
        try:
            out = os.open(name, flags | os.O_NONBLOCK, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise OutsideBundle(f"{rel} is a symbolic link: a restore never reads through one") from exc
            raise
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(out).st_mode):
        os.close(out)
        raise OutsideBundle(f"{rel} is not a regular file")
    os.set_blocking(out, True)
    return out


def _walk(root: str, rel: str, stamps: list[Stamp], faults: list[Fault], dirs: set[str]) -> None:
    try:
        entries = list(os.scandir(os.path.join(root, rel) if rel else root))
    except OSError as exc:
        where = rel or "."
        faults.append(Fault("unreadable", f"{where}/ could not be listed: {exc.strerror or exc}", rel or None,
                            substrate_of(rel)))
        return
    for entry in entries:
        member = f"{rel}/{entry.name}" if rel else entry.name
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            faults.append(Fault("unreadable", f"{member} could not be stat-ed: {exc.strerror or exc}", member,
                                substrate_of(member)))
            continue
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(entry.path)
            except OSError:
                target = "?"
            faults.append(Fault("symlink", f"{member} is a symbolic link (to {target}): a restore never reads "
                                "through one", member, substrate_of(member)))
        elif stat.S_ISDIR(st.st_mode):
            dirs.add(member)
            _walk(root, member, stamps, faults, dirs)
        elif stat.S_ISREG(st.st_mode):
            stamps.append(Stamp(member, st.st_size, st.st_mtime_ns, st.st_ino))
        else:
            faults.append(Fault("not-a-file", f"{member} is not a regular file", member, substrate_of(member)))


def _under(rel: str, faulted: set[str | None]) -> bool:
    """Is ``rel`` (or a folder above it) already a fault? Then what it holds is not reported again."""
    parts = rel.split("/")
    return any("/".join(parts[:i]) in faulted for i in range(1, len(parts) + 1))


def _receipt_files(meta: Meta) -> Iterable[tuple[str, str]]:
    """(substrate, file name) of every payload the meta's export receipts name (`subsystems.*.backupFile`)."""
    subsystems = meta.get("subsystems")
    if not isinstance(subsystems, dict):
        return
    for sub, entry in subsystems.items():
        if not isinstance(entry, dict):
            continue
        for holder in (entry, *(v for v in entry.values() if isinstance(v, dict))):
            value = holder.get("backupFile")
            if isinstance(value, str) and value:
                # neo records an absolute path (rewritten from staging in newer writers): its folder and name
                *_, parent, name = ["", "", *value.replace("\\", "/").split("/")]
                folder = parent if parent in SUBSTRATES else sub
                if folder in SUBSTRATES and safe_member(name):
                    yield folder, name


def survey(bundle: Path, meta: Meta | None) -> Survey:
    """lstat every member of the bundle and hold the result against the meta. Opens no payload."""
    stamps: list[Stamp] = []
    faults: list[Fault] = []
    dirs: set[str] = set()
    _walk(str(bundle), "", stamps, faults, dirs)
    payloads: dict[str, list[Stamp]] = {}
    for st in stamps:
        sub = payload_substrate(st.rel)
        if sub is not None:
            payloads.setdefault(sub, []).append(st)
    grouped = {sub: tuple(v) for sub, v in payloads.items()}
    if meta is None:
        return Survey(tuple(stamps), tuple(faults), frozenset(dirs), grouped)
    by_rel = {s.rel: s for s in stamps}
    odd = {f.file for f in faults}
    partial = meta.get("substrates")  # a pre-restore safety bundle of some substrates only
    required = [d for d in REQUIRED_SUBDIRS if not isinstance(partial, list) or d in partial]
    for d in required:
        if d not in dirs and d not in odd:
            faults.append(Fault("missing-subdir", f"required subdirectory {d}/ is missing: a restore refuses the "
                                "bundle", d + "/"))
    sums = meta.get("checksums")
    listed: set[str] = set()
    if isinstance(sums, dict):
        for key, want in sums.items():
            rel = safe_member(key)
            if rel is None:
                faults.append(Fault("bad-checksum-key", f"checksum key {key!r} is not a path inside the bundle",
                                    None))
                continue
            listed.add(rel)
            if _under(rel, odd):
                continue
            have = by_rel.get(rel)
            if have is None:
                faults.append(Fault("missing", f"{rel} is listed in the checksums but missing", rel, substrate_of(rel)))
            elif isinstance(want, dict) and isinstance(want.get("bytes"), int) and want["bytes"] != have.size:
                faults.append(Fault("size-mismatch", f"{rel} holds {have.size:,} bytes, the checksums say "
                                    f"{want['bytes']:,}", rel, substrate_of(rel)))
        if listed:
            for s in (st for group in grouped.values() for st in group):
                if s.rel not in listed:
                    faults.append(Fault("unlisted", f"{s.rel} is not in the checksums: a restore would read a file "
                                        "the backup did not write", s.rel, substrate_of(s.rel)))
    for folder, name in _receipt_files(meta):
        rel = f"{folder}/{name}"
        if rel not in by_rel and not _under(rel, odd) and rel not in listed:
            faults.append(Fault("missing", f"{rel} is named by the meta's export receipt but missing", rel,
                                substrate_of(rel)))
    return Survey(tuple(stamps), tuple(faults), frozenset(dirs), grouped)


# ------------------------------------------------------------------------------------- a verify's record


@dataclass(frozen=True)
class VerifyRecord:
    """What a full verify found for one bundle, for exactly the files in ``stamps``."""

    verdict: str
    stamps: tuple[Stamp, ...]
    faults: Mapping[str, str] = field(default_factory=dict)  # substrate (or WHOLE_BUNDLE) -> its first fault
    counts: Mapping[str, int] = field(default_factory=dict)
    verified_at: str = ""
    seconds: float = 0.0

    def fault_of(self, substrate: str) -> str | None:
        return self.faults.get(substrate) or self.faults.get(WHOLE_BUNDLE)

    def rows(self, substrate: str) -> int | None:
        keys = COUNT_KEYS.get(substrate, (substrate,))
        if not any(k in self.counts for k in keys):
            return None
        return sum(self.counts.get(k, 0) for k in keys)


def record_faults(findings: Iterable[tuple[str | None, str]]) -> dict[str, str]:
    """(substrate or None, text) per error finding -> the first fault per substrate (None: the whole bundle)."""
    out: dict[str, str] = {}
    for sub, text in findings:
        out.setdefault(sub if sub is not None and sub in RECOVERY_SUBSTRATES else WHOLE_BUNDLE, text)
    return out


# ------------------------------------------------------------------------------------------ the answer


@dataclass(frozen=True)
class Answer:
    """One substrate of one bundle: its state, a word for a ✗ cell, why, and its rows with their source."""

    state: State
    word: str | None = None  # empty | no meta | malformed | collapsed | symlink | torn | ... (None when it counts)
    reason: str | None = None
    rows: int | None = None
    rows_from: str | None = None  # verify | checksums | integrity | embedding

    @property
    def counts(self) -> bool:
        return self.state.counts


_WORDS = {"symlink": "symlink", "not-a-file": "not a file", "unreadable": "unreadable",
          "bad-checksum-key": "bad checksums", "missing": "missing", "missing-subdir": "incomplete",
          "size-mismatch": "torn", "unlisted": "unlisted file"}


def rows_of(substrate: str, meta: Meta | None, survey_: Survey, record: VerifyRecord | None) -> tuple[int | None,
                                                                                                       str | None]:
    """A substrate's rows without reading a row, and where they came from: a verify's count (``verify``); 0 when
    no payload file is there (``absent``); else what the meta claims (``claimed_rows``)."""
    if record is not None and (n := record.rows(substrate)) is not None:
        return n, "verify"
    if not survey_.payloads.get(substrate):
        return 0, "absent"
    return claimed_rows(substrate, meta, survey_)


def claimed_rows(substrate: str, meta: Meta | None, survey_: Survey) -> tuple[int | None, str | None]:
    """What the meta says a substrate holds: the checksums' line counts (the console's own bundles), else the
    integrity ``bundleCount``, else ``embedding.counts``; (None, None) when it says nothing."""
    meta = meta or {}
    sums = meta.get("checksums")
    files = [s.rel for s in survey_.payloads.get(substrate, ())]
    if isinstance(sums, dict) and files:
        lines = [sums.get(rel, {}).get("lines") if isinstance(sums.get(rel), dict) else None for rel in files]
        if all(isinstance(n, int) for n in lines):
            return sum(n for n in lines if isinstance(n, int)), "checksums"
    n = _integrity(meta, substrate).get("bundleCount")
    if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
        return n, "integrity"
    emb = meta.get("embedding")
    declared = emb.get("counts") if isinstance(emb, dict) else None
    if isinstance(declared, dict):
        keys = [k for k in COUNT_KEYS.get(substrate, (substrate,)) if k in declared]
        values = [declared[k] for k in keys]
        if keys and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            return sum(values), "embedding"
    return None, None


def _integrity(meta: Meta, substrate: str) -> Mapping[str, Any]:
    entries = meta.get("integrity")
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("subsystem") == substrate:
            return entry
    return {}


def collapsed_source(meta: Meta, substrate: str) -> str | None:
    """The capture source that collapsed to zero rows against a changed collection, if any (neo-today 3.2)."""
    capture = meta.get("capture")
    sources = capture.get("sources") if isinstance(capture, dict) else None
    if not isinstance(sources, dict):
        return None
    for key in CAPTURE_SOURCES.get(substrate, ()):
        entry = sources.get(key)
        if isinstance(entry, dict) and entry.get("collapsed") is True:
            return key
    return None


def judge(substrate: str, meta_state: str, meta: Meta | None, meta_error: str | None, survey_: Survey,
          record: VerifyRecord | None) -> Answer:
    """The state of one recovery substrate of one bundle. ``record`` must match the survey's stamps (the cache's
    lookup guarantees it); pass None when there is none."""
    rows, source = rows_of(substrate, meta, survey_, record)

    def answer(state: State, word: str | None = None, reason: str | None = None) -> Answer:
        return Answer(state, word, reason, rows, source)

    if meta_state == "absent" or meta is None and meta_state != "malformed":
        return answer(State.NOT_RESTORABLE, "no meta",
                      "no bundle-meta.json: nothing says what the bundle should hold (at best BUNDLE_UNVERIFIABLE)")
    if meta_state != "valid" or meta is None:
        return answer(State.NOT_RESTORABLE, "malformed", f"malformed bundle-meta.json ({meta_error})")
    faults = survey_.faults_of(substrate)
    if faults:
        return answer(State.FAILED, _WORDS.get(faults[0].code, faults[0].code), faults[0].message)
    status = _integrity(meta, substrate).get("status")
    if not isinstance(status, str):
        return answer(State.NOT_RESTORABLE, "not captured", f"the meta has no {substrate} integrity entry")
    if status != "pass":
        word = "empty" if status == "empty" else status
        return answer(State.NOT_RESTORABLE, word, f"the meta's {substrate} integrity is '{status}'")
    source_key = collapsed_source(meta, substrate)
    if source_key is not None:
        return answer(State.NOT_RESTORABLE, "collapsed",
                      f"capture {source_key} collapsed to 0 rows against a changed collection: not a recovery source")
    if survey_.payload_bytes(substrate) == 0:
        claimed, _ = claimed_rows(substrate, meta, survey_)
        if claimed:
            return answer(State.FAILED, "missing", f"the meta claims {claimed:,} {substrate} rows, no payload bytes "
                          "are on disk")
        return answer(State.NOT_RESTORABLE, "empty", f"no {substrate} payload bytes on disk")
    if record is not None:
        fault = record.fault_of(substrate)
        if fault is not None:
            return answer(State.FAILED, _verdict_word(record.verdict), f"verify: {record.verdict}: {fault}")
        if record.verdict == "BUNDLE_EMPTY":
            return answer(State.NOT_RESTORABLE, "empty", "verify: BUNDLE_EMPTY: the files hold no rows")
        if record.verdict != "BUNDLE_UNVERIFIABLE":
            return answer(State.VERIFIED)
    return answer(State.CLAIMED)


def _verdict_word(verdict: str) -> str:
    return {"BUNDLE_INVALID": "invalid", "BUNDLE_INCOMPLETE": "incomplete", "BUNDLE_EMPTY": "empty",
            "BUNDLE_UNVERIFIABLE": "unverifiable"}.get(verdict, verdict.lower())

