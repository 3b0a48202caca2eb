"""`runs`: the restore journal, newest first (what each run did, and whether it can be undone)."""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands.common import Context, add_json
from core.journal import RunRecord, list_runs
from core.substrates import VECTOR_COLLECTIONS
from core.wire import encode

NAME = "runs"
HELP = "list journaled restore runs newest first (status, counts, undo state)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json(p)


def _inserted(r: RunRecord) -> int:
    """Rows the run inserted, graph and Chroma (the record's counts are JSON as the run wrote them)."""

    def count(block: object) -> int:
        value = block.get("inserted") if isinstance(block, dict) else 0
        return value if isinstance(value, int) else 0

    graph = r.counts.get("graph")
    total = sum(count(graph.get(k)) for k in ("nodes", "edges")) if isinstance(graph, dict) else 0
    return total + sum(count(r.counts.get(c.key)) for c in VECTOR_COLLECTIONS)


def run(args: argparse.Namespace, ctx: Context) -> int:
    runs = list_runs(ctx.dd)
    if ctx.json:
        ctx.emit_json(encode(runs))
        return 0
    from rich.measure import Measurement
    from rich.table import Table

    from console.commands.render import say, text

    con = ctx.console()
    if not runs:
        say(con, f"no restore runs journaled under {ctx.dd.runs_dir}")
        return 0
    rows = []
    for r in runs:
        undo = (r.undo or {}).get("status") or ("-" if r.mode == "merge" else "n/a (replace)")
        rows.append({"run": r.run_id, "status": r.status, "undo": str(undo), "bundle": Path(r.bundle).name.removeprefix(
            "backup-"), "inserted": f"{_inserted(r):,}", "mode": r.mode})

    def table(columns: list[str]) -> Table:
        t = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1))
        for c in columns:
            t.add_column(c, no_wrap=True, justify="right" if c == "inserted" else "left")
        for row in rows:
            t.add_row(*(text(row[c]) for c in columns))
        return t

    # `undo` takes the run id: it is never cut. Narrower terminals lose whole columns, least useful first.
    def width(t: Table) -> int:
        return Measurement.get(con, con.options.update(max_width=1_000_000), t).maximum

    columns = ["run", "status", "mode", "bundle", "inserted", "undo"]
    dropped: list[str] = []
    t = table(columns)
    while len(columns) > 1 and width(t) > con.width:
        drop = next(c for c in ("mode", "inserted", "bundle", "status", "undo") if c in columns)
        columns.remove(drop)
        dropped.append(drop)
        t = table(columns)
    if width(t) > con.width:
        for row in rows:  # not even the ids fit: one per line, never cut (the terminal folds it)
            con.print(text(row["run"]), soft_wrap=True)
    else:
        con.print(t)
    if dropped:
        say(con, f"({', '.join(dropped)} left out at this width; --json has every field)", style="dim")
    return 0
