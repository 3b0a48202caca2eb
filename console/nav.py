"""The one seam between the screens and the app: what a screen may read from the app and ask of it.

Screens never import the app or each other (import-linter contracts in pyproject.toml). A screen reaches the
app through ``BaseScreen.rc``, typed by this Protocol: the state every screen shares, and navigation, so that
"open the diff of this bundle" is the app's decision, not a screen creating another screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from textual.clock import Clock

from console.livegraph import GraphCensus
from core.bundle import BundleInfo, Listing
from core.datadir import DataDir
from core.guard import GuardResult
from core.neo_lease import NeoLease
from core.plan import Plan
from core.receipt import RootReceipt
from core.restore_model import RestoreOptions
from core.retention import BundleVerdict, RetentionReport
from core.verify import VerifyResult
from widgets.status_header import HeaderState


class ConsoleApp(Protocol):
    # ---------------------------------------------------------------- shared state (the app owns it)
    dd: DataDir
    readonly: bool
    clock: Clock | None  # drives every ProgressBar's ETA (a MockClock in tests and screenshots)
    listing: Listing | None  # the latest read of the backup root
    retention: RetentionReport | None  # its retention evaluation
    guard: GuardResult | None  # the backup guard's answer at that read
    receipt: RootReceipt | None  # neo's last-backup receipt at the root, at that read
    lease: NeoLease | None  # neo's heavy-maintenance lease, at that read
    listing_error: str | None
    census: GraphCensus | None  # the live graph's node and edge counts (aiosqlite, read-only)
    verify_results: dict[str, VerifyResult]  # bundle name -> the result of a verify run this session
    busy: str  # "restore", "backup", "undo" while a write runs; "" otherwise
    guard_hours: float  # the guard's max age: older than this is STALE
    header_state: HeaderState

    def now(self) -> datetime: ...

    def set_busy(self, what: str) -> None: ...

    def refresh_bundles(self) -> None:
        """Read the backup root (and the live census) again; every screen's ``data_changed`` runs after."""

    def bundle_verdict(self, name: str) -> BundleVerdict | None: ...

    # ---------------------------------------------------------------- navigation
    def open_diff(self, bundle: BundleInfo) -> None: ...

    def open_restore(self, bundle: BundleInfo, opts: RestoreOptions, plan: Plan, *, autostart: bool = True,
                     composition: Mapping[str, object] | None = None) -> None:
        """The restore view of ``bundle`` with ``opts`` and the plan the operator confirmed.
        ``autostart=False`` leaves the worker unstarted (the screenshot scenes post its messages instead).
        A composite restore (``opts.sources``) names its newest source as ``bundle`` and passes why each
        source was chosen (``composition``), which the run keeps for the incident report."""

    def open_compose(self, at: BundleInfo | None) -> None:
        """A composite restore: each substrate from the newest bundle (no newer than ``at``) where it is
        restorable."""

    def open_retention(self) -> None: ...

    def open_timeline(self) -> None:
        """Every bundle's counts over time, drops marked."""

    def open_bundle_diff(self, a: BundleInfo, b: BundleInfo) -> None:
        """Bundle ``a`` against bundle ``b``: only in A, only in B, identical, different."""

    def open_search(self, bundle: BundleInfo, query: str = "") -> None:
        """Search inside ``bundle`` (and restore just the hits)."""

    def open_help(self) -> None: ...

    def go_home(self) -> None:
        """Back to the bundles screen, whatever is stacked above it."""

    def show_error(self, title: str, text: str) -> None: ...

    def show_census(self) -> None:
        """The live graph per label and edge type, read on demand."""
