"""How the CLI prints for a person: data made visible and never read as markup; commands never wrapped.

Every string from a bundle, the live graph or Chroma goes through ``core.safetext.visible`` (an ESC in a label
prints as ``\\x1b``) and into a plain ``Text`` (``[/]`` in a label prints as ``[/]``). A line that holds a
command to copy (``recovery-console …``) is printed whole, without Rich's word wrap, so a copy from the
terminal pastes as one command. Imported inside ``run`` so that ``--help`` and ``--json`` never load Rich.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from core.datadir import DataDir
from core.guard import backup_command
from core.safetext import visible

COMMAND_MARK = "recovery-console "


def text(value: object, style: str = "") -> Text:
    """A table cell or a line of data: escaped, plain, never markup."""
    return Text(visible(value), style=style)


def say(con: Any, line: object, style: str = "", *, newlines: bool = False) -> None:
    """Print one line (or, with ``newlines``, a message laid out on several lines) of escaped text.

    A line that suggests a command is not word-wrapped: the terminal may fold it on screen, but it stays one
    line, so a copy pastes as one command.
    """
    s = visible(line, newlines=newlines)
    con.print(Text(s, style=style), soft_wrap=COMMAND_MARK in s)


def command(con: Any, argv: Sequence[str], *, prefix: str = "  ") -> None:
    """A command for the operator to run, quoted for a POSIX shell, on one line."""
    say(con, prefix + shlex.join(["recovery-console", *argv]))


def command_for(dd: DataDir, *argv: str) -> list[str]:
    """``argv`` for this data dir: the same location flags the guard's backup command carries."""
    parts = shlex.split(backup_command(dd))  # recovery-console backup --data-dir … [--backup-root …] …
    return [*argv, *parts[2:]]
