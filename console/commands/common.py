"""What every subcommand shares: the data dir from the global flags, JSON output, Rich progress on stderr."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.datadir import DataDir, resolve
from core.progress import Progress, ProgressFn, no_progress

EXIT_CANCELLED = 130  # Ctrl-C, SIGTERM, SIGHUP: stopped between batches; the same command again resumes
EXIT_VERIFY_FAILED = 4  # the restore completed, but its verification found the stores not as it reported


def add_global_options(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    g = p.add_argument_group("data dir")
    g.add_argument("--data-dir", default=d, help="the Memory Core data dir (default ./.neo-ai-data)")
    g.add_argument("--backup-root", default=d, help="where bundles live (env NEO_BACKUP_PATH; default DATA_DIR/backups)")
    g.add_argument("--graph-db", default=d,
                   help="the graph SQLite file (env NEO_MEMORY_DB_PATH; default DATA_DIR/sqlite/memory-core-graph.sqlite)")
    g.add_argument("--chroma-path", default=d, help="embedded Chroma dir (default DATA_DIR/chroma/unified)")
    g.add_argument("--chroma-url", default=d, help="use a Chroma server instead, e.g. http://127.0.0.1:8000")
    g.add_argument("--config", default=d, help="TOML config file (env RECOVERY_CONSOLE_CONFIG)")
    g.add_argument("--readonly", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="refuse every action that writes (TUI and CLI)")


@dataclass
class Context:
    args: argparse.Namespace
    _dd: DataDir | None = field(default=None, repr=False)
    emitted: bool = False  # a JSON object is on stdout already: a later failure must not print a second one

    @property
    def dd(self) -> DataDir:
        if self._dd is None:
            a = self.args
            self._dd = resolve(
                getattr(a, "data_dir", None), backup_root=getattr(a, "backup_root", None),
                graph_db=getattr(a, "graph_db", None), chroma_path=getattr(a, "chroma_path", None),
                chroma_url=getattr(a, "chroma_url", None), config=getattr(a, "config", None),
            )
            if self._dd.notice:
                # stderr, also under --json: stdout stays the one JSON object
                sys.stderr.write(f"recovery-console: {self._dd.notice}\n")
        return self._dd

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def readonly(self) -> bool:
        return bool(getattr(self.args, "readonly", False))

    def emit_json(self, obj: Any) -> None:
        write_json(obj)
        self.emitted = True

    def emit_error(self, error: dict[str, Any], exit_code: int) -> None:
        self.emit_json(error_json(error, exit_code))

    def console(self) -> Any:
        from rich.console import Console

        return Console(highlight=False)

    def err_console(self) -> Any:
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    @contextmanager
    def progress(self, description: str) -> Iterator[ProgressFn]:
        """A Rich progress bar on stderr, or nothing under --json / without a terminal."""
        if self.json or not sys.stderr.isatty():
            yield no_progress
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, \
            TimeRemainingColumn  # noqa: I001

        lock = threading.Lock()
        tasks: dict[str, Any] = {}
        with RichProgress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                          console=self.err_console(), transient=False) as bar:
            def on_progress(p: Progress) -> None:
                with lock:
                    tid = tasks.get(p.task)
                    if tid is None:
                        tid = tasks[p.task] = bar.add_task(p.task, total=p.total, rate="")
                    rate = f"{p.rate:,.0f} {p.unit}/s" if p.rate else ""
                    bar.update(tid, completed=p.done, total=p.total, rate=rate)
            yield on_progress


def write_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def error_json(error: dict[str, Any], exit_code: int) -> dict[str, Any]:
    """What --json prints when a command fails instead of producing its result."""
    return {"error": error, "exitCode": exit_code}


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result object as JSON on stdout, nothing else")


def csv_list(value: str) -> list[str]:
    """neo's CSV rule: split on commas, trim, drop empties (so `--flag=` is an empty list)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def refuse_readonly(ctx: Context, what: str) -> None:
    if ctx.readonly:
        from core.errors import UsageError

        raise UsageError(f"--readonly: refusing to {what}")


def detach_from_terminal(fds: tuple[int, ...]) -> None:
    """Point these fds at /dev/null: after a hangup the terminal is gone, and a write to it fails with EIO."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
    finally:
        os.close(null)


def terminal_fds() -> tuple[int, ...]:
    return tuple(fd for fd in (0, 1, 2) if _isatty(fd))


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


@contextmanager
def cancel_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C, SIGTERM and SIGHUP (a dropped SSH link) stop the run cleanly between batches.

    A second Ctrl-C interrupts at once; the stores stay consistent either way (every batch is a transaction).
    On SIGHUP the fds that were the terminal are pointed at /dev/null first, so the closing message cannot
    fail on the dead terminal and turn a clean cancel (exit 130) into a crash.
    """
    cancel = threading.Event()
    previous: dict[int, Any] = {}
    ttys = terminal_fds()

    def handler(signum: int, _frame: Any) -> None:
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if signum == signal.SIGHUP:
            detach_from_terminal(ttys)
        cancel.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):  # not the main thread: no handlers, cancel stays manual
            previous[sig] = signal.signal(sig, handler)
    try:
        yield cancel
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
