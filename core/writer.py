"""Assemble a bundle in a hidden staging dir and publish it with one same-filesystem rename."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core import codec
from core.bundle import META_FILE, PARTIAL_PREFIX, bundle_name
from core.errors import ConsoleError
from core.jsonl import JsonlWriter, copy_file_hashed, dumps, fsync_dir, write_json_atomic
from core.substrates import BACKED_UP
from core.wire import encode

# folders a bundle always has (neo creates ledgers/recovery-runs even when empty)
SUBDIRS = (*BACKED_UP, "ledgers/recovery-runs")


class EncodedWriter(codec.PayloadWriter):
    """A compressed payload with the same interface as JsonlWriter (one record per line)."""

    def write(self, obj: object) -> None:
        self.write_raw(dumps(obj))


PayloadOut = JsonlWriter | EncodedWriter


@dataclass(frozen=True)
class FileSum:
    """One file's entry in the meta's `checksums`."""

    sha256: str
    bytes: int
    lines: int


class BundleWriter:
    """Owner-only (0700/0600) staging; nothing looks like a bundle until `publish` renames it."""

    def __init__(self, backup_root: Path, when: datetime, encoding: str = codec.PLAIN) -> None:
        backup_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = backup_root
        self.name = bundle_name(when)
        self.final = backup_root / self.name
        if self.final.exists():
            raise ConsoleError("a bundle with this timestamp already exists", path=self.final)
        hint = re.sub(r"[^a-zA-Z0-9._-]", "_", self.name)[:48]
        # mkdtemp creates the dir 0700: bundles hold agent memories.
        self.staging = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{hint}-", dir=backup_root))
        for sub in SUBDIRS:
            (self.staging / sub).mkdir(mode=0o700)
        self.encoding = encoding  # kb/mc/graph payloads: jsonl, jsonl+br or jsonl+gz; flat members stay plain
        self.checksums: dict[str, FileSum] = {}
        self._open: list[tuple[str, PayloadOut]] = []
        self._lock = threading.Lock()  # backup writes the graph file on a thread beside the Chroma export

    @property
    def suffix(self) -> str:
        """The file-name suffix of this bundle's kb/mc/graph payloads (the name is the contract)."""
        return codec.SUFFIX_OF[self.encoding]

    def final_path(self, rel: str) -> str:
        return str(self.final / rel)

    def open_jsonl(self, rel: str) -> PayloadOut:
        """A new payload; its name's suffix says how it is encoded (plain JSONL, brotli at neo's quality 4,
        gzip). Checksums, bytes and lines cover what is on disk."""
        path = self.staging / rel
        w: PayloadOut = JsonlWriter(path) if codec.payload_encoding(rel) == codec.PLAIN else EncodedWriter(path)
        with self._lock:
            self._open.append((rel, w))
        return w

    def close_jsonl(self, w: PayloadOut) -> None:
        w.close()
        rel = str(w.path.relative_to(self.staging))
        with self._lock:
            self.checksums[rel] = FileSum(w.sha256, w.bytes, w.lines)
            self._open = [(r, o) for r, o in self._open if o is not w]

    def discard_jsonl(self, w: PayloadOut) -> None:
        w.close()
        w.path.unlink(missing_ok=True)
        with self._lock:
            self._open = [(r, o) for r, o in self._open if o is not w]

    def copy_in(self, src: Path, rel: str) -> int:
        size, sha, lines = copy_file_hashed(src, self.staging / rel)
        with self._lock:
            self.checksums[rel] = FileSum(sha, size, lines)
        return size

    def staged(self, rel: str) -> Path:
        return self.staging / rel

    def publish(self, meta: Mapping[str, object]) -> Path:
        """Write the meta last, fsync every dir, check the final name is still free, rename."""
        for _rel, w in list(self._open):
            self.close_jsonl(w)
        meta = {**meta, "checksums": encode(dict(sorted(self.checksums.items())))}
        write_json_atomic(self.staging / META_FILE, meta)
        for sub in SUBDIRS:
            fsync_dir(self.staging / sub)
        fsync_dir(self.staging)
        if os.path.lexists(self.final):
            raise ConsoleError("the bundle name was taken while writing; not publishing", path=self.final)
        os.rename(self.staging, self.final)
        fsync_dir(self.root)
        return self.final

    def abort(self) -> None:
        for _rel, w in self._open:
            with contextlib.suppress(OSError):
                w.close()
        shutil.rmtree(self.staging, ignore_errors=True)
