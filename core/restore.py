"""`restore`: neo's restore semantics (section 4) with a plan, a dry run, a journal and undo.

Order of a real run (all refusals come before the first write):
1. argument checks: mode, --only-substrate names, the post-restore hook allowlist (neo checked the hook
   only after writing everything), replace needs `yes`;
2. the data dir lock, and recovery of runs that died (so a re-run's inserts are attributed to it);
3. validation (`core.validate`): every line of the bundle, the embedding dimension, the topology rule of
   section 1.3, the KB natural-key divergence scan (merge), and replace's occupancy gate (--force);
4. replace only: a pre-restore safety bundle of every substrate it will replace, then truncation;
5. kb, mc, graph, flat files (neo's order), then the hook. Every batch is one transaction (SQLite) or one
   idempotent add (Chroma), journaled before it commits.

Merge never touches a live row: graph `INSERT OR IGNORE` of rows found absent in the same transaction
(`core.restore_graph`), Chroma `add` of the ids found absent (`core.restore_chroma`; where neo's KB upsert
would overwrite a live row whose metadata changed under the same id, this keeps the live row).

Replace is truncate-then-the-same-path. After truncation the only collisions left are duplicate ids inside
the bundle, where the first occurrence wins (neo's `OR REPLACE` / upsert would keep the last one, and an
`OR REPLACE` of a duplicate node would cascade-delete the edges already restored to it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from core import chroma_store as cs
from core import graph_store as gs
from core.backup import run_backup
from core.bundle import resolve_bundle
from core.compose import COMPOSE_FILE, plan_sources
from core.datadir import DataDir
from core.errors import BundleInvalid, ConsoleError, UsageError
from core.hooks import HookOutcome, HookSkipped, check_hook, run_hook
from core.journal import RunJournal, recover_interrupted
from core.jsonl import write_atomic
from core.live_scan import scan_bundle
from core.lock import exclusive
from core.neo_gate import check_neo_lease
from core.neo_paths import HEAL_ATTEMPTS_FILE, HEAL_EVENTS_FILE, RECOVERY_RUNS_DIR
from core.plan import EdgeTypeRow, FlatPlan, LabelRow, Plan, build_plan
from core.post_write import AfterWrites
from core.progress import Cancelled, Progress, ProgressFn, no_progress
from core.restore_chroma import restore_kb, restore_mc
from core.restore_flags import resolve_restore_args
from core.restore_flat import restore_flat
from core.restore_graph import restore_graph
from core.restore_model import (
    ChromaCount,
    FileOutcome,
    FilesOutcome,
    GraphOutcome,
    KbOutcome,
    LedgerOutcome,
    LedgersOutcome,
    McCounts,
    McOutcome,
    NodeEdgeCounts,
    Outcome,
    RestoreCancelled,
    RestoreOptions,
    RestoreResult,
    RowCount,
    RunState,
    Validation,
    meta_summary,
    save_expected,
)
from core.run_digest import save_postwrite, take_prewrite
from core.staging import GraphStaging, drop_stale_staging
from core.substrates import (
    BACKED_UP,
    FLAT_DIRECTORIES,
    FLAT_SUBSTRATES,
    SUBSTRATES,
    VECTOR_COLLECTIONS,
    VECTOR_SUBSTRATES,
    check_mode,
    check_only_substrate,
    selected,
)
from core.units import iso_ms
from core.validate import Validated, validate
from core.verify_run import SAMPLE, verify_run
from core.wire import encode

DRY_RUN_MESSAGE = "Dry run: nothing was written."


def _bundle_path(dd: DataDir, bundle: Path | str) -> Path:
    path = bundle if isinstance(bundle, Path) else resolve_bundle(dd.backup_root, bundle)
    if not path.is_dir():
        raise BundleInvalid("Bundle directory not found", path=path)
    return path.resolve()


def _validate(dd: DataDir, path: Path, opts: RestoreOptions, only: tuple[str, ...] | None,
              on_progress: ProgressFn, cancel: threading.Event | None,
              staging: GraphStaging | None = None) -> Validated:
    return validate(dd, path, mode=opts.mode, force=opts.force, force_topology_mismatch=opts.force_topology_mismatch,
                    only=only, on_progress=on_progress, cancel=cancel, allow_unverifiable=bool(opts.allow_unverifiable),
                    kb_collection=opts.target_collection, graph_sink=staging.add if staging is not None else None,
                    graph_split=staging.split if staging is not None else None)


def check_flags(dd: DataDir, opts: RestoreOptions) -> tuple[str, ...]:
    """neo's refusals for --operation / --target-collection / --preserve-read-state on the options as given (the
    CLI resolved what the operator stated into them already); -> warnings."""
    args = resolve_restore_args(mode=opts.mode, only=opts.only_substrate, preserve_read_state=opts.preserve_read_state,
                                operation=opts.operation, target_collection=opts.target_collection,
                                guarded=[dd.collection_name(c.key) for c in VECTOR_COLLECTIONS])
    if (args.mode, args.only, args.preserve_read_state) != (opts.mode, check_only_substrate(opts.only_substrate),
                                                            opts.preserve_read_state):
        raise UsageError(f"--operation {opts.operation} was not resolved into the options "
                         f"(mode={args.mode}, only-substrate={','.join(args.only or ())})")
    return args.warnings


@dataclass(frozen=True)
class Sources:
    """Where each substrate of a restore comes from: one bundle, or one per substrate (`restore --compose`)."""

    primary: Path  # what the journal and the result name (a composite restore: its newest source)
    by_substrate: Mapping[str, Path]
    composite: bool
    only: tuple[str, ...] | None  # the selection, narrowed to the sourced substrates for a composite restore

    def bundles(self) -> dict[Path, tuple[str, ...] | None]:
        """Each distinct bundle and the substrates it gives (None: all of a single bundle's selection)."""
        if not self.composite:
            return {self.primary: self.only}
        out: dict[Path, list[str]] = {}
        for sub, path in self.by_substrate.items():
            if selected(self.only, sub):
                out.setdefault(path, []).append(sub)
        return {path: tuple(subs) for path, subs in out.items()}


def resolve_sources(dd: DataDir, bundle: Path | str | None, opts: RestoreOptions) -> Sources:
    only = check_only_substrate(opts.only_substrate)
    if not opts.sources:
        if bundle is None:
            raise ConsoleError("a restore needs a bundle (or --compose)")
        path = _bundle_path(dd, bundle)
        return Sources(primary=path, by_substrate=dict.fromkeys(SUBSTRATES, path), composite=False, only=only)
    by_sub = {sub: _bundle_path(dd, p) for sub, p in opts.sources.items()}
    check_only_substrate(by_sub)
    chosen = tuple(s for s in SUBSTRATES if s in by_sub and selected(only, s))
    primary = sorted(by_sub.values(), key=lambda p: p.name, reverse=True)[0]
    return Sources(primary=primary, by_substrate=by_sub, composite=True, only=chosen)


def _validate_all(dd: DataDir, src: Sources, opts: RestoreOptions, on_progress: ProgressFn,
                  cancel: threading.Event | None, staging: GraphStaging | None = None) -> dict[Path, Validated]:
    """Every source bundle validated for the substrates it gives (the graph's source feeding ``staging`` as it
    is read); a composite restore's vectors must agree."""
    graph_from = src.by_substrate.get("graph")
    done = {path: _validate(dd, path, opts, subs, on_progress, cancel,
                            staging if path == graph_from and selected(subs, "graph") else None)
            for path, subs in src.bundles().items()}
    if src.composite:
        dims = {v.dimension for path, v in done.items() if v.dimension is not None and any(
            src.by_substrate.get(sub) == path for sub in VECTOR_SUBSTRATES if selected(src.only, sub))}
        if len(dims) > 1:
            raise BundleInvalid("dimension-contract-mismatch across the composite restore's bundles: their vectors "
                                f"have {' and '.join(map(str, sorted(dims)))} values; one Chroma (one embedding model) "
                                "cannot hold both. Nothing was written.", path=src.primary)
    return done


def run_restore(dd: DataDir, bundle: Path | str | None, opts: RestoreOptions, *,
                on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None,
                plan: Plan | None = None, predict: bool = False, verify_sample: int = SAMPLE,
                composition: Mapping[str, object] | None = None) -> RestoreResult:
    """Restore `bundle` into the data dir (or, with opts.dry_run, report what that would do and write nothing).

    With `opts.sources` (a composite restore, `core.compose`) each substrate comes from its own bundle, in the
    same one run: each bundle is validated for what it gives, then the same writers run in the same order,
    each reading its substrate's bundle; one journal, one undo. `composition` (why each source was chosen) is
    kept in the run dir for the incident report.
    `plan`, when the caller already built one (the TUI has), is attached to the result as the prediction;
    `predict` builds one after validation, just before the first write, to compare the result with
    (`core.compare`): the plan's own pass over the bundle, with its progress tasks named `plan <task>`.
    A run that completes is verified (`core.verify_run`, `verify_sample` rows per collection queried by their
    own vector) before the lock is released; the result carries the verification, which never undoes anything.
    Raises UsageError for bad arguments, BundleInvalid / ConsoleError for refusals (nothing written) and
    RestoreCancelled when `cancel` is set (what committed stays, journaled; re-running resumes).
    """
    check_mode(opts.mode)
    warnings = check_flags(dd, opts)
    check_hook(opts.post_restore_hook, opts.workspace)
    src = resolve_sources(dd, bundle, opts)
    if opts.dry_run:
        return dry_run(dd, bundle, opts, on_progress=on_progress, cancel=cancel)
    if opts.mode == "replace" and not opts.yes:
        raise ConsoleError("Refusing replace mode without confirmation: it truncates live data. Pass --yes "
                           "(the CLI asks interactively on a terminal).")
    lease = check_neo_lease(dd, "restore", ignore=opts.ignore_neo_lease)
    with exclusive(dd.state_dir, "restore"):
        recover_interrupted(dd)
        drop_stale_staging(dd)
        # the graph is parsed once, by validation's pass, into a staging file the merge reads; it is removed
        # when the run ends however it ends (and by the next run, if this process is killed)
        graph_from = src.by_substrate.get("graph") if selected(src.only, "graph") else None
        staging = GraphStaging.for_restore(dd, graph_from, opts.filters) if graph_from is not None else None
        state: RunState | None = None
        try:
            validated = _validate_all(dd, src, opts, on_progress, cancel, staging)
            if staging is not None:
                staging.finish()
            for v in validated.values():
                if v.gate:
                    raise ConsoleError(v.gate)
            if predict and plan is None:
                def planning(p: Progress) -> None:
                    on_progress(dataclasses.replace(p, task=f"plan {p.task}"))

                plan = _plan(dd, src, opts, planning, cancel)
            state = RunState(dd, src.primary, opts, src.only, validated[src.primary] if src.primary in validated
                             else next(iter(validated.values())), on_progress, cancel, plan)
            state.warnings[:0] = [*([lease.warning] if lease.warning else []), *warnings]
            if src.composite:
                state.sources = {sub: (path, validated[path]) for sub, path in src.by_substrate.items()
                                 if path in validated}
            try:
                res = _run(state, staging, composition)
            finally:
                if staging is not None:
                    staging.remove()
                    staging = None
            return _verify(dd, res, verify_sample, on_progress, cancel, state.after)
        finally:
            if staging is not None:
                staging.remove()
            if state is not None and state.after is not None:
                state.after.close()


def _plan(dd: DataDir, src: Sources, opts: RestoreOptions, on_progress: ProgressFn,
          cancel: threading.Event | None) -> Plan:
    if src.composite:
        return plan_sources(dd, {s: p for s, p in src.by_substrate.items() if selected(src.only, s)}, opts,
                            on_progress=on_progress, cancel=cancel)
    scan = scan_bundle(dd, src.primary, on_progress=on_progress, cancel=cancel, kb_collection=opts.target_collection)
    return build_plan(scan, opts.filters, src.only, opts.mode, opts.force)


def _verify(dd: DataDir, res: RestoreResult, sample: int, on_progress: ProgressFn,
            cancel: threading.Event | None, after: AfterWrites | None) -> RestoreResult:
    assert res.run_id is not None
    try:
        verification = verify_run(dd, res.run_id, sample=sample, at_run=True, on_progress=on_progress,
                                  cancel=cancel, after=after)
    except Cancelled:  # the restore itself completed: keep its result; verify-run checks it later
        return dataclasses.replace(res, warnings=(*res.warnings, "verification stopped by a cancel: run "
                                                  f"`recovery-console verify-run {res.run_id}`"))
    return dataclasses.replace(res, verification=verification)


def _run(s: RunState, staging: GraphStaging | None, composition: Mapping[str, object] | None = None) -> RestoreResult:
    s.journal = RunJournal.start(s.dd, bundle=s.bundle, mode=s.opts.mode, options=_options(s.opts))
    s.run_id = s.journal.run_id
    try:
        if composition is not None:
            write_atomic(s.journal.dir / COMPOSE_FILE, orjson.dumps(composition))
        bundles = {sub: s.sources[sub][0] if sub in s.sources else s.bundle for sub in BACKED_UP}
        pre = take_prewrite(s.dd, s.journal.dir, mode=s.opts.mode, only=s.only, bundles=bundles,
                            client=cs.open_client(s.dd, create=False)
                            if any(selected(s.only, sub) for sub in VECTOR_SUBSTRATES) else None, cancel=s.cancel,
                            kb_collection=s.opts.target_collection)
        if s.replace:
            _safety_bundle(s)
        # neo's order; in a composite restore each writer reads its own substrate's bundle
        if selected(s.only, "kb"):
            with s.reading("kb"):
                restore_kb(s)
        if selected(s.only, "mc"):
            with s.reading("mc"):
                restore_mc(s)
        if selected(s.only, "graph") and staging is not None:
            with s.reading("graph"):
                restore_graph(s, staging)
        for sub in FLAT_SUBSTRATES:
            if selected(s.only, sub):
                with s.reading(sub):
                    restore_flat(s, sub)
        if pre.graph is not None and s.opts.post_restore_hook:
            save_postwrite(s.dd, s.journal.dir)  # before the hook, which rewrites the FILE nodes it owns
        elif pre.graph is not None:
            s.after = AfterWrites(s.dd)  # the verification's integrity_check starts now, beside what follows
            save_postwrite(s.dd, s.journal.dir, s.after.take_state())
        if s.opts.post_restore_hook:
            _hook(s)
    except Cancelled:
        raise RestoreCancelled(_end(s, "cancelled")) from None
    except BaseException as exc:
        # on a full disk the journal's own last write can fail too: keep the error that says why; the run
        # stays `running` on disk and the next run resolves it like a killed one
        with contextlib.suppress(OSError):
            _end(s, "failed", error=str(exc))
        raise
    return _end(s, "completed")


def _options(opts: RestoreOptions) -> Mapping[str, object]:
    out = encode(opts)
    assert isinstance(out, dict)
    return out


def _end(s: RunState, status: str, error: str | None = None) -> RestoreResult:
    res = s.result(status)
    if s.journal is not None:
        s.journal.record = dataclasses.replace(s.journal.record, safety_bundle=s.safety_bundle)
        save_expected(s.journal.dir, res, s.plan)  # what verification compares the stores with, now or later
        s.journal.finish(status, counts=s.counts_summary(), error=error)
    return res


def _safety_bundle(s: RunState) -> None:
    """A normal bundle of every substrate this run will replace, marked reason=pre-restore, before truncating."""
    subs = tuple(sub for sub in BACKED_UP if selected(s.only, sub))
    if not subs:
        return
    # allow_empty: a replace into an empty store (a fresh machine) still records what it replaced: nothing
    res = run_backup(s.dd, reason="pre-restore", substrates=subs, lock=False, on_progress=s.on_progress,
                     cancel=s.cancel, allow_empty=True)
    s.safety_bundle = res.path
    if s.journal is not None:
        s.journal.update(safety_bundle=res.path)


def _hook(s: RunState) -> None:
    assert s.opts.post_restore_hook and s.opts.workspace
    conn = gs.connect_for_restore(s.dd.graph_db)
    try:
        s.hook = run_hook(s.opts.post_restore_hook, conn, workspace=s.opts.workspace, journal=s.journal,
                          on_progress=s.on_progress, cancel=s.cancel)
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------ dry run


def dry_run(dd: DataDir, bundle: Path | str | None, opts: RestoreOptions, *, on_progress: ProgressFn = no_progress,
            cancel: threading.Event | None = None) -> RestoreResult:
    """The numbers a real run would report, from the same validation and the plan; writes nothing.

    A replace that a real run would refuse for a missing --force is still planned; the refusal is reported.
    The post-restore hook is not run (neo's #11141 review asked for hooks to be no-ops under dry-run).
    """
    check_mode(opts.mode)
    flag_warnings = check_flags(dd, opts)
    check_hook(opts.post_restore_hook, opts.workspace)
    src = resolve_sources(dd, bundle, opts)
    started = time.monotonic()
    validated = _validate_all(dd, src, opts, on_progress, cancel)
    plan = _plan(dd, src, opts, on_progress, cancel)
    v = validated.get(src.primary) or next(iter(validated.values()))
    extra = tuple(w for other in validated.values() if other is not v for w in (*other.warnings, *(
        [other.gate] if other.gate else [])))
    res = result_from_plan(plan, v)
    if flag_warnings or extra:
        res = dataclasses.replace(res, warnings=(*flag_warnings, *res.warnings, *extra))
    if src.composite:
        res = dataclasses.replace(res, sources={k: str(p) for k, p in src.by_substrate.items()})
    kb = res.subsystems.get("kb")
    if opts.target_collection and isinstance(kb, KbOutcome):
        res = dataclasses.replace(res, subsystems={**res.subsystems, "kb": dataclasses.replace(
            kb, target_collection=opts.target_collection)})
    if opts.post_restore_hook:
        res = dataclasses.replace(res, post_restore_hook=HookOutcome(hook=opts.post_restore_hook,
                                                                     result=HookSkipped()))
    return dataclasses.replace(res, duration_ms=int((time.monotonic() - started) * 1000))


def _dry_tally(rows: Mapping[str, LabelRow] | Mapping[str, EdgeTypeRow]) -> RowCount:
    return RowCount(inserted=sum(r.would_insert for r in rows.values()),
                    skipped_existing=sum(r.already_present for r in rows.values()), failed=0)


def result_from_plan(plan: Plan, v: Validated | None = None) -> RestoreResult:
    """A dry-run result: the plan's predictions in the shape of a real run's result."""
    started = iso_ms(datetime.now(UTC))
    warnings: list[str] = []
    subsystems: dict[str, Outcome] = {}
    if v is not None:
        warnings += v.warnings
        if v.gate:
            warnings.append(v.gate)
    warnings += plan.warnings
    g = plan.graph
    if g.selected:
        nodes, edges = _dry_tally(g.labels), _dry_tally(g.edge_types)
        subsystems["graph"] = GraphOutcome(
            message=DRY_RUN_MESSAGE, imported=sum(c.inserted + c.skipped_existing + c.failed for c in (nodes, edges)),
            mode=plan.mode, counts=NodeEdgeCounts(nodes=nodes, edges=edges), filter_stats=g.filter_stats,
            by_label=dict(g.labels), by_edge_type=dict(g.edge_types))
    if plan.memories.selected:
        mem, summ, temp = (ChromaCount(inserted=p.would_insert, skipped_existing=p.already_present)
                           for p in (plan.memories, plan.summaries, plan.temporal_summaries))
        subsystems["mc"] = McOutcome(message=DRY_RUN_MESSAGE, imported=0, mode=plan.mode,
                                     counts=McCounts(memories=mem, summaries=summ, temporal_summaries=temp,
                                                     memories_inserted=mem.inserted + summ.inserted + temp.inserted))
    if plan.kb.selected:
        subsystems["kb"] = KbOutcome(message=DRY_RUN_MESSAGE, imported=0, inserted=plan.kb.would_insert,
                                     id_already_present=plan.kb.already_present, failed=0,
                                     natural_key_divergent=plan.kb.natural_key_divergent or 0,
                                     divergence_scan=plan.kb.divergence_scan, mode=plan.mode)
    for sub, fp in plan.flat.items():
        if not fp.selected:
            continue
        if sub == "ledgers":
            if fp.files:
                subsystems[sub] = _dry_ledgers(fp, plan.mode)
            continue
        if sub in FLAT_DIRECTORIES:
            subsystems[sub] = FilesOutcome(copied=fp.would_copy, skipped=fp.would_skip, mode=plan.mode, note=fp.note)
        else:
            subsystems[sub] = FileOutcome(copied=bool(fp.would_copy), skipped=bool(fp.would_skip), mode=plan.mode,
                                          note=fp.note)
    return RestoreResult(
        run_id=None, bundle_root=str(plan.bundle), mode=plan.mode, dry_run=True, status="completed",
        subsystems=subsystems, topology=v.topology if v else None, meta=meta_summary(v.meta) if v else None,
        validation=Validation.of(v) if v else None, plan=plan, warnings=tuple(warnings), started_at=started,
        ended_at=iso_ms(datetime.now(UTC)))


def _dry_ledgers(fp: FlatPlan, mode: str) -> LedgersOutcome:
    def member(pred: Callable[[str], bool]) -> LedgerOutcome:
        files = [f for f in fp.files if pred(f.file)]
        if not files:
            return LedgerOutcome(copied=0, skipped=0, note="source absent")
        return LedgerOutcome(copied=sum(f.action in ("copy", "overwrite") for f in files),
                             skipped=sum(f.action == "skip" for f in files))

    return LedgersOutcome(heal_attempts=member(lambda n: n == HEAL_ATTEMPTS_FILE),
                          heal_events=member(lambda n: n == HEAL_EVENTS_FILE),
                          recovery_runs=member(lambda n: n.startswith(f"{RECOVERY_RUNS_DIR}/")), mode=mode)
