"""`restore`: neo's restore semantics (section 4) with a plan, a dry run, a journal and undo.

Order of a real run (all refusals come before the first write):
1. argument checks: mode, --only-substrate names, the post-restore hook allowlist (neo checked the hook
   only after writing everything), replace needs `yes`;
2. the data dir lock, and recovery of runs that died (so a re-run's inserts are attributed to it);
3. validation: verify_bundle streams every line (ids, vectors, counts, checksums), embedding dimension
   against the live collections, the topology rule of section 1.3, the KB natural-key divergence scan
   (merge), and replace's occupancy gate (--force);
4. replace only: a pre-restore safety bundle of every substrate it will replace, then truncation;
5. kb, mc, graph, flat files (neo's order), then the hook. Every batch is one transaction (SQLite) or one
   idempotent add (Chroma), journaled before it commits.

Merge never touches a live row: graph `INSERT OR IGNORE` after an in-transaction existence check, Chroma
`get(ids)` then `add` of the missing ids only (KB included: equal id means equal content there, so neo's
upsert and this add-only path end in the same state, and a live row's metadata is never rewritten).

Replace is truncate-then-the-same-path. After truncation the only collisions left are duplicate ids inside
the bundle, where the first occurrence wins (neo's `OR REPLACE` / upsert would keep the last one, and an
`OR REPLACE` of a duplicate node would cascade-delete the edges already restored to it).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from core import chroma as ch
from core.backup import run_backup
from core.bundle import META_FILE, iso_ms, read_meta, resolve_bundle, substrate_files
from core.datadir import COLLECTIONS, DataDir
from core.errors import BundleInvalid, ConsoleError, storage_error, storage_failure
from core.graph import connect
from core.hooks import check_hook, run_hook
from core.journal import RunJournal, crc_chroma, journal_path, recover_interrupted
from core.jsonl import copy_file_hashed, fsync_dir
from core.lock import exclusive
from core.plan import (
    F_CRC,
    F_DATA,
    F_ID,
    F_LABEL,
    F_LINE,
    F_PATH,
    F_SOURCE,
    F_TARGET,
    F_USER,
    Filters,
    GraphLine,
    LiveIndex,
    Plan,
    build_plan,
    check_mode,
    check_only_substrate,
    collection_files,
    graph_batches,
    iter_graph_lines,
    kb_divergence,
    scan_bundle,
    selected,
)
from core.progress import Cancelled, ProgressFn, Ticker, check_cancel, no_progress
from core.verify import BUNDLE_EMPTY, RESTORABLE, VerifyResult, verify_bundle

# Rows per SQLite transaction. 20k keeps peak memory flat in the bundle's size (one batch of parsed rows is
# the biggest thing held; at 50k, allocator fragmentation across batches grew the 1M-row peak by ~30%),
# costs about nothing in throughput against 50k, and holds the write lock for well under a second.
GRAPH_WRITE_BATCH = 20_000
# The page cache is bounded so peak memory does not grow with the graph (a 256 MiB cache would fill up on
# a large restore and dominate RSS); the OS page cache keeps the rest of the B-tree warm.
RESTORE_CACHE_KIB = 16_384
MAX_FAILURES = 1_000  # listed with file and line; all of them are counted
NODE_SQL = "INSERT OR IGNORE INTO Nodes (id, user_id, data) VALUES (?, ?, ?)"
EDGE_SQL = "INSERT OR IGNORE INTO Edges (id, user_id, source, target, type, data) VALUES (?, ?, ?, ?, ?, ?)"
REPLACEABLE = ("kb", "mc", "graph", "concepts", "trajectories", "mailbox")  # run_backup's substrates


@dataclass
class RestoreOptions:
    mode: str = "merge"
    force: bool = False
    yes: bool = False
    filters: Filters = field(default_factory=Filters)
    only_substrate: list[str] | None = None
    post_restore_hook: str | None = None
    workspace: Path | None = None
    dry_run: bool = False
    force_topology_mismatch: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "force": self.force, "yes": self.yes, "filters": self.filters.to_json(),
                "onlySubstrate": self.only_substrate, "postRestoreHook": self.post_restore_hook,
                "workspace": str(self.workspace) if self.workspace else None, "dryRun": self.dry_run,
                "forceTopologyMismatch": self.force_topology_mismatch}


@dataclass
class RestoreResult:
    runId: str | None
    bundleRoot: str
    mode: str
    dryRun: bool = False
    status: str = "running"  # running | completed | cancelled | failed
    subsystems: dict[str, Any] = field(default_factory=dict)
    postRestoreHook: dict[str, Any] | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    failuresTotal: int = 0
    topology: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    safetyBundle: str | None = None
    plan: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    startedAt: str = ""
    endedAt: str | None = None
    durationMs: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def totals(self) -> dict[str, int]:
        """The plan's totals, from what actually happened: filteredOut, alreadyPresent, inserted."""
        g = self.subsystems.get("graph") or {}
        counts = (g.get("counts") or {}).get("graph") or {}
        fs = g.get("filterStats") or {}
        n, e = counts.get("nodes") or {}, counts.get("edges") or {}
        return {"filteredOut": fs.get("filteredNodes", 0) + fs.get("filteredEdges", 0) + fs.get("orphanEdges", 0),
                "alreadyPresent": n.get("skippedExisting", 0) + e.get("skippedExisting", 0),
                "inserted": n.get("inserted", 0) + e.get("inserted", 0)}


class _RowFailed(Exception):
    """A row of a batch's executemany raised: redo the batch row by row."""


