"""Errors that name what is wrong and where, so an operator can act on one line.

Each error class carries a stable ``code``: the CLI prints it under ``--json`` as
``{"error": {"code", "message", "file", "line"}}`` and scripts branch on it, so a code never changes meaning.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path


class ConsoleError(Exception):
    """An operation failed for a reason the operator can fix (exit code 1)."""

    code = "FAILED"

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None,
                 details: Mapping[str, object] | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        self.details = details
        super().__init__(self.describe())

    def describe(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.reason}"

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"code": self.code, "message": self.reason, "file": self.path, "line": self.line}
        if self.details:
            out["details"] = self.details
        return out


class UsageError(ConsoleError):
    """The request itself is malformed (exit code 2)."""

    code = "USAGE"


class BundleInvalid(ConsoleError):
    """A bundle failed validation; nothing was written."""

    code = "BUNDLE_INVALID"


class GuardRefused(ConsoleError):
    """A safety gate refused the operation (exit code 3 for the guard command)."""

    code = "GUARD_REFUSED"


class NothingToBackUp(ConsoleError):
    """None of a backup's sources exists: most often a mistyped data dir. Nothing was created."""

    code = "NO_SOURCES"


class StorageFailed(ConsoleError):
    """The machine failed under an operation (disk full, over quota, I/O error); nothing half-done was kept."""

    def __init__(self, message: str, *, code: str, path: Path | str | None = None) -> None:
        self.code = code
        super().__init__(message, path=path)


NO_SPACE, IO_ERROR = "NO_SPACE", "IO_ERROR"
_SQLITE_FULL, _SQLITE_IOERR = 13, 10  # primary result codes


def storage_failure(exc: BaseException) -> str | None:
    """NO_SPACE or IO_ERROR when ``exc`` (or what caused it) is the disk failing rather than the data, else None.

    Such an error is never a per-row failure: a full disk refuses every row after it, so the run stops instead.
    SQLite says ``database or disk is full``; Chroma passes its own SQLite's text through as a string.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return NO_SPACE
        if isinstance(e, OSError) and e.errno == errno.EIO:
            return IO_ERROR
        sqlite_code = getattr(e, "sqlite_errorcode", None)
        if isinstance(sqlite_code, int) and sqlite_code & 0xFF == _SQLITE_FULL:
            return NO_SPACE
        if isinstance(sqlite_code, int) and sqlite_code & 0xFF == _SQLITE_IOERR:
            return IO_ERROR
        text = str(e).lower()
        if "database or disk is full" in text or "no space left on device" in text or "quota exceeded" in text:
            return NO_SPACE
        if "disk i/o error" in text:
            return IO_ERROR
        e = e.__cause__ or e.__context__
    return None


def storage_error(exc: BaseException, path: Path | str | None, doing: str) -> StorageFailed | None:
    """A StorageFailed naming ``path`` (the file the OS named, else the caller's) when ``exc`` is one, else None."""
    code = storage_failure(exc)
    if code is None:
        return None
    filename = getattr(exc, "filename", None)
    what = "no space left on device" if code == NO_SPACE else "I/O error"
    return StorageFailed(f"{what} while {doing}", code=code, path=filename or path)
