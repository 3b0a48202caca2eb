"""`undo RUN_ID`: remove exactly what a merge run inserted, keeping everything written since."""

from __future__ import annotations

import argparse

from console.commands.common import Context, add_json, cancel_on_signals, refuse_readonly
from core.undo import undo_run
from core.wire import encode

NAME = "undo"
HELP = "undo a merge run: remove the rows it inserted, keep rows modified or referenced since"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID", help="a run id from `recovery-console runs`, or any unique prefix of one")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    refuse_readonly(ctx, "undo a run")
    # a signal stops it between batches (exit 130); the same undo again finishes it
    with cancel_on_signals() as cancel, ctx.progress("undo") as on_progress:
        res = undo_run(ctx.dd, args.run_id, on_progress=on_progress, cancel=cancel)
    if ctx.json:
        ctx.emit_json(encode(res))
        return 0
    from console.commands.render import say

    con = ctx.console()
    removed = ", ".join(f"{v:,} {k}" for k, v in res.removed.items() if v) or "nothing"
    say(con, f"Undid run {res.run_id}: removed {removed}")
    for k, ids in res.kept_modified.items():
        say(con, f"  kept {len(ids):,} {k} modified since the run (e.g. {ids[0]})")
    if res.kept_referenced:
        say(con, f"  kept {len(res.kept_referenced):,} node(s) that edges written since still reference "
                 f"(e.g. {res.kept_referenced[0]})")
    for k, v in res.missing.items():
        if v:
            say(con, f"  {v:,} {k} were already gone")
    for w in res.warnings:
        say(con, f"  warning: {w}")
    return 0
