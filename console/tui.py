"""Start the Textual console (what `recovery-console` with no subcommand runs), and stop it cleanly on a signal.

The CLI imports this module only when it opens the console, so `--help` and the subcommands never load Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from textual.app import App

from console.commands.common import EXIT_CANCELLED, detach_from_terminal, terminal_fds
from console.factory import make_app
from core import lock
from core.datadir import DataDir


def run_tui(dd: DataDir, readonly: bool = False) -> int:
    """Run the console on ``dd`` until the operator quits; the exit code (130 when a signal stopped it)."""
    app = make_app(dd, readonly=readonly)
    with stop_on_signals(app) as received:
        app.run()
    if received:
        return EXIT_CANCELLED
    return int(app.return_code or 0)


@contextmanager
def stop_on_signals(app: App[Any]) -> Iterator[list[int]]:
    """SIGHUP (the SSH link dropped) and SIGTERM end the console with exit 130, its jobs stopped between batches.

    Textual 8.2.8 installs no handler for either, so their default action killed the process in the middle of a
    batch: safe (every batch is a transaction, the journal is resolved by the next run) but never a clean stop.
    Here every worker's cancel token is set at once; the engines stop after the current batch and journal the
    run as cancelled, and the process waits for that before it exits (asyncio joins the worker threads). The
    same restore run again finishes it. On SIGHUP the terminal is gone: the fds that were the terminal are
    pointed at /dev/null first, so Textual's last writes cannot fail on it.

    If Textual wrote to the dead terminal before the signal came, its output thread died and the app can no
    longer shut down; a watchdog then ends the process once no job of it holds the data dir lock (every engine
    has stopped and journaled) and a grace period has passed. A repeated signal only sets the tokens again.

    Yields the list of signals received (empty when none came).
    """
    received: list[int] = []
    ttys = terminal_fds()
    done = threading.Event()  # the app ended by itself: the watchdog stands down

    def handler(signum: int, _frame: Any) -> None:
        first = not received
        received.append(signum)
        if signum == signal.SIGHUP:
            detach_from_terminal(ttys)
        for worker in list(app.workers):
            worker.cancelled_event.set()
        if not first:
            return
        threading.Thread(target=exit_when_stuck, args=(EXIT_CANCELLED, done), name="exit-when-stuck",
                         daemon=True).start()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # before the app started or after it stopped: nothing runs that needs a clean stop
            raise KeyboardInterrupt from None
        loop.call_soon_threadsafe(functools.partial(app.exit, None, EXIT_CANCELLED))

    previous: dict[int, Any] = {}
    for sig in (signal.SIGHUP, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave the defaults
            previous[sig] = signal.signal(sig, handler)
    try:
        yield received
    finally:
        done.set()
        for sig, h in previous.items():
            signal.signal(sig, h)


def exit_when_stuck(code: int, done: threading.Event, grace: float = 5.0) -> None:
    """End the process ``grace`` seconds after the last data dir lock of it was released, unless ``done`` is set
    first (the app shut down by itself, as it does unless its terminal died under it)."""
    idle_since: float | None = None
    while not done.is_set():
        if lock.writing():
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > grace:
            os._exit(code)
        time.sleep(0.1)
