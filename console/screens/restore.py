"""Restore progress: a bar per substrate, running counters per label beside the plan, an event log; then the
result counters beside the plan's predictions and the run id for undo.

The restore runs in a thread worker; cancel sets the worker's ``cancelled_event``, which the engine checks
between batches, so the worker keeps running (and the screen keeps saying so) until the engine has stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, RichLog, Static
from textual.worker import get_current_worker

from console.format import as_int, describe_error, location_label
from console.messages import JobCancelled, JobEvent, JobFailed, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.journal import undo_run
from core.plan import build_plan, scan_bundle
from core.progress import Cancelled
from core.restore import run_restore
from core.safetext import visible
from widgets.confirm import ConfirmScreen
from widgets.job_progress import TaskProgress
from widgets.table import DataTable

TASK_TITLES = {"verify": "validate", "graph": "graph", "memories": "memories", "summaries": "summaries",
               "kb": "kb", "concepts": "concepts", "trajectories": "trajectories", "mailbox": "mailbox",
               "hook": "hook"}
SUBSTRATE_TASKS = {"kb": ("kb",), "mc": ("memories", "summaries"), "graph": ("graph",),
                   "concepts": ("concepts",), "trajectories": ("trajectories",), "mailbox": ("mailbox",)}
ALL_SUBSTRATES = ("kb", "mc", "graph", "concepts", "trajectories", "mailbox")


def dig(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(k)
    return obj


class RestoreScreen(BaseScreen):
    SCREEN_TITLE = "Restore"

    BINDINGS = [
        Binding("c", "cancel_restore", "Cancel…", id="cancel"),
        Binding("r", "resume", "Resume", id="resume"),
        Binding("u", "undo", "Undo run…", id="undo"),
        Binding("escape", "done", "Back to bundles", id="back"),
        *COMMON_BINDINGS,
    ]

    def __init__(self, bundle_name: str, bundle_path: Path, opts: Any, plan_json: Mapping[str, Any], *,
                 plan: Any = None, autostart: bool = True) -> None:
        super().__init__()
        self.bundle_name = bundle_name
        self.bundle_path = bundle_path
        self.opts = opts
        self.plan = plan
        self.plan_json = dict(plan_json)
        self.first_plan_json = dict(plan_json)  # what the operator confirmed, before any attempt
        self.autostart = autostart
        self.state = "ready"  # ready | running | cancelling | cancelled | failed | done | undone
        self.result: Any = None
        self.result_json: dict[str, Any] = {}
        self.counters: dict[str, dict[str, Any]] = {"nodes": {}, "edges": {}, "chroma": {}}
        self.attempt = 0
        self._worker: Any = None
        self._tasks: dict[str, TaskProgress] = {}

    # ------------------------------------------------------------------ layout

    def substrates(self) -> list[str]:
        only = getattr(self.opts, "only_substrate", None)
        if only is None:
            return list(ALL_SUBSTRATES)
        if isinstance(only, str):
            only = [s.strip() for s in only.split(",") if s.strip()]
        return [s for s in ALL_SUBSTRATES if s in set(only)]

    def compose(self) -> ComposeResult:
        yield self.make_header()
        yield Static(self._title_text(), id="restore-title", classes="screen-title")
        with Vertical(id="bars"):
            bar = TaskProgress("verify", title="validate", clock=self.rc.clock, id="task-verify")
            self._tasks["verify"] = bar
            yield bar
            for sub in self.substrates():
                if sub in ("concepts", "trajectories", "mailbox"):
                    continue  # a file copy each: the log says what happened
                for task in SUBSTRATE_TASKS[sub]:
                    bar = TaskProgress(task, title=TASK_TITLES.get(task, task), clock=self.rc.clock,
                                       id=f"task-{task}")
                    self._tasks[task] = bar
                    yield bar
        yield Static(Text(""), id="bars-summary")
        yield DataTable(id="compare", cursor_type="none", show_cursor=False)
        yield DataTable(id="counters", cursor_type="row", zebra_stripes=True)
        yield RichLog(id="log", wrap=True, markup=False, highlight=False, max_lines=2000)
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
        graph = self.plan_json.get("graph") or {}
        rows: list[tuple[str, str, int]] = []
        for kind, prefix, source in (("nodes", "", graph.get("labels") or {}),
                                     ("edges", "→ ", graph.get("edgeTypes") or {})):
            for k, v in source.items():
                planned = as_int((v or {}).get("wouldInsert"))
                if planned or as_int((v or {}).get("alreadyPresent")):
                    rows.append((f"{kind}:{k}", prefix + visible(k), planned))
        rows.sort(key=lambda r: (-r[2], r[1]))
        subs = self.substrates()
        chroma_rows = [(f"chroma:{key}", f"{key} (chroma)", as_int((self.plan_json.get(key) or {}).get("wouldInsert")))
                       for key in ("kb", "memories", "summaries")
                       if (key == "kb" and "kb" in subs) or (key != "kb" and "mc" in subs)]
        rows = chroma_rows + rows  # in the order the engine restores: kb, mc, then the graph
        for key, label, planned in rows:
            table.add_row(Text(label), Text("0", justify="right"), Text("0", justify="right"),
                          Text("0", justify="right"), Text(f"{planned:,}", justify="right"), Text(""), key=key)
        if self.autostart:
            self.start()

    def _title_text(self) -> Text:
        t = Text()
        t.append(visible(self.bundle_name), style="bold")
        t.append(" → ", style="dim")
        t.append(location_label(self.rc.dd))
        mode = str(getattr(self.opts, "mode", "merge"))
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
        verb = "Restoring" if self.attempt == 1 else f"Resuming (attempt {self.attempt})"
        self.log_line(f"{verb} {self.bundle_name} ({getattr(self.opts, 'mode', 'merge')})")
        self._status(Text.assemble((f"{verb}… ", "bold"), "c cancels between batches.",
                                   style=""))
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False, group="restore", description="Restore")
    def _run(self, replan: bool) -> None:
        worker = get_current_worker()
        post = self.post_message
        plan = self.plan
        try:
            if replan:
                # the earlier attempt's rows are live now: plan again so the end view compares like with like
                post(JobEvent("restore", "re-planning against the live stores…"))
                scan = scan_bundle(self.rc.dd, self.bundle_path, cancel=worker.cancelled_event,
                                   on_progress=lambda p: post(JobProgressed("restore", p)))
                plan = build_plan(scan, self.opts.filters, only_substrate=self.opts.only_substrate,
                                  mode=self.opts.mode, force=self.opts.force)
                post(JobFinished("replan", plan))
            result = run_restore(self.rc.dd, self.bundle_path, self.opts,
                                 on_progress=lambda p: post(JobProgressed("restore", p)),
                                 cancel=worker.cancelled_event, plan=plan)
        except Cancelled as exc:
            partial = getattr(exc, "result", None)
            post(JobCancelled("restore", str(getattr(partial, "runId", "") or "")))
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

    def _update_counters(self, counters: Mapping[str, Any]) -> None:
        table = self.query_one("#counters", DataTable)
        groups: list[tuple[str, str, Mapping[str, Any]]] = [
            ("nodes", "", counters.get("nodes") or {}), ("edges", "→ ", counters.get("edges") or {})]
        chroma = {k: counters[k] for k in ("memories", "summaries", "kb") if isinstance(counters.get(k), Mapping)}
        groups.append(("chroma", "", chroma))
        for kind, prefix, rows in groups:
            for k, v in rows.items():
                self.counters.setdefault(kind, {})[k] = v
                key = f"{kind}:{k}"
                cells = [Text(f"{as_int(v.get('inserted')):,}", justify="right"),
                         Text(f"{as_int(v.get('skippedExisting')):,}", justify="right"),
                         Text(f"{as_int(v.get('failed')):,}", justify="right", style="bold red" if as_int(v.get("failed"))
                              else "")]
                if key not in table.rows:
                    if not any(as_int(v.get(c)) for c in ("inserted", "skippedExisting", "failed")):
                        continue  # a label the filters left out entirely: nothing to show
                    label = f"{visible(k)} (chroma)" if kind == "chroma" else prefix + visible(k)
                    table.add_row(Text(label), *cells, Text("0", justify="right"), Text(""), key=key)
                    continue
                for col, cell in zip(("inserted", "skipped", "failed"), cells, strict=True):
                    table.update_cell(key, col, cell, update_width=True)

    def on_job_event(self, message: JobEvent) -> None:
        if message.job == "restore":
            self.log_line(message.text, "bold red" if message.level == "error" else "")

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
        return str(getattr(self.opts, "mode", "merge")) == "merge"

    def on_job_finished(self, message: JobFinished) -> None:
        if message.job == "restore":
            self._finished(message.result)
        elif message.job == "replan":
            self.plan = message.result
            self.plan_json = self.plan.to_json()
            t = dig(self.plan_json, "graph", "totals") or {}
            self.log_line(f"re-planned: graph would insert {as_int(t.get('wouldInsert')):,}, already present "
                          f"{as_int(t.get('alreadyPresent')):,}")
            self._replan_counters()
        elif message.job == "undo":
            self._undone(message.result)

    def _replan_counters(self) -> None:
        table = self.query_one("#counters", DataTable)
        graph = self.plan_json.get("graph") or {}
        for key in list(table.rows):
            kind, _, label = str(key.value).partition(":")
            if kind == "chroma":
                planned = as_int((self.plan_json.get(label) or {}).get("wouldInsert"))
            else:
                planned = as_int(((graph.get("labels" if kind == "nodes" else "edgeTypes") or {}).get(label) or {})
                            .get("wouldInsert"))
            table.update_cell(key, "plan", Text(f"{planned:,}", justify="right"), update_width=True)
            for col in ("inserted", "skipped", "failed"):
                table.update_cell(key, col, Text("0", justify="right"), update_width=True)
            table.update_cell(key, "match", Text(""), update_width=True)
        self.counters = {"nodes": {}, "edges": {}, "chroma": {}}

    def _finished(self, result: Any) -> None:
        self.state = "done"
        self.rc.set_busy("")
        self.result = result
        rj = result.to_json() if hasattr(result, "to_json") else dict(result)
        self.result_json = rj
        for bar in self._tasks.values():
            if bar.state in ("running", "waiting"):
                bar.finish("done" if bar.state == "running" else "skipped",
                           note="" if bar.state == "running" else "nothing to do")
        def counted(rows: Any) -> dict[str, Any]:
            # only rows in the engine's counter shape (a dry-run result carries plan-shaped rows instead)
            return {k: v for k, v in (rows or {}).items() if isinstance(v, Mapping) and "inserted" in v}

        final = {"nodes": counted(dig(rj, "subsystems", "graph", "byLabel")),
                 "edges": counted(dig(rj, "subsystems", "graph", "byEdgeType"))}
        mc = dig(rj, "subsystems", "mc", "counts") or {}
        for key in ("memories", "summaries"):
            if isinstance(mc.get(key), Mapping):
                final[key] = mc[key]
        kb = dig(rj, "subsystems", "kb")
        if isinstance(kb, Mapping) and "inserted" in kb:
            final["kb"] = {"inserted": kb.get("inserted"), "skippedExisting": kb.get("idAlreadyPresent"),
                           "failed": kb.get("failed")}
        self._update_counters(final)
        self._show_compare()
        run_id = rj.get("runId")
        self.log_line(f"finished: run {run_id}" if run_id else "finished", "bold green")
        self.refresh_bindings()
        self.rc.refresh_bundles()

    def comparison(self) -> list[tuple[str, int | None, int | None]]:
        """(what, result, plan) rows: the engine's counters beside the plan's predictions."""
        rj, pj = self.result_json, self.plan_json
        rows: list[tuple[str, int | None, int | None]] = []
        subs = set(self.substrates())
        if "graph" in subs:
            g = dig(rj, "subsystems", "graph", "counts", "graph") or {}
            nodes, edges = g.get("nodes") or {}, g.get("edges") or {}
            totals = dig(pj, "graph", "totals") or {}
            fs = dig(rj, "subsystems", "graph", "filterStats") or {}
            rows.append(("graph inserted", as_int(nodes.get("inserted")) + as_int(edges.get("inserted")),
                         as_int(totals.get("wouldInsert"))))
            rows.append(("graph skipped (present)",
                         as_int(nodes.get("skippedExisting")) + as_int(edges.get("skippedExisting")),
                         as_int(totals.get("alreadyPresent"))))
            if isinstance(fs, Mapping) and fs:
                left_out = as_int(fs.get("filteredNodes")) + as_int(fs.get("filteredEdges")) + as_int(fs.get("orphanEdges"))
                rows.append(("graph left out", left_out, as_int(totals.get("filteredOut"))))
            rows.append(("graph failed", as_int(nodes.get("failed")) + as_int(edges.get("failed")), 0))
        for key, sub in (("memories", "mc"), ("summaries", "mc"), ("kb", "kb")):
            if sub not in subs:
                continue
            plan = as_int(dig(pj, key, "wouldInsert"))
            if key == "kb":
                kb = dig(rj, "subsystems", "kb") or {}
                got = kb.get("inserted") if isinstance(kb, Mapping) else None
                failed = kb.get("failed") if isinstance(kb, Mapping) else None
            else:
                c = dig(rj, "subsystems", "mc", "counts", key) or {}
                got = c.get("inserted") if isinstance(c, Mapping) else None
                failed = c.get("failed") if isinstance(c, Mapping) else None
            rows.append((f"{key} inserted", as_int(got) if got is not None else None, plan))
            if as_int(failed):
                rows.append((f"{key} failed", as_int(failed), 0))
        return rows

    def _show_compare(self) -> None:
        rows = self.comparison()
        table = self.query_one("#counters", DataTable)
        # every per-label row gets its own verdict against the plan
        for key in list(table.rows):
            kind, _, label = str(key.value).partition(":")
            got = as_int((self.counters.get(kind) or {}).get(label, {}).get("inserted"))
            if kind == "chroma":
                plan_row = self.plan_json.get(label) or {}
            else:
                plan_row = dig(self.plan_json, "graph", "labels" if kind == "nodes" else "edgeTypes", label) or {}
            planned = as_int(plan_row.get("wouldInsert"))
            table.update_cell(key, "match", Text("=" if got == planned else "≠",
                                                 style="green" if got == planned else "bold red"),
                              update_width=True)
        compare = self.query_one("#compare", DataTable)
        compare.clear()
        for what, got, plan in rows:
            ok = got is None or got == plan
            compare.add_row(Text(what), Text("?" if got is None else f"{got:,}", justify="right", style="bold"),
                            Text(f"{plan:,}", justify="right"),
                            Text("= same" if ok else "≠ DIFFERS", style="green" if ok else "bold red"))
        compare.display = True
        self.query_one("#bars").display = False
        summary = Text()
        for i, (task, bar) in enumerate(self._tasks.items()):
            if i:
                summary.append("  ")
            mark = {"done": "✓", "skipped": "-", "stopped": "■", "failed": "✗"}.get(bar.state, "?")
            summary.append(f"{mark} {TASK_TITLES.get(task, task)}",
                           style="green" if bar.state == "done" else "dim")
        seconds = as_int(self.result_json.get("durationMs")) / 1000
        if seconds:
            summary.append(f"   {seconds:.1f} s", style="dim")
        bars_summary = self.query_one("#bars-summary", Static)
        bars_summary.update(summary)
        bars_summary.display = True
        all_match = all(r is None or r == p for _, r, p in rows)
        text = Text()
        run_id = self.result_json.get("runId")
        text.append("Restore finished" if all_match else "Restore finished; some counters differ from the plan",
                    style="bold green" if all_match else "bold yellow")
        if run_id:
            text.append("  run ")
            text.append(visible(run_id), style="bold")
            if self._is_merge():
                text.append("  u undoes it", style="dim")
        if self.attempt > 1:
            first = as_int(dig(self.first_plan_json, "graph", "totals", "wouldInsert"))
            text.append(f"\nResumed: compared with a re-plan, where rows the earlier attempt inserted count as "
                        f"already present (the first plan: insert {first:,}).", style="dim")
        if not all_match:
            text.append("\nLive writes since the diff, or failed rows, explain a difference; the numbers are "
                        "what the engine reports.", style="yellow")
        failures = as_int(self.result_json.get("failuresTotal"))
        if failures:
            text.append(f"\n{failures:,} row(s) failed; the first: ", style="bold red")
            first_fail = (self.result_json.get("failures") or [{}])[0]
            text.append(visible(f"{first_fail.get('file')}:{first_fail.get('line')}: {first_fail.get('reason')}"))
        self._status(text)

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_restore":
            return self.state == "running"
        if action == "resume" and self.state not in ("cancelled", "failed"):
            return False
        if action == "undo" and (self.state != "done" or not self.result_json.get("runId")
                                 or not self._is_merge()):
            return False
        if action == "done":
            return self.state not in ("running", "cancelling")
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

    def action_resume(self) -> None:
        if self.state in ("cancelled", "failed") and not self.rc.readonly:
            self.start()

    def action_done(self) -> None:
        if self.state in ("running", "cancelling"):
            return
        self.rc.go_home()

    def action_undo(self) -> None:
        run_id = self.result_json.get("runId")
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

    def _undone(self, result: Any) -> None:
        self.rc.set_busy("")
        self.state = "undone"
        rj = result.to_json() if hasattr(result, "to_json") else dict(result)
        removed = rj.get("removed") or {}
        kept = sum(len(v) for v in (rj.get("keptModified") or {}).values()) + len(rj.get("keptReferenced") or [])
        text = Text()
        text.append(f"Undo {rj.get('status', '?')}: ", style="bold green" if rj.get("status") == "completed"
                    else "bold yellow")
        text.append("removed " + (", ".join(f"{visible(k)} {as_int(v):,}" for k, v in removed.items()) or "nothing"))
        if kept:
            text.append(f"; kept {kept:,} row(s) changed or referenced live since the run", style="yellow")
        for w in rj.get("warnings") or []:
            text.append(f"\nwarning: {visible(w)}", style="yellow")
        self.log_line(text.plain.replace("\n", " · "), "bold green")
        self._status(text)
        self.refresh_bindings()
        self.rc.refresh_bundles()
