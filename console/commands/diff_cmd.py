"""`diff`: the restore plan of a bundle against the live stores, per node label, edge type and collection; with
two bundles, what differs between them (`core.bundle_diff`)."""

from __future__ import annotations

import argparse
from typing import Any

from console.commands.common import Context, add_json, csv_list
from core.bundle import resolve_bundle
from core.bundle_diff import DEFAULT_PAGE, BundleDiff, diff_bundles, iter_cells
from core.command_line import CommandLine, restore_command
from core.errors import UsageError
from core.live_scan import scan_bundle
from core.plan import Filters, Plan, build_plan
from core.restore_model import RestoreOptions
from core.substrates import PLAN_COLLECTIONS, SUBSTRATES, TEMPORAL, check_mode, check_only_substrate
from core.wire import encode

NAME = "diff"
HELP = ("show what restoring a bundle would do (per label, edge type, collection, file); with two bundles, "
        "what differs between them; writes nothing")


def add_filter_arguments(p: argparse.ArgumentParser, *, bundle_optional: bool = False) -> None:
    """The flags diff and restore share, with neo's CSV rule (`--flag=` is an empty list)."""
    if bundle_optional:
        p.add_argument("bundle", nargs="?", help="bundle path, bundle name, or `latest` (not with --compose)")
    else:
        p.add_argument("bundle", help="bundle path, bundle name, or `latest`")
    p.add_argument("--filter-labels", type=csv_list, default=[], metavar="CSV",
                   help="leave out graph nodes with these labels (edges to them survive if the node is live)")
    p.add_argument("--filter-edge-types", type=csv_list, default=[], metavar="CSV",
                   help="leave out graph edges of these types")
    p.add_argument("--only-substrate", type=csv_list, default=None, metavar="CSV",
                   help=f"restore only these ({','.join(SUBSTRATES)}); `--only-substrate=` restores nothing")
    p.add_argument("--mode", default="merge", metavar="merge|replace",
                   help="merge keeps every live row (default); replace truncates first")
    p.add_argument("--force", action="store_true",
                   help="merge: overwrite existing flat files; replace: acknowledge non-empty targets")


