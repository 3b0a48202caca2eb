"""Giving freed heap back to the operating system between the chunks of a long write.

glibc keeps memory a process has freed for reuse, and a chunk's big, short-lived allocations (SQLite's sorter
runs, the sets of ids a chunk returns) land between longer-lived ones, so without this the peak RSS creeps up
chunk after chunk although nothing is retained. Elsewhere (no glibc) it does nothing.
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any


@cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
