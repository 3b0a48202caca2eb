"""`verify-run RUN_ID`: verify a restore's result against the stores now (what every restore does as it ends)."""

from __future__ import annotations

import argparse
import contextlib

from console.commands.common import EXIT_VERIFY_FAILED, Context, add_json, cancel_on_signals
from core.lock import exclusive
from core.verification import Verification
from core.verify_run import SAMPLE, verify_run
from core.wire import encode

NAME = "verify-run"
HELP = "verify a restore run's result: rows present, live rows untouched, integrity, vectors, flat files"

MARK = {"passed": "✓", "failed": "✗", "skipped": "-"}


def add_sample(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample", type=int, default=SAMPLE, metavar="N",
                   help=f"rows per collection queried by their own vector (default {SAMPLE})")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID", help="a run id from `recovery-console runs`, or any unique prefix of one")
    add_sample(p)
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.sample < 0:
        from core.errors import UsageError

        raise UsageError("--sample must be 0 or more")
    # a restore writing meanwhile would be seen half-done: take the writers' lock (read-only mode writes no lock
    # file and keeps the verification to itself)
    lock = contextlib.nullcontext() if ctx.readonly else exclusive(ctx.dd.state_dir, "verify a run")
    with lock, cancel_on_signals() as cancel, ctx.progress("verify-run") as on_progress:
        v = verify_run(ctx.dd, args.run_id, sample=args.sample, save=not ctx.readonly, on_progress=on_progress,
                       cancel=cancel)
    if ctx.json:
        ctx.emit_json(encode(v))
    else:
        print_verification(ctx, v)
    return EXIT_VERIFY_FAILED if v.status == "failed" else 0


def print_verification(ctx: Context, v: Verification) -> None:
    from console.commands.render import say

    con = ctx.console()
    when = "as the run ended" if v.at_run else "now"
    head = {"passed": "PASSED", "failed": "FAILED", "undone": "nothing to verify (undone)"}.get(v.status, v.status)
    say(con, f"Verification of run {v.run_id}: {head} ({when}; vectors: {v.sample_size} rows sampled per "
             "collection)", style="bold green" if v.status == "passed" else "bold red" if v.status == "failed" else "")
    for c in v.checks:
        say(con, f"  {MARK.get(c.status, '?')} {c.name:<10} {c.summary}",
            style="red" if c.status == "failed" else "")
        for d in c.details[:10]:
            say(con, f"      {d}", style="red" if c.status == "failed" else "dim")
        if len(c.details) > 10:
            say(con, f"      … {len(c.details) - 10} more (--json lists them)", style="dim")
    if v.status == "failed":
        say(con, "  Nothing was rolled back: undo stays your call (`recovery-console undo RUN_ID`).", style="yellow")
