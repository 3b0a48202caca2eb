"""What a restore is asked (`RestoreOptions`), what it reports (`RestoreResult` and one outcome per substrate),
and the state one run's writers share while they work (`RunState`).

The result of a real run and of a dry run have one shape (neo's `{subsystems: {...}}`), so a script reads either;
a dry run's graph breakdown holds the plan's rows, a real run's the counters of what happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from core import chroma_store as cs
from core.datadir import DataDir
from core.errors import ConsoleError, storage_error
from core.hooks import HookOutcome
from core.journal import RunJournal
from core.jsonl import write_atomic
from core.plan import EdgeTypeRow, Filters, FilterStats, LabelRow, Plan
from core.post_write import AfterWrites
from core.progress import Cancelled, ProgressFn
from core.substrates import VECTOR_COLLECTIONS
from core.units import iso_ms
from core.validate import Topology, Validated
from core.verification import Verification
from core.wire import encode, wire

MAX_FAILURES = 1_000  # listed with file and line; all of them are counted


@dataclass(frozen=True, kw_only=True)
class RestoreOptions:
    mode: str = "merge"
    force: bool = False
    yes: bool = False
    filters: Filters = Filters()
    only_substrate: Sequence[str] | None = None
    post_restore_hook: str | None = None
    workspace: Path | None = None
    dry_run: bool = False
    force_topology_mismatch: bool = False
    # a bundle without bundle-meta.json (BUNDLE_UNVERIFIABLE) is restored only when asked; recorded only then
    allow_unverifiable: bool | None = field(default=None, metadata=wire(omit_none=True))
    # neo's later flags (core.restore_flags): replace re-applies live read receipts; a named operation; the KB
    # into a throwaway collection
    preserve_read_state: bool = False
    operation: str | None = None
    target_collection: str | None = None
    ignore_neo_lease: bool = False
    # a composite restore: the bundle each selected substrate comes from (`restore --compose`); None: one bundle
    sources: Mapping[str, Path] | None = field(default=None, metadata=wire(omit_none=True))


@dataclass(frozen=True, kw_only=True)
class RowCount:
    inserted: int = 0
    skipped_existing: int = 0
    failed: int = 0


@dataclass(frozen=True, kw_only=True)
class LabelCount(RowCount):
    filtered: int = 0


@dataclass(frozen=True, kw_only=True)
class EdgeTypeCount(LabelCount):
    orphaned: int = 0


@dataclass(frozen=True, kw_only=True)
class ChromaCount(RowCount):
    # ids repeated inside one write chunk (Chroma would refuse the whole add): the first wins, the rest count
    # as skipped. A dry run does not know them.
    duplicates_in_chunk: int | None = field(default=None, metadata=wire(omit_none=True))


@dataclass(frozen=True, kw_only=True)
class NodeEdgeCounts:
    nodes: RowCount
    edges: RowCount


@dataclass(frozen=True, kw_only=True)
class GraphOutcome:
    message: str
    imported: int
    mode: str
    counts: NodeEdgeCounts = field(metadata=wire(encode=lambda c: {"graph": c}))  # neo nests it under "graph"
    filter_stats: FilterStats
    by_label: Mapping[str, LabelCount] | Mapping[str, LabelRow]
    by_edge_type: Mapping[str, EdgeTypeCount] | Mapping[str, EdgeTypeRow]
    # --preserve-read-state: live DELIVERED_TO readAt values put back after the replace (neo logs this count)
    read_receipts_reapplied: int | None = field(default=None, metadata=wire(omit_none=True))


@dataclass(frozen=True, kw_only=True)
class McCounts:
    memories: ChromaCount
    summaries: ChromaCount
    temporal_summaries: ChromaCount
    memories_inserted: int


@dataclass(frozen=True, kw_only=True)
class McOutcome:
    message: str
    imported: int
    mode: str
    counts: McCounts


@dataclass(frozen=True, kw_only=True)
class KbOutcome:
    message: str
    imported: int
    inserted: int
    id_already_present: int
    failed: int
    duplicates_in_chunk: int | None = field(default=None, metadata=wire(omit_none=True))
    natural_key_divergent: int
    divergence_scan: str | None
    mode: str
    target_collection: str | None = None


@dataclass(frozen=True, kw_only=True)
class FilesOutcome:
    """A folder of flat files (concepts, ledgers): how many were copied and skipped."""

    copied: int
    skipped: int
    mode: str
    note: str | None = field(default=None, metadata=wire(omit_none=True))


@dataclass(frozen=True, kw_only=True)
class FileOutcome:
    """One flat file (trajectories, mailbox): copied or skipped as a whole."""

    copied: bool
    skipped: bool
    mode: str
    note: str | None = field(default=None, metadata=wire(omit_none=True))


@dataclass(frozen=True, kw_only=True)
class LedgerOutcome:
    """One of neo's ledgers: files written, live files kept (merge), live run files removed (replace)."""

    copied: int
    skipped: int
    removed: int | None = field(default=None, metadata=wire(omit_none=True))
    note: str | None = field(default=None, metadata=wire(omit_none=True))


