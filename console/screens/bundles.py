"""Home: the bundles under the backup root, one detail pane, backup and verify with progress."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Label, Static
from textual.worker import Worker, get_current_worker

from console.format import BUNDLE_WORDS, age_between, human_bytes, short_time, state_glyph
from console.livegraph import GraphCensus
from console.messages import JobCancelled, JobEvent, JobFailed, JobFinished, JobProgressed
from console.screens.base import COMMON_BINDINGS, BaseScreen
from core.backup import BackupResult, run_backup
from core.bundle import BundleInfo, Residue, verify_cache
from core.capture import Capture, read_capture
from core.progress import Cancelled, Progress, check_cancel
from core.receipt import RootReceipt
from core.restorability import Answer, State
from core.retention import BundleVerdict
from core.safetext import visible
from core.substrates import FLAT_SUBSTRATES, RECOVERY_SUBSTRATES
from core.verify import VerifyResult, spoiling, verify_bundle
from widgets.bars import compact
from widgets.confirm import MessageScreen
from widgets.job_progress import TaskProgress
from widgets.table import DataTable


def cell_answer(b: BundleInfo, sub: str, verified: VerifyResult | None) -> Answer:
    """The listing's answer, unless a verify run in this session found a fault it does not know of yet (one
    that could not be recorded, e.g. under an imposed dimension): then ✗, never ✓ beside a failed verify."""
    answer = b.answer(sub)
    fault = spoiling(verified, sub) if verified is not None and answer.counts else None
    if fault is not None:
        return dataclasses.replace(answer, state=State.FAILED, word="invalid",
                                   reason=f"verify: {verified.verdict if verified else '?'}: {fault}")
    return answer


def substrate_cell(b: BundleInfo, sub: str, verified: VerifyResult | None = None) -> Text:
    s = b.substrates.get(sub)
    if s is None or not s.present:
        return Text("absent ✗", style="red")
    rows = compact(s.rows) if s.rows is not None else "?"  # unknown (no meta count, no verify yet): the size column has the bytes
    answer = cell_answer(b, sub, verified)
    glyph, style = state_glyph(answer.state.value)
    if answer.state is State.NOT_RESTORABLE and (s.rows == 0 or s.bytes == 0):
        style = "bold red"
    word = f" {visible(answer.word)}" if answer.word and answer.word not in BUNDLE_WORDS else ""
    return Text(f"{rows} {glyph}{word}", style=style)


def bundle_notes(b: BundleInfo, verdict: BundleVerdict | None, verified: VerifyResult | None) -> list[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    if verdict is not None and not verdict.keep:
        notes.append(("DELETE", "bold red"))  # "keep" is the normal case: the detail pane says why
    if b.error:
        notes.append(("UNREADABLE", "bold red"))
    if b.meta_state == "malformed":
        notes.append(("MALFORMED", "bold red"))
    elif b.meta_state == "absent":
        notes.append(("no meta", "bold yellow"))
    if b.reason is not None:
        notes.append((visible(b.reason), "magenta"))
    if verified is not None:
        notes.append(("verified ✓", "green") if verified.ok else (f"verify: {visible(verified.verdict)}", "bold red"))
    return notes


def coords_text(coords: object) -> str:
    """Where the bundle says Chroma was: ``host:port`` and its data dir, or why neo could not see it (neo's head
    always writes a null path with ``storageReason``: a server's persist dir is not observable over HTTP)."""
    if not isinstance(coords, dict):
        return ""
    host, port = coords.get("host"), coords.get("port")
    where = f"{host}:{port}" if host else "embedded"
    path = coords.get("dataDir", coords.get("path"))
    if path:
        return f" · chroma {where} {path}"
    reason = coords.get("storageReason")
    return f" · chroma {where}" + (f" (data dir not recorded: {reason})" if reason else "")


def capture_text(cap: Capture) -> Text:
    """Each capture source on one line: rows, populated / proven empty / COLLAPSED, lineage, the compared bundle."""
    t = Text()
    for i, src in enumerate(cap.sources):
        if i:
            t.append("\n" + " " * 11)
        t.append(f"{src.source:<13}", style="bold")
        word = src.verdict
        style = "bold red" if src.collapsed else ("green" if word in ("populated", "proven empty") else "yellow")
        rows = "?" if src.row_count is None else f"{src.row_count:,}"
        t.append(f"{rows} ")
        t.append(word.upper() if src.collapsed else word, style=style)
        t.append(f" · lineage {visible(src.lineage or '?')}")
        if src.previous_row_count is not None:
            t.append(f" · was {src.previous_row_count:,}", style="dim")
    if cap.compared_to:
        t.append("\n" + " " * 11)
        t.append(f"compared to {visible(cap.compared_to)}", style="dim")
    return t


def receipt_text(receipt: RootReceipt, bundle: str) -> Text:
    """neo's root receipt, as the detail pane says it (alerts in red, first)."""
    t = Text()
    for a in receipt.alerts:
        t.append(visible(a.text), style="bold red")
        t.append("\n" + " " * 11)
    t.append(visible(receipt.summary), style="dim" if not receipt.alerts else "")
    if receipt.bundle_name == bundle:
        t.append(" · this bundle", style="bold")
    return t


def census_text(census: GraphCensus | None) -> Text:
    """The live graph's size in the bundle's unit (rows), so the two read side by side."""
    if census is None:
        return Text("reading the live graph…", style="dim")
    if census.error is not None:
        return Text(f"graph unreadable: {visible(census.error)}", style="bold red")
    if not census.exists:
        return Text("graph: no live database", style="bold yellow")
    return Text(f"graph {census.nodes + census.edges:,} rows: {census.nodes:,} nodes · {census.edges:,} edges")


def condense_reasons(reasons: Iterable[str]) -> list[str]:
    """``kb: x``, ``mc: x``, ``graph: x`` -> ``kb, mc, graph: x`` (same words, fewer lines at 80 columns)."""
    groups: dict[str, list[str]] = {}
    other: list[str] = []
    for r in reasons:
        sub, sep, rest = r.partition(": ")
        if sep and sub in RECOVERY_SUBSTRATES:
            groups.setdefault(rest, []).append(sub)
        else:
            other.append(r)
    return other + [f"{', '.join(subs)}: {rest}" for rest, subs in groups.items()]


class BundlesScreen(BaseScreen):
    SCREEN_TITLE = "Bundles"

    BINDINGS = [
        Binding("enter", "open_diff", "Diff", priority=True, id="diff"),
        Binding("b", "backup", "Backup", id="backup"),
        Binding("v", "verify", "Verify", id="verify"),
        Binding("V", "verify_all", "Verify all", key_display="V", show=False, id="verify-all"),
        Binding("t", "retention", "Retention", id="retention"),
        Binding("T", "timeline", "Timeline", key_display="T", id="timeline"),
        Binding("slash", "search", "Search", key_display="/", show=False, id="search"),
        Binding("c", "compose", "Compose", id="compose",
                tooltip="Each substrate from its newest restorable bundle, no newer than the selected one"),
        Binding("r", "refresh", "Refresh", show=False, id="refresh"),
        Binding("escape", "cancel_job", "Cancel", id="cancel-job"),
        *COMMON_BINDINGS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self._job: str | None = None
        self._job_worker: Worker[None] | None = None
        self._ready = False

    def compose(self) -> ComposeResult:
        yield self.make_header()
        yield Static(Text("Reading the backup root…", style="dim"), id="bundles-title")
        table = DataTable(id="bundles", cursor_type="row", zebra_stripes=True)
        yield table
        with VerticalScroll(id="detail"):
            yield Static(Text(""), id="detail-text")
        with Vertical(id="job"):
            yield TaskProgress("job", title="", clock=self.rc.clock, id="job-progress")
            yield Static(Text(""), id="job-status")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#bundles", DataTable)
        table.add_column("bundle", key="bundle")
        table.add_column("age", key="age")
        table.add_column("size", key="size")
        for sub in RECOVERY_SUBSTRATES:
            table.add_column(sub, key=sub)
        table.add_column("notes", key="notes")
        self.query_one("#job").display = False
        table.focus()
        self._ready = True
        if self.rc.listing is not None:
            self.data_changed()

    # ------------------------------------------------------------------ listing

    def data_changed(self) -> None:
        if not self._ready:
            return  # on_mount draws it once the table has its columns
        listing = self.rc.listing
        title = self.query_one("#bundles-title", Static)
        table = self.query_one("#bundles", DataTable)
        selected = self.selected_key()
        table.clear()
        if self.rc.listing_error and listing is None:
            title.update(Text(f"Could not read the backup root: {visible(self.rc.listing_error)}", style="bold red"))
            return
        if listing is None:
            return
        now = self.rc.now()
        head = Text()
        head.append(visible(f"{self.rc.header_state.location}/{listing.root.name}"))
        if not listing.exists:
            head.append("  no backup root yet: press b to take the first bundle", style="bold yellow")
        else:
            head.append(f": {len(listing.bundles)} bundle{'' if len(listing.bundles) == 1 else 's'}")
            if listing.residue:
                head.append(f", {len(listing.residue)} residue", style="bold yellow")
            head.append("  ✓ verified ✓? claimed", style="dim")
        if self.rc.listing_error:
            head.append(f"  ({visible(self.rc.listing_error)})", style="yellow")
        title.update(head)
        for b in listing.bundles:
            notes = bundle_notes(b, self.rc.bundle_verdict(b.name), self.rc.verify_results.get(b.name))
            note_text = Text()
            for i, (word, style) in enumerate(notes):
                if i:
                    note_text.append(" · ", style="dim")
                note_text.append(word, style=style)
            table.add_row(
                Text(short_time(b.time)), Text(age_between(b.time, now), justify="right"),
                Text(human_bytes(b.total_bytes), justify="right"),
                *(substrate_cell(b, sub, self.rc.verify_results.get(b.name)) for sub in RECOVERY_SUBSTRATES),
                note_text, key=b.name,
            )
        for r in listing.residue:
            table.add_row(
                Text(short_time(r.mtime), style="dim"), Text(age_between(r.mtime, now), justify="right", style="dim"),
                Text(human_bytes(r.bytes), justify="right", style="dim"), Text("-"), Text("-"), Text("-"),
                Text(f"RESIDUE {r.kind}", style="bold yellow"), key=f"residue:{r.name}",
            )
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected))
        self.show_detail()

    def selected_key(self) -> str | None:
        return self.query_one("#bundles", DataTable).cursor_row_key()

    def selected_bundle(self) -> BundleInfo | None:
        key = self.selected_key()
        listing = self.rc.listing
        if key is None or listing is None:
            return None
        return next((b for b in listing.bundles if b.name == key), None)

    def selected_residue(self) -> Residue | None:
        key = self.selected_key()
        listing = self.rc.listing
        if key is None or listing is None or not key.startswith("residue:"):
            return None
        return next((r for r in listing.residue if r.name == key[len("residue:"):]), None)

    @on(DataTable.RowHighlighted, "#bundles")
    def _highlighted(self) -> None:
        self.show_detail()

    @on(DataTable.RowSelected, "#bundles")
    def _selected(self) -> None:
        self.action_open_diff()

    def show_detail(self) -> None:
        self.query_one("#detail-text", Static).update(self.detail_text())

    def detail_text(self) -> Text:
        listing = self.rc.listing
        if listing is not None and listing.exists and not listing.bundles and not listing.residue:
            return Text("No bundles yet. Press b to take the first one.", style="bold yellow")
        residue = self.selected_residue()
        if residue is not None:
            t = Text()
            t.append(visible(residue.name), style="bold")
            t.append(f"\n{residue.kind} residue, {human_bytes(residue.bytes)}, left by a backup or prune that "
                     "did not finish.\n")
            t.append("It is never counted as a bundle and never restored; prune (t, then p) removes it.",
                     style="dim")
            return t
        b = self.selected_bundle()
        if b is None:
            return Text("")
        return self.bundle_detail(b)

    def bundle_detail(self, b: BundleInfo) -> Text:
        now = self.rc.now()
        meta = b.meta or {}
        t = Text()
        t.append(visible(b.name), style="bold")
        if b.reason is not None:
            t.append(f"  ({visible(b.reason)})", style="magenta")

        def row(key: str) -> None:
            t.append(f"\n{key:<10} ", style="dim")

        row("meta")
        if b.meta_state == "valid":
            t.append("valid")
            completed = meta.get("completedAt")
            if isinstance(completed, str):
                t.append(f" · completed {visible(completed.replace('T', ' '))}")
        elif b.meta_state == "malformed":
            t.append(f"MALFORMED: {visible(b.meta_error or '?')}", style="bold red")
        else:
            t.append("ABSENT: counts and topology cannot be checked", style="bold yellow")
        t.append(f" · {age_between(b.time, now)} old · {human_bytes(b.total_bytes)}")
        row("integrity")
        for i, sub in enumerate(RECOVERY_SUBSTRATES):
            s = b.substrates.get(sub)
            if i:
                t.append(" · ")
            if s is None:
                t.append(f"{sub} ?")
                continue
            status = s.integrity or ("unknown" if b.meta_state != "valid" else "none")
            t.append(f"{sub} ", style="bold")
            t.append(visible(status), style="green" if status == "pass" else "bold yellow")
            if s.rows is not None:
                t.append(f" {s.rows:,}")
            glyph, style = state_glyph(cell_answer(b, sub, self.rc.verify_results.get(b.name)).state.value)
            t.append(f" {glyph}", style=style)
        answers = {sub: cell_answer(b, sub, self.rc.verify_results.get(b.name)) for sub in RECOVERY_SUBSTRATES}
        faults = [(sub, a) for sub, a in answers.items() if a.state is State.FAILED]
        if faults or any(a.state is State.CLAIMED for a in answers.values()):
            row("state")
            if faults:
                t.append("; ".join(visible(f"{sub} {a.word}: {a.reason}") for sub, a in faults), style="bold red")
            else:
                claimed = [sub for sub, a in answers.items() if a.state is State.CLAIMED]
                t.append(f"{', '.join(claimed)} claimed, not verified yet: v verifies it, V all", style="yellow")
        cap = read_capture(meta)
        if cap is not None:
            row("capture")
            t.append_text(capture_text(cap))
        row("live")
        t.append_text(census_text(self.rc.census))
        verdict = self.rc.bundle_verdict(b.name)
        row("retention")
        if verdict is None:
            t.append("not evaluated", style="dim")
        else:
            v = visible(verdict.verdict)
            t.append(v.upper() if not verdict.keep else v, style="bold red" if not verdict.keep else "green")
            reasons = condense_reasons(visible(r) for r in verdict.reasons)
            if reasons:
                t.append(": " + "; ".join(reasons))
        row("checksums")
        verified = self.rc.verify_results.get(b.name)
        if verified is not None:
            state = verified.checksums
            if state == "verified":
                t.append("verified ✓", style="green")
            elif state == "mismatch":
                t.append("MISMATCH ✗", style="bold red")
            else:
                t.append(f"{state}, not verified", style="yellow")
            t.append(f" · verify {visible(verified.verdict)}, {verified.row_total:,} rows",
                     style="green" if verified.ok else "bold red")
            for f in list(verified.errors)[:5]:
                t.append("\n  ✗ ")
                t.append(visible(f), style="red")
            if len(verified.errors) > 5:
                t.append(f"\n  … {len(verified.errors) - 5} more: recovery-console verify {visible(b.name)}")
        elif b.record is not None:
            ok = b.record.verdict == "RESTORABLE"
            t.append(f"verify {visible(b.record.verdict)}", style="green" if ok else "bold red")
            t.append(f" for these exact files, {visible(b.record.verified_at.replace('T', ' '))} (verify cache)",
                     style="dim")
        elif b.has_checksums:
            t.append("present, not verified yet (press v)", style="yellow")
        else:
            t.append("absent (older bundle); v still checks every line", style="yellow")
        emb = meta.get("embedding") if isinstance(meta.get("embedding"), dict) else None
        row("embedding")
        if emb:
            dim = emb.get("dimension")
            t.append(f"dim {visible(dim) if dim is not None else '-'}")
            counts = emb.get("counts") if isinstance(emb.get("counts"), dict) else {}
            for k, v in counts.items():
                t.append(f" · {visible(k)} {v:,}" if isinstance(v, int) else f" · {visible(k)} {visible(v)}")
            consumer = emb.get("expectedConsumer")
            if isinstance(consumer, dict):
                row("consumer")
                t.append(visible(f"{consumer.get('provider', '?')} / {consumer.get('model', '?')}"))
        else:
            t.append("-", style="dim")
        row("topology")
        topo = meta.get("topology") if isinstance(meta.get("topology"), dict) else None
        if topo:
            shared = topo.get("shared_topology", topo.get("chromaUnified"))
            t.append("shared ✓" if shared is not False else "LEGACY FEDERATED ✗")
            t.append(visible(coords_text(topo.get("mcChromaCoords") or topo.get("kbChromaCoords"))))
        else:
            t.append("-", style="dim")
        t.append(f" · neo {visible(meta.get('neoVersion') or '-')}")
        sha = meta.get("gitSha")
        t.append(f" · git {visible(str(sha)[:7]) if sha else '-'}")
        row("flat")
        for i, sub in enumerate(FLAT_SUBSTRATES):
            s = b.substrates.get(sub)
            if i:
                t.append(" · ")
            if s is None or not s.present:
                t.append(f"{sub} -", style="dim")
            else:
                t.append(f"{sub} {len(s.files)}")
        receipt, lease = self.rc.receipt, self.rc.lease
        if receipt is not None and receipt.state != "missing":
            row("neo")
            t.append_text(receipt_text(receipt, b.name))
        if lease is not None and lease.status != "free":
            row("neo lease")
            t.append(visible(lease.describe()), style="bold red" if lease.blocks else "yellow")
        return t

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            return self._job is not None
        if action in ("backup", "verify", "verify_all") and self._job is not None:
            return None
        return super().check_action(action, parameters)

    def action_refresh(self) -> None:
        self.rc.refresh_bundles()

    def action_retention(self) -> None:
        self.rc.open_retention()

    def action_timeline(self) -> None:
        self.rc.open_timeline()

    def action_search(self) -> None:
        b = self.selected_bundle()
        if b is not None:
            self.rc.open_search(b)

    def action_open_diff(self) -> None:
        residue = self.selected_residue()
        if residue is not None:
            self.app.push_screen(MessageScreen(
                "Residue is not a bundle",
                Text.assemble((visible(residue.name), "bold"), f"\n\nThis {residue.kind} folder was left by a job that did "
                              "not finish. It is never restored. Prune removes it (t, then p).")))
            return
        b = self.selected_bundle()
        if b is None:
            return
        self.rc.open_diff(b)

    def action_compose(self) -> None:
        b = self.selected_bundle()
        if b is None and self.selected_residue() is not None:
            return
        self.rc.open_compose(b)

    def action_backup(self) -> None:
        if self._job is not None or self.rc.readonly:
            return
        self._start_job("backup", "Backing up every substrate into a new bundle…")
        self._job_worker = self._run_backup()

    def action_verify(self) -> None:
        if self._job is not None:
            return
        b = self.selected_bundle()
        if b is None:
            return
        self._start_job("verify", f"Verifying {visible(b.name)}: every line, ids, vectors, counts, checksums…")
        self._job_worker = self._run_verify(b)

    def action_verify_all(self) -> None:
        """Verify every bundle that is only claimed, newest first, in the background; esc stops it and what is
        done stays done (each result goes to the verify cache as it comes)."""
        if self._job is not None or self.rc.listing is None:
            return
        todo = [b for b in self.rc.listing.bundles if b.unverified]
        if not todo:
            self.notify("Every bundle is verified (or failed, or not restorable): nothing to read.", timeout=6)
            return
        self._start_job("verify-all", f"Verifying {len(todo)} unverified bundle{'' if len(todo) == 1 else 's'}, "
                                      "newest first…")
        self._job_worker = self._run_verify_all(todo)

    def action_cancel_job(self) -> None:
        if self._job_worker is not None:
            self._job_worker.cancelled_event.set()  # the engine stops between batches and says so
            self.query_one("#job-status", Static).update(
                Text("Cancelling: stops after the current batch…", style="bold yellow"))

    def _start_job(self, job: str, text: str) -> None:
        self._job = job
        if job == "backup":
            self.rc.set_busy("backup")
        panel = self.query_one("#job")
        panel.display = True
        progress = self.query_one("#job-progress", TaskProgress)
        progress.display = True
        progress.reset(job)
        self.query_one("#job-status", Static).update(Text(text + "  (esc cancels)"))
        self.refresh_bindings()

    def _end_job(self) -> None:
        # the outcome stays in one or two lines; the bar goes, so the table gets its rows back
        self.query_one("#job-progress").display = False
        if self._job == "backup":
            self.rc.set_busy("")
        self._job = None
        self._job_worker = None
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False, group="backup", description="Backup")
    def _run_backup(self) -> None:
        worker = get_current_worker()
        try:
            result = run_backup(self.rc.dd, on_progress=lambda p: self.post_message(JobProgressed("backup", p)),
                                cancel=worker.cancelled_event)
        except Cancelled:
            self.post_message(JobCancelled("backup", "nothing was published; the staging folder was removed"))
            return
        self.post_message(JobFinished("backup", result))

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify", description="Verify")
    def _run_verify(self, b: BundleInfo) -> None:
        worker = get_current_worker()
        try:
            result = verify_bundle(b.path, expected_dimension=self.rc.dd.embedding_dimension,
                                   on_progress=lambda p: self.post_message(JobProgressed("verify", p)),
                                   cancel=worker.cancelled_event, cache=verify_cache(self.rc.dd))
        except Cancelled:
            self.post_message(JobCancelled("verify", "verification stopped; nothing was changed"))
            return
        self.post_message(JobFinished("verify", result, {"bundle": b.name}))

    @work(thread=True, exclusive=True, exit_on_error=False, group="verify", description="Verify all")
    def _run_verify_all(self, bundles: list[BundleInfo]) -> None:
        worker = get_current_worker()
        cache = verify_cache(self.rc.dd)
        failed: list[str] = []
        for i, b in enumerate(bundles):
            self.post_message(JobProgressed("verify-all", Progress("verify-all", i, len(bundles), unit="bundles",
                                                                   message=b.name)))
            try:
                check_cancel(worker.cancelled_event)
                # the files' own verdict (no imposed dimension), so the cache can keep it
                result = verify_bundle(b.path, cancel=worker.cancelled_event, cache=cache)
            except Cancelled:
                self.post_message(JobCancelled("verify-all", f"{i} of {len(bundles)} verified before it stopped; "
                                                             "their results are kept"))
                return
            self.post_message(JobEvent("verify-all", b.name, "info" if result.ok else "error"))
            if not result.ok:
                failed.append(b.name)
        self.post_message(JobFinished("verify-all", tuple(failed), {"verified": len(bundles)}))

    def on_job_event(self, message: JobEvent) -> None:
        if message.job == "verify-all":
            self.rc.refresh_bundles()  # one bundle more in the verify cache: its row changes now

    def on_job_progressed(self, message: JobProgressed) -> None:
        if message.job != self._job:
            return
        p = message.progress
        if message.job == "verify-all":
            self.query_one("#job-status", Static).update(Text(
                f"Verifying {p.done + 1}/{p.total}: {visible(p.message)}  (esc stops)"))
        progress = self.query_one("#job-progress", TaskProgress)
        name = message.job if p.task == message.job else f"{message.job} {p.task}"
        progress.query_one(".task-name", Label).update(Text(visible(name)[:12]))
        progress.update_progress(p.done, p.total, unit=p.unit, rate=p.rate)

    def on_job_finished(self, message: JobFinished) -> None:
        progress = self.query_one("#job-progress", TaskProgress)
        status = self.query_one("#job-status", Static)
        if message.job == "backup" and isinstance(message.result, BackupResult):
            backup = message.result
            progress.finish("done")
            text = Text.assemble(("Published ", "green"), (visible(backup.bundle), "bold"),
                                 f"  {human_bytes(backup.bytes)} · " + " · ".join(
                                     visible(f"{e['subsystem']} {e['status']}") for e in backup.integrity))
            for w in backup.warnings:
                text.append(f"\nwarning: {visible(w)}", style="yellow")
            status.update(text)
            self.rc.refresh_bundles()
        elif message.job == "verify-all" and isinstance(message.result, tuple):
            failed = [str(n) for n in message.result]
            n = int(str(message.extra.get("verified", 0)))
            progress.finish("done" if not failed else "failed", note=f"{n - len(failed)} ok")
            text = Text.assemble((f"Verified {n} bundle{'' if n == 1 else 's'}", "green" if not failed else "bold"))
            if failed:
                text.append(f": {len(failed)} FAILED ({visible(', '.join(failed[:3]))}"
                            + (", …" if len(failed) > 3 else "") + "): ✗ in the table", style="bold red")
            status.update(text)
            self.rc.refresh_bundles()
        elif message.job == "verify" and isinstance(message.result, VerifyResult):
            r = message.result
            self.rc.verify_results[str(message.extra["bundle"])] = r
            progress.finish("done" if r.ok else "failed", note=visible(r.verdict))
            status.update(Text.assemble(
                (visible(r.verdict), "green" if r.ok else "bold red"), visible(
                    f"  {r.bundle}: {r.row_total:,} rows, checksums {r.checksums}, {len(r.errors)} error(s), "
                    f"{len(r.warnings)} warning(s)")))
            self.data_changed()
            self.rc.refresh_bundles()  # the verify cache now holds this bundle's result: every look shows it
        self._end_job()

    def on_job_cancelled(self, message: JobCancelled) -> None:
        self.query_one("#job-progress", TaskProgress).finish("stopped", note="cancelled")
        self.query_one("#job-status", Static).update(
            Text(f"{message.job} cancelled: {message.detail}", style="bold yellow"))
        self._end_job()

    def on_job_failed(self, message: JobFailed) -> None:
        self.job_failed(message.job, message.error)

    def job_failed(self, group: str, error: str) -> None:
        if self._job is not None:
            self.query_one("#job-progress", TaskProgress).finish("failed", note="FAILED")
            self.query_one("#job-status", Static).update(Text(f"{group} FAILED: {visible(error)}", style="bold red"))
            self._end_job()
        super().job_failed(group, error)
