"""`retention`: every bundle's verdict with every reason, and how far back each substrate can be recovered."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from console.commands.common import Context, add_json
from core.datadir import DataDir
from core.retention import RetentionReport, evaluate
from core.substrates import RECOVERY_SUBSTRATES
from core.units import human_age, human_bytes
from core.wire import encode

NAME = "retention"
HELP = "show what the retention policy keeps and deletes, and why; per substrate, the amnesia window and coverage"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json(p)
    p.add_argument("--no-rows", action="store_true", help="skip counting rows (faster on huge bundles)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    report = evaluate(ctx.dd, count_rows=not args.no_rows)
    if ctx.json:
        ctx.emit_json(encode(report))
        return 0
    render(report, ctx.console(), ctx.dd)
    return 0


def grouped(reasons: Sequence[str]) -> list[str]:
    """`mc: within 30 days` + `graph: within 30 days` -> `mc, graph: within 30 days`, for a table that fits."""
    rules: dict[str, list[str]] = {}
    for r in reasons:
        sub, sep, rule = r.partition(": ")
        if sep and sub in RECOVERY_SUBSTRATES:
            rules.setdefault(rule, []).append(sub)
        else:
            rules.setdefault(r, [])
    return [f"{', '.join(subs)}: {rule}" if subs else rule for rule, subs in rules.items()]


def render(report: RetentionReport, con: Any, dd: DataDir) -> None:
    from console.commands.render import command, command_for, say, text

    if not report.bundles:
        say(con, f"No bundles in {report.backup_root}. To take the first one:")
        command(con, command_for(dd, "backup"))
    else:
        # one block per bundle instead of a table: reasons stay readable at 80 columns over SSH
        say(con, f"Retention in {report.backup_root} ({report.policy.source})", style="bold")
        for b in report.bundles:
            head = text(f"{b.name}  {human_age(b.age_hours):>4}  {human_bytes(b.bytes):>8}  ")
            head.append(b.verdict.upper(), style="green" if b.keep else "bold red")
            con.print(head)
            cells = []
            for s in RECOVERY_SUBSTRATES:
                v = b.substrates[s]
                rows = "-" if v.rows is None else f"{v.rows:,}"
                cells.append(f"{s} {rows} {'ok' if v.restorable else (v.integrity or '?')}")
            say(con, "    " + " | ".join(cells))
            for reason in grouped(b.reasons):
                say(con, f"    - {reason}")

    say(con, "Per substrate (amnesia window = age of the newest restorable copy):", style="bold")
    for s, c in report.substrates.items():
        p = report.policy.substrates[s]
        rule = f"keep last {p.keep_last}, {p.max_age_days:g} days" + (f", {p.cadence_hint}" if p.cadence_hint else "")
        if c.newest_restorable is None:
            say(con, f"  {s:<5} NO restorable copy in any bundle  [{rule}]", style="bold red")
            continue
        window = human_age(c.age_hours or 0.0)
        oldest_age = human_age((report.now - c.oldest_time).total_seconds() / 3600) if c.oldest_time else "?"
        kept_age = human_age((report.now - c.oldest_kept_time).total_seconds() / 3600) if c.oldest_kept_time else "?"
        line = (f"  {s:<5} amnesia window {window} ({c.newest_restorable}); coverage back {oldest_age} "
                f"({c.restorable_bundles} restorable)")
        if c.oldest_kept != c.oldest_restorable:
            line += f", after prune {kept_age} ({c.kept_restorable_bundles})"
        say(con, line + f"  [{rule}]")

    if report.defrag_snapshots:
        say(con, f"Defrag snapshots in {report.defrag_root}:", style="bold")
        for snap in report.defrag_snapshots:
            age = human_age(snap.age_hours) if snap.age_hours is not None else "?"
            say(con, f"  {snap.verdict:<6} {snap.target}/{snap.name}  {age}  {human_bytes(snap.bytes)}  "
                     f"{'; '.join(snap.reasons)}")
    for r in report.residue:
        say(con, f"residue ({r.kind}, {r.location}): {r.name}  {human_bytes(r.bytes)}  {r.verdict}: {r.reason}")
    doomed = report.deletions()
    if doomed:
        say(con, f"{len(doomed)} bundle(s) to delete ({human_bytes(sum(b.bytes for b in doomed))}). To preview:")
        command(con, command_for(dd, "prune", "--dry-run"))
    else:
        say(con, "Nothing to delete.")
