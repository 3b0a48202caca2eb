"""The console's scenes: the states `recovery-console screenshots` draws and tests/test_tui_snapshots.py pins.

One list serves both, so the README's pictures and the CI baselines show the same states. Each scene runs the
real app (``make_app``) headless on the demo data dir of the May 10 incident, with a ``MockClock`` and a fixed
``now``. Every scene drives the app through its keys, except the two mid-restore pictures (``restore-running``
and ``restore-cancel-confirm``), which post the restore worker's own progress messages so the live bars stop
at a chosen point. ``restore-done`` and ``restore-cancelled`` run a real restore on their own copy of the demo
(``writes``): the end view compares the engine's real result with the plan the operator confirmed.

Also here: ``settle`` (wait until every worker has finished and its messages are handled), used by the scenes
and the Pilot tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from textual.clock import MockClock
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.worker import WorkerCancelled, WorkerFailed

import console.screens.restore as restore_screen
import core.journal
import core.restore
from console.app import RecoveryApp
from console.factory import make_app
from console.messages import JobProgressed
from console.screens.bundle_diff import BundleDiffScreen
from console.screens.diff import DiffScreen
from console.screens.restore import RestoreScreen
from console.screens.search import SearchScreen
from console.screens.timeline import TimelineScreen
from core.bundle import PARTIAL_PREFIX, TRASH_PREFIX
from core.datadir import DataDir, resolve
from core.demo import build_demo
from core.plan import Plan
from core.progress import Progress, ProgressFn, no_progress
from core.restore_model import RestoreCancelled, RestoreOptions, RestoreResult
from core.substrates import VECTOR_COLLECTIONS
from core.verification import Verification

# the morning of the May 10 2026 graph wipe: nine hours after the last bundle before it (01:11, named as the real
# incident's), one hour after the routine backup that copied the wiped stores
FIXED_NOW = datetime(2026, 5, 10, 10, 11, 23, 456_000, tzinfo=UTC)

RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Scene:
    name: str
    doc: str  # what the picture must show
    run_before: RunBefore | None = None
    readonly: bool = False
    writes: bool = False  # changes the data dir: give it its own copy
    wide: bool = False  # also snapshot-tested at 120x40 (every screen has at least one such scene)
    no_color: bool = False  # built under NO_COLOR: what a monochrome terminal or a text capture shows
    # prints the data dir's path (a confirm's whole command): tests give it a copy at a path fixed per scene
    shows_path: bool = False


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


# ---------------------------------------------------------------- waiting for the app


async def settle(pilot: Pilot[Any]) -> None:
    """Until no worker runs and every message the workers posted (and what those started) has been handled.

    Waits on the workers themselves, never on a time: a worker's last message can start another worker (a
    finished restore reads the backup root again), so it repeats until a round starts nothing new.
    """
    app = pilot.app
    for _ in range(100):
        running = [w for w in app.workers if not w.is_finished]
        for worker in running:
            with suppress(WorkerCancelled, WorkerFailed):  # a failure is the screens' to show, not ours
                await worker.wait()
        await pilot.pause()
        await pilot.pause()
        if not running and not any(not w.is_finished for w in app.workers):
            return
    raise TimeoutError("the console kept starting workers")


async def wait_for(pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Until ``predicate`` holds: for a state outside the app (a file on disk), or one reached while a worker
    still runs. A worker's end is ``settle``'s to wait for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the console did not reach the expected state in time")
        await pilot.pause(0.05)


# ---------------------------------------------------------------- the scenes


async def _home(pilot: Pilot[Any]) -> None:
    await settle(pilot)


async def _help(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await settle(pilot)


async def _verified(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("v")
    await settle(pilot)


async def _retention(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("t")
    await settle(pilot)


async def _prune_preview(pilot: Pilot[Any]) -> None:
    await _retention(pilot)
    await pilot.press("p")
    await settle(pilot)


async def _bundle_malformed(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press("down", "down", "down")
    await settle(pilot)


async def open_diff(pilot: Pilot[Any], *, row: int = 1) -> DiffScreen:
    """Enter on the bundle ``row`` rows down (in the demo, row 1 is the last bundle before the wipe: the newest
    is the routine backup taken after it), then the scan: the diff with its first plan."""
    app = pilot.app
    await settle(pilot)
    for _ in range(row):
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot)
    diff = app.screen
    assert isinstance(diff, DiffScreen) and diff.plan is not None, "the diff has no plan"
    return diff


async def _diff(pilot: Pilot[Any], *keys: str) -> None:
    await open_diff(pilot)
    await pilot.press("3", *keys)
    await settle(pilot)


async def _diff_labels(pilot: Pilot[Any]) -> None:
    await _diff(pilot)


async def _diff_edges(pilot: Pilot[Any]) -> None:
    await _diff(pilot, "right_square_bracket")


async def _diff_filters(pilot: Pilot[Any]) -> None:
    await _diff(pilot, "right_square_bracket", "right_square_bracket")


async def _diff_chroma(pilot: Pilot[Any]) -> None:
    await _diff(pilot, "left_square_bracket", "left_square_bracket")


async def open_differing(pilot: Pilot[Any]) -> None:
    """Enter on ISSUE under the incident preset: neo re-ingested every issue after the bundle was taken."""
    diff = await open_diff(pilot)
    await pilot.press("3")
    await settle(pilot)
    table = diff.query_one("#labels", DataTable)
    table.move_cursor(row=table.get_row_index("n:ISSUE"))
    await pilot.press("enter")
    await settle(pilot)


async def _diff_differing(pilot: Pilot[Any]) -> None:
    await open_differing(pilot)


async def _diff_differing_row(pilot: Pilot[Any]) -> None:
    await open_differing(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def _diff_options(pilot: Pilot[Any]) -> None:
    await _diff(pilot, "left_square_bracket")


async def _diff_command(pilot: Pilot[Any]) -> None:
    """y under the incident plan: the command line's copy (the whole command holds the data dir's absolute
    path, which differs wherever the pictures are drawn: the line on screen names it as …)."""
    await _diff(pilot, "y")


async def _compose(pilot: Pilot[Any]) -> None:
    """c on the bundle whose KB export is empty (the August incident's shape)."""
    await settle(pilot)
    app = cast(RecoveryApp, pilot.app)
    names = [b.name for b in app.listing.bundles] if app.listing else []
    august = next(i for i, b in enumerate(app.listing.bundles if app.listing else ()) if b.integrity("kb") == "empty")
    assert names, "no bundles"
    await pilot.press(*["down"] * august, "c")
    await settle(pilot)


async def _compose_confirm(pilot: Pilot[Any]) -> None:
    await _compose(pilot)
    await pilot.press("R")
    await settle(pilot)


async def _confirm_merge(pilot: Pilot[Any]) -> None:
    await _diff(pilot, "R")


async def _confirm_replace(pilot: Pilot[Any]) -> None:
    await _diff(pilot, "m", "R")


async def open_timeline(pilot: Pilot[Any], *keys: str) -> TimelineScreen:
    await settle(pilot)
    await pilot.press("T")
    await settle(pilot)
    if keys:
        await pilot.press(*keys)
        await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, TimelineScreen) and screen.timeline is not None, "the timeline did not load"
    return screen


