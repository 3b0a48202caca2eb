"""`restore`: neo's restore (merge keeps live rows; replace is gated) with dry-run, progress and a journal."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from console.commands.common import (
    EXIT_CANCELLED,
    EXIT_VERIFY_FAILED,
    Context,
    add_json,
    cancel_on_signals,
    refuse_readonly,
)
from console.commands.diff_cmd import add_filter_arguments
from console.commands.verify_run_cmd import add_sample, print_verification
from core.bundle import resolve_bundle
from core.compare import compare
from core.compose import Composition, choose, describe_sources, parse_at, parse_sources
from core.errors import ConsoleError, UsageError
from core.ids_restore import Selection, check_merge, read_ids, restore_ids
from core.plan import Filters
from core.progress import Cancelled
from core.restore import run_restore
from core.restore_flags import resolve_restore_args
from core.restore_model import (
    FileOutcome,
    FilesOutcome,
    LedgersOutcome,
    RestoreCancelled,
    RestoreOptions,
    RestoreResult,
)
from core.safetext import visible
from core.substrates import (
    BACKED_UP,
    FLAT_TARGETS,
    MC_COLLECTIONS,
    MEMORIES,
    RECOVERY_SUBSTRATES,
    SUMMARIES,
    TEMPORAL,
    VECTOR_COLLECTIONS,
    check_only_substrate,
    selected,
)
from core.wire import encode

NAME = "restore"
HELP = "restore a bundle: merge (default) never touches a live row; replace truncates first (gated)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_filter_arguments(p, bundle_optional=True)
    p.add_argument("--compose", action="store_true",
                   help="each substrate from the newest bundle where it is restorable (one run, one journal, one undo)")
    p.add_argument("--at", metavar="TIME", help="--compose: take no bundle newer than TIME (ISO 8601, or a bundle name)")
    p.add_argument("--source", metavar="SUB=BUNDLE,...", action="append", default=[],
                   help="--compose: take these substrates from these bundles, e.g. kb=backup-2026-08-01T00-00-00.000Z "
                        "(repeatable)")
    p.add_argument("--yes", action="store_true", help="confirm replace without a prompt (needed without a terminal)")
    p.add_argument("--post-restore-hook", metavar="NAME", help="run after restoring; allowlist: filesystem-ingestor")
    p.add_argument("--workspace", type=Path, metavar="DIR", help="the project tree filesystem-ingestor walks")
    p.add_argument("--dry-run", action="store_true", help="print the numbers a real run would report; write nothing")
    p.add_argument("--force-topology-mismatch", action="store_true",
                   help="restore a bundle taken under neo's legacy federated Chroma topology")
    p.add_argument("--allow-unverifiable", action="store_true",
                   help="restore a bundle that has no bundle-meta.json (BUNDLE_UNVERIFIABLE: nothing says what it "
                        "should hold, so a file cut short cannot be told from a whole one)")
    p.add_argument("--preserve-read-state", action="store_true",
                   help="replace: put the live DELIVERED_TO edges' readAt/archivedAt back after the graph replace "
                        "(quiesce neo's writers first); no effect under merge")
    p.add_argument("--operation", metavar="reseed",
                   help="reseed: pins --mode replace, --only-substrate=graph and --preserve-read-state; refuses "
                        "arguments that contradict it")
    p.add_argument("--target-collection", metavar="NAME",
                   help="restore the knowledge base into this throwaway collection (needs --only-substrate=kb; "
                        "refuses replace and neo's canonical collection names)")
    p.add_argument("--ignore-neo-lease", action="store_true",
                   help="run even while neo's heavy-maintenance lease is held (recorded in guard-overrides.jsonl)")
    p.set_defaults(mode=None)  # stated or not matters to --operation's pins
    p.add_argument("--ids", metavar="FILE|-",
                   help="restore just these records (one id per line, or `search --json` output; - reads stdin), "
                        "with the edges and memories they need; merge only")
    add_sample(p)
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


def _compose(args: argparse.Namespace, ctx: Context) -> tuple[Composition | None, dict[str, Path] | None]:
    """--compose: choose each substrate's bundle (verifying claimed copies first), or refuse before any write."""
    if not args.compose:
        if args.at or args.source:
            raise UsageError("--at and --source go with --compose")
        if args.bundle is None:
            raise UsageError("restore needs a BUNDLE, or --compose to take each substrate from its newest "
                             "restorable bundle")
        return None, None
    if args.bundle is not None:
        raise UsageError(f"--compose chooses the bundles itself; name one with --source SUBSTRATE={args.bundle}")
    only = check_only_substrate(args.only_substrate)
    subs = [s for s in BACKED_UP if selected(only, s)]
    with ctx.progress("choosing") as on_progress:
        comp = choose(ctx.dd, subs, at=parse_at(args.at, ctx.dd) if args.at else None,
                      overrides=parse_sources(",".join(args.source), ctx.dd) if args.source else None,
                      on_progress=on_progress)
    if not ctx.json:
        print_composition(ctx, comp)
    missing = [s for s in comp.missing if s in RECOVERY_SUBSTRATES]
    if missing:
        keep = ",".join(s for s in subs if s not in comp.missing)
        raise ConsoleError(f"no restorable {', '.join(missing)} in any bundle{' at or before ' + comp.at if comp.at else ''}"
                           f"; nothing was written. Restore without it: --only-substrate={keep}")
    return comp, comp.sources


