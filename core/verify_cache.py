"""The verify cache: a full verify's result per bundle, valid only for exactly the files it read.

One JSON file in the console's state dir (owner-only, replaced atomically under a lock, so two consoles never
tear it). An entry holds the bundle's stamps (every file's path, size, mtime_ns and inode): a lookup that finds
any file added, removed, resized, touched or replaced gets nothing, and the bundle is *claimed* again until the
next verify. A missing, unreadable or corrupt cache is an empty one: the cache only ever saves work, it never
decides a verdict on its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.restorability import Meta, Stamp, Survey, VerifyRecord, payload_substrate, survey
from core.state_file import BundleStateFile
from core.substrates import VECTOR_SUBSTRATES, collection_key
from core.units import iso_ms

CACHE_FILE = "verify-cache.json"
LOCK_FILE = "verify-cache.lock"
VERSION = 1



def _key(bundle: Path) -> str:
    return os.path.abspath(bundle)


def _stamps(value: Any) -> tuple[Stamp, ...] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if (not isinstance(item, list) or len(item) != 4 or not isinstance(item[0], str)
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in item[1:])):
            return None
        out.append(Stamp(item[0], item[1], item[2], item[3]))
    return tuple(sorted(out, key=lambda s: s.rel))


def _str_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return None
    return value


def _int_map(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        return None
    return value


def _decode(entry: Any) -> VerifyRecord | None:
    if not isinstance(entry, dict):
        return None
    stamps = _stamps(entry.get("stamps"))
    faults = _str_map(entry.get("faults", {}))
    counts = _int_map(entry.get("counts", {}))
    verdict, at, seconds = entry.get("verdict"), entry.get("verifiedAt", ""), entry.get("seconds", 0.0)
    if (stamps is None or faults is None or counts is None or not isinstance(verdict, str)
            or not isinstance(at, str) or not isinstance(seconds, int | float) or isinstance(seconds, bool)):
        return None
    return VerifyRecord(verdict, stamps, faults, counts, at, float(seconds))


def _encode(r: VerifyRecord) -> dict[str, Any]:
    return {"verdict": r.verdict, "stamps": [[s.rel, s.size, s.mtime_ns, s.ino] for s in sorted(r.stamps,
                                                                                             key=lambda s: s.rel)],
            "faults": dict(r.faults), "counts": dict(r.counts), "verifiedAt": r.verified_at, "seconds": r.seconds}


def same_files(a: tuple[Stamp, ...], b: tuple[Stamp, ...]) -> bool:
    return sorted(a, key=lambda s: s.rel) == sorted(b, key=lambda s: s.rel)


class VerifyCache:
    """Lookups read the file once (lazily); every store re-reads it under the lock, so concurrent writers merge."""

    def __init__(self, state_dir: Path | None) -> None:
        self.file = BundleStateFile(state_dir, CACHE_FILE, LOCK_FILE, version=VERSION, ignored=(
            "not a verify cache this version writes: ignored (rebuilt by the next verify)"))
        self._entries: dict[str, Any] | None = None
        self.problem: str | None = None  # why the file on disk was ignored, if it was

    @property
    def state_dir(self) -> Path | None:
        return self.file.state_dir

    @property
    def path(self) -> Path | None:
        return self.file.path

    def _read(self) -> dict[str, Any]:
        entries, problem = self.file.read()
        self.problem = problem or self.problem
        return entries

    def entries(self) -> Mapping[str, Any]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def record(self, bundle: Path) -> VerifyRecord | None:
        """The bundle's last record, whatever its files are now."""
        return _decode(self.entries().get(_key(bundle)))

    def lookup(self, bundle: Path, seen: Survey) -> VerifyRecord | None:
        """The record of a verify that read exactly the files the survey saw, or None."""
        rec = self.record(bundle)
        if rec is None or not same_files(rec.stamps, seen.stamps):
            return None
        return rec

    def store(self, bundle: Path, rec: VerifyRecord) -> str | None:
        """Record a verify's result; returns why it could not be written (the cache is best effort), or None."""
        if self.path is None:
            return "no state dir"
        try:
            self._entries = self.file.put(_key(bundle), _encode(rec))
        except OSError as exc:
            # this process still knows what it verified: later looks through this object see it
            self._entries = {**self.entries(), _key(bundle): _encode(rec)}
            return f"{exc.strerror or exc}: {exc.filename or self.path}"
        return None

    def record_written(self, bundle: Path, meta: Meta, lines: Mapping[str, int], seconds: float) -> str | None:
        """Record a bundle this process has just written and hashed (``backup``) as verified, if a look at it
        finds exactly the payloads it wrote; returns why it was not recorded, or None."""
        seen = survey(bundle, meta)
        on_disk = {st.rel for group in seen.payloads.values() for st in group}
        if seen.faults or on_disk - set(lines):
            return "the published bundle is not exactly what was written: left for a verify"
        counts: dict[str, int] = {}
        for rel, n in lines.items():
            sub = payload_substrate(rel)
            if sub is not None:
                key = collection_key(sub, rel.rsplit("/", 1)[-1]) if sub in VECTOR_SUBSTRATES else sub
                counts[key] = counts.get(key, 0) + n
        rows = sum(counts.get(k, 0) for k in ("kb", "memories", "summaries", "temporalSummaries", "graph"))
        verdict = "RESTORABLE" if rows else "BUNDLE_EMPTY"  # neo's verdict codes, as core.verify names them
        return self.store(bundle, VerifyRecord(verdict, seen.stamps, {}, counts, iso_ms(datetime.now(UTC)),
                                               round(seconds, 3)))
