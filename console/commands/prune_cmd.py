"""`prune`: delete exactly what `retention` marks delete, plus staging and trash residue, after the guard."""

from __future__ import annotations

import argparse

from console.commands.common import Context, add_json, refuse_readonly
from core.prune import prune
from core.units import human_bytes
from core.wire import encode

NAME = "prune"
HELP = "delete what `retention` marks delete (renamed to hidden trash first); refuses without a fresh backup"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    p.add_argument("--skip-backup-check", action="store_true",
                   help="prune even when the backup guard fails (the override is journaled)")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.dry_run:
        refuse_readonly(ctx, "prune (use --dry-run to preview)")
    with ctx.progress("prune") as on_progress:
        result = prune(ctx.dd, dry_run=args.dry_run, skip_guard=args.skip_backup_check, on_progress=on_progress)
    if ctx.json:
        ctx.emit_json(encode(result))
        return 0 if result.ok else 1
    from console.commands.render import say

    con = ctx.console()
    verb = "would delete" if result.dry_run else "deleted"
    for d in result.deleted:
        say(con, f"{verb} {d.kind} {d.name}  {human_bytes(d.bytes)}  ({d.reason})")
    for d in result.failed:
        say(con, f"FAILED to delete {d.kind} {d.name}: {d.error}", style="bold red")
    say(con, f"{len(result.deleted)} item(s) {verb}, {human_bytes(result.freed_bytes)}; "
             f"{len(result.kept)} bundle(s) kept.")
    if result.dry_run and result.guard and not result.guard.ok:
        say(con, "note: a real prune would be refused by the backup guard:")
        for line in result.guard.message.split("\n"):
            say(con, line)  # one line each: a line with a command is never wrapped
    if result.failed:
        say(con, "Leftover trash is removed by the next prune.")
    return 0 if result.ok else 1
