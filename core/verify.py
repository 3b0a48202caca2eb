"""`verify`: stream every line of a bundle and say whether it can be restored, and if not, where it breaks."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from core.bundle import LEDGER_FILE, META_FILE, Meta, read_meta, substrate_files
from core.progress import ProgressFn, Ticker, check_cancel, no_progress
from core.restorability import (
    WHOLE_BUNDLE,
    OutsideBundle,
    Survey,
    VerifyRecord,
    open_member,
    record_faults,
    safe_member,
    survey,
)
from core.scan import is_payload, read_json_member
from core.substrates import (
    COLLECTION_BY_KEY,
    MEMORIES,
    RECOVERY_SUBSTRATES,
    REQUIRED_SUBDIRS,
    SUBSTRATES,
    SUMMARIES,
    TEMPORAL_SUMMARIES_KEY,
    VECTOR_COLLECTIONS,
    VECTOR_SUBSTRATES,
    collection_key,
)
from core.units import iso_ms
from core.verify_cache import VerifyCache
from core.verify_lines import (
    Faults,
    Finding,
    GraphSink,
    GraphSplit,
    LineChecker,
)

RESTORABLE = "RESTORABLE"
BUNDLE_ROOT_MISSING = "BUNDLE_ROOT_MISSING"
NO_BUNDLES = "NO_BUNDLES"
BUNDLE_EMPTY = "BUNDLE_EMPTY"
BUNDLE_INCOMPLETE = "BUNDLE_INCOMPLETE"
BUNDLE_INVALID = "BUNDLE_INVALID"
BUNDLE_UNVERIFIABLE = "BUNDLE_UNVERIFIABLE"


@dataclass(frozen=True, kw_only=True)
class VerifyResult:
    bundle: str
    path: str
    verdict: str
    counts: Mapping[str, int] = field(default_factory=dict)
    dimension: int | None = None
    checksums: str = "absent"  # verified | absent | mismatch
    errors: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    row_total: int = 0

    @property
    def ok(self) -> bool:
        return self.verdict == RESTORABLE


class _State(Faults):
    """A verification as it goes; `result()` freezes it."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.survey: Survey | None = None  # the files as they were when the verify began
        self.verdict = RESTORABLE
        self.counts: dict[str, int] = {}
        self.dimension: int | None = None
        self.checksums = "absent"

    def result(self) -> VerifyResult:
        return VerifyResult(bundle=self.path.name, path=str(self.path), verdict=self.verdict, counts=dict(self.counts),
                            dimension=self.dimension, checksums=self.checksums, errors=tuple(self.errors),
                            warnings=tuple(self.warnings), row_total=self.row_total)


def verify_bundle(
    path: Path,
    *,
    expected_dimension: int | None = None,
    on_progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
    cache: VerifyCache | None = None,
    graph_sink: GraphSink | None = None,
    graph_split: GraphSplit | None = None,
) -> VerifyResult:
    """Validate a bundle before any write: layout, every line, ids, vectors, counts, checksums. Reads only files
    inside the bundle (no symlink, no file the checksums do not list). With ``cache``, the result is recorded for
    exactly the files it read (unless a live dimension other than the bundle's own was imposed: that verdict is
    about the live store, not the files). ``graph_sink`` receives every graph line that passed its checks (a
    restore stages them: one parse per line); ``graph_split`` may take a single graph file's second half to a
    helper process (the restore's staging does)."""
    res = _State(path)
    started = time.monotonic()
    try:
        _verify(path, res, expected_dimension, on_progress, cancel, graph_sink, graph_split)
    except OSError as exc:
        res.verdict = BUNDLE_UNVERIFIABLE
        res.errors.append(Finding("io-error", f"{exc.strerror or exc}", exc.filename and str(exc.filename)))
    out = res.result()
    if cache is not None and res.survey is not None and res.verdict != BUNDLE_UNVERIFIABLE and (
            expected_dimension is None or not any(f.code == "dimension-contract-mismatch" for f in out.errors)):
        cache.store(path, record_of(out, res.survey, time.monotonic() - started))
    return out


def spoiling(res: VerifyResult, substrate: str) -> Finding | None:
    """The first fault of a verify that makes ``substrate`` unrestorable (its own, or the whole bundle's); a
    verify that could not establish a verdict spoils every substrate."""
    first = next((f for f in res.errors if f.spoils in (substrate, WHOLE_BUNDLE)), None)
    if first is None and res.verdict == BUNDLE_UNVERIFIABLE:
        return res.warnings[0] if res.warnings else Finding(BUNDLE_UNVERIFIABLE, "no verdict could be established")
    return first


