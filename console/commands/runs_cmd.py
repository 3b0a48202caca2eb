"""`runs`: the restore journal, newest first (what each run did, and whether it can be undone)."""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands.common import Context, add_json
from core.journal import list_runs

NAME = "runs"
HELP = "list journaled restore runs newest first (status, counts, undo state)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    runs = list_runs(ctx.dd)
    if ctx.json:
        ctx.emit_json([r.to_json() for r in runs])
        return 0
    from rich.table import Table
    from rich.text import Text

    con = ctx.console()
    if not runs:
        con.print(Text(f"no restore runs journaled under {ctx.dd.runs_dir}"))
        return 0
    t = Table(show_edge=False, pad_edge=False)
    for c in ("run", "status", "mode", "bundle", "inserted", "undo"):
        t.add_column(c, no_wrap=True, justify="right" if c == "inserted" else "left")
    for r in runs:
        g = r.counts.get("graph") or {}
        inserted = sum((g.get(k) or {}).get("inserted", 0) for k in ("nodes", "edges"))
        inserted += sum((r.counts.get(k) or {}).get("inserted", 0) for k in ("memories", "summaries", "kb"))
        undo = (r.undo or {}).get("status") or ("-" if r.mode == "merge" else "n/a (replace)")
        t.add_row(r.runId, r.status, r.mode, Path(r.bundle).name.removeprefix("backup-"), f"{inserted:,}", undo)
    con.print(t)
    return 0
