"""`guard`: exit 0 only when every required substrate has a fresh restorable bundle; otherwise exit 3.

Made to be a precondition: `recovery-console guard || exit` before a Dream/Sandman run or any risky job.
"""

from __future__ import annotations

import argparse
import sys

from console.commands.common import Context, add_json, csv_list, refuse_readonly
from core.guard import guard
from core.safetext import visible
from core.units import parse_duration
from core.wire import encode

NAME = "guard"
HELP = "exit 0 if each required substrate has a restorable bundle younger than --max-age, else exit 3"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-age", help="how old the newest restorable copy may be, e.g. 24h, 36h, 2d "
                                     "(default: [guard] max_age, else 24h)")
    p.add_argument("--require", help="comma-separated substrates that must be fresh (default: [guard] require, "
                                     "else kb,mc,graph)")
    p.add_argument("--skip-backup-check", action="store_true",
                   help="exit 0 whatever the state, and record the override in the journal")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.skip_backup_check:
        refuse_readonly(ctx, "record a guard override")
    result = guard(
        ctx.dd,
        max_age=parse_duration(args.max_age) if args.max_age is not None else None,
        require=csv_list(args.require) if args.require is not None else None,
        skip=args.skip_backup_check,
    )
    # plain writes, not Rich: each line (the backup command too) stays whole in a scheduler's log; bundle
    # names in the message are data, so their control characters are made visible
    message = visible(result.message, newlines=True) + "\n"
    if ctx.json:
        ctx.emit_json(encode(result))
    elif result.ok:
        sys.stdout.write(message)
    if not result.ok:
        # stderr, also under --json: a scheduler's log shows why the job did not run
        sys.stderr.write(message)
    return result.exit_code
