"""The one way to build the console app: the CLI, the tests and the screenshot scenes all call ``make_app``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from textual.clock import Clock

from console.app import RecoveryApp
from core.datadir import DataDir


def make_app(
    dd: DataDir,
    *,
    readonly: bool = False,
    clock: Clock | None = None,
    now: Callable[[], datetime] | None = None,
) -> RecoveryApp:
    """Build the console for a data dir.

    ``clock`` drives every ProgressBar's ETA (pass ``textual.clock.MockClock()`` in tests); ``now`` returns the
    current time (UTC) for ages and log stamps, so a fixed ``now`` makes screens deterministic.
    """
    return RecoveryApp(dd, readonly=readonly, clock=clock, now=now)
