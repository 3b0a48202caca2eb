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

from core.bundle import META_FILE, PARTIAL_PREFIX, bundle_name
from core.errors import ConsoleError
from core.jsonl import JsonlWriter, copy_file_hashed, fsync_dir, write_json_atomic
from core.substrates import BACKED_UP
from core.wire import encode


@dataclass(frozen=True)
class FileSum:
    """One file's entry in the meta's `checksums`."""

    sha256: str
    bytes: int
    lines: int


class BundleWriter:
    """Owner-only (0700/0600) staging; nothing looks like a bundle until `publish` renames it."""

    def __init__(self, backup_root: Path, when: datetime) -> None:
        backup_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = backup_root
        self.name = bundle_name(when)
        self.final = backup_root / self.name
        if self.final.exists():
            raise ConsoleError("a bundle with this timestamp already exists", path=self.final)
        hint = re.sub(r"[^a-zA-Z0-9._-]", "_", self.name)[:48]
        # mkdtemp creates the dir 0700: bundles hold agent memories.
        self.staging = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{hint}-", dir=backup_root))
        for sub in BACKED_UP:
            (self.staging / sub).mkdir(mode=0o700)
        self.checksums: dict[str, FileSum] = {}
        self._open: list[tuple[str, JsonlWriter]] = []
        self._lock = threading.Lock()  # backup writes the graph file on a thread beside the Chroma export

    def final_path(self, rel: str) -> str:
        return str(self.final / rel)

    def open_jsonl(self, rel: str) -> JsonlWriter:
        w = JsonlWriter(self.staging / rel)
        with self._lock:
            self._open.append((rel, w))
        return w

    def close_jsonl(self, w: JsonlWriter) -> None:
        w.close()
        rel = str(w.path.relative_to(self.staging))
        with self._lock:
            self.checksums[rel] = FileSum(w.sha256, w.bytes, w.lines)
            self._open = [(r, o) for r, o in self._open if o is not w]

    def discard_jsonl(self, w: JsonlWriter) -> None:
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
        for sub in BACKED_UP:
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
