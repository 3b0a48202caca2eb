"""`verify`: stream a bundle and say whether it is restorable, naming file and line of every fault."""

from __future__ import annotations

import argparse

from console.commands.common import Context, add_json
from core.bundle import resolve_bundle, verify_cache
from core.verify import RESTORABLE, verify_bundle
from core.verify_walk import find_restorable
from core.wire import encode

NAME = "verify"
HELP = "verify a bundle (path, name or `latest`); without one, find the newest restorable bundle"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", nargs="?", help="bundle path, bundle name, or `latest`")
    p.add_argument("--dimension", type=int, help="expected embedding dimension (default: the meta's)")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    dim = args.dimension or ctx.dd.embedding_dimension
    if args.bundle is None:
        with ctx.progress("verify") as on_progress:
            walk = find_restorable(ctx.dd.backup_root, expected_dimension=dim, on_progress=on_progress,
                                   cache=verify_cache(ctx.dd))
        if ctx.json:
            ctx.emit_json(encode(walk))
        else:
            from console.commands.render import say

            con = ctx.console()
            say(con, f"{walk.code}: {walk.bundle or 'no restorable bundle'} ({walk.examined} examined)")
            for s in walk.skipped:
                say(con, f"  skipped {s.bundle}: {s.verdict} {s.reason or ''}")
        return 0 if walk.code == RESTORABLE else 1
    path = resolve_bundle(ctx.dd.backup_root, args.bundle)
    with ctx.progress("verify") as on_progress:
        res = verify_bundle(path, expected_dimension=dim, on_progress=on_progress, cache=verify_cache(ctx.dd))
    if ctx.json:
        ctx.emit_json(encode(res))
    else:
        from console.commands.render import say

        con = ctx.console()
        say(con, f"{res.verdict}: {res.bundle}  rows={res.row_total:,}  checksums {res.checksums}")
        for k, v in sorted(res.counts.items()):
            say(con, f"  {k:<18} {v:,}")
        for f in res.errors:
            say(con, f"  error: {f}")
        for f in res.warnings:
            say(con, f"  warning: {f}")
    return 0 if res.ok else 1
