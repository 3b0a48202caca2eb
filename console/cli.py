"""`recovery-console`: the TUI with no subcommand; every TUI action as a headless subcommand with --json.

Textual is imported only when the TUI starts, so subcommands and --help stay fast over SSH.

Every way a command can end is mapped here to one exit code and, under --json, to exactly one JSON object on
stdout: the command's result, or ``{"error": {"code", "message", "file", "line"}, "exitCode": N}``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from console.commands import COMMANDS
from console.commands.common import EXIT_CANCELLED, Context, add_global_options, error_json, write_json
from core.errors import ConsoleError, GuardRefused, UsageError, storage_failure
from core.progress import Cancelled
from core.safetext import visible

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GUARD = 0, 1, 2, 3
PROG = "recovery-console"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, json_errors: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.json_errors = json_errors

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        if self.json_errors:
            write_json(error_json({"code": "USAGE", "message": message, "file": None, "line": None}, EXIT_USAGE))
        raise SystemExit(EXIT_USAGE)


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"console.commands.{name.replace('-', '_')}_cmd")


def build_parser(*, json_errors: bool = False) -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = _Parser(
        prog=PROG,
        description="Back up, inspect and restore a neo.mjs Memory Core. With no command, opens the console.",
        json_errors=json_errors,
    )
    add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name in COMMANDS:
        mod = _load(name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP, json_errors=json_errors)
        add_global_options(p, suppress=True)
        mod.add_arguments(p)
        modules[name] = mod
    return parser, modules


def json_requested(argv: list[str]) -> bool:
    """--json anywhere before `--`, also abbreviated as argparse allows (`--js`)."""
    for tok in argv:
        if tok == "--":
            return False
        if len(tok) > 2 and "--json".startswith(tok):
            return True
    return False


@dataclass(frozen=True)
class Failure:
    exit_code: int
    error: dict[str, Any]  # the --json error object
    line: str  # the one line on stderr
    traceback: bool = False  # a bug: the traceback goes to stderr before the line


def classify(exc: BaseException) -> Failure:
    """The exit code, JSON error and stderr line for an exception that ended a command."""
    if isinstance(exc, ConsoleError):
        exit_code = EXIT_USAGE if isinstance(exc, UsageError) else EXIT_GUARD if isinstance(exc, GuardRefused) \
            else EXIT_FAILED
        label = "refused" if isinstance(exc, GuardRefused) else "error"
        return Failure(exit_code, exc.to_json(), f"{PROG}: {label}: {exc.describe()}")
    if isinstance(exc, (KeyboardInterrupt, Cancelled)):
        return Failure(EXIT_CANCELLED, {"code": "CANCELLED", "message": "interrupted", "file": None, "line": None},
                       f"{PROG}: interrupted")
    if isinstance(exc, OSError):
        # the machine or the operator's paths (full disk, permissions, a file where a dir should be): not a bug
        code = storage_failure(exc) or "OS_ERROR"
        message = exc.strerror or str(exc)
        where = f"{exc.filename}: " if exc.filename else ""
        return Failure(EXIT_FAILED, {"code": code, "message": message, "file": exc.filename, "line": None},
                       f"{PROG}: error: {where}{message}")
    code = storage_failure(exc)
    if code is not None:  # e.g. sqlite3.OperationalError: database or disk is full
        message = f"{type(exc).__name__}: {exc}"
        return Failure(EXIT_FAILED, {"code": code, "message": message, "file": None, "line": None},
                       f"{PROG}: error: {message}")
    frames = traceback.extract_tb(exc.__traceback__)
    file, line = (frames[-1].filename, frames[-1].lineno) if frames else (None, None)
    message = f"{type(exc).__name__}: {exc}"
    return Failure(EXIT_FAILED, {"code": "INTERNAL", "message": message, "file": file, "line": line},
                   f"{PROG}: internal error: {message} (at {file}:{line}). A bug in the console, not an operator "
                   "error: please report it with the traceback above. Backups publish only complete bundles and "
                   "restores commit whole, journaled batches (see `recovery-console runs`).", traceback=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, modules = build_parser(json_errors=json_requested(argv))
    args = parser.parse_args(argv)
    ctx = Context(args)
    try:
        if args.command is None:
            from console.tui import run_tui

            return run_tui(ctx.dd, ctx.readonly)
        return int(modules[args.command].run(args, ctx))
    except (Exception, KeyboardInterrupt) as exc:
        failure = classify(exc)
        if failure.traceback:
            traceback.print_exception(exc, file=sys.stderr)
        # the guard's refusal is laid out on lines by design (one holds the backup command); data is escaped
        sys.stderr.write(visible(failure.line, newlines=isinstance(exc, GuardRefused)) + "\n")
        if ctx.json and not ctx.emitted:
            ctx.emit_error(failure.error, failure.exit_code)
        return failure.exit_code