class RestoreCancelled(Cancelled):
    """Cancelled between batches; `result` holds what was committed (all of it journaled)."""

    def __init__(self, result: RestoreResult) -> None:
        super().__init__(f"restore cancelled; run {result.runId} keeps what it committed. "
                         "Re-run the same command to resume (already restored rows are skipped).")
        self.result = result


# ------------------------------------------------------------------------------------------- validation


@dataclass
class Validated:
    bundle: Path
    meta: dict[str, Any] | None
    verify: VerifyResult
    topology: dict[str, Any] | None
    dimension: int | None
    warnings: list[str]
    occupancy: dict[str, int]
    gate: str | None  # replace's refusal message when --force is missing, else None
    divergence_scan: str


def _substrate_of(file: str | None) -> str | None:
    if not file or file == META_FILE:
        return None
    return file.split("/", 1)[0]


def topology_check(meta: dict[str, Any] | None, force: bool) -> dict[str, Any] | None:
    """neo's rule (section 1.3): only a legacy federated bundle is refused; coordinates are never compared."""
    if meta is None:
        return None
    raw = meta.get("topology")
    topo: dict[str, Any] = raw if isinstance(raw, dict) else {}
    legacy = topo.get("chromaUnified") is False and topo.get("shared_topology") is not True
    if legacy and not force:
        raise BundleInvalid("Topology mismatch: bundle was taken under legacy federated mode, but current "
                            "deployment is permanently unified. Pass --force-topology-mismatch to override.",
                            path=META_FILE)
    if legacy:
        return {"bundleSharedTopology": False, "currentSharedTopology": True, "match": False, "forced": True}
    shared = topo.get("shared_topology")
    if shared is None:
        shared = topo.get("chromaUnified")
    return {"bundleSharedTopology": True if shared is None else shared, "currentSharedTopology": True,
            "match": True, "forced": False}


