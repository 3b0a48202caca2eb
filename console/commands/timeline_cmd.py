"""`timeline`: every bundle's counts from its meta, newest first, with a sparkline per series and every drop
beyond the threshold (or to zero) marked where it happened."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from console.commands.common import Context, add_json
from core import units
from core.timeline import (
    DEFAULT_THRESHOLD,
    VIEWS,
    Drop,
    Timeline,
    TimelineRow,
    build_timeline,
    lineage_text,
    parse_threshold,  # noqa: I001
)
from core.wire import encode

NAME = "timeline"
HELP = ("the bundles' history at a glance: counts per substrate (or collection, node label, edge type) from each "
        "meta, a sparkline per series, drops marked where they happened")
DROP_MARK = "▼"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by", choices=VIEWS, default="substrates",
                   help="series: substrates (default), collections, labels or edge-types (labels and edge types are "
                        "counted once per bundle, then kept)")
    p.add_argument("--threshold", default=f"{DEFAULT_THRESHOLD:.0%}", metavar="PCT",
                   help="mark a drop larger than this share of the previous count (default 20%%); a drop to zero "
                        "is always marked")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    threshold = parse_threshold(args.threshold)
    with ctx.progress("count") as on_progress:
        tl = build_timeline(ctx.dd, view=args.by, threshold=threshold, count=True, on_progress=on_progress)
    if ctx.json:
        ctx.emit_json(encode(tl))
    else:
        print_timeline(ctx, tl)
    return 0


def drop_text(d: Drop) -> str:
    change = "to zero" if d.to_zero else f"{d.change:.0%}"
    return f"{d.series} {d.before:,} → {d.after:,} ({change}) at {d.bundle} (after {d.previous})"


def row_notes(r: TimelineRow) -> str:
    notes = []
    if r.meta_state != "valid":
        notes.append(f"meta {r.meta_state.upper()}")
    if r.reason is not None:
        notes.append(str(r.reason))
    lost = [s for s, state in r.restorable.items() if state not in ("verified", "claimed")]
    if lost and r.meta_state == "valid":
        notes.append(f"{','.join(lost)} not restorable")
    lineage = lineage_text(r.capture)
    if lineage:
        notes.append(lineage)
    return " · ".join(notes)


def cell(r: TimelineRow, key: str) -> str:
    v = r.counts.get(key)
    text = "?" if v is None else f"{v:,}"
    return f"{text} {DROP_MARK}" if key in r.drops else text


def print_timeline(ctx: Context, tl: Timeline) -> None:
    from rich.table import Table

    from console.commands.render import say, text

    con = ctx.console()
    now = datetime.now(UTC)
    say(con, f"Timeline of {tl.backup_root}: {len(tl.rows)} bundle(s), newest first; {DROP_MARK} marks a drop of "
             f"more than {tl.threshold:.0%} (or to zero)")
    if not tl.rows:
        return
    if tl.view in ("substrates", "collections"):
        t = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 1))
        t.add_column("bundle", no_wrap=True)
        t.add_column("age", justify="right", no_wrap=True)
        for s in tl.series:
            t.add_column(s.key, justify="right", no_wrap=True)
        t.add_column("notes", overflow="fold")
        for r in tl.rows:
            t.add_row(text(r.time.strftime("%Y-%m-%d %H:%M")), units.human_age(units.hours_since(r.time, now)),
                      *(cell(r, s.key) for s in tl.series), text(row_notes(r)))
        con.print(t)
    t = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 1), title="oldest → newest",
              title_justify="left")
    t.add_column("series", overflow="fold")
    t.add_column("history", no_wrap=True)
    t.add_column("newest", justify="right", no_wrap=True)
    t.add_column("high", justify="right", no_wrap=True)
    t.add_column("drops", justify="right", no_wrap=True)
    for s in tl.series:
        newest = s.values[0] if s.values else None
        n = sum(1 for d in tl.drops if d.series == s.key)
        t.add_row(text(s.key), s.sparkline, "?" if newest is None else f"{newest:,}",
                  "?" if s.high is None else f"{s.high:,}", f"{n} {DROP_MARK}" if n else "")
    con.print(t)
    for d in tl.drops:
        say(con, f"{DROP_MARK} {drop_text(d)}", style="bold")
    if not tl.drops:
        say(con, "no drop beyond the threshold")
    if tl.uncounted:
        say(con, f"{len(tl.uncounted)} bundle(s) could not be counted per label (unreadable graph files): shown ?",
            style="yellow")