@dataclass(frozen=True, kw_only=True)
class LedgersOutcome:
    """neo's `subsystems.ledgers` shape: one outcome per ledger, and the mode."""

    heal_attempts: LedgerOutcome
    heal_events: LedgerOutcome
    recovery_runs: LedgerOutcome
    mode: str


Outcome = GraphOutcome | McOutcome | KbOutcome | FilesOutcome | FileOutcome | LedgersOutcome


@dataclass(frozen=True, kw_only=True)
class RowFailure:
    file: str | None
    line: int | None
    reason: str


@dataclass(frozen=True, kw_only=True)
class Validation:
    verdict: str
    counts: Mapping[str, int]
    dimension: int | None
    checksums: str
    divergence_scan: str
    occupancy: Mapping[str, int]
    would_refuse: str | None = field(default=None, metadata=wire(omit_none=True))

    @classmethod
    def of(cls, v: Validated) -> Validation:
        return cls(verdict=v.verify.verdict, counts=dict(v.verify.counts), dimension=v.dimension,
                   checksums=v.verify.checksums, divergence_scan=v.divergence_scan, occupancy=dict(v.occupancy),
                   would_refuse=v.gate)


@dataclass(frozen=True, kw_only=True)
class RestoreTotals:
    """The plan's totals, from what actually happened."""

    filtered_out: int
    already_present: int
    inserted: int


@dataclass(frozen=True, kw_only=True)
class RestoreResult:
    run_id: str | None
    bundle_root: str
    mode: str
    dry_run: bool = False
    status: str = "running"  # running | completed | cancelled | failed
    subsystems: Mapping[str, Outcome] = field(default_factory=dict)
    post_restore_hook: HookOutcome | None = None
    failures: tuple[RowFailure, ...] = ()
    failures_total: int = 0
    topology: Topology | None = None
    meta: Mapping[str, object] | None = None  # the bundle meta's identifying fields, as the bundle has them
    validation: Validation | None = field(default=None, metadata=wire(encode=lambda v: {} if v is None else v))
    safety_bundle: str | None = None
    plan: Plan | None = None
    warnings: tuple[str, ...] = ()
    started_at: str = ""
    ended_at: str | None = None
    duration_ms: int = 0
    # every run that completes ends with a verification of its result (core.verify_run); a dry run has none
    verification: Verification | None = field(default=None, metadata=wire(omit_none=True))
    # a composite restore: the bundle each substrate came from (`bundleRoot` names the newest of them)
    sources: Mapping[str, str] | None = field(default=None, metadata=wire(omit_none=True))
    # ...and why each was chosen, every newer bundle passed over with its reason (core.compose.Composition)
    composition: object | None = field(default=None, metadata=wire(omit_none=True))

    @property
    def graph(self) -> GraphOutcome | None:
        out = self.subsystems.get("graph")
        return out if isinstance(out, GraphOutcome) else None

    @property
    def mc(self) -> McOutcome | None:
        out = self.subsystems.get("mc")
        return out if isinstance(out, McOutcome) else None

    @property
    def kb(self) -> KbOutcome | None:
        out = self.subsystems.get("kb")
        return out if isinstance(out, KbOutcome) else None

    @property
    def totals(self) -> RestoreTotals:
        g = self.graph
        if g is None:
            return RestoreTotals(filtered_out=0, already_present=0, inserted=0)
        fs, n, e = g.filter_stats, g.counts.nodes, g.counts.edges
        return RestoreTotals(filtered_out=fs.filtered_nodes + fs.filtered_edges + fs.orphan_edges,
                             already_present=n.skipped_existing + e.skipped_existing, inserted=n.inserted + e.inserted)


