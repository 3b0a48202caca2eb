"""`list`: the bundles under the backup root, newest first, with staging residue flagged."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from console.commands.common import Context, add_json
from core import units
from core.bundle import list_bundles
from core.substrates import RECOVERY_SUBSTRATES
from core.wire import encode

NAME = "list"
HELP = "list bundles newest first, with per-substrate bytes and rows, and staging residue"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json(p)
    p.add_argument("--no-rows", action="store_true", help="skip counting rows (faster on huge bundles)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    listing = list_bundles(ctx.dd.backup_root, count_rows=not args.no_rows, now=datetime.now(UTC))
    if ctx.json:
        ctx.emit_json(encode(listing))
        return 0
    from rich.table import Table

    from console.commands.render import command, command_for, say, text

    con = ctx.console()
    if not listing.exists:
        say(con, f"No backup root at {listing.root}. To take the first bundle:")
        command(con, command_for(ctx.dd, "backup"))
        return 0
    table = Table(title=text(f"Bundles in {listing.root}"), title_justify="left", box=None, show_edge=False,
                  pad_edge=False, padding=(0, 1))
    table.add_column("bundle", no_wrap=True, min_width=31)
    for col in ("age", "size", *RECOVERY_SUBSTRATES):
        table.add_column(col, justify="right", no_wrap=True)
    notes: list[str] = []
    for b in listing.bundles:
        cells = []
        for sub in RECOVERY_SUBSTRATES:
            s = b.substrates[sub]
            rows = "-" if s.rows is None else f"{s.rows:,}"
            mark = "ok" if s.restorable else (s.integrity or "?")
            cells.append(text(f"{rows} {mark}"))
        table.add_row(text(b.name), units.human_age(b.age_hours), units.human_bytes(b.total_bytes),
                      *cells)
        if b.meta_state != "valid":
            notes.append(f"{b.name}: {b.meta_state} meta" + (f" ({b.meta_error})" if b.meta_error else ""))
        if b.reason:
            notes.append(f"{b.name}: taken as a {b.reason} safety bundle")
    con.print(table)
    say(con, "ok = restorable (rows on disk, integrity pass); otherwise the integrity status, ? = unknown")
    for note in notes:
        say(con, note)
    for r in listing.residue:
        say(con, f"residue ({r.kind}): {r.name}  {units.human_bytes(r.bytes)}  never counted as a bundle")
    if listing.legacy_files:
        say(con, f"{len(listing.legacy_files)} legacy flat backup file(s) at the root: listed, never restored")
    return 0
