"""`list`: the bundles under the backup root, newest first, with staging residue flagged."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from console.commands.common import Context, add_json
from core import units
from core.bundle import list_root
from core.capture import read_capture
from core.restorability import State
from core.status import neo_state
from core.substrates import RECOVERY_SUBSTRATES
from core.wire import encode

NAME = "list"
HELP = "list bundles newest first: per substrate bytes, rows and whether it is restorable (from the metas: no row is read)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json(p)
    p.add_argument("--no-rows", action="store_true",
                   help="accepted for old scripts: rows now come from the metas and the verify cache, never counted")


def run(args: argparse.Namespace, ctx: Context) -> int:
    listing = list_root(ctx.dd, now=datetime.now(UTC))
    receipt, lease = neo_state(ctx.dd, now=listing.now)
    if ctx.json:
        out = encode(listing)
        assert isinstance(out, dict) and isinstance(out["bundles"], list)
        for entry, b in zip(out["bundles"], listing.bundles, strict=True):
            assert isinstance(entry, dict)
            entry["capture"] = encode(read_capture(b.meta))
        out["neoReceipt"] = encode(receipt)
        out["neoLease"] = encode(lease)
        ctx.emit_json(out)
        return 0
    from rich.table import Table

    from console.commands.render import command, command_for, say, text

    con = ctx.console()
    # neo's own word first: a failed last backup or an unmet off-host copy is not a line under the table
    for alert in receipt.alerts:
        say(con, f"ALERT {alert.code}: {alert.text}", style="bold red")
    if receipt.state != "missing" and not receipt.alerts:
        say(con, receipt.summary)
    if lease.blocks:
        say(con, f"{lease.describe()}: backup and restore wait for it (--ignore-neo-lease to override)",
            style="bold red")
    elif lease.status == "expired":
        say(con, lease.describe(), style="yellow")
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
            answer = b.answer(sub)
            mark = {State.VERIFIED: "ok", State.CLAIMED: "ok?"}.get(answer.state, answer.word or "?")
            cells.append(text(f"{rows} {mark}"))
        table.add_row(text(b.name), units.human_age(b.age_hours), units.human_bytes(b.total_bytes),
                      *cells)
        if b.meta_state != "valid":
            notes.append(f"{b.name}: {b.meta_state} meta" + (f" ({b.meta_error})" if b.meta_error else ""))
        if b.reason:
            notes.append(f"{b.name}: taken as a {b.reason} safety bundle")
        cap = read_capture(b.meta)
        if cap is not None and cap.sources:
            notes.append(f"{b.name}: capture " + "; ".join(
                f"{src.source} {src.row_count if src.row_count is not None else '?'} rows "
                f"{src.verdict.upper() if src.collapsed else src.verdict}, lineage {src.lineage or '?'}"
                for src in cap.sources))
    con.print(table)
    say(con, "ok = verified restorable; ok? = claimed by its meta, not yet verified (recovery-console verify NAME); "
             "otherwise why it is not restorable (torn, symlink, empty, no meta, ...)")
    if listing.unverified:
        say(con, f"{listing.unverified} bundle(s) not yet verified")
    for note in notes:
        say(con, note)
    for r in listing.residue:
        say(con, f"residue ({r.kind}): {r.name}  {units.human_bytes(r.bytes)}  never counted as a bundle")
    if listing.legacy_files:
        say(con, f"{len(listing.legacy_files)} legacy flat backup file(s) at the root: listed, never restored")
    return 0