class RestoreCancelled(Cancelled):
    """Cancelled between batches; `result` holds what was committed (all of it journaled)."""

    def __init__(self, result: RestoreResult) -> None:
        super().__init__(f"restore cancelled; run {result.run_id} keeps what it committed. "
                         "Re-run the same command to resume (already restored rows are skipped).")
        self.result = result


def raise_storage_failure(exc: Exception, path: Path | str, what: str) -> None:
    """A full disk (or an I/O error) while writing ``what`` becomes one error naming ``path``."""
    disk = None if isinstance(exc, ConsoleError) else storage_error(
        exc, path, f"restoring {what}; every committed batch is kept and journaled: free space, then run "
        "the same restore again")
    if disk is not None:
        raise disk from exc


def meta_summary(meta: Mapping[str, object] | None) -> dict[str, object] | None:
    if not meta:
        return None
    return {k: meta.get(k) for k in ("bundleVersion", "timestamp", "completedAt", "neoVersion", "gitSha", "reason")}


class RunState:
    """One real run as its writers share it: the request, the validation, the journal, and the result so far."""

    def __init__(self, dd: DataDir, bundle: Path, opts: RestoreOptions, only: tuple[str, ...] | None,
                 v: Validated, on_progress: ProgressFn, cancel: threading.Event | None, plan: Plan | None) -> None:
        self.dd, self.bundle, self.opts, self.only, self.v = dd, bundle, opts, only, v
        self.on_progress, self.cancel, self.plan = on_progress, cancel, plan
        self.replace = opts.mode == "replace"
        self.journal: RunJournal | None = None
        self.run_id: str | None = None
        self.subsystems: dict[str, Outcome] = {}
        self.failures: list[RowFailure] = []
        self.failures_total = 0
        self.warnings: list[str] = list(v.warnings)
        self.hook: HookOutcome | None = None
        self.safety_bundle: str | None = None
        self.after: AfterWrites | None = None  # the verification's first reads, started at the last write
        self.started_at = iso_ms(datetime.now(UTC))
        self._started = time.monotonic()
        self._client: cs.ClientAPI | None = None
        # a composite restore: substrate -> (its bundle, that bundle's validation); `reading` switches to one
        self.sources: dict[str, tuple[Path, Validated]] = {}
        self._primary = (bundle, v)

    @contextmanager
    def reading(self, substrate: str) -> Iterator[None]:
        """While a writer restores ``substrate``: ``bundle`` and ``v`` are its source bundle's."""
        if substrate in self.sources:
            self.bundle, self.v = self.sources[substrate]
        try:
            yield
        finally:
            self.bundle, self.v = self._primary

    def client(self) -> cs.ClientAPI:
        if self._client is None:
            client = cs.open_client(self.dd, create=True)
            assert client is not None  # create=True always opens one
            self._client = client
        return self._client

    def fail(self, path: Path | None, line: int | None, reason: str) -> None:
        self.failures_total += 1
        if len(self.failures) < MAX_FAILURES:
            rel = str(path.relative_to(self.bundle)) if path is not None else None
            self.failures.append(RowFailure(file=rel, line=line, reason=reason))

    def result(self, status: str, *, ended: bool = True) -> RestoreResult:
        return RestoreResult(
            run_id=self.run_id, bundle_root=str(self.bundle), mode=self.opts.mode, status=status,
            subsystems=dict(self.subsystems), post_restore_hook=self.hook, failures=tuple(self.failures),
            failures_total=self.failures_total, topology=self.v.topology, meta=meta_summary(self.v.meta),
            validation=Validation.of(self.v), safety_bundle=self.safety_bundle, plan=self.plan,
            warnings=tuple(self.warnings), started_at=self.started_at,
            ended_at=iso_ms(datetime.now(UTC)) if ended else None,
            duration_ms=int((time.monotonic() - self._started) * 1000) if ended else 0,
            sources={sub: str(path) for sub, (path, _v) in self.sources.items()} or None)

    def counts_summary(self) -> dict[str, object]:
        """The run record's `counts`: per substrate what was inserted, skipped and failed."""
        out: dict[str, object] = {}
        for sub, val in self.subsystems.items():
            if isinstance(val, GraphOutcome):
                out["graph"] = {"nodes": encode(val.counts.nodes), "edges": encode(val.counts.edges),
                                "filterStats": encode(val.filter_stats)}
            elif isinstance(val, McOutcome):
                out["memories"], out["summaries"] = encode(val.counts.memories), encode(val.counts.summaries)
            elif isinstance(val, KbOutcome):
                out["kb"] = {"inserted": val.inserted, "idAlreadyPresent": val.id_already_present,
                             "failed": val.failed}
            else:
                out[sub] = encode(val)
        out["failures"] = self.failures_total
        return out


