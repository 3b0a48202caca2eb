"""Restore progress: a bar per substrate, running counters per label beside the plan, an event log; then the
result counters beside the plan's predictions and the run id for undo.

The restore runs in a thread worker; cancel sets the worker's ``cancelled_event``, which the engine checks
between batches, so the worker keeps running (and the screen keeps saying so) until the engine has stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, RichLog, Static
from textual.worker import Worker, get_current_worker

from console.format import describe_error, location_label
from console.messages import JobCancelled, JobEvent, JobFailed, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.bundle import parse_bundle_time
from core.compare import Line, compare, replan
from core.jsonl import write_atomic
from core.plan import Plan
from core.progress import Cancelled
from core.report import build_report, to_markdown
from core.restore import run_restore
from core.restore_model import RestoreCancelled, RestoreOptions, RestoreResult, RowCount
from core.safetext import visible
from core.substrates import (
    BACKED_UP,
    FLAT_SUBSTRATES,
    MC_COLLECTIONS,
    TEMPORAL,
    VECTOR_COLLECTIONS,
)
from core.undo import UndoResult, undo_run
from core.verification import Verification
from widgets.confirm import ConfirmScreen
from widgets.job_progress import TaskProgress
from widgets.table import DataTable

TASK_TITLES = {"verify": "validate", "graph": "graph", "memories": "memories", "summaries": "summaries",
               "temporalSummaries": "temporal",
               "kb": "kb", "concepts": "concepts", "trajectories": "trajectories", "mailbox": "mailbox",
               "hook": "hook", "verification": "verify result"}
CHECK_MARK = {"passed": ("✓", "green"), "failed": ("✗", "bold red"), "skipped": ("-", "dim")}
SUBSTRATE_TASKS = {"kb": ("kb",), "mc": tuple(c.key for c in MC_COLLECTIONS), "graph": ("graph",),
                   "concepts": ("concepts",), "trajectories": ("trajectories",), "mailbox": ("mailbox",)}
COUNT_KEYS = ("inserted", "skippedExisting", "failed")  # the engine's progress counters, per label


def count(row: object, key: str) -> int:
    """One counter of a progress snapshot's row (the engine reports them as plain numbers per label)."""
    value = row.get(key) if isinstance(row, Mapping) else None
    return value if isinstance(value, int) else 0


def counter_row(c: RowCount) -> dict[str, int]:
    """A result's counts in the progress counters' shape, so the final numbers land in the same table cells."""
    return {"inserted": c.inserted, "skippedExisting": c.skipped_existing, "failed": c.failed}


def compact_sources(sources: Mapping[str, Path]) -> str:
    """``kb ← 2026-11-23 11:08 · rest ← 2026-11-30 11:08``: a composite restore's sources on one short line."""
    groups: dict[str, list[str]] = {}
    for sub, path in sources.items():
        groups.setdefault(path.name, []).append(sub)
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))

    def when(name: str) -> str:
        t = parse_bundle_time(name)
        return t.strftime("%Y-%m-%d %H:%M") if t is not None else name

    parts = [f"{', '.join(subs)} ← {when(name)}" for name, subs in ordered[1:]]
    head = ordered[0]
    parts.append(f"{'rest' if len(ordered) > 1 else ', '.join(head[1])} ← {when(head[0])}")
    return " · ".join(parts)