async def _timeline(pilot: Pilot[Any]) -> None:
    await open_timeline(pilot)


async def _timeline_labels(pilot: Pilot[Any]) -> None:
    await open_timeline(pilot, "l")


async def open_bundle_diff(pilot: Pilot[Any]) -> BundleDiffScreen:
    """From the timeline: mark the newest bundle and the one before the wipe, then d."""
    await open_timeline(pilot, "space", "down", "space")
    await pilot.press("d")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, BundleDiffScreen) and screen.diff is not None, "the bundle diff did not load"
    return screen


async def _bundle_diff(pilot: Pilot[Any]) -> None:
    await open_bundle_diff(pilot)


async def _bundle_diff_ids(pilot: Pilot[Any]) -> None:
    await open_bundle_diff(pilot)
    await pilot.press("enter")  # FILE, the top row: its ids only in B
    await settle(pilot)


async def _bundle_diff_row(pilot: Pilot[Any]) -> None:
    screen = await open_bundle_diff(pilot)
    assert screen.diff is not None
    row = list(screen.diff.labels).index("ISSUE")  # re-ingested with newer data: different in both
    await pilot.press(*(["down"] * row), "enter")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


async def open_search(pilot: Pilot[Any], query: str) -> SearchScreen:
    """`/` on the last bundle before the wipe, then a query."""
    await settle(pilot)
    await pilot.press("down", "slash")
    await settle(pilot)
    await pilot.press(*query, "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen) and screen.result is not None, "the search did not run"
    return screen


async def _search(pilot: Pilot[Any]) -> None:
    await open_search(pilot, "issue-1000")


async def _search_restore(pilot: Pilot[Any]) -> None:
    await open_search(pilot, '"step 1000 of"')  # a memory lost in the wipe, spawned from the live frontier
    await pilot.press("space", "R")
    await settle(pilot)


DEMO_RUN_ID = "20260510T101208114Z-3f9c2a"
DEMO_DURATION_MS = 16_700


async def _restore_view(pilot: Pilot[Any], stage: str) -> None:
    """The restore view mid-run, drawn from the messages its worker posts (the worker is not started), so the
    bars stop at a chosen point with fixed rates and ETAs. The counters are the plan's own predictions in the
    engine's shape; ``restore-done`` shows a real run reaching them."""
    diff = await open_diff(pilot)
    await pilot.press("3")
    await pilot.pause()
    app = cast(RecoveryApp, pilot.app)
    assert diff.plan is not None
    plan = diff.plan
    app.open_restore(diff.bundle, diff.restore_options(), plan, autostart=False)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, RestoreScreen)
    screen.begin()
    clock = app.clock

    async def tick(t: float, task: str, done: int, total: int | None, rate: float | None,
                   counters: dict[str, Any] | None = None, unit: str = "rows") -> None:
        if isinstance(clock, MockClock):
            clock.set_time(t)
        screen.post_message(JobProgressed("restore", Progress(task, done, total, unit, 0, "", rate, counters)))
        await pilot.pause()

    chroma = {c.key: {"inserted": plan.collection(c.key).would_insert,
                      "skippedExisting": plan.collection(c.key).already_present, "failed": 0}
              for c in VECTOR_COLLECTIONS}
    await tick(0.0, "verify", 0, None, None)
    await tick(2.4, "verify", 51_713, None, 21_547.0)
    await tick(2.5, "kb", 2_600, 2_600, 1_040.0, {"kb": chroma["kb"]})
    await tick(4.0, "memories", 10_312, 10_312, 1_830.0, {"memories": chroma["memories"]})
    await tick(4.5, "summaries", 876, 876, 1_752.0, {"summaries": chroma["summaries"]})
    await tick(5.0, "graph", 0, 37_925, None)
    # the node batches are in: every label's counters, none of the edge types yet
    nodes = {k: {"inserted": v.would_insert, "skippedExisting": v.already_present, "failed": 0,
                 "filtered": v.filtered} for k, v in plan.graph.labels.items()}
    await tick(7.0, "graph", 22_660, 37_925, 11_330.0, {"nodes": nodes, "edges": {}})
    if stage == "cancel-confirm":
        await pilot.press("c")
        await settle(pilot)


