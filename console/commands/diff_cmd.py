"""`diff`: the restore plan of a bundle against the live stores, per node label, edge type and collection."""

from __future__ import annotations

import argparse
from typing import Any

from console.commands.common import Context, add_json, csv_list
from core.bundle import resolve_bundle
from core.command_line import CommandLine, restore_command
from core.live_scan import scan_bundle
from core.plan import Filters, Plan, build_plan
from core.restore_model import RestoreOptions
from core.substrates import PLAN_COLLECTIONS, SUBSTRATES, check_mode, check_only_substrate
from core.wire import encode

NAME = "diff"
HELP = "show what restoring a bundle would do (per label, edge type, collection, file); writes nothing"


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_filter_arguments(p)
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    only = check_only_substrate(args.only_substrate)
    check_mode(args.mode)
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
        cols = ["label", "backup", "live", "already present", "would insert", "filtered"]
        t = _table("Graph nodes", cols)
        for label, r in g.labels.items():
            t.add_row(text(label), _n(r.backup), _n(r.live), _n(r.already_present), _n(r.would_insert),
                      _n(r.filtered))
        con.print(t)
        t = _table("Graph edges", [*cols[:1], *cols[1:], "orphaned"])
        t.columns[0].header = "edge type"
        for etype, r in g.edge_types.items():
            t.add_row(text(etype), _n(r.backup), _n(r.live), _n(r.already_present), _n(r.would_insert),
                      _n(r.filtered), _n(r.orphaned))
        con.print(t)
        tot = g.totals
        say(con, f"  filtered out {tot.filtered_out:,}   already present {tot.already_present:,}   "
                 f"would insert {tot.would_insert:,}")
    else:
        say(con, "  graph: not selected")
    t = _table("Collections", ["collection", "backup", "live", "already present", "would insert"])
    for pc in PLAN_COLLECTIONS:
        c = plan.collection(pc.key)
        if c.selected:
            t.add_row(pc.key, _n(c.backup), _n(c.live), _n(c.already_present), _n(c.would_insert))
        else:
            t.add_row(pc.key, _n(c.backup), _n(c.live), "not selected", "")
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
