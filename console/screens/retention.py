"""Retention: the policy per substrate, each bundle's verdict and reasons, a coverage timeline, prune."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from console.format import age_between, age_text, human_bytes, short_time, state_glyph
from console.messages import JobCancelled, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.progress import Cancelled
from core.prune import PruneResult, prune
from core.retention import RetentionReport
from core.safetext import visible
from core.substrates import RECOVERY_SUBSTRATES
from widgets.confirm import ConfirmScreen, MessageScreen
from widgets.table import DataTable
from widgets.timeline import CoverageTimeline, Lane, TimelineData


class RetentionScreen(BaseScreen):
    SCREEN_TITLE = "Retention"

    BINDINGS = [
        Binding("p", "prune", "Prune…", id="prune"),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("escape", "back", "Back", id="back"),
        *COMMON_BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self._pruning = False
        self._ready = False

    def compose(self) -> ComposeResult:
        yield self.make_header()
        yield Static(Text("Evaluating the policy…", style="dim"), id="ret-title", classes="screen-title")
        yield DataTable(id="policy", cursor_type="none", show_cursor=False)
        yield CoverageTimeline(id="timeline")
        yield DataTable(id="verdicts", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="reasons"):
            yield Static(Text(""), id="reasons-text")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        policy = self.query_one("#policy", DataTable)
        for col in ("substrate", "keep last", "max age", "cadence", "newest", "oldest", "restorable"):
            policy.add_column(col, key=col)
        verdicts = self.query_one("#verdicts", DataTable)
        for col in ("bundle", "age", *RECOVERY_SUBSTRATES, "verdict", "why"):
            verdicts.add_column(col, key=col)
        verdicts.focus()
        self._ready = True
        self.data_changed()

    def data_changed(self) -> None:
        if not self._ready:
            return
        report = self.rc.retention
        title = self.query_one("#ret-title", Static)
        if report is None:
            if self.rc.listing is not None:
                title.update(Text(visible(self.rc.listing_error or "Retention could not be evaluated."),
                                  style="bold red"))
            return
        summary = report.summary
        head = Text()
        head.append("policy: ", style="dim")
        head.append(visible(report.policy.source))
        n_bundles = len(report.bundles)
        head.append(f"   {n_bundles} bundle{'' if n_bundles == 1 else 's'}: ", style="dim")
        head.append(f"{summary.keep} keep")
        n_del = summary.delete
        head.append(", ")
        head.append(f"{n_del} DELETE" if n_del else "0 delete", style="bold red" if n_del else "")
        if n_del:
            head.append(f" ({human_bytes(summary.delete_bytes)})")
        residue = report.residue
        if residue:
            n_res = sum(1 for r in residue if r.verdict == "delete")
            head.append(f"   {len(residue)} residue" + (f", {n_res} due" if n_res else ""), style="yellow")
        title.update(head)
        self._fill_policy(report)
        self._fill_timeline(report)
        self._fill_verdicts(report)

    def _fill_policy(self, report: RetentionReport) -> None:
        table = self.query_one("#policy", DataTable)
        table.clear()
        now = self.rc.now()
        for sub in RECOVERY_SUBSTRATES:
            p = report.policy.substrates[sub]
            c = report.substrates[sub]
            age = c.age_hours
            stale = age is None or age > self.rc.guard_hours
            newest = Text("NONE!", style="bold red") if age is None else Text(
                age_text(age) + (" STALE" if stale else ""), style="bold yellow" if stale else "green")
            oldest = Text(age_between(c.oldest_time, now) if c.oldest_time else "-")
            table.add_row(
                Text(sub, style="bold"), Text(str(p.keep_last), justify="right"),
                Text(f"{p.max_age_days:g}d", justify="right"), Text(visible(p.cadence_hint or "-")),
                newest, oldest, Text(f"{c.restorable_bundles}", justify="right"),
            )

    def _fill_timeline(self, report: RetentionReport) -> None:
        lanes = []
        for sub in RECOVERY_SUBSTRATES:
            points = []
            for b in report.bundles:
                if b.substrates[sub].restorable:
                    mark = "delete" if not b.keep else "kept"
                else:
                    mark = "broken"
                points.append((b.time, mark))
            n = sum(1 for _, m in points if m == "kept")
            lanes.append(Lane(sub, tuple(points), f"{n} kept"))
        now = self.rc.now()
        start = min((t for lane in lanes for t, _ in lane.points), default=now)
        self.query_one("#timeline", CoverageTimeline).set_data(
            TimelineData(now, tuple(lanes), start, labels={"left": f"{age_between(start, now)} ago"}))

    def _fill_verdicts(self, report: RetentionReport) -> None:
        table = self.query_one("#verdicts", DataTable)
        selected = table.cursor_row_key()
        table.clear()
        now = self.rc.now()
        width = max(20, (self.app.size.width or 80) - 62)
        for b in report.bundles:
            cells = [Text(*state_glyph(b.substrates[sub].state)) for sub in RECOVERY_SUBSTRATES]
            verdict = visible(b.verdict)
            reasons = [visible(r) for r in b.reasons]
            why = Text(reasons[0] if reasons else "", no_wrap=True)
            if len(reasons) > 1:
                why.append(f" +{len(reasons) - 1}", style="dim")
            why.truncate(width, overflow="ellipsis")
            table.add_row(
                Text(short_time(b.time)), Text(age_between(b.time, now), justify="right"), *cells,
                Text(verdict.upper() if not b.keep else verdict, style="bold red" if not b.keep else "green"),
                why, key=b.name,
            )
        for r in report.residue:
            verdict = visible(r.verdict)
            why = Text(visible(f"residue ({r.kind}): {r.reason}"), style="yellow", no_wrap=True)
            why.truncate(width, overflow="ellipsis")
            table.add_row(
                Text(short_time(r.mtime), style="dim"),
                Text(age_between(r.mtime, now), justify="right", style="dim"),
                Text("-"), Text("-"), Text("-"),
                Text(verdict.upper() if verdict == "delete" else verdict,
                     style="bold red" if verdict == "delete" else "green"),
                why, key=f"residue:{r.name}",
            )
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        self._show_reasons()

    @on(DataTable.RowHighlighted, "#verdicts")
    def _show_reasons(self) -> None:
        table = self.query_one("#verdicts", DataTable)
        text = Text()
        report = self.rc.retention
        if table.row_count and report is not None:
            key = table.cursor_row_key() or ""
            if key.startswith("residue:"):
                r = next((r for r in report.residue if r.name == key[8:]), None)
                if r is not None:
                    text.append(visible(r.name), style="bold")
                    text.append(f"  {visible(r.kind)} residue, {human_bytes(r.bytes)}: ")
                    text.append(visible(f"{r.verdict}: {r.reason}"))
            else:
                b = report.verdict(key)
                if b is not None:
                    text.append(visible(b.name), style="bold")
                    verdict = visible(b.verdict)
                    text.append(f"  {verdict.upper() if not b.keep else verdict}",
                                style="bold red" if not b.keep else "green")
                    text.append(f"  {human_bytes(b.bytes)}")
                    for reason in b.reasons:
                        text.append("\n  · ")
                        text.append(visible(reason))
        self.query_one("#reasons-text", Static).update(text)

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self.rc.refresh_bundles()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "prune" and self._pruning:
            return None
        return super().check_action(action, parameters)

    def action_prune(self) -> None:
        if self.rc.readonly or self._pruning:
            return
        self._pruning = True
        self.refresh_bindings()
        self._prune_worker(dry_run=True)

    @work(thread=True, exclusive=True, exit_on_error=False, group="prune", description="Prune")
    def _prune_worker(self, dry_run: bool) -> None:
        worker = get_current_worker()
        try:
            result = prune(self.rc.dd, dry_run=dry_run, now=self.rc.now(),
                           on_progress=lambda p: self.post_message(JobProgressed("prune", p)),
                           cancel=worker.cancelled_event)
        except Cancelled:
            self.post_message(JobCancelled("prune", "prune stopped between deletions"))
            return
        self.post_message(JobFinished("prune", result, {"dry_run": dry_run}))

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job != "prune" or not isinstance(message.result, PruneResult):
            return
        result = message.result
        if message.extra.get("dry_run"):
            if result.guard is not None and result.guard.reads:
                self.rc.refresh_bundles()  # the guard verified a bundle: the header and table can say so
            self._confirm_prune(result)
            return
        self._pruning = False
        self.refresh_bindings()
        body = Text()
        body.append(f"Deleted {len(result.deleted)} item(s), freed {human_bytes(result.freed_bytes)}.\n",
                    style="bold green" if result.ok else "bold")
        for d in result.deleted:
            body.append(f"  ✓ {visible(d.name)}\n")
        for d in result.failed:
            body.append(f"  ✗ {visible(d.name)}: {visible(d.error)}\n", style="bold red")
        self.app.push_screen(MessageScreen("Prune finished" if result.ok else "Prune finished with failures",
                                           body, error=not result.ok))
        self.rc.refresh_bundles()

    def _confirm_prune(self, result: PruneResult) -> None:
        guard = result.guard
        if not result.deleted:
            self._pruning = False
            self.refresh_bindings()
            self.app.push_screen(MessageScreen("Nothing to prune",
                                               "Every bundle is kept by some substrate's policy, and no residue "
                                               "is due. Nothing was deleted."))
            return
        body = Text()
        body.append(f"Dry run: prune would delete {len(result.deleted)} item(s), "
                    f"{human_bytes(result.freed_bytes)}:\n", style="bold")
        for d in result.deleted:
            body.append(f"  × {visible(d.name)}", style="red")
            body.append(f"  {visible(d.kind)}, {human_bytes(d.bytes)}: {visible(d.reason)}\n")
        body.append(f"\nKept: {len(result.kept)} bundle(s). Each deletion renames to a hidden trash name "
                    "first, so an interrupted prune never leaves a half-deleted bundle.\n")
        ok = guard is None or guard.ok
        message = guard.message if guard is not None else ""
        if not ok:
            body.append("\nThe backup guard refuses a prune now:\n", style="bold red")
            body.append(visible(message, newlines=True) + "\n")
            body.append("Take a fresh backup first (b on the bundles screen).", style="bold")
        else:
            body.append("\n" + visible(message, newlines=True), style="dim")

        def answer(yes: bool | None) -> None:
            if yes:
                self._prune_worker(dry_run=False)
            else:
                self._pruning = False
                self.refresh_bindings()

        self.app.push_screen(ConfirmScreen("Prune these bundles?", body, yes_label="Prune", danger=True,
                                           yes_enabled=ok), answer)

    def on_job_cancelled(self, message: JobCancelled) -> None:
        if message.job == "prune":
            self._pruning = False
            self.refresh_bindings()
            self.rc.refresh_bundles()

    def job_failed(self, group: str, error: str) -> None:
        if group == "prune":
            self._pruning = False
            self.refresh_bindings()
            self.rc.refresh_bundles()
        super().job_failed(group, error)
