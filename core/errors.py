"""Errors that name what is wrong and where, so an operator can act on one line."""

from __future__ import annotations

from pathlib import Path


class ConsoleError(Exception):
    """An operation failed for a reason the operator can fix (exit code 1)."""

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        super().__init__(self.describe())

    def describe(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return f"{where}{self.reason}"


class UsageError(ConsoleError):
    """The request itself is malformed (exit code 2)."""


class BundleInvalid(ConsoleError):
    """A bundle failed validation; nothing was written."""


class GuardRefused(ConsoleError):
    """A safety gate refused the operation (exit code 3 for the guard command)."""
