"""`recovery-console`: the TUI with no subcommand; every TUI action as a headless subcommand with --json.

Textual is imported only when the TUI starts, so subcommands and --help stay fast over SSH.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from console.commands import COMMANDS
from console.commands.common import Context, add_global_options
from core.errors import ConsoleError, GuardRefused, UsageError
from core.safetext import visible

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GUARD = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"console.commands.{name.replace('-', '_')}_cmd")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = _Parser(
        prog="recovery-console",
        description="Back up, inspect and restore a neo.mjs Memory Core. With no command, opens the console.",
    )
    add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, ModuleType] = {}
    for name in COMMANDS:
        mod = _load(name)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        add_global_options(p, suppress=True)
        mod.add_arguments(p)
        modules[name] = mod
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(args)
    try:
        if args.command is None:
            from console.tui import run_tui

            return run_tui(ctx)
        return int(modules[args.command].run(args, ctx))
    except UsageError as exc:
        sys.stderr.write(f"recovery-console: error: {visible(exc.describe())}\n")
        return EXIT_USAGE
    except GuardRefused as exc:
        # the guard's refusal is laid out on lines by design (one holds the backup command)
        sys.stderr.write(f"recovery-console: refused: {visible(exc.describe(), newlines=True)}\n")
        return EXIT_GUARD
    except ConsoleError as exc:
        sys.stderr.write(f"recovery-console: error: {visible(exc.describe())}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("recovery-console: interrupted\n")
        return 130
