"""Composite restore: each substrate from the newest bundle in which it is restorable, as one plan and one run.

Opened from the bundles screen with ``c`` on a bundle: no bundle newer than that one is used. A worker chooses
the sources (verifying a claimed copy before it is chosen, so a torn file is passed over, not restored), then
scans each source bundle once; after that every preset recounts the plan on the UI thread. The table says, per
substrate, the bundle chosen and why every newer bundle was passed over; the line under it is the headless
command that does the same (``y`` copies it); ``R`` confirms and runs it: one run, one journal, one undo.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from console.format import age_between, location_label, short_time
from console.messages import JobCancelled, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.bundle import BundleInfo
from core.command_line import CommandLine, restore_command
from core.compose import Composition, choose, describe_sources, merge_plans
from core.plan import Filters, Plan, Scan, build_plan, scan_bundle
from core.presets import PRESETS
from core.progress import Cancelled
from core.restore_model import RestoreOptions
from core.safetext import visible
from core.substrates import PLAN_COLLECTIONS
from widgets.command_bar import CommandBar, copy_command
from widgets.confirm import ConfirmScreen
from widgets.job_progress import TaskProgress
from widgets.table import DataTable


class ComposeScreen(BaseScreen):
    SCREEN_TITLE = "Compose"

    BINDINGS = [
        Binding("R", "restore", "Restore…", key_display="R", id="restore"),
        Binding("y", "copy_command", "Copy", id="copy-command"),
        Binding("3", "preset('incident default')", "Incident", id="preset-incident"),
        Binding("0", "preset('none')", "No filters", show=False),
        Binding("escape", "back", "Back", id="back"),
        *COMMON_BINDINGS,
    ]

    def __init__(self, at: BundleInfo | None) -> None:
        super().__init__()
        self.at = at
        self.composition: Composition | None = None
        self.scans: dict[Path, Scan] = {}
        self.plan: Plan | None = None
        self.filters = Filters()
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield self.make_header()
        title = Text()
        title.append("Compose", style="bold")
        title.append(" · newest restorable bundle per substrate", style="dim")
        if self.at is not None:
            title.append(f", none after {short_time(self.at.time)}")
        yield Static(title, id="compose-title", classes="screen-title")
        with Vertical(id="compose-progress"):
            yield TaskProgress("verify", title="verify", clock=self.rc.clock, id="compose-verify")
            yield Static(Text("Choosing: a claimed copy is verified before it is chosen.", style="dim"),
                         id="compose-status")
        yield DataTable(id="sources", cursor_type="row", zebra_stripes=True)
        yield Static(Text(""), id="compose-totals")
        yield CommandBar(id="command", hint="")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#sources", DataTable)
        for key, label in (("substrate", "substrate"), ("bundle", "bundle"), ("age", "age"), ("why", "why")):
            table.add_column(label, key=key)
        table.display = False
        self.query_one("#command", CommandBar).show(None, note="no command yet: choosing the sources")
        self._choose(self.at.time if self.at is not None else None)

    # ------------------------------------------------------------------ workers

    @work(thread=True, exclusive=True, exit_on_error=False, group="compose", description="Choosing sources")
    def _choose(self, at: datetime | None) -> None:
        worker = get_current_worker()
        post = self.post_message
        try:
            comp = choose(self.rc.dd, at=at, listing=self.rc.listing, cancel=worker.cancelled_event,
                          on_progress=lambda p: post(JobProgressed("compose", p)))
            post(JobFinished("chosen", comp))
            scans = self._scan(comp, worker.cancelled_event)
        except Cancelled:
            post(JobCancelled("compose", "stopped"))
            return
        post(JobFinished("scanned", scans))

    def _scan(self, comp: Composition, cancel: threading.Event) -> dict[Path, Scan]:
        scans: dict[Path, Scan] = {}
        for path in dict.fromkeys(comp.sources.values()):
            scans[path] = scan_bundle(self.rc.dd, path, cancel=cancel,
                                      on_progress=lambda p: self.post_message(JobProgressed("compose", p)))
        return scans

    def on_job_progressed(self, message: JobProgressed) -> None:
        if message.job == "compose":
            p = message.progress
            bar = self.query_one("#compose-verify", TaskProgress)
            bar.update_progress(p.done, p.total, unit=p.unit, rate=p.rate)

    def on_job_cancelled(self, message: JobCancelled) -> None:
        if message.job == "compose":
            self.query_one("#compose-verify", TaskProgress).finish("stopped", note="cancelled")

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job == "chosen" and isinstance(message.result, Composition):
            self.composition = message.result
            self._show_choices()
            self.query_one("#compose-status", Static).update(Text("Scanning the source bundles against the "
                                                                  "live stores…", style="dim"))
        elif message.job == "scanned" and isinstance(message.result, dict):
            self.scans = message.result
            self.query_one("#compose-progress").display = False
            self.recount()

    def job_failed(self, group: str, error: str) -> None:
        if group == "compose":
            self.error = error
            self.query_one("#compose-verify", TaskProgress).finish("failed", note="FAILED")
            self.query_one("#compose-status", Static).update(
                Text.assemble(("No composite plan: ", "bold red"), visible(error), "\nNothing was changed."))
        super().job_failed(group, error)

    # ------------------------------------------------------------------ the plan

    def _show_choices(self) -> None:
        assert self.composition is not None
        table = self.query_one("#sources", DataTable)
        table.clear()
        now = self.rc.now()
        times = {b.name: b.time for b in (self.rc.listing.bundles if self.rc.listing else ())}

        def age(name: str | None) -> Text:
            t = times.get(name or "")
            return Text(age_between(t, now) if t is not None else "", justify="right")

        for c in self.composition.choices:
            name = Text(visible(c.bundle.removeprefix("backup-")) if c.bundle else "NONE",
                        style="bold" if c.bundle else "bold red")
            why = ("named by --source" if c.why == "named by --source" else
                   "✓ verified: the newest restorable" if c.state == "verified" else
                   "the newest that holds it" if c.state == "present" else c.why)
            table.add_row(Text(c.substrate, style="bold"), name, age(c.bundle),
                          Text(visible(why), style="green" if c.bundle else "bold red"), key=f"c:{c.substrate}")
            for i, p in enumerate(c.passed_over):
                table.add_row(Text("  ↳ passed", style="dim"), Text(visible(p.bundle.removeprefix("backup-")),
                                                                    style="dim"), age(p.bundle),
                              Text(visible(p.why), style="yellow"), key=f"p:{c.substrate}:{i}")
        for w in self.composition.warnings:
            table.add_row(Text("warning", style="bold yellow"), Text(""), Text(""), Text(visible(w), style="yellow"))
        table.display = True

    def sources(self) -> dict[str, Path]:
        return self.composition.sources if self.composition is not None else {}

    def restore_options(self) -> RestoreOptions:
        sources = self.sources()
        return RestoreOptions(filters=self.filters, only_substrate=tuple(sources), yes=True, sources=sources)

    def recount(self) -> None:
        comp = self.composition
        if comp is None or not self.scans:
            return
        opts = self.restore_options()
        by_bundle: dict[Path, list[str]] = {}
        for sub, path in opts.sources.items() if opts.sources else ():
            by_bundle.setdefault(path, []).append(sub)
        parts: dict[str, Plan] = {}
        for path, subs in by_bundle.items():
            p = build_plan(self.scans[path], self.filters, tuple(subs), "merge", False)
            parts.update(dict.fromkeys(subs, p))
        primary = comp.primary
        self.plan = merge_plans(parts, tuple(opts.sources or {}), primary) if parts and primary else None
        self._show_totals()
        self.query_one("#command", CommandBar).show(self.equivalent_command())
        self.refresh_bindings()

    def _show_totals(self) -> None:
        line = Text()
        comp = self.composition
        if self.plan is None or comp is None:
            line.append("No plan: no substrate has a restorable bundle.", style="bold red")
        else:
            t = self.plan.graph.totals
            line.append("graph ", style="dim")
            line.append(f"insert {t.would_insert:,}", style="bold green")
            line.append(f"  present {t.already_present:,}  left out {t.filtered_out:,}")
            line.append("   chroma ", style="dim")
            line.append("  ".join(f"{c.key} +{self.plan.collection(c.key).would_insert:,}" for c in PLAN_COLLECTIONS
                                  if self.plan.collection(c.key).selected))
            if self.filters.active:
                line.append("   filters ", style="dim")
                line.append("incident default", style="bold yellow")
            if comp.missing:
                line.append("\nnot restored (no restorable copy): ", style="bold red")
                line.append(", ".join(comp.missing))
        self.query_one("#compose-totals", Static).update(line)

    def equivalent_command(self) -> CommandLine | None:
        if self.plan is None:
            return None
        return restore_command(self.rc.dd, None, self.restore_options())

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("restore", "copy_command", "preset") and self.plan is None:
            return None
        if action == "restore" and self.rc.busy:
            return None
        return super().check_action(action, parameters)

    def action_preset(self, name: str) -> None:
        if name in PRESETS:
            self.filters = PRESETS[name].filters
            self.recount()

    def action_copy_command(self) -> None:
        copy_command(self.app, self.equivalent_command(), self.query_one("#command", CommandBar))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_restore(self) -> None:
        comp, plan = self.composition, self.plan
        if comp is None or plan is None or self.rc.readonly or self.rc.busy:
            return
        opts = self.restore_options()
        t = plan.graph.totals
        body = Text()
        body.append("Restore, in one run with one undo, into ")
        body.append(location_label(self.rc.dd), style="bold")
        body.append(" (merge):\n\n")
        body.append(visible(describe_sources(comp.sources)) + "\n\n")
        body.append("graph   ", style="dim")
        body.append(f"insert {t.would_insert:,}", style="bold green")
        body.append(f" · skip {t.already_present:,} already present · leave out {t.filtered_out:,}\n")
        body.append("chroma  ", style="dim")
        body.append(" · ".join(f"{c.key} +{plan.collection(c.key).would_insert:,}" for c in PLAN_COLLECTIONS
                               if plan.collection(c.key).selected) + "\n")
        if comp.missing:
            body.append(f"not restored: {', '.join(comp.missing)} (no restorable copy)\n", style="bold yellow")
        body.append("\nMerge keeps every live row untouched; each source bundle is validated before the first "
                    "write.", style="dim")
        cmd = self.equivalent_command()
        primary = next((b for b in (self.rc.listing.bundles if self.rc.listing else ())
                        if comp.primary is not None and b.path == comp.primary), None)

        def answer(yes: bool | None) -> None:
            if yes and primary is not None and self.plan is not None:
                self.rc.open_restore(primary, opts, self.plan, composition=comp.record())

        self.app.push_screen(ConfirmScreen("Composite restore with this plan?", body, yes_label="Restore",
                                           command=cmd), answer)
