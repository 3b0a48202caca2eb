"""`search`: find records inside one bundle, each shown whole (escaped) beside the live row with its id."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Mapping
from typing import Any

from console.commands.common import Context, add_json
from core.bundle import resolve_bundle
from core.search import DEFAULT_LIMIT, SearchHit, SearchResult, make_query, search_bundle
from core.wire import encode

NAME = "search"
HELP = ("find records inside a bundle by id, label, edge type, a word of a document or of the data, a session id "
        "or a metadata KEY=VALUE; each hit beside the live row with its id")
MAX_STRING = 2_000  # longer strings are cut in the person's view (--json has them whole)
LIVE_WORDS = {"absent": "not live (a restore would insert it)", "identical": "live, identical",
              "different": "live, DIFFERENT (a merge keeps the live row)",
              "no-target": "this layout has no live store for it", "unchecked": "live not checked"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle path, bundle name, or `latest`")
    p.add_argument("query", nargs="?", default="",
                   help="text to find (case-insensitive) in ids, labels, edge types, documents, data, metadata")
    p.add_argument("--label", action="append", default=[], metavar="L", help="only graph nodes with this label")
    p.add_argument("--type", action="append", default=[], metavar="T", dest="types",
                   help="only graph edges of this type")
    p.add_argument("--collection", action="append", default=[], metavar="C",
                   help="only rows of this collection (memories, summaries, kb, temporalSummaries)")
    p.add_argument("--field", action="append", default=[], metavar="K=V",
                   help="only records whose field K (in properties or metadata; dotted for deeper) equals V")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"stop after N hits (default {DEFAULT_LIMIT})")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    q = make_query(args.query, labels=args.label, edge_types=args.types, collections=args.collection,
                   fields=args.field, limit=args.limit)
    path = resolve_bundle(ctx.dd.backup_root, args.bundle)
    with ctx.progress("search") as on_progress:
        result = search_bundle(ctx.dd, path, q, on_progress=on_progress)
    if ctx.json:
        ctx.emit_json(encode(result))
    else:
        print_result(ctx, result)
    return 0


def _cut(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + f"… ({len(value) - MAX_STRING:,} more characters; --json has all)"
    if isinstance(value, Mapping):
        return {k: _cut(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cut(v) for v in value]
    return value


def pretty(record: Mapping[str, object]) -> list[str]:
    """The record pretty-printed, one line per list item (each line escaped by the caller)."""
    return json.dumps(_cut(record), indent=2, ensure_ascii=False, default=str).split("\n")


def _value(v: object, present: bool) -> str:
    return json.dumps(v, ensure_ascii=False, default=str)[:200] if present else "(absent)"


def hit_title(i: int, h: SearchHit) -> str:
    return f"{i}. {h.kind} {h.group} {h.id}  ({h.file}:{h.line}, matched in {h.matched})"


def print_result(ctx: Context, r: SearchResult) -> None:
    from console.commands.render import command_for, say

    con = ctx.console()
    say(con, f"Search in {r.bundle}: {r.hit_count} hit(s)" + ("" if r.complete else
                                                              f" (stopped at --limit {r.query.limit}; more match)")
        + f", {r.lines_scanned:,} lines read")
    for i, h in enumerate(r.hits, start=1):
        say(con, hit_title(i, h), style="bold")
        say(con, f"   live: {LIVE_WORDS.get(h.live, h.live)}")
        for c in h.live_changes[:12]:
            if c.change == "vector":
                say(con, f"     {c.path}: {c.note}")
            else:
                say(con, f"     {c.path}: bundle {_value(c.a, c.change != 'only-b')} · live "
                         f"{_value(c.b, c.change != 'only-a')}")
        if len(h.live_changes) > 12:
            say(con, f"     … {len(h.live_changes) - 12} more field(s) differ")
        if h.embedding_dimension is not None:
            say(con, f"   embedding: {h.embedding_dimension} values (not shown)", style="dim")
        for line in pretty(h.record):
            say(con, "   " + line)
    if r.unreadable:
        first = r.unreadable_lines[0]
        say(con, f"{r.unreadable:,} line(s) are not records (first: {first.file}:{first.line}: {first.reason})",
            style="yellow")
    if r.hits:
        say(con, "To restore just these (merge, with their edges and memories; its own plan, journal and undo):")
        search = shlex.join(["recovery-console", *command_for(ctx.dd, "search", r.bundle, *_argv(r)), "--json"])
        restore = shlex.join(["recovery-console", *command_for(ctx.dd, "restore", r.bundle, "--ids", "-")])
        say(con, f"  {search} | {restore}")


def _argv(r: SearchResult) -> list[str]:
    q = r.query
    out = [q.text] if q.text else []
    out += [f"--label={x}" for x in q.labels] + [f"--type={x}" for x in q.edge_types]
    out += [f"--collection={x}" for x in q.collections] + [f"--field={k}={v}" for k, v in q.fields]
    return [*out, f"--limit={q.limit}"]

