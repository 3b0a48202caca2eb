"""`backup`: take an atomic neo-format bundle of every substrate."""

from __future__ import annotations

import argparse
import dataclasses

from console.commands.common import Context, add_json, cancel_on_signals, refuse_readonly
from core.backup import run_backup
from core.prune import SweepFailed, sweep_after_backup
from core.wire import encode

NAME = "backup"
HELP = "take a bundle of every substrate (staged, checksummed, published with one rename)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json(p)
    p.add_argument("--no-prune", action="store_true", help="skip the retention sweep after publishing")
    p.add_argument("--allow-empty", action="store_true",
                   help="take the bundle even when none of the sources exists (refused by default: that is "
                        "almost always a mistyped --data-dir)")
    p.add_argument("--payload-encoding", choices=("jsonl", "br", "gz"), default=None,
                   help="kb/mc/graph payloads as plain .jsonl (default: every neo reads it), brotli .jsonl.br "
                        "(what neo's head writes) or gzip .jsonl.gz; config [backup] payload_encoding")
    p.add_argument("--ignore-neo-lease", action="store_true",
                   help="run even while neo's heavy-maintenance lease is held (recorded in guard-overrides.jsonl)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    refuse_readonly(ctx, "take a backup")
    # a signal cancels between pages and removes the staging dir: nothing half-done is published (exit 130)
    with cancel_on_signals() as cancel, ctx.progress("backup") as on_progress:
        result = run_backup(ctx.dd, on_progress=on_progress, cancel=cancel, allow_empty=args.allow_empty,
                            payload_encoding=args.payload_encoding, ignore_neo_lease=args.ignore_neo_lease)
    if not args.no_prune:
        try:
            result = dataclasses.replace(result, retention=sweep_after_backup(ctx.dd))
        except Exception as exc:  # the sweep never fails a published backup
            result = dataclasses.replace(result, warnings=(*result.warnings, f"retention sweep failed: {exc}"))
    if ctx.json:
        ctx.emit_json(encode(result))
        return 0
    from console.commands.render import say

    con = ctx.console()
    say(con, f"Published {result.bundle} ({result.bytes:,} bytes in {result.duration_ms} ms, "
             f"payloads {result.payload_encoding})")
    for e in result.integrity:
        say(con, f"  {e['subsystem']:<6} {e['status']:<8} {e['bundleCount']:,} rows")
    for w in result.warnings:
        say(con, f"  warning: {w}")
    sweep = result.retention
    if isinstance(sweep, SweepFailed):
        say(con, f"  retention sweep failed (the bundle is published): {sweep.error}")
    elif sweep is not None and sweep.deleted:
        say(con, f"  retention sweep deleted {len(sweep.deleted)} folder(s)")
    return 0