@contextmanager
def pinned_restore(*, cancel_after: str | None = None) -> Iterator[None]:
    """A real restore whose picture repeats: the run id and the duration, the two values a run takes from the
    wall clock and chance, are pinned (the run is journaled under the pinned id, so the id on the screen is the
    one `undo` takes). ``cancel_after``: set the worker's cancel token in the engine's thread at the first
    progress report of that task, so the run stops at the same batch every time."""
    real = restore_screen.run_restore

    def run(dd: DataDir, bundle: Path | str | None, opts: RestoreOptions, *, on_progress: ProgressFn = no_progress,
            cancel: threading.Event | None = None, plan: Plan | None = None, predict: bool = False,
            composition: Mapping[str, object] | None = None) -> RestoreResult:
        def progress(p: Progress) -> None:
            on_progress(p)
            if p.task == cancel_after and cancel is not None:
                cancel.set()  # the engine checks it before its next batch

        try:
            result = real(dd, bundle, opts, on_progress=progress, cancel=cancel, plan=plan, predict=predict,
                          composition=composition)
        except RestoreCancelled as exc:
            exc.result = dataclasses.replace(exc.result, duration_ms=DEMO_DURATION_MS)
            raise
        return dataclasses.replace(result, duration_ms=DEMO_DURATION_MS)

    real_run_id = core.journal.new_run_id
    restore_screen.run_restore = run
    core.journal.new_run_id = lambda now=None: DEMO_RUN_ID
    try:
        yield
    finally:
        restore_screen.run_restore = real
        core.journal.new_run_id = real_run_id


