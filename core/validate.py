"""Everything that can refuse a restore, checked before its first write: the bundle (every line, ids, vectors,
counts, checksums), the embedding dimension against the live collections, neo's topology rule, the KB
natural-key divergence (merge), and replace's occupancy gate (--force)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core import chroma_store as cs
from core import graph_store as gs
from core.bundle import META_FILE, Meta, captures_collection, collection_files, read_meta
from core.datadir import DataDir
from core.errors import BundleInvalid, ConsoleError
from core.kb_divergence import kb_divergence
from core.ledgers import LedgerRefused, plan_ledgers
from core.progress import ProgressFn, no_progress
from core.substrates import (
    FLAT_DIRECTORIES,
    FLAT_TARGETS,
    KB,
    VECTOR_COLLECTIONS,
    VECTOR_SUBSTRATES,
    selected,
)
from core.verify import BUNDLE_EMPTY, BUNDLE_UNVERIFIABLE, RESTORABLE, VerifyResult, verify_bundle
from core.verify_lines import GraphSink, GraphSplit


@dataclass(frozen=True, kw_only=True)
class Topology:
    """neo's topology check (section 1.3) as the result reports it."""

    bundle_shared_topology: object  # what the bundle's meta says (normally a bool)
    current_shared_topology: bool
    match: bool
    forced: bool


@dataclass(frozen=True, kw_only=True)
class Validated:
    bundle: Path
    meta: Meta | None
    verify: VerifyResult
    topology: Topology | None
    dimension: int | None
    warnings: tuple[str, ...]
    occupancy: Mapping[str, int]
    gate: str | None  # replace's refusal message when --force is missing, else None
    divergence_scan: str


def _substrate_of(file: str | None) -> str | None:
    if not file or file == META_FILE:
        return None
    return file.split("/", 1)[0]


def topology_check(meta: Meta | None, force: bool) -> Topology | None:
    """neo's rule (section 1.3): only a legacy federated bundle is refused; coordinates are never compared."""
    if meta is None:
        return None
    raw = meta.get("topology")
    topo: Mapping[str, object] = raw if isinstance(raw, dict) else {}
    legacy = topo.get("chromaUnified") is False and topo.get("shared_topology") is not True
    if legacy and not force:
        raise BundleInvalid("Topology mismatch: bundle was taken under legacy federated mode, but current "
                            "deployment is permanently unified. Pass --force-topology-mismatch to override.",
                            path=META_FILE)
    if legacy:
        return Topology(bundle_shared_topology=False, current_shared_topology=True, match=False, forced=True)
    shared = topo.get("shared_topology")
    if shared is None:
        shared = topo.get("chromaUnified")
    return Topology(bundle_shared_topology=True if shared is None else shared, current_shared_topology=True,
                    match=True, forced=False)