def _live_dimensions(client: Any, keys: list[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for key in keys:
        col = ch.get_collection(client, COLLECTIONS[key]) if client is not None else None
        dim = ch.detect_dimension(col)
        if dim is not None:
            dims[key] = dim
    return dims


def occupancy(dd: DataDir, only: tuple[str, ...] | None, client: Any) -> dict[str, int]:
    """What replace would overwrite, per target (neo's gate, extended to kb and graph, scoped to the selection)."""
    occ: dict[str, int] = {}
    if selected(only, "graph") and dd.graph_db.exists():
        conn = connect(dd.graph_db, readonly=True)
        try:
            occ["graph.nodes"] = conn.execute("SELECT count(*) FROM Nodes").fetchone()[0]
            occ["graph.edges"] = conn.execute("SELECT count(*) FROM Edges").fetchone()[0]
        finally:
            conn.close()
    for sub, key, label in (("kb", "kb", "kb"), ("mc", "memories", "mc.memories"), ("mc", "summaries", "mc.summaries")):
        if selected(only, sub) and client is not None:
            col = ch.get_collection(client, COLLECTIONS[key])
            occ[label] = col.count() if col is not None else 0
    if selected(only, "concepts"):
        occ["concepts"] = len(list(dd.concepts_dir.glob("*.jsonl"))) if dd.concepts_dir.is_dir() else 0
    for sub, path in (("trajectories", dd.trajectories_file), ("mailbox", dd.mailbox_file)):
        if selected(only, sub):
            occ[sub] = path.stat().st_size if path.is_file() else 0
    return occ


def validate(dd: DataDir, bundle: Path, opts: RestoreOptions, only: tuple[str, ...] | None, *,
             on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None) -> Validated:
    """Everything that can refuse the restore, before the first write. Raises BundleInvalid / ConsoleError."""
    warnings: list[str] = []
    vector_keys = [k for k, sub in (("kb", "kb"), ("memories", "mc"), ("summaries", "mc"))
                   if selected(only, sub) and collection_files(bundle, k)]
    needs_chroma = bool(vector_keys) or (opts.mode == "replace" and (selected(only, "kb") or selected(only, "mc")))
    client = ch.open_client(dd, create=False) if needs_chroma else None
    live_dims = _live_dimensions(client, vector_keys)
    expected = next(iter(live_dims.values()), None) or dd.embedding_dimension
    res = verify_bundle(bundle, expected_dimension=expected, on_progress=on_progress, cancel=cancel)
    errors = []
    for f in res.errors:
        sub = _substrate_of(f.file)
        # a fault in a file this run does not read is reported, not fatal (neo's required subdirs still are)
        if sub is not None and not selected(only, sub) and f.code != "missing-subdir":
            warnings.append(f"not restored, so not refused: {f}")
        else:
            errors.append(f)
    if res.verdict not in (RESTORABLE, BUNDLE_EMPTY) and errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise BundleInvalid(f"bundle failed validation ({res.verdict}), nothing was written: {first.message}{more}",
                            path=first.file and (bundle / first.file), line=first.line)
    for key, dim in live_dims.items():
        if res.dimension is not None and dim != res.dimension:
            raise BundleInvalid(f"dimension-contract-mismatch: the bundle's vectors have {res.dimension} values, "
                                f"the live {COLLECTIONS[key]} has {dim}; nothing was written", path=bundle)
    warnings += [str(w) for w in res.warnings]
    state, meta, _err = read_meta(bundle)
    if meta is None:
        warnings.append("no readable bundle-meta.json: topology check skipped")
    topology = topology_check(meta, opts.force_topology_mismatch)
    divergence = "skipped-replace-mode" if opts.mode == "replace" else "skipped-empty-target"
    kb_files = collection_files(bundle, "kb")
    if opts.mode == "merge" and selected(only, "kb") and kb_files and client is not None:
        col = ch.get_collection(client, COLLECTIONS["kb"])
        if col is not None and col.count() > 0:
            divergence = "performed"
            n, examples = kb_divergence(col, kb_files, bundle, cancel=cancel)
            if n:
                ex = examples[0]
                raise ConsoleError(
                    f"KB_MERGE_NATURAL_KEY_DIVERGENCE: {n} bundle KB row(s) share a natural key "
                    f"(tenantId/repoSlug/source/name/type) with a live row under a different id, e.g. "
                    f"{ex['file']}:{ex['line']} id {ex['id']} vs live {ex['liveId']} ({ex['key']}). The KB "
                    f"import is refused before any write; restore without kb (--only-substrate) or use "
                    f"--mode replace --force.", path=bundle / ex["file"], line=int(ex["line"]))
    occ: dict[str, int] = {}
    gate = None
    if opts.mode == "replace":
        occ = occupancy(dd, only, client)
        busy = [f"{k}={v}" for k, v in occ.items() if v]
        if busy and not opts.force:
            gate = (f"Refusing replace mode without --force: targets are non-empty ({', '.join(busy)}). "
                    "Pass --force to acknowledge data will be overwritten.")
    return Validated(bundle, meta if state != "absent" else None, res, topology, res.dimension, warnings, occ,
                     gate, divergence)


# ------------------------------------------------------------------------------------------------ counters


def _zero(*extra: str) -> dict[str, int]:
    return dict.fromkeys(("inserted", "skippedExisting", "failed", "filtered", *extra), 0)


class GraphCounters:
    """Running per-label / per-type counts: the live view's `counters` and the result's breakdown."""

    def __init__(self) -> None:
        self.nodes: defaultdict[str, dict[str, int]] = defaultdict(_zero)
        self.edges: defaultdict[str, dict[str, int]] = defaultdict(lambda: _zero("orphaned"))

    def merge(self, tally: dict[str, Counter[str]], kind: str) -> None:
        rows = self.nodes if kind == "nodes" else self.edges
        for what, counter in tally.items():
            for key, n in counter.items():
                rows[key][what] += n

    def snapshot(self) -> dict[str, Any]:
        return {"nodes": {k: dict(v) for k, v in self.nodes.items()},
                "edges": {k: dict(v) for k, v in self.edges.items()}}

    def total(self, kind: str) -> dict[str, int]:
        rows = self.nodes if kind == "nodes" else self.edges
        return {k: sum(r[k] for r in rows.values()) for k in ("inserted", "skippedExisting", "failed")}

    def filter_stats(self) -> dict[str, int]:
        filtered_nodes = sum(r["filtered"] for r in self.nodes.values())
        accepted = sum(r["inserted"] + r["skippedExisting"] + r["failed"] for r in self.nodes.values())
        return {"filteredNodes": filtered_nodes, "filteredEdges": sum(r["filtered"] for r in self.edges.values()),
                "orphanEdges": sum(r["orphaned"] for r in self.edges.values()), "acceptedNodes": accepted}


# ------------------------------------------------------------------------------------------------ the run


def _bundle_path(dd: DataDir, bundle: Path | str) -> Path:
    path = bundle if isinstance(bundle, Path) else resolve_bundle(dd.backup_root, bundle)
    if not path.is_dir():
        raise BundleInvalid("Bundle directory not found", path=path)
    return path.resolve()


def run_restore(dd: DataDir, bundle: Path | str, opts: RestoreOptions, *, on_progress: ProgressFn = no_progress,
                cancel: threading.Event | None = None, plan: Plan | None = None) -> RestoreResult:
    """Restore `bundle` into the data dir (or, with opts.dry_run, report what that would do and write nothing).

    `plan`, when the caller already built one (the TUI has), is attached to the result as the prediction.
    Raises UsageError for bad arguments, BundleInvalid / ConsoleError for refusals (nothing written) and
    RestoreCancelled when `cancel` is set (what committed stays, journaled; re-running resumes).
    """
    only = check_only_substrate(opts.only_substrate)
    check_mode(opts.mode)
    check_hook(opts.post_restore_hook, opts.workspace)
    path = _bundle_path(dd, bundle)
    if opts.dry_run:
        return dry_run(dd, path, opts, on_progress=on_progress, cancel=cancel)
    if opts.mode == "replace" and not opts.yes:
        raise ConsoleError("Refusing replace mode without confirmation: it truncates live data. Pass --yes "
                           "(the CLI asks interactively on a terminal).")
    with exclusive(dd.state_dir, "restore"):
        recover_interrupted(dd)
        v = validate(dd, path, opts, only, on_progress=on_progress, cancel=cancel)
        if v.gate:
            raise ConsoleError(v.gate)
        return _Restore(dd, path, opts, only, v, on_progress, cancel, plan).run()


def dry_run(dd: DataDir, bundle: Path | str, opts: RestoreOptions, *, on_progress: ProgressFn = no_progress,
            cancel: threading.Event | None = None) -> RestoreResult:
    """The numbers a real run would report, from the same validation and the plan; writes nothing.

    A replace that a real run would refuse for a missing --force is still planned; the refusal is reported.
    The post-restore hook is not run (neo's #11141 review asked for hooks to be no-ops under dry-run).
    """
    only = check_only_substrate(opts.only_substrate)
    check_mode(opts.mode)
    check_hook(opts.post_restore_hook, opts.workspace)
    path = _bundle_path(dd, bundle)
    started = time.monotonic()
    v = validate(dd, path, opts, only, on_progress=on_progress, cancel=cancel)
    scan = scan_bundle(dd, path, on_progress=on_progress, cancel=cancel)
    plan = build_plan(scan, opts.filters, only, opts.mode, opts.force)
    res = result_from_plan(plan, v)
    if opts.post_restore_hook:
        res.postRestoreHook = {"hook": opts.post_restore_hook,
                               "result": {"ok": True, "dryRun": True, "message": "not run: dry run"}}
    res.durationMs = int((time.monotonic() - started) * 1000)
    return res


def result_from_plan(plan: Plan, v: Validated | None = None) -> RestoreResult:
    """A dry-run result: the plan's predictions in the shape of a real run's result."""
    res = RestoreResult(runId=None, bundleRoot=str(plan.bundle), mode=plan.mode, dryRun=True, status="completed",
                        startedAt=iso_ms(datetime.now(UTC)), plan=plan.to_json())
    if v is not None:
        res.topology, res.meta, res.warnings = v.topology, _meta_summary(v.meta), list(v.warnings)
        res.validation = _validation_json(v)
        if v.gate:
            res.warnings.append(v.gate)
            res.validation["wouldRefuse"] = v.gate
    res.warnings += plan.warnings
    g = plan.graph
    if g.selected:
        def tally(rows: dict[str, Any]) -> dict[str, int]:
            return {"inserted": sum(r.wouldInsert for r in rows.values()),
                    "skippedExisting": sum(r.alreadyPresent for r in rows.values()), "failed": 0}
        nodes, edges = tally(g.labels), tally(g.edge_types)
        res.subsystems["graph"] = {
            "message": "Dry run: nothing was written.",
            "imported": sum(nodes.values()) + sum(edges.values()), "mode": plan.mode,
            "counts": {"graph": {"nodes": nodes, "edges": edges}}, "filterStats": g.filter_stats,
            "byLabel": {k: r.to_json(edge=False) for k, r in g.labels.items()},
            "byEdgeType": {k: r.to_json(edge=True) for k, r in g.edge_types.items()}}
    if plan.memories.selected:
        mc = {k: {"inserted": p.wouldInsert, "skippedExisting": p.alreadyPresent, "failed": 0}
              for k, p in (("memories", plan.memories), ("summaries", plan.summaries))}
        res.subsystems["mc"] = {"message": "Dry run: nothing was written.", "imported": 0, "mode": plan.mode,
                                "counts": {**mc, "temporalSummaries": _zero_counts(),
                                           "memoriesInserted": mc["memories"]["inserted"] + mc["summaries"]["inserted"]}}
    if plan.kb.selected:
        res.subsystems["kb"] = {"message": "Dry run: nothing was written.", "imported": 0,
                                "inserted": plan.kb.wouldInsert, "idAlreadyPresent": plan.kb.alreadyPresent,
                                "failed": 0, "naturalKeyDivergent": plan.kb.extra.get("naturalKeyDivergent") or 0,
                                "divergenceScan": plan.kb.extra.get("divergenceScan"), "mode": plan.mode,
                                "targetCollection": None}
    for sub, fp in plan.flat.items():
        if not fp["selected"] or sub == "ledgers":
            continue
        copied = fp["wouldCopy"]
        skipped = fp["wouldSkip"]
        out: dict[str, Any] = ({"copied": copied, "skipped": skipped, "mode": plan.mode} if sub == "concepts"
                               else {"copied": bool(copied), "skipped": bool(skipped), "mode": plan.mode})
        if fp.get("note"):
            out["note"] = fp["note"]
        res.subsystems[sub] = out
    res.endedAt = iso_ms(datetime.now(UTC))
    return res


def _zero_counts() -> dict[str, int]:
    return {"inserted": 0, "skippedExisting": 0, "failed": 0}


def _meta_summary(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    if not meta:
        return None
    return {k: meta.get(k) for k in ("bundleVersion", "timestamp", "completedAt", "neoVersion", "gitSha", "reason")}


def _validation_json(v: Validated) -> dict[str, Any]:
    return {"verdict": v.verify.verdict, "counts": v.verify.counts, "dimension": v.dimension,
            "checksums": v.verify.checksums, "divergenceScan": v.divergence_scan, "occupancy": v.occupancy}


class _Restore:
    """One real run: the journal, the counters, and a method per substrate."""

    def __init__(self, dd: DataDir, bundle: Path, opts: RestoreOptions, only: tuple[str, ...] | None,
                 v: Validated, on_progress: ProgressFn, cancel: threading.Event | None, plan: Plan | None) -> None:
        self.dd, self.bundle, self.opts, self.only, self.v = dd, bundle, opts, only, v
        self.on_progress, self.cancel = on_progress, cancel
        self.replace = opts.mode == "replace"
        self.gc = GraphCounters()
        self._client: Any = None
        self.journal: RunJournal | None = None
        self.started = time.monotonic()
        self.res = RestoreResult(runId=None, bundleRoot=str(bundle), mode=opts.mode,
                                 startedAt=iso_ms(datetime.now(UTC)), topology=v.topology,
                                 meta=_meta_summary(v.meta), validation=_validation_json(v),
                                 warnings=list(v.warnings), plan=plan.to_json() if plan else None)

    # -- plumbing

    def client(self) -> Any:
        if self._client is None:
            self._client = ch.open_client(self.dd, create=True)
        return self._client

    def fail(self, path: Path | None, line: int | None, reason: str) -> None:
        self.res.failuresTotal += 1
        if len(self.res.failures) < MAX_FAILURES:
            rel = str(path.relative_to(self.bundle)) if path is not None else None
            self.res.failures.append({"file": rel, "line": line, "reason": reason})

    def counts_summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sub, val in self.res.subsystems.items():
            if sub == "graph":
                out["graph"] = {**val["counts"]["graph"], "filterStats": val.get("filterStats")}
            elif sub == "mc":
                out["memories"], out["summaries"] = val["counts"]["memories"], val["counts"]["summaries"]
            elif sub == "kb":
                out["kb"] = {k: val[k] for k in ("inserted", "idAlreadyPresent", "failed")}
            else:
                out[sub] = val
        out["failures"] = self.res.failuresTotal
        return out

    def run(self) -> RestoreResult:
        self.journal = RunJournal.start(self.dd, bundle=self.bundle, mode=self.opts.mode, options=self.opts.to_json())
        self.res.runId = self.journal.run_id
        try:
            if self.replace:
                self.safety_bundle()
            if selected(self.only, "kb"):
                self.restore_kb()
            if selected(self.only, "mc"):
                self.restore_mc()
            if selected(self.only, "graph"):
                self.restore_graph()
            for sub in ("concepts", "trajectories", "mailbox", "ledgers"):
                if selected(self.only, sub):
                    self.restore_flat(sub)
            if self.opts.post_restore_hook:
                self.run_hook()
        except Cancelled:
            self._end("cancelled")
            raise RestoreCancelled(self.res) from None
        except BaseException as exc:
            # on a full disk the journal's own last write can fail too: keep the error that says why; the run
            # stays `running` on disk and the next run resolves it like a killed one
            with contextlib.suppress(OSError):
                self._end("failed", error=str(exc))
            raise
        self._end("completed")
        return self.res

    def _end(self, status: str, error: str | None = None) -> None:
        self.res.status = status
        self.res.endedAt = iso_ms(datetime.now(UTC))
        self.res.durationMs = int((time.monotonic() - self.started) * 1000)
        if self.journal is not None:
            self.journal.record.safetyBundle = self.res.safetyBundle
            self.journal.finish(status, counts=self.counts_summary(), error=error)

    # -- replace

    def safety_bundle(self) -> None:
        """A normal bundle of every substrate this run will replace, marked reason=pre-restore, before truncating."""
        subs = tuple(s for s in REPLACEABLE if selected(self.only, s))
        if not subs:
            return
        ticker_fn = self.on_progress
        # allow_empty: a replace into an empty store (a fresh machine) still records what it replaced: nothing
        res = run_backup(self.dd, reason="pre-restore", substrates=subs, lock=False, on_progress=ticker_fn,
                         cancel=self.cancel, allow_empty=True)
        self.res.safetyBundle = res.path
        if self.journal is not None:
            self.journal.record.safetyBundle = res.path
            self.journal.save()

    def _raise_storage_failure(self, exc: Exception, path: Path | str, what: str) -> None:
        """A full disk (or an I/O error) while writing ``what`` becomes one error naming ``path``."""
        disk = None if isinstance(exc, ConsoleError) else storage_error(
            exc, path, f"restoring {what}; every committed batch is kept and journaled: free space, then run "
            "the same restore again")
        if disk is not None:
            raise disk from exc

    def _recreate(self, key: str) -> Any:
        client = self.client()
        name = COLLECTIONS[key]
        old = ch.get_collection(client, name)
        metadata = dict(old.metadata) if old is not None and old.metadata else None
        if old is not None:
            client.delete_collection(name)
        return client.create_collection(name, metadata=metadata, embedding_function=None)

    # -- chroma

    def restore_kb(self) -> None:
        files = collection_files(self.bundle, "kb")
        c = {**_zero_counts(), "duplicatesInChunk": 0}
        try:
            if files or self.replace:
                self.restore_collection("kb", files, c)
        except Exception as exc:
            self._raise_storage_failure(exc, self.dd.chroma_label, "the knowledge base into Chroma")
            raise
        finally:  # also when cancelled or failed: the result then says what was committed
            self.res.subsystems["kb"] = {
                "message": (f"Import complete. Inserted {c['inserted']} KB chunks; {c['skippedExisting']} already "
                            "present." if files else "No KB file in the bundle."),
                "imported": c["inserted"], "inserted": c["inserted"], "idAlreadyPresent": c["skippedExisting"],
                "failed": c["failed"], "duplicatesInChunk": c["duplicatesInChunk"], "naturalKeyDivergent": 0,
                "divergenceScan": self.v.divergence_scan, "mode": self.opts.mode, "targetCollection": None}

    def restore_mc(self) -> None:
        counts = {key: {**_zero_counts(), "duplicatesInChunk": 0} for key in ("memories", "summaries")}
        try:
            for key in ("memories", "summaries"):
                files = collection_files(self.bundle, key)
                if files or self.replace:
                    self.restore_collection(key, files, counts[key])
            if collection_files(self.bundle, "temporalSummaries"):
                self.res.warnings.append("mc/temporal-summary-backup-*.jsonl not restored: this layout has no "
                                         "temporal-summary collection")
        except Exception as exc:
            self._raise_storage_failure(exc, self.dd.chroma_label, "memories and summaries into Chroma")
            raise
        finally:  # also when cancelled or failed: the result then says what was committed
            written = counts["memories"]["inserted"] + counts["summaries"]["inserted"]
            self.res.subsystems["mc"] = {
                "message": f"Import batch complete. Successfully ingested {written} records.",
                "imported": written, "mode": self.opts.mode,
                "counts": {"memories": counts["memories"], "summaries": counts["summaries"],
                           "temporalSummaries": _zero_counts(), "memoriesInserted": written}}

    def chunk_rows(self) -> int:
        dim = self.v.dimension or 1024
        if self.dd.chroma_url:
            return ch.rows_per_request(self.client(), dim)  # a server's request-size limit
        # embedded: bounded by the client's max batch and ~1M parsed floats per chunk (≈250 rows at 4096-d)
        return max(50, min(ch.max_batch(self.client()), 1_000_000 // dim))

    def restore_collection(self, key: str, files: list[Path], counts: dict[str, int]) -> None:
        """Merge one collection's files chunk by chunk, updating `counts` as each chunk lands."""
        col = (self._recreate(key) if self.replace else
               ch.get_collection(self.client(), COLLECTIONS[key], create=True))
        ticker = Ticker(key, self.v.verify.counts.get(key), self.on_progress)
        size = self.chunk_rows()
        buf: list[tuple[Path, int, bytes]] = []
        done = 0
        for item in iter_graph_lines(files):
            buf.append(item)
            if len(buf) >= size:
                check_cancel(self.cancel)
                self._chroma_chunk(col, key, buf, counts)
                done += len(buf)
                buf = []
                ticker.update(done, counters={key: dict(counts)})
        if buf:
            check_cancel(self.cancel)
            self._chroma_chunk(col, key, buf, counts)
            done += len(buf)
        ticker.update(done, force=True, counters={key: dict(counts)})

    def _chroma_chunk(self, col: Any, key: str, buf: list[tuple[Path, int, bytes]], counts: dict[str, int]) -> None:
        import numpy as np

        rows: dict[str, tuple[Path, int, dict[str, Any]]] = {}
        for path, number, raw in buf:
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:  # validation makes this unreachable; never drop it silently
                counts["failed"] += 1
                self.fail(path, number, f"not JSON: {exc}")
                continue
            rid = obj.get("id") if isinstance(obj, dict) else None
            if not isinstance(rid, str) or not rid:
                counts["failed"] += 1
                self.fail(path, number, "row has no id")
            elif rid in rows:
                # chroma would fail the whole add with DuplicateIDError: keep the first, count the rest
                counts["skippedExisting"] += 1
                counts["duplicatesInChunk"] += 1
            else:
                rows[rid] = (path, number, obj)
        if not rows:
            return
        existing = set(col.get(ids=list(rows), include=[])["ids"])
        counts["skippedExisting"] += len(existing)
        todo = [(rid, v) for rid, v in rows.items() if rid not in existing]
        if not todo:
            return
        ids = [rid for rid, _ in todo]
        metas = [(v[2].get("metadata") or None) for _, v in todo]  # chroma rejects {}: store None
        docs = [v[2].get("document") for _, v in todo]
        emb = np.asarray([v[2].get("embedding") for _, v in todo], dtype=np.float32)
        assert self.journal is not None
        b = self.journal.pending(key, rows=[(rid, crc_chroma(d, m)) for rid, d, m in zip(ids, docs, metas, strict=True)])
        try:
            col.add(ids=ids, embeddings=emb, metadatas=metas if any(m is not None for m in metas) else None,
                    documents=docs if any(d is not None for d in docs) else None)
            counts["inserted"] += len(ids)
        except Exception as exc:
            if storage_failure(exc):  # a full disk refuses every row after it: stop, not one failure per row
                raise
            # isolate the rows chroma refuses; the others still go in (add skips what already landed)
            for i, (rid, (path, number, _obj)) in enumerate(todo):
                try:
                    col.add(ids=[rid], embeddings=emb[i:i + 1], metadatas=[metas[i]] if metas[i] is not None else None,
                            documents=[docs[i]] if docs[i] is not None else None)
                    counts["inserted"] += 1
                except Exception as exc:
                    if storage_failure(exc):
                        raise
                    counts["failed"] += 1
                    self.fail(path, number, f"chroma refused the row: {exc}")
        self.journal.committed(b)

    # -- graph

    def open_graph(self) -> sqlite3.Connection:
        conn = connect(self.dd.graph_db, create=True)
        conn.execute(f"PRAGMA cache_size = -{RESTORE_CACHE_KIB}")
        conn.execute("PRAGMA temp_store = MEMORY")
        # WAL + NORMAL is crash-safe (a killed process loses nothing committed); only power loss can drop
        # the last commits, which a re-run restores.
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def restore_graph(self) -> None:
        files = substrate_files(self.bundle, "graph")
        conn = self.open_graph()
        try:
            if self.replace:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM Edges")  # edges first: no cascade work when the nodes go
                conn.execute("DELETE FROM Nodes")
                conn.execute("COMMIT")
            live = LiveIndex(conn)
            total = self.v.verify.counts.get("graph")
            total_bytes = sum(f.stat().st_size for f in files)
            ticker = Ticker("graph", total, self.on_progress)
            done = 0
            for kind, batch in graph_batches(files, GRAPH_WRITE_BATCH, self._bad_graph_line):
                check_cancel(self.cancel)
                if kind == "node":
                    self._node_batch(conn, live, batch)
                else:
                    self._edge_batch(conn, live, batch)
                done += len(batch)
                # drop the batch before the generator parses the next one: peak memory is one batch, not two
                del batch
                ticker.update(done, bytes_done=int(total_bytes * done / total) if total else 0,
                              counters=self.gc.snapshot())
            ticker.update(done, bytes_done=total_bytes, force=True, counters=self.gc.snapshot())
        except Exception as exc:
            self._raise_storage_failure(exc, self.dd.graph_db, "the graph")
            raise
        finally:
            conn.close()
            self._graph_summary(files)  # also when cancelled or failed: what was committed

    def _graph_summary(self, files: list[Path]) -> None:
        nodes, edges = self.gc.total("nodes"), self.gc.total("edges")
        imported = sum(nodes.values()) + sum(edges.values())
        self.res.subsystems["graph"] = {
            "message": f"Import batch complete. Successfully ingested {imported} records across {len(files)} file(s).",
            "imported": imported, "mode": self.opts.mode,
            "counts": {"graph": {"nodes": nodes, "edges": edges}},
            "filterStats": self.gc.filter_stats(),
            "byLabel": {k: dict(v) for k, v in sorted(self.gc.nodes.items())},
            "byEdgeType": {k: dict(v) for k, v in sorted(self.gc.edges.items())}}

    def _bad_graph_line(self, path: Path, number: int, reason: str) -> None:
        self.gc.nodes["(unparseable)"]["failed"] += 1
        self.fail(path, number, reason)

    def _write(self, conn: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]], careful: bool) -> dict[int, str]:
        """Insert the rows; -> {index: reason} for rows that failed.

        Fast path: one executemany. If any row raises, `_RowFailed` makes the caller roll the batch back and
        redo it `careful`ly, row by row, so only the bad rows fail. (Not a SAVEPOINT around executemany: with
        one open, SQLite's FK-checked inserts into Edges ran ~15x slower.)
        """
        if not rows:
            return {}
        if careful:
            failed: dict[int, str] = {}
            for i, row in enumerate(rows):
                try:
                    if conn.execute(sql, row).rowcount != 1:
                        failed[i] = "not written (the id appeared concurrently)"
                except sqlite3.Error as exc:
                    if storage_failure(exc):
                        raise
                    failed[i] = f"{type(exc).__name__}: {exc}"
            return failed
        try:
            written = conn.executemany(sql, rows).rowcount
        except sqlite3.Error as exc:
            if storage_failure(exc):  # the disk, not a row: the batch rolls back and the run stops
                raise
            raise _RowFailed from exc
        if written != len(rows):  # impossible under BEGIN IMMEDIATE after the existence check
            raise ConsoleError(f"internal: {len(rows)} rows checked absent but {written} written; batch rolled back")
        return {}

    def _rollback(self, conn: sqlite3.Connection, batch: int | None) -> None:
        """Roll the open transaction back; if its batch was journaled as pending, say it never landed."""
        if conn.in_transaction:
            conn.execute("ROLLBACK")
            if batch is not None and self.journal is not None:
                self.journal.rolled_back(batch)

    def _node_batch(self, conn: sqlite3.Connection, live: LiveIndex, batch: list[GraphLine]) -> None:
        try:
            self._node_batch_once(conn, live, batch, careful=False)
        except _RowFailed:
            self._node_batch_once(conn, live, batch, careful=True)

    def _edge_batch(self, conn: sqlite3.Connection, live: LiveIndex, batch: list[GraphLine]) -> None:
        try:
            self._edge_batch_once(conn, live, batch, careful=False)
        except _RowFailed:
            self._edge_batch_once(conn, live, batch, careful=True)

    def _finish_batch(self, conn: sqlite3.Connection, sql: str, todo: list[GraphLine], rows: list[tuple[Any, ...]],
                      kind: str, tally: dict[str, Counter[str]], careful: bool) -> None:
        """Write, journal (pending before COMMIT, marker after), commit; then count what landed."""
        failed = self._write(conn, sql, rows, careful)
        if failed:
            for i, why in failed.items():
                self.fail(todo[i][F_PATH], todo[i][F_LINE], why)
            tally["failed"].update(todo[i][F_LABEL] for i in failed)
            todo = [r for i, r in enumerate(todo) if i not in failed]
        tally["inserted"].update(r[F_LABEL] for r in todo)
        b = None
        if self.journal is not None and todo:
            pairs = [(r[F_ID], r[F_CRC]) for r in todo]
            b = self.journal.pending("graph", nodes=pairs if kind == "nodes" else [],
                                     edges=pairs if kind == "edges" else [])
        try:
            conn.execute("COMMIT")
        except BaseException:
            self._rollback(conn, b)
            raise
        if b is not None and self.journal is not None:
            self.journal.committed(b)

    def _invalid(self, rows: list[GraphLine], tally: dict[str, Counter[str]], reason: str) -> None:
        """Records restore cannot write (validation refuses them first; counted, never dropped silently)."""
        for r in rows:
            tally["failed"][r[F_LABEL] or "(invalid)"] += 1
            self.fail(r[F_PATH], r[F_LINE], reason)

    def _node_batch_once(self, conn: sqlite3.Connection, live: LiveIndex, batch: list[GraphLine], careful: bool) -> None:
        fl = self.opts.filters.labels
        tally: dict[str, Counter[str]] = defaultdict(Counter)
        conn.execute("BEGIN IMMEDIATE")
        try:
            existing = live.nodes([r[F_ID] for r in batch if r[F_ID] is not None and r[F_LABEL] not in fl])
            todo: list[GraphLine] = []
            filtered: list[str] = []
            skipped: list[str] = []
            seen: set[str] = set()
            invalid: list[GraphLine] = []
            for r in batch:
                rid = r[F_ID]
                if rid is None:
                    invalid.append(r)
                elif r[F_LABEL] in fl:
                    filtered.append(r[F_LABEL])
                elif rid in existing or rid in seen:
                    skipped.append(r[F_LABEL])  # live, or an earlier occurrence in this bundle went in
                else:
                    seen.add(rid)
                    todo.append(r)
            tally["filtered"].update(filtered)
            tally["skippedExisting"].update(skipped)
            rows = [(r[F_ID], r[F_USER], r[F_DATA]) for r in todo]
            self._finish_batch(conn, NODE_SQL, todo, rows, "nodes", tally, careful)
        except BaseException:
            self._rollback(conn, None)
            raise
        self._invalid(invalid, tally, "node has no id")
        self.gc.merge(tally, "nodes")

    def _edge_batch_once(self, conn: sqlite3.Connection, live: LiveIndex, batch: list[GraphLine], careful: bool) -> None:
        ft = self.opts.filters.edge_types
        tally: dict[str, Counter[str]] = defaultdict(Counter)
        conn.execute("BEGIN IMMEDIATE")
        try:
            cand = [r for r in batch if r[F_ID] is not None and r[F_LABEL] not in ft]
            # Nodes precede edges, so "exists in Nodes now" is exactly neo's validEndpointIds: accepted backup
            # nodes (inserted, or already live) plus live nodes. Checked inside the write transaction.
            endpoints = live.nodes(list({e for r in cand for e in (r[F_SOURCE], r[F_TARGET])}))  # type: ignore[misc]
            existing = live.edges([r[F_ID] for r in cand])  # type: ignore[misc]
            todo: list[GraphLine] = []
            filtered: list[str] = []
            orphaned: list[str] = []
            skipped: list[str] = []
            seen: set[str] = set()
            invalid: list[GraphLine] = []
            for r in batch:
                rid = r[F_ID]
                if rid is None:
                    invalid.append(r)
                elif r[F_LABEL] in ft:
                    filtered.append(r[F_LABEL])
                elif r[F_SOURCE] not in endpoints or r[F_TARGET] not in endpoints:
                    orphaned.append(r[F_LABEL])
                elif rid in existing or rid in seen:
                    skipped.append(r[F_LABEL])
                else:
                    seen.add(rid)
                    todo.append(r)
            tally["filtered"].update(filtered)
            tally["orphaned"].update(orphaned)
            tally["skippedExisting"].update(skipped)
            rows = [(r[F_ID], r[F_USER], r[F_SOURCE], r[F_TARGET], r[F_LABEL], r[F_DATA]) for r in todo]
            self._finish_batch(conn, EDGE_SQL, todo, rows, "edges", tally, careful)
        except BaseException:
            self._rollback(conn, None)
            raise
        self._invalid(invalid, tally, "edge needs source, target and type")
        self.gc.merge(tally, "edges")

    # -- flat files

    def restore_flat(self, sub: str) -> None:
        if sub == "ledgers":
            if (self.bundle / "ledgers").is_dir():
                self.res.subsystems["ledgers"] = {"copied": 0, "skipped": 0, "mode": self.opts.mode,
                                                  "note": "this data dir layout has no ledger target"}
            return
        files = substrate_files(self.bundle, sub)
        if sub == "concepts":
            modes: dict[str, int] = {}
            if self.replace and self.dd.concepts_dir.is_dir():
                # the targets a backup captures (and the safety bundle holds): the *.jsonl files
                for old in self.dd.concepts_dir.glob("*.jsonl"):
                    modes[old.name] = stat.S_IMODE(old.stat().st_mode)  # its replacement keeps it
                    old.unlink()
            copied = skipped = 0
            for f in files:
                if self._copy_flat(sub, f, self.dd.concepts_dir / f.name, exists=(self.dd.concepts_dir / f.name).exists(),
                                   mode=modes.get(f.name)):
                    copied += 1
                else:
                    skipped += 1
            out: dict[str, Any] = {"copied": copied, "skipped": skipped, "mode": self.opts.mode}
            if not files:
                out["note"] = "bundle has no concepts/*.jsonl"
            self.res.subsystems[sub] = out
            return
        target = self.dd.trajectories_file if sub == "trajectories" else self.dd.mailbox_file
        if sub == "mailbox" and not (self.bundle / sub).is_dir():
            self.res.warnings.append("bundle has no mailbox/ (optional in older bundles); skipped")
            return
        if not files:
            self.res.subsystems[sub] = {"copied": False, "skipped": False, "mode": self.opts.mode,
                                        "note": f"bundle has no {sub}/*.jsonl"}
            return
        exists = target.is_file() and target.stat().st_size > 0
        did = self._copy_flat(sub, files[0], target, exists=exists)
        self.res.subsystems[sub] = {"copied": did, "skipped": not did, "mode": self.opts.mode}

    def _copy_flat(self, sub: str, src: Path, target: Path, *, exists: bool, mode: int | None = None) -> bool:
        """Copy one flat file atomically; merge skips an existing target unless --force. -> copied?

        The copy keeps the mode of the file it replaces (`mode`, when replace deleted that file first); a new
        file gets what a plain create gives under the process umask (0666 & ~umask), never the bundle's 0600.
        """
        if exists and not self.replace and not self.opts.force:
            return False
        check_cancel(self.cancel)
        assert self.journal is not None
        previous = None
        if target.exists():
            mode = stat.S_IMODE(target.stat().st_mode)
            previous = self.journal.save_previous(sub, target)  # so undo can put the overwritten file back
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.restore-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            _, sha, _ = copy_file_hashed(src, tmp, mode=0o666 if mode is None else 0o600)
            if mode is not None:
                os.chmod(tmp, mode)
            b = self.journal.pending("flat", target=journal_path(self.dd, target), sha256=sha, previous=previous)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
        self.journal.committed(b)
        return True

    # -- hook

    def run_hook(self) -> None:
        assert self.opts.post_restore_hook and self.opts.workspace
        conn = self.open_graph()
        try:
            self.res.postRestoreHook = run_hook(self.opts.post_restore_hook, conn, workspace=self.opts.workspace,
                                                journal=self.journal, on_progress=self.on_progress,
                                                cancel=self.cancel)
        finally:
            conn.close()
