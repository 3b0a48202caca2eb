"""`restore`: neo's restore (merge keeps live rows; replace is gated) with dry-run, progress and a journal."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from console.commands.common import EXIT_CANCELLED, Context, add_json, cancel_on_signals, refuse_readonly
from console.commands.diff_cmd import add_filter_arguments
from core.errors import ConsoleError
from core.plan import Filters
from core.progress import Cancelled
from core.restore import RestoreCancelled, RestoreOptions, RestoreResult, run_restore
from core.safetext import visible

NAME = "restore"
HELP = "restore a bundle: merge (default) never touches a live row; replace truncates first (gated)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_filter_arguments(p)
    p.add_argument("--yes", action="store_true", help="confirm replace without a prompt (needed without a terminal)")
    p.add_argument("--post-restore-hook", metavar="NAME", help="run after restoring; allowlist: filesystem-ingestor")
    p.add_argument("--workspace", type=Path, metavar="DIR", help="the project tree filesystem-ingestor walks")
    p.add_argument("--dry-run", action="store_true", help="print the numbers a real run would report; write nothing")
    p.add_argument("--force-topology-mismatch", action="store_true",
                   help="restore a bundle taken under neo's legacy federated Chroma topology")
    add_json(p)


def _confirm_replace(ctx: Context) -> bool:
    """On a terminal, replace is confirmed by typing the data dir's name; without one, only --yes confirms."""
    if not sys.stdin.isatty():
        raise ConsoleError("replace truncates live data: pass --yes to confirm (stdin is not a terminal)")
    name = ctx.dd.root.name
    sys.stderr.write(f"Replace truncates the live stores of {visible(ctx.dd.root)} (a pre-restore safety bundle is "
                     f"taken first).\nType the data dir's name ({visible(name)}) to continue: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip() == name


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.dry_run:
        refuse_readonly(ctx, "restore")
    opts = RestoreOptions(mode=args.mode, force=args.force, yes=args.yes,
                          filters=Filters.of(args.filter_labels, args.filter_edge_types),
                          only_substrate=args.only_substrate, post_restore_hook=args.post_restore_hook,
                          workspace=args.workspace, dry_run=args.dry_run,
                          force_topology_mismatch=args.force_topology_mismatch)
    if opts.mode == "replace" and not opts.yes and not opts.dry_run:
        if not _confirm_replace(ctx):
            raise ConsoleError("replace not confirmed; nothing was written")
        opts.yes = True
    with cancel_on_signals() as cancel, ctx.progress("restore") as on_progress:
        try:
            result = run_restore(ctx.dd, args.bundle, opts, on_progress=on_progress, cancel=cancel)
        except Cancelled as exc:
            partial = exc.result if isinstance(exc, RestoreCancelled) else None
            if ctx.json and partial is not None:
                ctx.emit_json(partial.to_json())
            elif ctx.json:  # cancelled before the run journaled anything: nothing was written
                ctx.emit_error({"code": "CANCELLED", "message": "restore cancelled before it wrote anything",
                                "file": None, "line": None}, EXIT_CANCELLED)
            run_id = partial.runId if partial else None
            # plain writes: the resume command stays one line whatever the terminal's width
            sys.stderr.write(visible(
                f"recovery-console: restore cancelled{f' (run {run_id})' if run_id else ''}; every committed batch "
                "is kept and journaled. To resume, re-run the same command (rows already restored are skipped):")
                + "\n  " + visible(shlex.join(['recovery-console', *sys.argv[1:]])) + "\n")
            return EXIT_CANCELLED
    if ctx.json:
        ctx.emit_json(result.to_json())
    else:
        print_result(ctx, result)
    return 0 if result.failuresTotal == 0 else 1


def _flat_word(value: Any, word: str, dry_run: bool) -> str:
    """``copied``/``skipped`` for a file (true/false in the JSON), ``copied 2`` for a count of files."""
    verb = {"copied": "would copy", "skipped": "would skip"}[word] if dry_run else word
    if isinstance(value, bool):
        return verb if value else ""
    if isinstance(value, int):
        return f"{verb} {value:,}" if value else ""
    return ""


def print_result(ctx: Context, r: RestoreResult) -> None:
    from rich.table import Table

    from console.commands.render import say, text

    con = ctx.console()
    head = "Dry run of" if r.dryRun else f"Run {r.runId}:"
    say(con, f"{head} {r.mode} restore of {Path(r.bundleRoot).name} — {r.status}")
    if r.safetyBundle:
        say(con, f"  pre-restore safety bundle: {r.safetyBundle}")
    t = Table(show_edge=False, pad_edge=False)
    for c in ("substrate", "inserted", "already present", "failed", "other"):
        if c == "substrate":
            t.add_column(c, no_wrap=True)
        elif c == "other":
            t.add_column(c, overflow="fold")
        else:
            t.add_column(c, justify="right", no_wrap=True)
    s = r.subsystems
    if "kb" in s:
        t.add_row("kb", f"{s['kb']['inserted']:,}", f"{s['kb']['idAlreadyPresent']:,}", f"{s['kb']['failed']:,}", "")
    if "mc" in s:
        for key in ("memories", "summaries"):
            c = s["mc"]["counts"][key]
            t.add_row(key, f"{c['inserted']:,}", f"{c['skippedExisting']:,}", f"{c['failed']:,}", "")
    if "graph" in s:
        fs = s["graph"]["filterStats"]
        for kind in ("nodes", "edges"):
            c = s["graph"]["counts"]["graph"][kind]
            other = (f"filtered {fs['filteredNodes']:,}" if kind == "nodes"
                     else f"filtered {fs['filteredEdges']:,}, orphaned {fs['orphanEdges']:,}")
            t.add_row(f"graph {kind}", f"{c['inserted']:,}", f"{c['skippedExisting']:,}", f"{c['failed']:,}", other)
    for sub in ("concepts", "trajectories", "mailbox"):
        if sub in s:
            v = s[sub]
            # a flat file is copied or skipped as a whole: say which in words, in the columns that mean it
            copied = _flat_word(v.get("copied"), "copied", r.dryRun)
            skipped = _flat_word(v.get("skipped"), "skipped", r.dryRun)
            note = v.get("note") or ("" if copied or skipped else "nothing to copy")
            if skipped and not note and r.mode == "merge":
                note = "present live (--force overwrites)"
            t.add_row(sub, copied, skipped, "", text(note))
    con.print(t)
    if r.postRestoreHook:
        res = r.postRestoreHook.get("result", {})
        say(con, f"  hook {r.postRestoreHook['hook']}: {res.get('message')}")
    if r.failuresTotal:
        say(con, f"  {r.failuresTotal:,} row(s) failed:", style="bold red")
        for f in r.failures[:20]:
            say(con, f"    {f['file']}:{f['line']}: {f['reason']}")
    for w in r.warnings:
        say(con, f"  warning: {w}")