async def _real_restore(pilot: Pilot[Any], *, cancel_after: str | None = None) -> None:
    """The guided merge restore as an operator runs it (enter, 3, R, Restore) on the scene's own copy."""
    with pinned_restore(cancel_after=cancel_after):
        await _diff(pilot, "R")
        await pilot.press("tab", "enter")  # focus starts on No
        await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RestoreScreen), "the restore view did not open"
    expected = "cancelled" if cancel_after else "done"
    assert screen.state == expected, f"the restore ended {screen.state}, not {expected}"


@contextmanager
def row_deleted_before_verification() -> Iterator[None]:
    """Something deletes a node the run inserted between its last write and its verification (a careless
    writer, another tool): the end view must say so, loudly, and undo nothing by itself."""
    real = core.restore.verify_run

    def verify(dd: DataDir, run_id: str, **kwargs: Any) -> Verification:
        batch = next(core.journal.committed_batches(dd.runs_dir / run_id, "graph"))
        victim = core.journal.pairs(batch, "nodes")[0][0]
        conn = sqlite3.connect(dd.graph_db)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("DELETE FROM Nodes WHERE id = ?", (victim,))
            conn.commit()
        finally:
            conn.close()
        return real(dd, run_id, **kwargs)

    core.restore.verify_run = verify
    try:
        yield
    finally:
        core.restore.verify_run = real


async def _restore_verify_failed(pilot: Pilot[Any]) -> None:
    with row_deleted_before_verification():
        await _real_restore(pilot)


async def _restore_running(pilot: Pilot[Any]) -> None:
    await _restore_view(pilot, "running")


async def _restore_cancel_confirm(pilot: Pilot[Any]) -> None:
    await _restore_view(pilot, "cancel-confirm")


async def _restore_cancelled(pilot: Pilot[Any]) -> None:
    await _real_restore(pilot, cancel_after="graph")


async def _restore_done(pilot: Pilot[Any]) -> None:
    await _real_restore(pilot)