def record_of(res: VerifyResult, seen: Survey, seconds: float) -> VerifyRecord:
    """A verify's result as the cache keeps it: per recovery substrate its first fault, and the counts."""
    return VerifyRecord(res.verdict, seen.stamps, record_faults((f.spoils, f.text) for f in res.errors),
                        dict(res.counts), iso_ms(datetime.now(UTC)), round(seconds, 3))


def _inside(bundle: Path, f: Path) -> bool:
    real = os.path.realpath(bundle)
    return not f.is_symlink() and os.path.commonpath([real, os.path.realpath(f)]) == real


def _verify(path: Path, res: _State, expected_dimension: int | None, on_progress: ProgressFn,
            cancel: threading.Event | None, graph_sink: GraphSink | None = None,
            graph_split: GraphSplit | None = None) -> None:
    if not path.is_dir():
        res.verdict = BUNDLE_INCOMPLETE
        res.errors.append(Finding("missing-bundle", "bundle directory not found", str(path)))
        return
    state, meta, meta_error = read_meta(path)
    res.survey = survey(path, meta if state == "valid" else None)
    missing = [d for d in REQUIRED_SUBDIRS if not (path / d).is_dir()]
    partial = (meta or {}).get("substrates")  # a pre-restore safety bundle of some substrates only
    if isinstance(partial, list):
        missing = [d for d in missing if d in partial]
    if missing:
        res.verdict = BUNDLE_INCOMPLETE
        for d in missing:
            res.errors.append(Finding("missing-subdir", f"required subdirectory {d}/ is missing", d + "/"))
    if state == "malformed" and meta is None:
        res.verdict = BUNDLE_INVALID
        res.errors.append(Finding("bad-meta", f"bundle-meta.json is {meta_error}", META_FILE))
        meta = None
    elif state == "malformed":
        res.warnings.append(Finding("meta-not-receipt", f"bundle-meta.json has {meta_error}", META_FILE))
    elif state == "absent":
        res.warnings.append(Finding("no-meta", "no bundle-meta.json: counts and topology cannot be checked, so the "
                                    "bundle is at best BUNDLE_UNVERIFIABLE", META_FILE))
    emb = (meta or {}).get("embedding") if isinstance((meta or {}).get("embedding"), dict) else None
    meta_dim = emb.get("dimension") if emb else None
    if expected_dimension is not None and isinstance(meta_dim, int) and meta_dim != expected_dimension:
        res.errors.append(Finding("dimension-contract-mismatch",
                                  f"bundle embedding dimension {meta_dim} != live collections' {expected_dimension}",
                                  META_FILE))
    dimension = expected_dimension or (meta_dim if isinstance(meta_dim, int) else None)
    checker = LineChecker(path, dimension, res, graph_sink)

    files: list[tuple[Path, str, str]] = []  # (path, kind, count key)
    for sub in SUBSTRATES:
        for f in substrate_files(path, sub):
            if not _inside(path, f):  # substrate_files never yields one; a file swapped since is still not read
                checker.error("outside-bundle", "resolves outside the bundle: not read", f)
            elif sub in VECTOR_SUBSTRATES:
                files.append((f, "vector", collection_key(sub, f.name)))
            elif sub == "graph":
                files.append((f, "graph", "graph"))
            elif is_payload(f):
                files.append((f, "flat", sub))
    total_bytes = sum(f.stat().st_size for f, _, _ in files)
    ticker = Ticker("verify", None, on_progress, unit="rows")
    single_graph = sum(kind == "graph" for _, kind, _ in files) == 1
    for f, kind, key in files:
        check_cancel(cancel)
        half = graph_split(f) if kind == "graph" and single_graph and graph_split is not None else None
        try:
            counts = (checker.check_file(f, kind, ticker, cancel) if half is None else
                      checker.check_split(f, half, ticker, cancel))
        finally:
            if half is not None:
                half.close()
        if kind == "graph":
            res.counts["graphNodes"] = res.counts.get("graphNodes", 0) + counts.get("nodes", 0)
            res.counts["graphEdges"] = res.counts.get("graphEdges", 0) + counts.get("edges", 0)
            n = counts.get("nodes", 0) + counts.get("edges", 0) + counts.get("bad", 0)
        else:
            n = counts.get("rows", 0) + counts.get("bad", 0)
        res.counts[key] = res.counts.get(key, 0) + n
        if kind != "flat":
            res.row_total += n
    ledgers = path / "ledgers" / LEDGER_FILE
    if ledgers.is_file() and _inside(path, ledgers):
        try:
            read_json_member(ledgers)
        except orjson.JSONDecodeError as exc:
            checker.error("not-json", f"ledger is not JSON ({exc})", ledgers)
    ticker.update(res.row_total, bytes_done=total_bytes, force=True)
    res.dimension = checker.dimension
    # the cheap checks' faults: symlinks, unlisted or resized payloads, checksum keys outside the bundle
    res.errors += [Finding(f.code, f.message, f.file, substrate=f.substrate) for f in res.survey.faults
                   if f.code != "missing-subdir"]
    if meta:
        _check_counts(meta, res)
        _check_checksums(path, meta, res, cancel)
    if res.verdict == RESTORABLE and res.errors:
        res.verdict = BUNDLE_INVALID
    if res.verdict == RESTORABLE and res.row_total == 0:
        res.verdict = BUNDLE_EMPTY
    if res.verdict in (RESTORABLE, BUNDLE_EMPTY) and state == "absent":
        res.verdict = BUNDLE_UNVERIFIABLE  # nothing says what it should hold: its rows parse, that is all