def _live_dimensions(client: cs.ClientAPI | None, names: Mapping[str, str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for key, name in names.items():
        dim = cs.detect_dimension(cs.get_collection(client, name))
        if dim is not None:
            dims[key] = dim
    return dims


def occupancy(dd: DataDir, only: tuple[str, ...] | None, client: cs.ClientAPI | None,
              bundle: Path | None = None, meta: Meta | None = None) -> dict[str, int]:
    """What replace would overwrite, per target (neo's gate, extended to kb and graph, scoped to the selection;
    a collection the bundle never captured is not replaced, so not counted)."""
    occ: dict[str, int] = {}
    if selected(only, "graph") and dd.graph_db.exists():
        conn = gs.connect(dd.graph_db, readonly=True)
        try:
            occ["graph.nodes"], occ["graph.edges"] = gs.counts(conn)
        finally:
            conn.close()
    for c in VECTOR_COLLECTIONS:
        if bundle is not None and not captures_collection(bundle, meta, c.key):
            continue
        if selected(only, c.substrate) and client is not None:
            occ[c.substrate if c.substrate == c.key else f"{c.substrate}.{c.key}"] = cs.count(
                cs.get_collection(client, dd.collection_name(c.key)))
    if selected(only, "ledgers") and bundle is not None and (bundle / "ledgers").is_dir():
        neo = dd.neo
        occ["ledgers.healAttempts"] = neo.heal_attempts_file.stat().st_size if neo.heal_attempts_file.is_file() else 0
        for key, folder in (("ledgers.healEvents", neo.heal_events_dir), ("ledgers.recoveryRuns", neo.recovery_runs_dir)):
            occ[key] = len(list(folder.glob("*.jsonl"))) if folder.is_dir() else 0
    for sub in FLAT_TARGETS:
        if selected(only, sub):
            target = dd.flat_target(sub)
            if sub in FLAT_DIRECTORIES:
                occ[sub] = len(list(target.glob("*.jsonl"))) if target.is_dir() else 0
            else:
                occ[sub] = target.stat().st_size if target.is_file() else 0
    return occ


def validate(dd: DataDir, bundle: Path, *, mode: str, force: bool, force_topology_mismatch: bool,
             only: tuple[str, ...] | None, on_progress: ProgressFn = no_progress,
             cancel: threading.Event | None = None, allow_unverifiable: bool = False,
             kb_collection: str | None = None, graph_sink: GraphSink | None = None,
             graph_split: GraphSplit | None = None) -> Validated:
    """Everything that can refuse the restore, before the first write. Raises BundleInvalid / ConsoleError.

    ``kb_collection``: the collection the knowledge base goes into (``--target-collection``), else neo's.
    ``graph_sink`` (a real restore's staging) receives every graph line the verify pass parsed; ``graph_split``
    is its offer to take a large graph file's second half to a helper process."""
    warnings: list[str] = []
    names = {c.key: kb_collection if c is KB and kb_collection else dd.collection_name(c.key)
             for c in VECTOR_COLLECTIONS}
    vector_keys = [c.key for c in VECTOR_COLLECTIONS if selected(only, c.substrate) and collection_files(bundle, c.key)]
    needs_chroma = bool(vector_keys) or (mode == "replace" and any(selected(only, s) for s in VECTOR_SUBSTRATES))
    client = cs.open_client(dd, create=False) if needs_chroma else None
    live_dims = _live_dimensions(client, {k: names[k] for k in vector_keys})
    expected = next(iter(live_dims.values()), None) or dd.embedding_dimension
    res = verify_bundle(bundle, expected_dimension=expected, on_progress=on_progress, cancel=cancel,
                        graph_sink=graph_sink, graph_split=graph_split)
    errors = []
    for f in res.errors:
        sub = f.substrate or _substrate_of(f.file)
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
    if res.verdict == BUNDLE_UNVERIFIABLE and not allow_unverifiable:
        raise BundleInvalid("bundle failed validation (BUNDLE_UNVERIFIABLE), nothing was written: it has no "
                            "bundle-meta.json, so nothing says what it should hold; restore it anyway with "
                            "--allow-unverifiable", path=bundle)
    for key, dim in live_dims.items():
        if res.dimension is not None and dim != res.dimension:
            raise BundleInvalid(f"dimension-contract-mismatch: the bundle's vectors have {res.dimension} values, "
                                f"the live {names[key]} has {dim}; nothing was written", path=bundle)
    warnings += [str(w) for w in res.warnings]
    state, meta, _err = read_meta(bundle)
    if meta is None:
        warnings.append("no readable bundle-meta.json: topology check skipped")
    topology = topology_check(meta, force_topology_mismatch)
    divergence = "skipped-replace-mode" if mode == "replace" else "skipped-empty-target"
    kb_files = collection_files(bundle, KB.key)
    if mode == "merge" and selected(only, KB.substrate) and kb_files and client is not None:
        col = cs.get_collection(client, names[KB.key])
        if col is not None and col.count() > 0:
            divergence = "performed"
            n, examples = kb_divergence(col, kb_files, bundle, cancel=cancel)
            if n:
                ex = examples[0]
                raise ConsoleError(
                    f"KB_MERGE_NATURAL_KEY_DIVERGENCE: {n} bundle KB row(s) share a natural key "
                    f"(tenantId/repoSlug/source/name/type) with a live row under a different id, e.g. "
                    f"{ex.file}:{ex.line} id {ex.id} vs live {ex.live_id} ({ex.key}). The KB "
                    f"import is refused before any write; restore without kb (--only-substrate) or use "
                    f"--mode replace --force.", path=bundle / ex.file, line=int(ex.line))
    if selected(only, "ledgers") and (bundle / "ledgers").is_dir():
        try:  # neo authorises every ledger before it writes any: so does the console, before any substrate
            plan_ledgers(bundle / "ledgers", dd.neo, mode)
        except LedgerRefused as exc:
            raise ConsoleError(f"ledgers refused, nothing was written: {exc}", path=exc.path) from None
    occ: dict[str, int] = {}
    gate = None
    if mode == "replace":
        occ = occupancy(dd, only, client, bundle, meta)
        busy = [f"{k}={v}" for k, v in occ.items() if v]
        if busy and not force:
            gate = (f"Refusing replace mode without --force: targets are non-empty ({', '.join(busy)}). "
                    "Pass --force to acknowledge data will be overwritten.")
    return Validated(bundle=bundle, meta=meta if state != "absent" else None, verify=res, topology=topology,
                     dimension=res.dimension, warnings=tuple(warnings), occupancy=occ, gate=gate,
                     divergence_scan=divergence)