EXPECTED_FILE = "expected.json"


def save_expected(run_dir: Path, result: RestoreResult, plan: Plan | None) -> None:
    """What the run reported inserting per key, and what its plan predicted: what verification compares with."""
    reported: dict[str, dict[str, int]] = {"nodes": {}, "edges": {}, "chroma": {}}
    g = result.graph
    if g is not None:
        reported["nodes"] = {k: v.inserted for k, v in g.by_label.items() if isinstance(v, RowCount) and v.inserted}
        reported["edges"] = {k: v.inserted for k, v in g.by_edge_type.items() if isinstance(v, RowCount) and v.inserted}
    if result.mc is not None:
        reported["chroma"]["memories"] = result.mc.counts.memories.inserted
        reported["chroma"]["summaries"] = result.mc.counts.summaries.inserted
    if result.kb is not None:
        reported["chroma"]["kb"] = result.kb.inserted
    # a chunk is journaled before its add; a row Chroma then refuses is a failed row of the result, not a loss
    refused = {"kb": result.kb.failed if result.kb else 0,
               "memories": result.mc.counts.memories.failed if result.mc else 0,
               "summaries": result.mc.counts.summaries.failed if result.mc else 0}
    planned: dict[str, dict[str, int]] | None = None
    if plan is not None:
        planned = {"nodes": {}, "edges": {}, "chroma": {}}
        if plan.graph.selected:
            planned["nodes"] = {k: r.would_insert for k, r in plan.graph.labels.items() if r.would_insert}
            planned["edges"] = {k: r.would_insert for k, r in plan.graph.edge_types.items() if r.would_insert}
        for c in VECTOR_COLLECTIONS:
            if plan.collection(c.key).selected:
                planned["chroma"][c.key] = plan.collection(c.key).would_insert
    write_atomic(run_dir / EXPECTED_FILE, orjson.dumps({"reported": reported, "planned": planned,
                                                        "refused": {k: n for k, n in refused.items() if n}}))
