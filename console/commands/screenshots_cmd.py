"""`screenshots`: regenerate screenshots/*.svg of every screen from a generated demo, with a fixed clock.

The scenes here are also the snapshot tests' scenes (tests/test_tui_snapshots.py), so the README's pictures
and the CI baselines show the same states.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.commands.common import Context
from core.errors import UsageError

NAME = "screenshots"
HELP = "regenerate screenshots/*.svg of every screen from a generated demo data dir, with a fixed clock"

# nine hours after the newest demo bundle: the May 10 2026 graph wipe (bundle names match the real incident)
FIXED_NOW = datetime(2026, 5, 10, 10, 11, 23, 456_000, tzinfo=UTC)

RunBefore = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True)
class Scene:
    name: str
    doc: str  # what the picture must show
    run_before: RunBefore | None = None
    readonly: bool = False
    writes: bool = False  # changes the data dir: give it its own copy
    wide: bool = False  # also snapshot-tested at 120x40 (every screen has at least one such scene)
    no_color: bool = False  # built under NO_COLOR: what a monochrome terminal or a text capture shows


@contextmanager
def app_environment(scene: Scene) -> Iterator[None]:
    """Build the scene's app inside this block. NO_COLOR is set only for that moment: Textual reads it once,
    in App.__init__ (from a copy of the environment), so it is gone again before anything renders, and no
    other app or test can see it."""
    if not scene.no_color:
        yield
        return
    before = os.environ.get("NO_COLOR")
    os.environ["NO_COLOR"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["NO_COLOR"]
        else:
            os.environ["NO_COLOR"] = before


# ---------------------------------------------------------------- helpers the scenes share


async def settle(pilot: Any, delay: float = 0.02) -> None:
    """Let every worker finish and every posted message (and what it triggers) be handled."""
    app = pilot.app
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause(delay)
        await pilot.pause()


async def wait_for(pilot: Any, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the console did not reach the expected state in time")
        await pilot.pause(0.05)


async def _home(pilot: Any) -> None:
    await settle(pilot)


async def _help(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await settle(pilot)


async def _verified(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("v")
    await settle(pilot)


async def _retention(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("t")
    await settle(pilot)


async def _prune_preview(pilot: Any) -> None:
    await _retention(pilot)
    await pilot.press("p")
    await settle(pilot)


async def _readonly(pilot: Any) -> None:
    await settle(pilot)


async def _bundle_malformed(pilot: Any) -> None:
    await settle(pilot)
    await pilot.press("down", "down")
    await settle(pilot)


async def _diff(pilot: Any, *keys: str) -> None:
    from console.screens.diff import DiffScreen

    app = pilot.app
    await settle(pilot)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.plan is not None)
    await pilot.press("3", *keys)
    await settle(pilot)


async def _diff_labels(pilot: Any) -> None:
    await _diff(pilot)


async def _diff_edges(pilot: Any) -> None:
    await _diff(pilot, "right_square_bracket")


async def _diff_filters(pilot: Any) -> None:
    await _diff(pilot, "right_square_bracket", "right_square_bracket")


async def _diff_chroma(pilot: Any) -> None:
    await _diff(pilot, "left_square_bracket", "left_square_bracket")


async def _diff_options(pilot: Any) -> None:
    await _diff(pilot, "left_square_bracket")


async def _confirm_merge(pilot: Any) -> None:
    await _diff(pilot, "R")


async def _confirm_replace(pilot: Any) -> None:
    await _diff(pilot, "m", "R")


DEMO_RUN_ID = "20260510T101208114Z-3f9c2a"


async def _restore_view(pilot: Any, stage: str) -> None:
    """The restore view driven by the messages its worker posts, without running the engine, so the picture
    is deterministic (rates, ETAs, run id). The final numbers are the plan's own predictions in the shape the
    engine reports, which tests/test_tui.py checks a real restore reproduces exactly."""
    from console.messages import JobCancelled, JobFinished, JobProgressed
    from console.screens.diff import PRESETS
    from console.screens.restore import RestoreScreen
    from core.plan import Filters, build_plan, scan_bundle
    from core.progress import Progress
    from core.restore import RestoreOptions

    await settle(pilot)
    app = pilot.app
    bundle = app.screen.selected_bundle()  # the newest, as after enter on the home screen
    filters = Filters(*PRESETS["incident default"])
    plan = build_plan(scan_bundle(app.dd, bundle.path), filters)
    from core.wire import encode

    screen = RestoreScreen(bundle.name, bundle.path, RestoreOptions(filters=filters, yes=True), encode(plan),
                           plan=plan, autostart=False)
    await app.push_screen(screen)
    await pilot.pause()
    screen.begin()
    clock = app.clock

    async def tick(t: float, task: str, done: int, total: int | None, rate: float | None,
                   counters: dict[str, Any] | None = None, unit: str = "rows") -> None:
        if clock is not None and hasattr(clock, "set_time"):
            clock.set_time(t)
        screen.post_message(JobProgressed("restore", Progress(task, done, total, unit, 0, "", rate, counters)))
        await pilot.pause()

    pj = screen.plan_json
    chroma = {k: {"inserted": pj[k]["wouldInsert"], "skippedExisting": pj[k]["alreadyPresent"], "failed": 0}
              for k in ("memories", "summaries", "kb")}
    labels = pj["graph"]["labels"]
    await tick(0.0, "verify", 0, None, None)
    await tick(2.4, "verify", 51_713, None, 21_547.0)
    await tick(2.5, "kb", 2_600, 2_600, 1_040.0, {"kb": chroma["kb"]})
    await tick(4.0, "memories", 10_312, 10_312, 1_830.0, {"memories": chroma["memories"]})
    await tick(4.5, "summaries", 876, 876, 1_752.0, {"summaries": chroma["summaries"]})
    await tick(5.0, "graph", 0, 37_925, None)
    # the node batches are in: every label's counters, none of the edge types yet
    nodes = {k: {"inserted": v["wouldInsert"], "skippedExisting": v["alreadyPresent"], "failed": 0,
                 "filtered": v["filtered"]} for k, v in labels.items()}
    await tick(7.0, "graph", 22_660, 37_925, 11_330.0, {"nodes": nodes, "edges": {}})
    if stage == "running":
        return
    if stage == "cancel-confirm":
        await pilot.press("c")
        await settle(pilot)
        return
    if stage == "cancelled":
        screen.post_message(JobCancelled("restore", DEMO_RUN_ID))
        await settle(pilot)
        return
    from core.restore import result_from_plan

    edges = {k: {"inserted": v["wouldInsert"], "skippedExisting": v["alreadyPresent"], "failed": 0,
                 "filtered": v["filtered"], "orphaned": v["orphaned"]} for k, v in pj["graph"]["edgeTypes"].items()}
    await tick(9.0, "graph", 37_925, 37_925, 9_481.0, {"nodes": nodes, "edges": edges})
    result = result_from_plan(plan)
    import dataclasses

    result = dataclasses.replace(result, run_id=DEMO_RUN_ID, dry_run=False, duration_ms=16_700)
    screen.post_message(JobFinished("restore", result))
    await settle(pilot)


async def _restore_running(pilot: Any) -> None:
    await _restore_view(pilot, "running")


async def _restore_cancel_confirm(pilot: Any) -> None:
    await _restore_view(pilot, "cancel-confirm")


async def _restore_cancelled(pilot: Any) -> None:
    await _restore_view(pilot, "cancelled")


async def _restore_done(pilot: Any) -> None:
    await _restore_view(pilot, "done")


def scenes() -> list[Scene]:
    out = [
        Scene("bundles", "Home: six demo bundles newest first with ages 9h..41d, kb/mc/graph row counts with "
              "✓/✗, the empty-KB and MALFORMED bundles flagged in words, the staging residue row, the detail "
              "pane of the newest bundle, and the footer keys.", _home, wide=True),
        Scene("bundles-malformed", "The torn-meta bundle selected: MALFORMED in the table and in the detail "
              "pane, which says why retention keeps it.", _bundle_malformed),
        Scene("bundles-verified", "The newest bundle after v: the job panel says RESTORABLE and the detail "
              "pane shows checksums verified.", _verified),
        Scene("bundles-readonly", "Started with --readonly: the READ-ONLY badge in the header and the Backup "
              "key dimmed in the footer.", _readonly, readonly=True),
        Scene("retention", "Retention: the policy per substrate with the newest and oldest restorable age, "
              "the coverage timeline (■ □ ×), each bundle's verdict and first reason.", _retention, wide=True),
        Scene("prune-preview", "Prune's dry-run preview in a confirm dialog, focus on No.", _prune_preview),
        Scene("help", "Help: every key per screen, the symbols, the safety rules.", _help, wide=True),
        Scene("diff-labels", "Diff of the newest bundle with the incident default preset: totals read would "
              "insert 11,589, already present 3,580, filtered out 22,756; the per-label table with bars.",
              _diff_labels, wide=True),
        Scene("diff-edges", "The per-edge-type table: CONTAINS, DISCOVERED_IN, EVALUATED_BY filtered, the "
              "orphaned column, bars with × for orphans.", _diff_edges),
        Scene("diff-filters", "The filter sets as checkbox lists with the four presets; the incident default "
              "ticked.", _diff_filters),
        Scene("diff-chroma", "Chroma collections (memories, summaries, kb: backup, live, present, insert) and "
              "the flat files' copy / skip plan.", _diff_chroma),
        Scene("diff-options", "Substrate toggles, merge or replace, the post-restore hook and its workspace.",
              _diff_options),
        Scene("diff-filters-nocolor", "The filter lists under NO_COLOR: ticked boxes read ▐X▌ and unticked ▐ ▌, "
              "so the incident default reads from the glyphs alone.", _diff_filters, no_color=True),
        Scene("diff-options-nocolor", "The options under NO_COLOR: the chosen mode and hook read ▐●▌, the "
              "others ▐ ▌; every substrate ticked ▐X▌.", _diff_options, no_color=True),
        Scene("confirm-merge", "The restore confirm restating the plan (insert 11,589, skip 3,580, leave out "
              "22,756, the filters, chroma, files, substrates, hook); focus on No.", _confirm_merge),
        Scene("confirm-replace", "Replace: the danger dialog names what it truncates and the pre-restore "
              "safety bundle it takes first; Replace stays disabled until .neo-ai-data is typed.",
              _confirm_replace),
        Scene("restore-running", "Live progress mid-graph: a bar per substrate with rate and ETA, running "
              "counters per label beside the plan, the event log; c cancels.", _restore_running, wide=True),
        Scene("restore-cancel-confirm", "Cancel asks first and says it stops between batches and how to "
              "resume.", _restore_cancel_confirm),
        Scene("restore-cancelled", "After a cancel: the bars that stopped, the run id, and how to resume "
              "(r, the same restore again).", _restore_cancelled),
        Scene("restore-done", "The end view: result counters beside the plan's predictions (all = same), "
              "per-label verdicts, the run id and u to undo.", _restore_done, wide=True),
    ]
    return out


# ---------------------------------------------------------------- the demo with a fixed clock


def build_fixed_demo(root: Path, now: datetime = FIXED_NOW) -> Path:
    """The demo data dir as of ``now``, with the staging residue's mtime pinned too (it is a real mtime)."""
    from core.bundle import PARTIAL_PREFIX, TRASH_PREFIX
    from core.demo import build_demo

    build_demo(root, now=now, overwrite=True)
    backups = root / "backups"
    stamp = (now - timedelta(days=2, hours=9)).timestamp()
    for entry in backups.iterdir():
        if entry.name.startswith((PARTIAL_PREFIX, TRASH_PREFIX)):
            for dirpath, _dirs, files in os.walk(entry):
                for f in files:
                    os.utime(os.path.join(dirpath, f), (stamp, stamp))
            os.utime(entry, (stamp, stamp))
    return root


