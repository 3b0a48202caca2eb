"""`screenshots`: regenerate screenshots/*.svg of every screen from a generated demo, with a fixed clock.

The scenes live in console/scenes.py, which the snapshot tests (tests/test_tui_snapshots.py) use too, so the
README's pictures and the CI baselines show the same states.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from console.commands.common import Context
from core.errors import UsageError

NAME = "screenshots"
HELP = "regenerate screenshots/*.svg of every screen from a generated demo data dir, with a fixed clock"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        size = (int(w), int(h))
    except ValueError:
        raise UsageError(f"--size must look like 80x24, got {text!r}") from None
    if size[0] < 40 or size[1] < 12:
        raise UsageError(f"--size {text} is too small (at least 40x12)")
    return size


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="screenshots", help="where to write the SVGs (default ./screenshots)")
    p.add_argument("--size", action="append", metavar="WxH",
                   help="terminal size, repeatable: every scene at each size (default: every scene at 80x24, "
                        "and one scene of each screen at 120x40, as the snapshot tests)")
    p.add_argument("--only", action="append", metavar="SCENE", help="only these scenes (repeatable)")
    p.add_argument("--list", action="store_true", help="list the scenes and exit")


def run(args: argparse.Namespace, ctx: Context) -> int:
    # imported here, not at the top: the CLI loads every command module to build its parser, and the scenes
    # load Textual, which `--help` and the other subcommands must not pay for
    from rich.text import Text

    from console.scenes import build_fixed_demo, capture, copy_data_dir, scenes

    con = ctx.console()
    all_scenes = scenes()
    if args.list:
        for s in all_scenes:
            con.print(Text(f"{s.name:<20} {s.doc}"))
        return 0
    chosen = all_scenes
    if args.only:
        names = {s.name for s in all_scenes}
        unknown = [n for n in args.only if n not in names]
        if unknown:
            raise UsageError(f"unknown scene {unknown[0]!r} (see --list)")
        chosen = [s for s in all_scenes if s.name in args.only]
    if args.size:
        sizes = [_size(s) for s in args.size]
        jobs = [(scene, size) for scene in chosen for size in sizes]
    else:
        jobs = [(scene, (80, 24)) for scene in chosen] + [(scene, (120, 40)) for scene in chosen if scene.wide]
    out = Path(args.out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    # a fixed scratch path, not a random one: a screen that shows the data dir's path (the compose command line)
    # then draws the same picture on every regeneration, so a changed SVG means a changed screen
    tmp = Path(tempfile.gettempdir()) / f"rc-screenshots-{os.getuid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        base = tmp / "base" / "incident" / ".neo-ai-data"
        con.print(Text("Building the demo data dir (a few seconds)…"))
        build_fixed_demo(base)
        for i, (scene, (w, h)) in enumerate(jobs):
            data_dir = base
            if scene.writes:
                data_dir = copy_data_dir(base, tmp / f"{i:02d}" / "incident" / ".neo-ai-data")
            svg = asyncio.run(capture(scene, data_dir, (w, h)))
            path = out / f"{scene.name}-{w}x{h}.svg"
            path.write_text(svg, encoding="utf-8")
            con.print(Text(f"  wrote {path}"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