def print_composition(ctx: Context, comp: Composition) -> None:
    from console.commands.render import say

    con = ctx.console()
    say(con, "Composite restore: each substrate from the newest bundle where it is restorable"
             + (f", at or before {comp.at}" if comp.at else "")
             + (f" ({comp.newer_than_at} newer bundle(s) left out)" if comp.newer_than_at else ""), style="bold")
    for c in comp.choices:
        say(con, f"  {c.substrate:<13}{c.bundle or 'NONE'}  {c.why}", style="" if c.bundle else "bold red")
        for p in c.passed_over:
            say(con, f"      passed over {p.bundle}: {p.why}", style="dim")
    for w in comp.warnings:
        say(con, f"  warning: {w}", style="yellow")


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.dry_run:
        refuse_readonly(ctx, "restore")
    if args.ids is not None and (args.compose or args.bundle is None):
        raise UsageError("--ids picks records from one BUNDLE: name it (not with --compose)")
    comp, sources = _compose(args, ctx)
    flags = resolve_restore_args(mode=args.mode, only=args.only_substrate,
                                 preserve_read_state=args.preserve_read_state, operation=args.operation,
                                 target_collection=args.target_collection,
                                 guarded=[ctx.dd.collection_name(c.key) for c in VECTOR_COLLECTIONS])
    opts = RestoreOptions(mode=flags.mode, force=args.force, yes=args.yes,
                          filters=Filters.of(args.filter_labels, args.filter_edge_types),
                          only_substrate=tuple(sources) if sources is not None else flags.only,
                          post_restore_hook=args.post_restore_hook,
                          workspace=args.workspace, dry_run=args.dry_run,
                          force_topology_mismatch=args.force_topology_mismatch,
                          allow_unverifiable=True if args.allow_unverifiable else None,
                          preserve_read_state=flags.preserve_read_state, operation=flags.operation,
                          target_collection=flags.target_collection, ignore_neo_lease=args.ignore_neo_lease,
                          sources=sources)
    if args.ids is not None:
        return run_ids(args, ctx, opts)
    if opts.mode == "replace" and not opts.yes and not opts.dry_run:
        if not _confirm_replace(ctx):
            raise ConsoleError("replace not confirmed; nothing was written")
        opts = dataclasses.replace(opts, yes=True)
    with cancel_on_signals() as cancel, ctx.progress("restore") as on_progress:
        try:
            # a person reads the result beside the plan (--json stays the result alone)
            result = run_restore(ctx.dd, args.bundle, opts, on_progress=on_progress, cancel=cancel,
                                 predict=not ctx.json, verify_sample=args.sample,
                                 composition=comp.record() if comp is not None else None)
        except Cancelled as exc:
            partial = exc.result if isinstance(exc, RestoreCancelled) else None
            if ctx.json and partial is not None:
                ctx.emit_json(encode(partial))
            elif ctx.json:  # cancelled before the run journaled anything: nothing was written
                ctx.emit_error({"code": "CANCELLED", "message": "restore cancelled before it wrote anything",
                                "file": None, "line": None}, EXIT_CANCELLED)
            run_id = partial.run_id if partial else None
            # plain writes: the resume command stays one line whatever the terminal's width
            sys.stderr.write(visible(
                f"recovery-console: restore cancelled{f' (run {run_id})' if run_id else ''}; every committed batch "
                "is kept and journaled. To resume, re-run the same command (rows already restored are skipped):")
                + "\n  " + visible(shlex.join(['recovery-console', *sys.argv[1:]])) + "\n")
            return EXIT_CANCELLED
    if comp is not None:
        result = dataclasses.replace(result, composition=encode(comp))
    if ctx.json:
        ctx.emit_json(encode(result))
    else:
        print_result(ctx, result)
        if result.verification is not None:
            print_verification(ctx, result.verification)
    if result.failures_total:
        return 1
    return EXIT_VERIFY_FAILED if result.verification is not None and result.verification.status == "failed" else 0