def _link_or_copy(src: str, dst: str) -> None:
    if "/backups/" in src:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def copy_data_dir(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dest, symlinks=True, copy_function=_link_or_copy)
    return dest


async def capture(scene: Scene, data_dir: Path, size: tuple[int, int], now: datetime = FIXED_NOW) -> str:
    """Run the app headless at ``size`` through the scene and return the SVG."""
    from textual.clock import MockClock

    from console.factory import make_app
    from core.datadir import resolve

    dd = resolve(data_dir, env={})
    with app_environment(scene):
        app = make_app(dd, readonly=scene.readonly, clock=MockClock(), now=lambda: now)
    async with app.run_test(size=size) as pilot:
        if scene.run_before is not None:
            await scene.run_before(pilot)
        await settle(pilot)
        return app.export_screenshot(title=f"recovery console: {scene.name}")


# ---------------------------------------------------------------- the command


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
    from rich.text import Text

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
    with tempfile.TemporaryDirectory(prefix="rc-screenshots-") as tmp:
        base = Path(tmp) / "base" / "incident" / ".neo-ai-data"
        con.print(Text("Building the demo data dir (a few seconds)…"))
        build_fixed_demo(base)
        for i, (scene, (w, h)) in enumerate(jobs):
            data_dir = base
            if scene.writes:
                data_dir = copy_data_dir(base, Path(tmp) / f"copy-{i}" / "incident" / ".neo-ai-data")
            svg = asyncio.run(capture(scene, data_dir, (w, h)))
            path = out / f"{scene.name}-{w}x{h}.svg"
            path.write_text(svg, encoding="utf-8")
            con.print(Text(f"  wrote {path}"))
    return 0