class RestoreScreen(BaseScreen):
    SCREEN_TITLE = "Restore"

    BINDINGS = [
        Binding("c", "cancel_restore", "Cancel…", id="cancel"),
        Binding("r", "resume", "Resume", id="resume"),
        Binding("u", "undo", "Undo run…", id="undo"),
        Binding("i", "report", "Report", id="report", tooltip="Write the incident report (Markdown)"),
        Binding("l", "toggle_log", "Log", id="log", show=False),
        Binding("escape", "done", "Back to bundles", id="back"),
        *COMMON_BINDINGS,
    ]

    def __init__(self, bundle_name: str, bundle_path: Path, opts: RestoreOptions, plan: Plan, *,
                 autostart: bool = True, composition: Mapping[str, object] | None = None) -> None:
        super().__init__()
        self.composition = composition
        self.bundle_name = bundle_name
        self.bundle_path = bundle_path
        self.opts = opts
        self.plan = plan
        self.first_plan = plan  # what the operator confirmed, before any attempt
        self.autostart = autostart
        self.state = "ready"  # ready | running | cancelling | cancelled | failed | done | undone
        self.result: RestoreResult | None = None
        self.counters: dict[str, dict[str, object]] = {"nodes": {}, "edges": {}, "chroma": {}}
        self.attempt = 0
        self._worker: Worker[None] | None = None
        self._tasks: dict[str, TaskProgress] = {}

    # ------------------------------------------------------------------ layout

    def substrates(self) -> list[str]:
        only = self.opts.only_substrate
        return [s for s in BACKED_UP if only is None or s in only]

    def _shows(self, task: str) -> bool:
        """Temporal summaries get a bar and a row only when the bundle or the live store has some (neo's backup
        does not export them yet)."""
        if task != TEMPORAL.key:
            return True
        plan = self.plan.temporal_summaries
        return bool(plan.backup or plan.live)

    def compose(self) -> ComposeResult:
        yield self.make_header()
        yield Static(self._title_text(), id="restore-title", classes="screen-title")
        with Vertical(id="bars"):
            bar = TaskProgress("verify", title="validate", clock=self.rc.clock, id="task-verify")
            self._tasks["verify"] = bar
            yield bar
            for sub in self.substrates():
                if sub in FLAT_SUBSTRATES:
                    continue  # a file copy each: the log says what happened
                for task in SUBSTRATE_TASKS[sub]:
                    if not self._shows(task):
                        continue
                    bar = TaskProgress(task, title=TASK_TITLES.get(task, task), clock=self.rc.clock,
                                       id=f"task-{task}")
                    self._tasks[task] = bar
                    yield bar
        yield Static(Text(""), id="bars-summary")
        yield DataTable(id="compare", cursor_type="none", show_cursor=False)
        yield DataTable(id="counters", cursor_type="row", zebra_stripes=True)
        yield RichLog(id="log", wrap=True, markup=False, highlight=False, max_lines=2000)
        yield Static(Text(""), id="verification")
        yield Static(Text(""), id="restore-status")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#counters", DataTable)
        for key, label in (("label", "label / → edge type"), ("inserted", "inserted"),
                           ("skipped", "skipped"), ("failed", "failed"), ("plan", "plan"), ("match", "=?")):
            table.add_column(label, key=key)
        compare = self.query_one("#compare", DataTable)
        for key, label in (("what", "result vs plan"), ("result", "result"), ("plan", "plan"), ("match", "")):
            compare.add_column(label, key=key)
        compare.display = False
        self.query_one("#bars-summary").display = False
        self.query_one("#verification").display = False
        graph = self.plan.graph
        rows: list[tuple[str, str, int]] = []
        for kind, prefix, source in (("nodes", "", graph.labels), ("edges", "→ ", graph.edge_types)):
            for k, v in source.items():
                if v.would_insert or v.already_present:
                    rows.append((f"{kind}:{k}", prefix + visible(k), v.would_insert))
        rows.sort(key=lambda r: (-r[2], r[1]))
        subs = self.substrates()
        chroma_rows = [(f"chroma:{c.key}", f"{c.key} (chroma)", self.plan.collection(c.key).would_insert)
                       for c in VECTOR_COLLECTIONS if c.substrate in subs and self._shows(c.key)]
        rows = chroma_rows + rows  # in the order the engine restores: kb, mc, then the graph
        for key, label, planned in rows:
            table.add_row(Text(label), Text("0", justify="right"), Text("0", justify="right"),
                          Text("0", justify="right"), Text(f"{planned:,}", justify="right"), Text(""), key=key)
        if self.autostart:
            self.start()

    def _title_text(self) -> Text:
        t = Text()
        if self.opts.sources:
            t.append("composite ", style="bold")
            t.append(visible(compact_sources(self.opts.sources)))
            t.append(" → ", style="dim")
            t.append(location_label(self.rc.dd))
            return t
        t.append(visible(self.bundle_name), style="bold")
        t.append(" → ", style="dim")
        t.append(location_label(self.rc.dd))
        mode = self.opts.mode
        t.append(f"  {mode.upper() if mode == 'replace' else mode}",
                 style="bold reverse red" if mode == "replace" else "bold")
        return t

    # ------------------------------------------------------------------ the run

    def start(self) -> None:
        self.begin()
        self._worker = self._run(self.attempt > 1)

    def begin(self) -> None:
        """Put the view in its running state (``start`` then launches the worker)."""
        self.attempt += 1
        self.state = "running"
        self.rc.set_busy("restore")
        for bar in self._tasks.values():
            bar.reset()
        self.query_one("#bars").display = True
        self.query_one("#bars-summary").display = False
        self.query_one("#compare").display = False
        self.query_one("#verification").display = False
        self.query_one("#log").display = True
        verb = "Restoring" if self.attempt == 1 else f"Resuming (attempt {self.attempt})"
        self.log_line(f"{verb} {self.bundle_name} ({self.opts.mode})")
        self._status(Text.assemble((f"{verb}… ", "bold"), "c cancels between batches.",
                                   style=""))
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False, group="restore", description="Restore")
    def _run(self, resumed: bool) -> None:
        worker = get_current_worker()
        post = self.post_message
        plan = self.plan
        try:
            if resumed:
                # the earlier attempt's rows are live now: plan again so the end view compares like with like
                post(JobEvent("restore", "re-planning against the live stores…"))
                plan = replan(self.rc.dd, self.bundle_path, self.opts, cancel=worker.cancelled_event,
                              on_progress=lambda p: post(JobProgressed("restore", p)))
                post(JobFinished("replan", plan))
            result = run_restore(self.rc.dd, self.bundle_path, self.opts,
                                 on_progress=lambda p: post(JobProgressed("restore", p)),
                                 cancel=worker.cancelled_event, plan=plan, composition=self.composition)
        except Cancelled as exc:
            partial = exc.result if isinstance(exc, RestoreCancelled) else None
            post(JobCancelled("restore", (partial.run_id or "") if partial else ""))
            return
        except Exception as exc:
            post(JobFailed("restore", describe_error(exc)))
            return
        post(JobFinished("restore", result))

    def log_line(self, text: str, style: str = "") -> None:
        """One event, one line: whatever the engine's message holds, it cannot move the cursor."""
        stamp = self.rc.now().strftime("%H:%M:%S")
        self.query_one("#log", RichLog).write(Text.assemble((stamp + " ", "dim"), Text(visible(text), style=style)))

    def _status(self, text: Text) -> None:
        self.query_one("#restore-status", Static).update(text)

    # ------------------------------------------------------------------ messages from the worker

    def on_job_progressed(self, message: JobProgressed) -> None:
        if message.job != "restore":
            return
        p = message.progress
        bar = self._tasks.get(p.task)
        if bar is None or bar.state == "waiting":
            # the engine runs one task at a time: a new task means the one before has ended
            for other in self._tasks.values():
                if other is not bar and other.state == "running":
                    other.finish("done")
            self.log_line(f"{TASK_TITLES.get(p.task, p.task)}: started"
                          + (f", {p.total:,} {p.unit}" if p.total else ""))
        if bar is None:
            bar = TaskProgress(p.task, title=TASK_TITLES.get(p.task, p.task), clock=self.rc.clock,
                               id=f"task-{len(self._tasks)}")
            self._tasks[p.task] = bar
            self.query_one("#bars").mount(bar)
            bar.call_after_refresh(bar.update_progress, p.done, p.total, unit=p.unit, rate=p.rate)
        else:
            bar.update_progress(p.done, p.total, unit=p.unit, rate=p.rate)
        if p.message:
            self.log_line(f"{p.task}: {p.message}")
        if p.counters:
            self._update_counters(p.counters)

    def _update_counters(self, counters: Mapping[str, object]) -> None:
        """A progress snapshot's counters (per label, per edge type, per collection) into the table."""
        table = self.query_one("#counters", DataTable)

        def rows_of(value: object) -> Mapping[str, object]:
            return value if isinstance(value, Mapping) else {}

        groups: list[tuple[str, str, Mapping[str, object]]] = [
            ("nodes", "", rows_of(counters.get("nodes"))), ("edges", "→ ", rows_of(counters.get("edges"))),
            ("chroma", "", {c.key: counters[c.key] for c in VECTOR_COLLECTIONS if isinstance(counters.get(c.key), Mapping)})]
        for kind, prefix, rows in groups:
            for k, v in rows.items():
                self.counters.setdefault(kind, {})[k] = v
                key = f"{kind}:{k}"
                cells = [Text(f"{count(v, 'inserted'):,}", justify="right"),
                         Text(f"{count(v, 'skippedExisting'):,}", justify="right"),
                         Text(f"{count(v, 'failed'):,}", justify="right", style="bold red" if count(v, "failed") else "")]
                if key not in table.rows:
                    if not any(count(v, c) for c in COUNT_KEYS):
                        continue  # a label the filters left out entirely: nothing to show
                    label = f"{visible(k)} (chroma)" if kind == "chroma" else prefix + visible(k)
                    table.add_row(Text(label), *cells, Text("0", justify="right"), Text(""), key=key)
                    continue
                for col, cell in zip(("inserted", "skipped", "failed"), cells, strict=True):
                    table.update_cell(key, col, cell, update_width=True)

    def on_job_event(self, message: JobEvent) -> None:
        if message.job == "restore":
            self.log_line(message.text, "bold red" if message.level == "error" else "")
        elif message.job == "report":
            self.log_line(f"incident report written: {message.text}")
            self.notify(visible(message.text), title="Incident report written", timeout=15, markup=False)

    def on_job_cancelled(self, message: JobCancelled) -> None:
        if message.job != "restore":
            return
        self.state = "cancelled"
        self.rc.set_busy("")
        for bar in self._tasks.values():
            if bar.state == "running":
                bar.finish("stopped", note="cancelled")
        run_id = message.detail
        self.log_line("cancelled between batches: every store is consistent"
                      + (f" (run {run_id}, journaled)" if run_id else ""), "bold yellow")
        self._status(Text.assemble(
            ("Cancelled" + (f" (run {visible(run_id)})" if run_id else "") + ". ", "bold yellow"),
            "Rows inserted so far stay (merge never touches live rows). To resume, press r: it runs the same "
            "restore again, and merge skips everything already in." if self._is_merge() else
            "Rows loaded so far stay. Press r to run the same restore again, or restore the pre-restore safety "
            "bundle to go back.",
        ))
        self.refresh_bindings()
        self.rc.refresh_bundles()

    def on_job_failed(self, message: JobFailed) -> None:
        if message.job == "restore":
            self._failed(message.error)
        elif message.job == "undo":
            self.rc.set_busy("")
            self.log_line(f"undo FAILED: {message.error}", "bold red")
            self._status(Text.assemble(("Undo FAILED: ", "bold red"), visible(message.error)))
            self.refresh_bindings()

    def job_failed(self, group: str, error: str) -> None:
        if group == "restore":
            self._failed(error)
        else:
            super().job_failed(group, error)

    def _failed(self, error: str) -> None:
        self.state = "failed"
        self.rc.set_busy("")
        for bar in self._tasks.values():
            if bar.state == "running":
                bar.finish("failed", note="FAILED")
        self.log_line(f"FAILED: {error}", "bold red")
        self._status(Text.assemble(("Restore FAILED", "bold red"),
                                   (" (r runs the same restore again once the cause is fixed)\n", "dim"),
                                   Text(visible(error))))
        self.refresh_bindings()
        self.rc.refresh_bundles()

    def _is_merge(self) -> bool:
        return self.opts.mode == "merge"

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job == "restore" and isinstance(message.result, RestoreResult):
            self._finished(message.result)
        elif message.job == "replan" and isinstance(message.result, Plan):
            self.plan = message.result
            t = self.plan.graph.totals
            self.log_line(f"re-planned: graph would insert {t.would_insert:,}, already present "
                          f"{t.already_present:,}")
            self._replan_counters()
        elif message.job == "undo" and isinstance(message.result, UndoResult):
            self._undone(message.result)

    def _planned(self, kind: str, label: str) -> int:
        """What the plan said a counters-table row would insert."""
        if kind == "chroma":
            return self.plan.collection(label).would_insert
        rows = self.plan.graph.labels if kind == "nodes" else self.plan.graph.edge_types
        row = rows.get(label)
        return row.would_insert if row is not None else 0

    def _replan_counters(self) -> None:
        table = self.query_one("#counters", DataTable)
        for key in list(table.rows):
            kind, _, label = str(key.value).partition(":")
            table.update_cell(key, "plan", Text(f"{self._planned(kind, label):,}", justify="right"), update_width=True)
            for col in ("inserted", "skipped", "failed"):
                table.update_cell(key, col, Text("0", justify="right"), update_width=True)
            table.update_cell(key, "match", Text(""), update_width=True)
        self.counters = {"nodes": {}, "edges": {}, "chroma": {}}

    def _finished(self, result: RestoreResult) -> None:
        self.state = "done"
        self.rc.set_busy("")
        self.result = result
        for bar in self._tasks.values():
            if bar.state in ("running", "waiting"):
                bar.finish("done" if bar.state == "running" else "skipped",
                           note="" if bar.state == "running" else "nothing to do")
        final: dict[str, object] = {}
        g = result.graph
        if g is not None and not result.dry_run:  # a dry run's rows are the plan's, not counters
            final["nodes"] = {k: counter_row(v) for k, v in g.by_label.items() if isinstance(v, RowCount)}
            final["edges"] = {k: counter_row(v) for k, v in g.by_edge_type.items() if isinstance(v, RowCount)}
        if result.mc is not None:
            final["memories"] = counter_row(result.mc.counts.memories)
            final["summaries"] = counter_row(result.mc.counts.summaries)
            if self._shows(TEMPORAL.key):
                final[TEMPORAL.key] = counter_row(result.mc.counts.temporal_summaries)
        if result.kb is not None:
            final["kb"] = {"inserted": result.kb.inserted, "skippedExisting": result.kb.id_already_present,
                           "failed": result.kb.failed}
        self._update_counters(final)
        self._show_compare()
        self.log_line(f"finished: run {result.run_id}" if result.run_id else "finished", "bold green")
        self.refresh_bindings()
        self.rc.refresh_bundles()

    def comparison(self) -> list[Line]:
        """The result beside the plan it was run with (the re-plan, after a resume), line by line."""
        return list(compare(self.plan, self.result).lines) if self.result is not None else []

    def _show_compare(self) -> None:
        assert self.result is not None
        rows = self.comparison()
        table = self.query_one("#counters", DataTable)
        # every per-label row gets its own verdict against the plan
        for key in list(table.rows):
            kind, _, label = str(key.value).partition(":")
            got = count((self.counters.get(kind) or {}).get(label), "inserted")
            planned = self._planned(kind, label)
            table.update_cell(key, "match", Text("=" if got == planned else "≠",
                                                 style="green" if got == planned else "bold red"),
                              update_width=True)
        compare_table = self.query_one("#compare", DataTable)
        compare_table.clear()
        for line in rows:
            compare_table.add_row(
                Text(line.what), Text("?" if line.result is None else f"{line.result:,}", justify="right", style="bold"),
                Text(f"{line.plan:,}", justify="right"),
                Text("= same" if line.same else "≠ DIFFERS", style="green" if line.same else "bold red"))
        compare_table.display = True
        self.query_one("#bars").display = False
        summary = Text()
        for i, (task, bar) in enumerate(self._tasks.items()):
            if i:
                summary.append("  ")
            mark = {"done": "✓", "skipped": "-", "stopped": "■", "failed": "✗"}.get(bar.state, "?")
            summary.append(f"{mark} {TASK_TITLES.get(task, task)}",
                           style="green" if bar.state == "done" else "dim")
        seconds = self.result.duration_ms / 1000
        if seconds:
            summary.append(f"   {seconds:.1f} s", style="dim")
        bars_summary = self.query_one("#bars-summary", Static)
        bars_summary.update(summary)
        bars_summary.display = True
        all_match = all(line.same for line in rows)
        text = Text()
        run_id = self.result.run_id
        verification = self.result.verification
        failed = verification is not None and verification.status == "failed"
        text.append("Restore finished" if all_match else "Restore finished; some counters differ from the plan",
                    style="bold green" if all_match and not failed else "bold yellow")
        if verification is not None:
            self._show_verification(verification)
            if verification.status == "failed":
                text.append("  VERIFICATION FAILED", style="bold reverse red")
            else:
                text.append("  verified ✓", style="bold green")
        if run_id:
            text.append("  run ")
            text.append(visible(run_id), style="bold")
            if self._is_merge():
                text.append("  u undoes it", style="dim")
        if self.attempt > 1:
            first = self.first_plan.graph.totals.would_insert
            text.append(f"\nResumed: compared with a re-plan, where rows the earlier attempt inserted count as "
                        f"already present (the first plan: insert {first:,}).", style="dim")
        if not all_match:
            text.append("\nLive writes since the diff, or failed rows, explain a difference; the numbers are "
                        "what the engine reports.", style="yellow")
        failures = self.result.failures_total
        if failures:
            text.append(f"\n{failures:,} row(s) failed; the first: ", style="bold red")
            f = self.result.failures[0] if self.result.failures else None
            if f is not None:
                text.append(visible(f"{f.file}:{f.line}: {f.reason}"))
        self._status(text)

    def _show_verification(self, v: Verification) -> None:
        """The verification in place of the log: a line per check, a failure first and loud."""
        out = Text(no_wrap=True, overflow="ellipsis")
        if v.status == "failed":
            failed = ", ".join(c.name for c in v.failed)
            out.append(f" Verification FAILED: {failed} ", style="bold reverse red")
            out.append("  nothing was rolled back; undo is your call (u)", style="bold")
        else:
            out.append("Verification passed", style="bold green")
            out.append(f"  as the run ended · vectors: {v.sample_size} sampled per collection", style="dim")
        for c in v.checks:
            mark, style = CHECK_MARK.get(c.status, ("?", ""))
            out.append(f"\n{mark} {c.name:<10}", style=style)
            if c.status == "failed" and c.details:  # what is wrong first: the summary may not fit
                out.append(visible(c.details[0]) + " · ", style="bold red")
            out.append(visible(c.summary), style="red" if c.status == "failed" else "")
        panel = self.query_one("#verification", Static)
        panel.update(out)
        panel.set_class(v.status == "failed", "-failed")
        panel.display = True
        self.query_one("#log").display = False

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_restore":
            return self.state == "running"
        if action == "resume" and self.state not in ("cancelled", "failed"):
            return False
        if action == "undo" and (self.state != "done" or self.result is None or not self.result.run_id
                                 or not self._is_merge()):
            return False
        if action == "done":
            return self.state not in ("running", "cancelling")
        if action == "report":
            return self.result is not None and bool(self.result.run_id) and self.state in ("done", "undone")
        if action == "toggle_log":
            return self.state in ("done", "undone") and self.result is not None \
                and self.result.verification is not None
        return super().check_action(action, parameters)

    def action_cancel_restore(self) -> None:
        if self.state != "running":
            return
        body = Text.assemble(
            "The restore stops after the current batch; every store stays consistent and nothing already "
            "inserted is removed.\n\n",
            ("To resume later: ", "bold"),
            "run the same restore again (r on this screen, or the same command): merge skips what is already "
            "in, so it ends exactly as an uninterrupted run.",
        )

        def answer(yes: bool | None) -> None:
            if yes and self.state == "running" and self._worker is not None:
                self.state = "cancelling"
                self._worker.cancelled_event.set()
                self.log_line("cancel requested: stopping after the current batch…", "bold yellow")
                self._status(Text("Cancelling: stopping after the current batch…", style="bold yellow"))
                self.refresh_bindings()

        self.app.push_screen(ConfirmScreen("Cancel the restore?", body, yes_label="Cancel restore",
                                           no_label="Keep going"), answer)

    def action_toggle_log(self) -> None:
        log, panel = self.query_one("#log"), self.query_one("#verification")
        log.display, panel.display = not log.display, log.display

    def action_report(self) -> None:
        run_id = self.result.run_id if self.result is not None else None
        if run_id:
            self._write_report(str(run_id))

    @work(thread=True, exclusive=True, exit_on_error=False, group="report", description="Incident report")
    def _write_report(self, run_id: str) -> None:
        path = self.rc.dd.state_dir / "reports" / f"{run_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, to_markdown(build_report(self.rc.dd, run_id)).encode(), mode=0o600)
        self.post_message(JobEvent("report", str(path)))

    def action_resume(self) -> None:
        if self.state in ("cancelled", "failed") and not self.rc.readonly:
            self.start()

    def action_done(self) -> None:
        if self.state in ("running", "cancelling"):
            return
        self.rc.go_home()

    def action_undo(self) -> None:
        run_id = self.result.run_id if self.result is not None else None
        if not run_id or self.rc.readonly:
            return
        body = Text.assemble(
            "Undo removes exactly the rows this run inserted (", (visible(run_id), "bold"), ") and keeps everything "
            "written since.",
        )

        def answer(yes: bool | None) -> None:
            if yes:
                self.rc.set_busy("undo")
                self.log_line(f"undoing run {run_id}…")
                self._undo(str(run_id))

        self.app.push_screen(ConfirmScreen("Undo this restore?", body, yes_label="Undo", danger=True), answer)

    @work(thread=True, exclusive=True, exit_on_error=False, group="undo", description="Undo")
    def _undo(self, run_id: str) -> None:
        try:  # the cancel token: a hangup or SIGTERM stops the undo between batches (console/tui.py)
            result = undo_run(self.rc.dd, run_id, cancel=get_current_worker().cancelled_event)
        except Exception as exc:
            self.post_message(JobFailed("undo", describe_error(exc)))
            return
        self.post_message(JobFinished("undo", result))

    def _undone(self, result: UndoResult) -> None:
        self.rc.set_busy("")
        self.state = "undone"
        kept = sum(len(v) for v in result.kept_modified.values()) + len(result.kept_referenced)
        text = Text()
        text.append(f"Undo {result.status}: ", style="bold green" if result.status == "completed" else "bold yellow")
        text.append("removed " + (", ".join(f"{visible(k)} {v:,}" for k, v in result.removed.items()) or "nothing"))
        if kept:
            text.append(f"; kept {kept:,} row(s) changed or referenced live since the run", style="yellow")
        for w in result.warnings:
            text.append(f"\nwarning: {visible(w)}", style="yellow")
        self.log_line(text.plain.replace("\n", " · "), "bold green")
        self._status(text)
        self.refresh_bindings()
        self.rc.refresh_bundles()
