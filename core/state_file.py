"""A JSON file of per-bundle entries in the console's state dir (the verify cache, the graph census).

Read once and capped in size; written whole, atomically, under a lock (flock between processes, a thread lock
between the console's workers), each write re-reading the file so concurrent writers merge and dropping the
entries of bundles that are gone. Best effort by design: a file that cannot be read is an empty one.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from core.jsonl import write_atomic

MAX_BYTES = 64 << 20  # far beyond any real root; a bigger file is not ours

_threads = threading.Lock()  # flock serialises processes; this, the threads of one (the TUI's workers)


class BundleStateFile:
    def __init__(self, state_dir: Path | None, name: str, lock_name: str, *, version: int, ignored: str) -> None:
        self.state_dir = state_dir
        self.name, self.lock_name, self.version = name, lock_name, version
        self.ignored = ignored  # what `read` says of a file that is not this version's

    @property
    def path(self) -> Path | None:
        return self.state_dir / self.name if self.state_dir is not None else None

    def read(self) -> tuple[dict[str, Any], str | None]:
        """(the entries by bundle path, why the file on disk was ignored if it was)."""
        path = self.path
        if path is None:
            return {}, None
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return {}, None
        except OSError as exc:
            return {}, f"unreadable: {exc.strerror or exc}"
        try:
            doc = orjson.loads(raw) if len(raw) <= MAX_BYTES else None
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict) or doc.get("version") != self.version or not isinstance(doc.get("bundles"), dict):
            return {}, self.ignored
        return doc["bundles"], None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        assert self.state_dir is not None
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _threads:
            fd = os.open(self.state_dir / self.lock_name, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def put(self, key: str, entry: object) -> dict[str, Any]:
        """Write one bundle's entry beside what is on disk now; -> the entries written. Raises OSError."""
        assert self.path is not None
        with self._locked():
            entries = {k: v for k, v in self.read()[0].items() if os.path.isdir(k)}  # bundles pruned since go
            entries[key] = entry
            write_atomic(self.path, orjson.dumps({"version": self.version, "bundles": entries}), 0o600)
        return entries
