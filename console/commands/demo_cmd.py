"""`demo`: build the May-10 graph-wipe incident as a data dir to explore, then open the console on it."""

from __future__ import annotations

import argparse
from pathlib import Path

from console.commands.common import Context, add_json
from core.datadir import resolve
from core.demo import build_demo
from core.presets import INCIDENT_DEFAULT
from core.wire import encode

NAME = "demo"
HELP = "generate an incident data dir (the May 10 graph wipe) and open the console on it"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=".demo-data", help="where to build it (default ./.demo-data); "
                   "an existing demo there is rebuilt, any other non-empty dir is refused")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="size factor; 1.0 reproduces the May 10 figures exactly (default 1.0)")
    p.add_argument("--dimension", type=int, default=64, help="embedding dimension (default 64; neo uses 4096)")
    p.add_argument("--no-tui", action="store_true", help="build the data dir and exit")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    root = Path(args.dir).expanduser().resolve()
    with ctx.progress("demo") as on_progress:
        result = build_demo(root, seed=args.seed, scale=args.scale, dimension=args.dimension,
                            on_progress=on_progress, overwrite=True)
    if ctx.json:
        ctx.emit_json(encode(result))
    elif args.no_tui:
        from console.commands.render import command, say

        con = ctx.console()
        say(con, f"Demo data dir ready at {result.root} ({result.seconds:.1f} s)")
        say(con, f"  live graph: {result.live['nodes']:,} nodes, {result.live['edges']:,} edges "
                 f"(after the wipe); {len(result.bundles)} bundles")
        for note in result.notes:
            say(con, f"  {note}")
        say(con, "See the wipe and the empty KB run in the bundles' history, and what the wipe took:")
        command(con, ["--data-dir", str(result.root), "timeline"])
        command(con, ["--data-dir", str(result.root), "diff", "latest", "latest~1"])
        say(con, "Try the incident's plan (the last bundle before the wipe):")
        command(con, ["--data-dir", str(result.root), "diff", "latest~1",
                      f"--filter-labels={','.join(INCIDENT_DEFAULT.labels)}",
                      f"--filter-edge-types={','.join(INCIDENT_DEFAULT.edge_types)}"])
    if args.no_tui or ctx.json:
        return 0
    from console.tui import run_tui  # Textual loads only when the console opens

    return run_tui(resolve(root, env={}, config=getattr(args, "config", None)), ctx.readonly)
