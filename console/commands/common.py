"""What every subcommand shares: the data dir from the global flags, JSON output, Rich progress on stderr."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.datadir import DataDir, resolve
from core.progress import Progress, ProgressFn, no_progress


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

    @property
    def dd(self) -> DataDir:
        if self._dd is None:
            a = self.args
            self._dd = resolve(
                getattr(a, "data_dir", None), backup_root=getattr(a, "backup_root", None),
                graph_db=getattr(a, "graph_db", None), chroma_path=getattr(a, "chroma_path", None),
                chroma_url=getattr(a, "chroma_url", None), config=getattr(a, "config", None),
            )
        return self._dd

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def readonly(self) -> bool:
        return bool(getattr(self.args, "readonly", False))

    def emit_json(self, obj: Any) -> None:
        sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")

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


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the result object as JSON on stdout, nothing else")


def csv_list(value: str) -> list[str]:
    """neo's CSV rule: split on commas, trim, drop empties (so `--flag=` is an empty list)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def refuse_readonly(ctx: Context, what: str) -> None:
    if ctx.readonly:
        from core.errors import UsageError

        raise UsageError(f"--readonly: refusing to {what}")
