"""One writer at a time per data dir: backup, restore, prune and undo take an exclusive lock."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import ConsoleError

_held = 0  # locks this process holds right now
_held_guard = threading.Lock()


def writing() -> bool:
    """True while a backup, restore, prune or undo of this process holds a data dir lock."""
    return _held > 0


def _count(delta: int) -> None:
    global _held
    with _held_guard:
        _held += delta


@contextmanager
def exclusive(state_dir: Path, what: str) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / "console.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise ConsoleError(f"cannot {what}: the data dir is busy ({holder})", path=path) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {what}".encode(), 0)
        _count(+1)
        try:
            yield
        finally:
            _count(-1)
    finally:
        os.close(fd)  # closing releases the flock, also when the process is killed