def _read_ids(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the ids file: {exc.strerror or exc}", path=source) from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"the ids file is not UTF-8 text: {exc}", path=source) from exc


def run_ids(args: argparse.Namespace, ctx: Context, opts: RestoreOptions) -> int:
    """`restore BUNDLE --ids FILE`: the selection as a bundle of its own, restored by the one restore path."""
    check_merge(opts)
    wanted = read_ids(_read_ids(args.ids))
    path = resolve_bundle(ctx.dd.backup_root, args.bundle)
    with cancel_on_signals() as cancel, ctx.progress("restore") as on_progress:
        try:
            out = restore_ids(ctx.dd, path, wanted, opts, on_progress=on_progress, cancel=cancel,
                              predict=not ctx.json)
        except Cancelled as exc:
            partial = exc.result if isinstance(exc, RestoreCancelled) else None
            if ctx.json and partial is not None:
                ctx.emit_json(encode(partial))
            elif ctx.json:
                ctx.emit_error({"code": "CANCELLED", "message": "restore cancelled before it wrote anything",
                                "file": None, "line": None}, EXIT_CANCELLED)
            sys.stderr.write(visible("recovery-console: restore cancelled; every committed batch is kept and "
                                     "journaled. To resume, run the same command again.") + "\n")
            return EXIT_CANCELLED
    if ctx.json:
        ctx.emit_json(encode(out))
    else:
        print_selection(ctx, out.selection)
        print_result(ctx, out.result)
        if out.result.verification is not None:
            print_verification(ctx, out.result.verification)
    if out.result.failures_total:
        return 1
    failed = out.result.verification is not None and out.result.verification.status == "failed"
    return EXIT_VERIFY_FAILED if failed else 0


def print_selection(ctx: Context, sel: Selection) -> None:
    from console.commands.render import say

    con = ctx.console()
    say(con, f"Selection from {sel.source}: {sel.found} of {sel.requested} id(s) found")
    say(con, f"  picked:   {sel.picked.words()}")
    say(con, f"  restores: {sel.records.words()} (edges: those touching a picked node)")
    if sel.missing_count:
        shown = ", ".join(sel.missing[:5]) + (" …" if sel.missing_count > 5 else "")
        say(con, f"  not in the bundle: {sel.missing_count} id(s): {shown}", style="yellow")
    say(con, f"  written as {sel.bundle} (restored from there; undo by the run id)", style="dim")


def _flat_word(value: int | bool, word: str, dry_run: bool) -> str:
    """``copied``/``skipped`` for a file (true/false in the JSON), ``copied 2`` for a count of files."""
    verb = {"copied": "would copy", "skipped": "would skip"}[word] if dry_run else word
    if isinstance(value, bool):
        return verb if value else ""
    return f"{verb} {value:,}" if value else ""


def print_result(ctx: Context, r: RestoreResult) -> None:
    from rich.table import Table

    from console.commands.render import say, text

    con = ctx.console()
    head = "Dry run of" if r.dry_run else f"Run {r.run_id}:"
    if r.sources:
        say(con, f"{head} composite {r.mode} restore — {r.status}: "
                 + describe_sources({k: Path(v) for k, v in r.sources.items()}))
    else:
        say(con, f"{head} {r.mode} restore of {Path(r.bundle_root).name} — {r.status}")
    if r.safety_bundle:
        say(con, f"  pre-restore safety bundle: {r.safety_bundle}")
    t = Table(show_edge=False, pad_edge=False)
    for c in ("substrate", "inserted", "already present", "failed", "other"):
        if c == "substrate":
            t.add_column(c, no_wrap=True)
        elif c == "other":
            t.add_column(c, overflow="fold")
        else:
            t.add_column(c, justify="right", no_wrap=True)
    if r.kb is not None:
        into = text(f"into {r.kb.target_collection}") if r.kb.target_collection else ""
        t.add_row("kb", f"{r.kb.inserted:,}", f"{r.kb.id_already_present:,}", f"{r.kb.failed:,}", into)
    if r.mc is not None:
        counts = {MEMORIES.key: r.mc.counts.memories, SUMMARIES.key: r.mc.counts.summaries,
                  TEMPORAL.key: r.mc.counts.temporal_summaries}
        for collection in MC_COLLECTIONS:
            mc = counts[collection.key]
            if collection is TEMPORAL and not (mc.inserted or mc.skipped_existing or mc.failed):
                continue  # most bundles hold none
            t.add_row(collection.key, f"{mc.inserted:,}", f"{mc.skipped_existing:,}", f"{mc.failed:,}", "")
    if r.graph is not None:
        fs = r.graph.filter_stats
        for kind, rows in (("nodes", r.graph.counts.nodes), ("edges", r.graph.counts.edges)):
            other = (f"filtered {fs.filtered_nodes:,}" if kind == "nodes"
                     else f"filtered {fs.filtered_edges:,}, orphaned {fs.orphan_edges:,}")
            t.add_row(f"graph {kind}", f"{rows.inserted:,}", f"{rows.skipped_existing:,}", f"{rows.failed:,}", other)
        if r.graph.read_receipts_reapplied is not None:
            t.add_row("read receipts", "", "", "", f"{r.graph.read_receipts_reapplied:,} readAt put back")
    for sub in FLAT_TARGETS:
        v = r.subsystems.get(sub)
        if isinstance(v, FilesOutcome | FileOutcome):
            # a flat file is copied or skipped as a whole: say which in words, in the columns that mean it
            copied = _flat_word(v.copied, "copied", r.dry_run)
            skipped = _flat_word(v.skipped, "skipped", r.dry_run)
            note = v.note or ("" if copied or skipped else "nothing to copy")
            if skipped and not note and r.mode == "merge":
                note = "present live (--force overwrites)"
            t.add_row(sub, copied, skipped, "", text(note))
    ledgers = r.subsystems.get("ledgers")
    if isinstance(ledgers, LedgersOutcome):
        for name, o in (("heal-attempts", ledgers.heal_attempts), ("heal-events", ledgers.heal_events),
                        ("recovery-runs", ledgers.recovery_runs)):
            note = o.note or ("live ledger kept (merge never overwrites one)" if o.skipped else "")
            if o.removed:
                note = f"{o.removed:,} live run file(s) removed"
            t.add_row(f"ledger {name}", _flat_word(o.copied, "copied", r.dry_run),
                      _flat_word(o.skipped, "skipped", r.dry_run), "", text(note))
    con.print(t)
    if r.post_restore_hook:
        say(con, f"  hook {r.post_restore_hook.hook}: {r.post_restore_hook.result.message}")
    if r.failures_total:
        say(con, f"  {r.failures_total:,} row(s) failed:", style="bold red")
        for f in r.failures[:20]:
            say(con, f"    {f.file}:{f.line}: {f.reason}")
    for w in r.warnings:
        say(con, f"  warning: {w}")
    if r.plan is not None and not r.dry_run:
        print_comparison(ctx, r)


def print_comparison(ctx: Context, r: RestoreResult) -> None:
    """The result's counters beside the plan built just before the first write."""
    from rich.table import Table

    from console.commands.render import say

    assert r.plan is not None
    cmp = compare(r.plan, r)
    con = ctx.console()
    t = Table(show_edge=False, pad_edge=False)
    t.add_column("result vs plan", no_wrap=True)
    t.add_column("result", justify="right", no_wrap=True)
    t.add_column("plan", justify="right", no_wrap=True)
    t.add_column("", no_wrap=True)
    for line in cmp.lines:
        t.add_row(line.what, "?" if line.result is None else f"{line.result:,}", f"{line.plan:,}",
                  "= same" if line.same else "≠ DIFFERS")
    con.print(t)
    if not cmp.same:
        say(con, "  some counters differ from the plan: live writes since it was made, or failed rows, explain a "
                 "difference; the numbers are what the engine reports", style="yellow")