def _recovery(sub: object) -> str | None:
    return sub if isinstance(sub, str) and sub in RECOVERY_SUBSTRATES else None


def _substrate_of_key(key: str) -> str | None:
    """The recovery substrate behind a count key of ``embedding.counts`` (kb; memories, summaries: mc)."""
    return _recovery(COLLECTION_BY_KEY[key].substrate) if key in COLLECTION_BY_KEY else _recovery(key)


def _check_counts(meta: Meta, res: _State) -> None:
    emb = meta.get("embedding")
    if isinstance(emb, dict) and isinstance(emb.get("counts"), dict):
        for key, declared in emb["counts"].items():
            streamed = res.counts.get(key, 0)
            if not isinstance(declared, int) or declared < 0:
                res.errors.append(Finding("invalid-embedding-schema", f"embedding.counts.{key} is not a count",
                                          META_FILE))
            elif declared != streamed:
                res.errors.append(Finding("count-contract-mismatch",
                                          f"meta says {declared} {key} rows, the files hold {streamed}", META_FILE,
                                          substrate=_substrate_of_key(key)))
        for key in (c.key for c in VECTOR_COLLECTIONS):  # neo refuses streamed rows it was not told to expect
            if res.counts.get(key) and key not in emb["counts"]:
                res.errors.append(Finding("count-contract-mismatch",
                                          f"the files hold {res.counts[key]} {key} rows the meta does not declare",
                                          META_FILE, substrate=_substrate_of_key(key)))
    for entry in meta.get("integrity") or []:
        if not isinstance(entry, dict):
            continue
        sub, status, bundle_count = entry.get("subsystem"), entry.get("status"), entry.get("bundleCount")
        if status == "fail":
            res.errors.append(Finding("integrity-fail", f"integrity for {sub} is fail: {entry.get('reason')}", META_FILE,
                                      substrate=_recovery(sub)))
        streamed_by_sub: dict[str, int] = {
            "kb": res.counts.get("kb", 0),
            "mc": res.counts.get(MEMORIES.key, 0) + res.counts.get(SUMMARIES.key, 0)
            + res.counts.get(TEMPORAL_SUMMARIES_KEY, 0),
            "graph": res.counts.get("graph", 0)}
        held = streamed_by_sub.get(sub) if isinstance(sub, str) else None
        if isinstance(bundle_count, int) and held is not None and bundle_count != held:
            res.errors.append(Finding("count-contract-mismatch",
                                      f"integrity says {sub} holds {bundle_count} rows, the files hold {held}",
                                      META_FILE, substrate=_recovery(sub)))


def _sha256_member(bundle: Path, rel: str, cancel: threading.Event | None) -> str:
    h = hashlib.sha256()
    with os.fdopen(open_member(bundle, rel), "rb", buffering=0) as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            check_cancel(cancel)
    return h.hexdigest()


def _check_checksums(path: Path, meta: Meta, res: _State, cancel: threading.Event | None) -> None:
    """Hash every file the checksums list, opened inside the bundle only; a key that is not a path inside the
    bundle, a missing file and a link were reported by the cheap checks and are never opened."""
    sums = meta.get("checksums")
    if not isinstance(sums, dict) or not sums:
        res.checksums = "absent"
        return
    res.checksums = "verified"
    faulted = {f.file for f in res.survey.faults} if res.survey is not None else set()
    for key, want in sums.items():
        check_cancel(cancel)
        rel = safe_member(key)
        if rel is None or rel in faulted:
            res.checksums = "mismatch"
            continue
        try:
            got = _sha256_member(path, rel, cancel)
        except FileNotFoundError:
            res.errors.append(Finding("checksum-missing-file", "listed in checksums but missing", rel))
            res.checksums = "mismatch"
            continue
        except OutsideBundle as exc:
            res.errors.append(Finding("outside-bundle", str(exc), rel))
            res.checksums = "mismatch"
            continue
        if isinstance(want, dict) and got != want.get("sha256"):
            res.errors.append(Finding("checksum-mismatch",
                                      f"sha256 {got[:12]}… does not match the meta's {str(want.get('sha256'))[:12]}…",
                                      rel))
            res.checksums = "mismatch"