def scenes() -> list[Scene]:
    return [
        Scene("bundles", "Home: the demo bundles newest first with ages 1h..77d, kb/mc/graph row counts from "
              "the metas with ✓? (claimed: nothing read yet) or ✗ and a word (0 ✗ empty); the newest, taken after "
              "the wipe, holds 7.8k graph rows against 37.9k the day before; the MALFORMED bundle flagged, the "
              "staging residue row, the header's count of unverified bundles, the detail pane of the newest bundle "
              "with the live graph's census beside it, and the footer keys.", _home,
              wide=True),
        Scene("bundles-malformed", "The torn-meta bundle selected: MALFORMED in the table and in the detail "
              "pane, which says why retention keeps it.", _bundle_malformed),
        Scene("bundles-verified", "The newest bundle after v: its row reads ✓ (verified) where the others read "
              "✓?, the job panel says RESTORABLE (the wiped graph is a perfectly valid bundle) and the detail pane "
              "shows checksums verified. Verifying writes the verify cache: its own copy.", _verified, writes=True),
        Scene("bundles-readonly", "Started with --readonly: the READ-ONLY badge in the header and the Backup "
              "key dimmed in the footer.", _home, readonly=True),
        Scene("retention", "Retention: the policy per substrate with the newest and oldest restorable age, "
              "the coverage timeline (■ □ ×), each bundle's verdict and first reason.", _retention, wide=True),
        Scene("prune-preview", "Prune's dry-run preview in a confirm dialog, focus on No; the guard it shows "
              "verified the newest bundle first (read in full now).", _prune_preview, writes=True),
        Scene("help", "Help: every key per screen, the symbols, the safety rules.", _help, wide=True),
        Scene("timeline", "Timeline (T): a sparkline per substrate, the wipe marked ▼ at the newest bundle "
              "(graph 37.9k → 7,845, mc 11.2k → 1,133) and the KB's drop to zero at the empty-KB bundle, the "
              "torn meta as ?, read from the metas alone.", _timeline, wide=True),
        Scene("timeline-labels", "The timeline per node label (l), each bundle's graph counted once: nodes "
              "22.7k → 3,545 (-84%), FILE, CONCEPT (to zero) and the other lost labels marked ▼ at the wipe.",
              _timeline_labels, writes=True),
        Scene("bundle-diff", "The newest bundle (A) against the last one before the wipe (B), marked in the "
              "timeline and diffed with d: per label only in A, only in B, identical, different; what the wipe "
              "took reads in the only-B column.", _bundle_diff, wide=True),
        Scene("bundle-diff-ids", "Drill-down: the FILE ids only in B, a page at a time, the four cells' counts "
              "above.", _bundle_diff_ids),
        Scene("bundle-diff-row", "One ISSUE row in both bundles, field by field: state open → closed, "
              "reingestedAt only in A.", _bundle_diff_row),
        Scene("search", "Search (/) in the bundle before the wipe: the hits for issue-1000 with their live "
              "state (the node live but different, its edges not live) and the first hit's record.", _search,
              wide=True),
        Scene("search-restore", "A memory found by a word of its text, marked, R: the confirm restates the "
              "selection's own plan (the memory, its node and its edge from the live frontier; merge keeps every "
              "live row).", _search_restore,
              writes=True),
        Scene("diff-labels", "Diff of the last bundle before the wipe (the second row) with the incident default "
              "preset: totals read would insert 11,589, already present 3,580, filtered out 22,756, and a third "
              "line: 1,728 present graph rows differ from live (neo re-ingested the issues and PRs since); the "
              "per-label table with its differs column (ISSUE 1,017, PULL_REQUEST 711 in yellow) and bars.",
              _diff_labels, wide=True),
        Scene("diff-edges", "The per-edge-type table: CONTAINS, DISCOVERED_IN, EVALUATED_BY filtered, the "
              "differs and orphaned columns (at 80 columns the bar gives way to the differs column).", _diff_edges),
        Scene("diff-differing", "Enter on ISSUE: its 1,017 present rows whose live row differs (a merge keeps the "
              "live one), a page of 200 ids at a time.", _diff_differing),
        Scene("diff-differing-row", "Enter on issue-10000: the live row beside the bundle's, field by field "
              "(state open in the bundle, closed live; reingestedAt only live), then the live row a merge keeps.",
              _diff_differing_row),
        Scene("diff-filters", "The filter sets as checkbox lists with the four presets; the incident default "
              "ticked.", _diff_filters),
        Scene("diff-chroma", "Chroma collections (memories, summaries, kb: backup, live, present, differs, insert) "
              "and the flat files' copy / skip plan.", _diff_chroma),
        Scene("diff-options", "Substrate toggles, merge or replace, the post-restore hook and its workspace.",
              _diff_options),
        Scene("diff-filters-nocolor", "The filter lists under NO_COLOR: ticked boxes read ▐X▌ and unticked ▐ ▌, "
              "so the incident default reads from the glyphs alone.", _diff_filters, no_color=True),
        Scene("diff-options-nocolor", "The options under NO_COLOR: the chosen mode and hook read ▐●▌, the "
              "others ▐ ▌; every substrate ticked ▐X▌.", _diff_options, no_color=True),
        Scene("confirm-merge", "The restore confirm restating the plan (insert 11,589, skip 3,580, leave out "
              "22,756, the 1,728 differing live rows it keeps, the filters, chroma, files, substrates, hook); focus "
              "on No. Its body holds the whole command, data dir included.", _confirm_merge, shows_path=True),
        Scene("confirm-replace", "Replace: the danger dialog names what it truncates and the pre-restore "
              "safety bundle it takes first; the backup guard, checked in a worker, passes; Replace stays "
              "disabled until .neo-ai-data is typed.", _confirm_replace, writes=True),
        Scene("restore-running", "Live progress mid-graph: a bar per substrate with rate and ETA, running "
              "counters per label beside the plan, the event log; c cancels.", _restore_running, wide=True),
        Scene("restore-cancel-confirm", "Cancel asks first and says it stops between batches and how to "
              "resume.", _restore_cancel_confirm),
        Scene("restore-cancelled", "A real merge restore cancelled after its first graph batch: validate, kb, "
              "memories and summaries done, the graph bar stopped part-way, the counters of what committed, "
              "the run id, and how to resume (r, the same restore again).", _restore_cancelled, writes=True),
        Scene("restore-done", "The end view of a real merge restore: the engine's result counters beside the "
              "plan's predictions (all = same: insert 11,589, skip 3,580, leave out 22,756), per-label "
              "verdicts, the verification passed (five checks ✓), the run id, u to undo and i for the "
              "incident report.", _restore_done, writes=True, wide=True),
        Scene("restore-verify-failed", "A real merge restore whose verification fails: a node it inserted was "
              "deleted behind the console's back before the check. The end view says VERIFICATION FAILED in "
              "reverse red, the counts check ✗ names the missing row, nothing was rolled back, and u undo is "
              "still the operator's call.", _restore_verify_failed, writes=True),
        Scene("command-line", "The diff under the incident preset after y: the equivalent headless command "
              "on one line under the totals ($ recovery-console … restore backup-… --filter-labels=…, the data "
              "dir's flags shown as …) and, at its end, ✓ copied: y put the whole command on the clipboard (OSC "
              "52, so it reaches the operator's own machine over SSH).", _diff_command),
        Scene("compose", "Compose from the bundle whose KB export is empty (c on it): kb from the last bundle "
              "where it was restorable, the empty export and the torn meta passed over with their reasons, "
              "everything else from the empty-KB bundle; the plan's totals and the pinned --compose --source "
              "command. Choosing verifies the claimed copies it takes: it writes the verify cache (its own copy).",
              _compose, wide=True, writes=True),
        Scene("compose-confirm", "The composite restore's confirm: which substrate comes from which bundle, "
              "the totals, one run and one undo, and the exact command; focus on No.", _compose_confirm,
              writes=True),
    ]


# ---------------------------------------------------------------- the demo with a fixed clock


def build_fixed_demo(root: Path, now: datetime = FIXED_NOW) -> Path:
    """The demo data dir as of ``now``, with the staging residue's mtime pinned too (it is a real mtime)."""
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


def link_or_copy(src: str, dst: str) -> None:
    """Bundles are hard-linked (a restore only reads them; prune renames, never writes into them); the live
    stores are copied, so a scene that writes changes only its own copy."""
    if "/backups/" in src:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def copy_data_dir(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dest, symlinks=True, copy_function=link_or_copy)
    return dest


async def capture(scene: Scene, data_dir: Path, size: tuple[int, int], now: datetime = FIXED_NOW) -> str:
    """Run the app headless at ``size`` through the scene and return the SVG."""
    dd = resolve(data_dir, env={})
    with app_environment(scene):
        app = make_app(dd, readonly=scene.readonly, clock=MockClock(), now=lambda: now)
    async with app.run_test(size=size) as pilot:
        if scene.run_before is not None:
            await scene.run_before(pilot)
        await settle(pilot)
        return app.export_screenshot(title=f"recovery console: {scene.name}")

