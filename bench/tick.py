"""The diff screen's filter tick, measured on the real app with Pilot: key press -> recount -> painted frame.

The app runs headless, where Textual computes every frame (layout, compositor, the changed strips) but skips
turning it into terminal bytes. To include that too, `_display` is wrapped to render each update into the
escape sequences a terminal would receive (and drop them).

Each tick is a space on the Filters tab's label list (ticking, then unticking, the biggest label). Two
figures per tick:
- `wall`: from the key event being queued to the end of the first frame painted after the recount, as the
  operator sees it (includes the frame timer's wait, up to 1/60 s);
- `work`: the time the event loop spent in the recount and in painting that frame.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from contextlib import suppress
from typing import Any

from textual import events
from textual._compositor import CompositorUpdate
from textual.widgets import SelectionList


async def settle(pilot: Any) -> None:
    """Until no worker runs and what the workers posted has been handled (waits on workers, not on time)."""
    app = pilot.app
    for _ in range(100):
        running = [w for w in app.workers if not w.is_finished]
        for worker in running:
            with suppress(Exception):
                await worker.wait()
        await pilot.pause()
        await pilot.pause()
        if not running and not any(not w.is_finished for w in app.workers):
            return
    raise TimeoutError("the console kept starting workers")


async def _ticks(dd: Any, n: int, size: tuple[int, int]) -> dict[str, Any]:
    from console.factory import make_app
    from console.screens.diff import DiffScreen

    app = make_app(dd)
    painted: list[tuple[float, float]] = []  # (start, end) of every frame painted
    terminal_bytes = [0]
    async with app.run_test(size=size) as pilot:
        display = app._display

        def to_terminal(screen: Any, renderable: Any) -> None:
            if isinstance(renderable, CompositorUpdate):
                terminal_bytes[0] += len(renderable.render_segments(app.console))
            display(screen, renderable)

        app._display = to_terminal  # type: ignore[method-assign]
        await settle(pilot)
        scan_started = time.perf_counter()
        await pilot.press("enter")
        await settle(pilot)
        scan_seconds = time.perf_counter() - scan_started
        diff = app.screen
        assert isinstance(diff, DiffScreen) and diff.plan is not None, "the diff has no plan"
        await pilot.press("right_square_bracket", "right_square_bracket")  # the Filters tab
        await settle(pilot)
        labels = diff.query_one("#filter-labels", SelectionList)
        labels.focus()
        labels.highlighted = 0
        await settle(pilot)

        refresh = diff._compositor_refresh
        recount = diff.recount
        recounted: list[tuple[float, float]] = []
        frame_after: asyncio.Future[tuple[float, float]] | None = None

        def timed_refresh() -> None:
            t = time.perf_counter()
            refresh()
            end = time.perf_counter()
            painted.append((t, end))
            if frame_after is not None and not frame_after.done() and recounted and t >= recounted[-1][1]:
                frame_after.set_result((t, end))

        def timed_recount() -> None:
            t = time.perf_counter()
            recount()
            recounted.append((t, time.perf_counter()))

        diff._compositor_refresh = timed_refresh  # type: ignore[method-assign]
        diff.recount = timed_recount  # type: ignore[method-assign]
        walls: list[float] = []
        works: list[float] = []
        recounts: list[float] = []
        paints: list[float] = []
        to_recount: list[float] = []
        recount_to_paint: list[float] = []
        for _ in range(n):
            recounted.clear()
            frame_after = asyncio.get_running_loop().create_future()
            t0 = time.perf_counter()
            app._driver.send_message(events.Key("space", " "))  # type: ignore[union-attr]
            paint_start, paint_end = await asyncio.wait_for(frame_after, 10)
            walls.append((paint_end - t0) * 1000)
            to_recount.append((recounted[-1][0] - t0) * 1000)
            recount_to_paint.append((paint_start - recounted[-1][1]) * 1000)
            r = recounted[-1][1] - recounted[-1][0]
            recounts.append(r * 1000)
            paints.append((paint_end - paint_start) * 1000)
            works.append((r + paint_end - paint_start) * 1000)
            await settle(pilot)
        ticked = sorted(labels.selected)
    return {"seconds": scan_seconds, "scanSeconds": scan_seconds, "size": f"{size[0]}x{size[1]}",
            "wallMs": walls, "workMs": works, "recountMs": recounts, "paintMs": paints, "keyToRecountMs": to_recount,
            "recountToPaintMs": recount_to_paint,
            "wallMedianMs": statistics.median(walls), "wallMaxMs": max(walls),
            "workMedianMs": statistics.median(works), "terminalBytes": terminal_bytes[0],
            "labelsTickedAtEnd": ticked}


def measure_ticks(dd: Any, n: int, size: tuple[int, int]) -> dict[str, Any]:
    return asyncio.run(_ticks(dd, n, size))