def _count(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_filter_arguments(p)
    p.add_argument("other", nargs="?", metavar="BUNDLE_B",
                   help="a second bundle: compare BUNDLE (A) with it, per label, edge type and collection: only in "
                        "A, only in B, in both identical, in both different")
    g = p.add_argument_group("bundle against bundle")
    g.add_argument("--ids", action="store_true", help="list the ids in each cell (a page of them; see --offset)")
    g.add_argument("--offset", type=_count, default=0, metavar="N", help="with --ids: skip the first N ids of a cell")
    g.add_argument("--limit", type=_count, default=DEFAULT_PAGE, metavar="N",
                   help=f"with --ids: at most N ids per cell (default {DEFAULT_PAGE})")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    only = check_only_substrate(args.only_substrate)
    check_mode(args.mode)
    if args.other is not None:
        return run_bundles(args, ctx, only)
    if args.ids or args.offset or args.limit != DEFAULT_PAGE:
        raise UsageError("--ids, --offset and --limit list the ids of a diff between two bundles: "
                         "diff BUNDLE_A BUNDLE_B --ids")
    path = resolve_bundle(ctx.dd.backup_root, args.bundle)
    with ctx.progress("plan") as on_progress:
        scan = scan_bundle(ctx.dd, path, on_progress=on_progress)
    plan = build_plan(scan, Filters.of(args.filter_labels, args.filter_edge_types), only, args.mode, args.force)
    if ctx.json:
        ctx.emit_json(encode(plan))
    else:
        print_plan(ctx, plan)
        print_command(ctx, equivalent_command(ctx, plan))
    return 0


def equivalent_command(ctx: Context, plan: Plan) -> CommandLine:
    """The restore this plan describes, as the console shows it under every plan."""
    opts = RestoreOptions(mode=plan.mode, force=plan.force, filters=plan.filters, only_substrate=plan.only_substrate)
    return restore_command(ctx.dd, plan.bundle, opts)


def print_command(ctx: Context, cmd: CommandLine, lead: str = "To restore with this plan (add --dry-run to "
                  "check the numbers first):") -> None:
    """The command on a line of its own, never wrapped: a copy from the terminal pastes as one command."""
    from console.commands.render import say

    con = ctx.console()
    say(con, lead)
    say(con, "  " + cmd.text)
    for problem in cmd.problems:
        say(con, f"  note: not exactly this plan: {problem}", style="yellow")


def _table(title: str, columns: list[str], *, text_columns: int = 1) -> Any:
    """The first ``text_columns`` hold names from the data: they fold onto more lines rather than lose a
    character (an operator types them into --filter-labels); the numbers never wrap."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for i, c in enumerate(columns):
        if i < text_columns:
            t.add_column(c, justify="left", overflow="fold", min_width=min(12, len(c) + 4))
        else:
            t.add_column(c, justify="right", no_wrap=True)
    return t


def _n(v: int) -> str:
    return f"{v:,}" if v else "·"


def print_plan(ctx: Context, plan: Plan) -> None:
    from console.commands.render import say, text

    con = ctx.console()
    g = plan.graph
    say(con, f"Plan for {plan.bundle.name} ({plan.mode})" + ("" if plan.filters.active else ", no filters"))
    if plan.filters.active:
        say(con, f"  filter labels: {', '.join(sorted(plan.filters.labels)) or '-'}; "
                 f"edge types: {', '.join(sorted(plan.filters.edge_types)) or '-'}")
    if g.selected:
        # two-line headers: the edge table fits 80 columns with the differing rows' count
        cols = ["label", "backup", "live", "already\npresent", "of which\ndiffers", "would\ninsert", "filtered"]
        t = _table("Graph nodes", cols)
        for label, r in g.labels.items():
            t.add_row(text(label), _n(r.backup), _n(r.live), _n(r.already_present), _n(r.already_present_differs),
                      _n(r.would_insert), _n(r.filtered))
        con.print(t)
        t = _table("Graph edges", [*cols[:1], *cols[1:], "orphaned"])
        t.columns[0].header = "edge type"
        for etype, r in g.edge_types.items():
            t.add_row(text(etype), _n(r.backup), _n(r.live), _n(r.already_present), _n(r.already_present_differs),
                      _n(r.would_insert), _n(r.filtered), _n(r.orphaned))
        con.print(t)
        tot = g.totals
        differ = f" ({tot.already_present_differs:,} differ)" if tot.already_present_differs else ""
        say(con, f"  filtered out {tot.filtered_out:,}   already present {tot.already_present:,}{differ}   "
                 f"would insert {tot.would_insert:,}")
        if tot.already_present_differs:
            say(con, f"  {tot.already_present_differs:,} row(s) whose id is live hold other content in the bundle: "
                     "the merge keeps the live row", style="yellow")
    else:
        say(con, "  graph: not selected")
    t = _table("Collections", ["collection", "backup", "live", "already\npresent", "of which\ndiffers", "would\ninsert"])
    for pc in PLAN_COLLECTIONS:
        c = plan.collection(pc.key)
        if pc is TEMPORAL and not (c.backup or c.live):
            continue  # neo's backup does not export temporal summaries yet: listed when there are some
        if c.selected:
            t.add_row(pc.key, _n(c.backup), _n(c.live), _n(c.already_present), _n(c.already_present_differs),
                      _n(c.would_insert))
        else:
            t.add_row(pc.key, _n(c.backup), _n(c.live), "not selected", "", "")
    con.print(t)
    if plan.kb.natural_key_divergent:
        say(con, f"  kb: {plan.kb.natural_key_divergent:,} rows diverge from live rows by natural key: "
                 "a merge of kb would be refused", style="bold red")
    t = _table("Flat files", ["substrate", "file", "action"], text_columns=3)
    for sub, fp in plan.flat.items():
        if not fp.files:
            t.add_row(text(sub), "-", text((fp.note or "") if fp.selected else "not selected"))
        for f in fp.files:
            t.add_row(text(sub), text(f.file), text(f.action))
    con.print(t)
    for w in plan.warnings:
        say(con, f"  warning: {w}")


def run_bundles(args: argparse.Namespace, ctx: Context, only: tuple[str, ...] | None) -> int:
    if args.mode != "merge" or args.force:
        raise UsageError("--mode and --force belong to a restore plan; a diff of two bundles writes nothing")
    a = resolve_bundle(ctx.dd.backup_root, args.bundle)
    b = resolve_bundle(ctx.dd.backup_root, args.other)
    with ctx.progress("diff") as on_progress:
        diff = diff_bundles(a, b, filters=Filters.of(args.filter_labels, args.filter_edge_types),
                            only_substrate=only, ids=args.ids, offset=args.offset, limit=args.limit,
                            work_dir=None, on_progress=on_progress)
    if ctx.json:
        ctx.emit_json(encode(diff))
    else:
        print_bundle_diff(ctx, diff)
    return 0


CELL_WORDS = {"onlyInA": "only in A", "onlyInB": "only in B", "identical": "identical", "different": "different"}


def print_bundle_diff(ctx: Context, d: BundleDiff) -> None:
    from console.commands.render import say, text

    con = ctx.console()
    say(con, f"A {d.a.name} ({d.a.records:,} records)")
    say(con, f"B {d.b.name} ({d.b.records:,} records)")
    if d.filters.active:
        say(con, f"  left out: labels {', '.join(sorted(d.filters.labels)) or '-'}; "
                 f"edge types {', '.join(sorted(d.filters.edge_types)) or '-'} ({d.filtered_out:,} rows)")
    cols = ["A", "B", "only in A", "only in B", "identical", "different"]
    for title, head, rows in (("Graph nodes", "label", d.labels), ("Graph edges", "edge type", d.edge_types),
                              ("Collections", "collection", d.collections)):
        if not rows:
            continue
        t = _table(title, [head, *cols])
        for name, r in rows.items():
            t.add_row(text(name), _n(r.in_a), _n(r.in_b), _n(r.only_a), _n(r.only_b), _n(r.identical),
                      _n(r.different))
        con.print(t)
    tot = d.totals
    say(con, f"  only in A {tot.only_a:,}   only in B {tot.only_b:,}   identical {tot.identical:,}   "
             f"different {tot.different:,}")
    for side in (d.a, d.b):
        if side.duplicate_ids:
            say(con, f"  {side.name}: {side.duplicate_ids:,} repeated id(s), first occurrence compared (as a "
                     "restore keeps it)", style="yellow")
        if side.unreadable:
            first = side.unreadable_lines[0]
            say(con, f"  {side.name}: {side.unreadable:,} line(s) are not records and were left out (first: "
                     f"{first.file}:{first.line}: {first.reason})", style="yellow")
    more = False
    for kind, group, r in iter_cells(d):
        for cell, page in (r.ids or {}).items():
            where = "label" if kind == "node" else "edge type" if kind == "edge" else "collection"
            shown = f"{page.offset + 1:,}-{page.offset + len(page.ids):,} of {page.total:,}" if page.ids else \
                f"none past {page.offset:,} of {page.total:,}"
            say(con, f"{where} {group}, {CELL_WORDS[cell]} ({shown}):", style="bold")
            for rid in page.ids:
                say(con, f"  {rid}")
            more = more or page.offset + len(page.ids) < page.total
    if more:
        say(con, "  more ids: the same command with --offset N", style="dim")
