"""`backup`: write a neo bundleVersion 1 bundle from the live stores, atomically."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

from core import __version__, codec
from core import chroma_store as cs
from core import graph_store as gs
from core.bundle import Meta, list_bundles, read_meta
from core.datadir import DataDir
from core.errors import ConsoleError, NothingToBackUp, UsageError, storage_error
from core.jsonl import dumps
from core.lock import exclusive
from core.neo_gate import check_neo_lease
from core.neo_paths import HEAL_ATTEMPTS_FILE, RECOVERY_RUNS_DIR
from core.progress import ProgressFn, Ticker, check_cancel, no_progress
from core.prune import PruneResult, SweepFailed
from core.records import EDGE_PREFIX, NODE_PREFIX
from core.substrates import (
    BACKED_UP,
    CAPTURE_SOURCES,
    COLLECTION_BY_KEY,
    FLAT_DIRECTORIES,
    FLAT_TARGETS,
    KB,
    MC_COLLECTIONS,
    TEMPORAL,
    VECTOR_COLLECTIONS,
    VECTOR_SUBSTRATES,
)
from core.units import colon_free, iso_ms
from core.verify_cache import VerifyCache
from core.writer import BundleWriter, PayloadOut

NEO_DEFAULT_DIMENSION = 4096
BLOCK_BYTES = 1 << 20  # a Chroma export writes ~1 MiB at a time: few GIL hand-overs, memory stays flat
# Subsystem stats and integrity entries are neo's bundle-meta blocks (JSON as neo writes and reads it).
Stats = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class BackupResult:
    bundle: str
    path: str
    completed_at: str
    duration_ms: int
    bytes: int
    counts: Mapping[str, int]
    integrity: tuple[Meta, ...]  # the meta's integrity entries
    subsystems: Meta  # the meta's subsystems block
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    retention: PruneResult | SweepFailed | None = None  # the sweep `backup` runs after publishing
    payload_encoding: str = codec.PLAIN  # jsonl | jsonl+br | jsonl+gz: how the kb/mc/graph payloads were written


def _export_collection(
    w: BundleWriter, client: cs.ClientAPI | None, key: str, name: str, on_progress: ProgressFn,
    cancel: threading.Event | None,
) -> tuple[Stats, int, int | None]:
    """Page one collection into its payload file. Returns (stats, exported, dimension)."""
    c = COLLECTION_BY_KEY[key]
    col = cs.get_collection(client, name)
    expected = cs.count(col)
    # neo's export receipt: payloadEncoding says what was written (null when no file was), a receipt only
    stats: Stats = {"collection": name, "collectionId": cs.collection_id(col), "backupFile": None,
                    "payloadEncoding": None, "expected": expected, "exported": 0, "skipped": 0, "skippedIds": []}
    if col is None or expected == 0:
        return stats, 0, None
    rel = f"{c.substrate}/{c.prefix}-{colon_free(datetime.now(UTC))}{w.suffix}"
    out = w.open_jsonl(rel)
    ticker = Ticker(key, expected, on_progress)
    dimension: int | None = None
    try:
        for ids, embs, metas, docs in cs.iter_pages(col, page=cs.export_page_size(cs.detect_dimension(col))):
            check_cancel(cancel)
            lines: list[bytes] = []
            pending = 0
            for rid, emb, meta, doc in zip(ids, embs, metas, docs, strict=True):
                if emb is None or len(emb) == 0:
                    # neo's restore refuses (or silently drops) a row without a vector: never publish one
                    raise ConsoleError(
                        f"{c.name}: row {rid!r} came back from Chroma with no embedding (a damaged vector "
                        "index?); a bundle row without a vector cannot be restored. Not publishing"
                    )
                if dimension is None:
                    dimension = len(emb)
                lines.append(dumps(cs.bundle_line(rid, emb, meta, doc)))
                pending += len(lines[-1])
                if pending >= BLOCK_BYTES:
                    _write_lines(out, lines)
                    pending = 0
            _write_lines(out, lines)
            ticker.update(out.lines, bytes_done=out.bytes)
        ticker.update(out.lines, bytes_done=out.bytes, force=True)
    except BaseException:
        w.discard_jsonl(out)
        raise
    exported = out.lines
    w.close_jsonl(out)
    after = col.count()
    stats.update(backupFile=w.final_path(rel), payloadEncoding=w.encoding, exported=exported)
    if exported < expected:
        raise ConsoleError(
            f"PARTIAL_COLLECTION_EXPORT {c.name}: exported {exported}/{expected} rows; not publishing"
        )
    if exported > expected or after != expected:
        stats.update(grewDuringExport=True, growthDelta=after - expected)
    return stats, exported, dimension


def _write_lines(out: PayloadOut, lines: list[bytes]) -> None:
    """One write and one hash update for many lines (per line, each would hand the GIL to the graph thread)."""
    out.write_block(b"\n".join([*lines, b""]), len(lines))
    lines.clear()


def _export_graph(
    w: BundleWriter, dd: DataDir, on_progress: ProgressFn, cancel: threading.Event | None,
    stop: threading.Event | None = None,
) -> tuple[Stats, int]:
    """The graph's rows, one snapshot, into the bundle's graph file. Runs on a thread beside the Chroma export
    (SQLite reads and joins a page with the GIL released): `stop` ends it at its next page when the run fails."""
    stats: Stats = {"collection": "native-graph", "backupFile": None, "payloadEncoding": None, "expected": 0,
                    "exported": 0, "skipped": 0, "skippedIds": []}
    if not dd.graph_db.exists():
        return stats, 0
    # One read transaction: counts, nodes and edges all come from the same snapshot, so a
    # writer that keeps inserting cannot leave an edge whose endpoint is missing from the bundle.
    with gs.snapshot(dd.graph_db) as conn:
        n_nodes, n_edges = gs.counts(conn)
        expected = n_nodes + n_edges
        stats["expected"] = expected
        if expected == 0:
            return stats, 0
        rel = f"graph/graph-backup-{colon_free(datetime.now(UTC))}{w.suffix}"
        out = w.open_jsonl(rel)
        ticker = Ticker("graph", expected, on_progress)
        skipped: list[str] = []
        try:
            for table, prefix in ((gs.NODES, NODE_PREFIX), (gs.EDGES, EDGE_PREFIX)):
                for joined, n, first, last in gs.export_pages(conn, table):
                    check_cancel(cancel)
                    check_cancel(stop)
                    block = _clean_page(joined, n, prefix) if n else b""
                    if block is not None:
                        out.write_block(block, n)
                    else:
                        _write_judged(out, gs.export_rows(conn, table, first, last), prefix, skipped)
                    ticker.update(out.lines, bytes_done=out.bytes)
            ticker.update(out.lines, bytes_done=out.bytes, force=True)
        except BaseException:
            w.discard_jsonl(out)
            raise
    w.close_jsonl(out)
    stats.update(backupFile=w.final_path(rel), payloadEncoding=w.encoding, exported=out.lines, skipped=len(skipped),
                 skippedIds=skipped[:50])
    if skipped:
        raise ConsoleError(f"graph export partial: {len(skipped)} rows hold data that is not JSON (first: {skipped[0]})")
    return stats, out.lines


def _clean_page(joined: bytes, n: int, prefix: bytes) -> bytes | None:
    """A page's bundle lines from its `n` rows joined by LF, `data` verbatim (big integers and -0 stay exact),
    when every row parses with the console's own parser (stricter than SQLite's: it refuses an unpaired
    surrogate, an overflowing number, invalid UTF-8) and none holds a raw CR/LF (neo's line reader splits on
    them); None when the page must be judged row by row. A row holding an LF splits into more than one piece."""
    rows = joined.split(b"\n")
    if len(rows) != n or b"\r" in joined:
        return None
    try:
        deque(map(orjson.loads, rows), 0)
    except orjson.JSONDecodeError:
        return None
    return b"".join((prefix, (b"}\n" + prefix).join(rows), b"}\n"))


def _write_judged(out: PayloadOut, rows: list[tuple[bytes, str]], prefix: bytes, skipped: list[str]) -> None:
    """A page row by row: a row the console's parser refuses is skipped and named (no published bundle holds a
    row its restore would refuse); a raw CR/LF between tokens becomes a space (the parsed value is the same)."""
    parts: list[bytes] = []
    for raw, row_id in rows:
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            skipped.append(row_id)
            continue
        parts += (prefix, raw.replace(b"\r", b" ").replace(b"\n", b" "), b"}\n")
    out.write_block(b"".join(parts), len(parts) // 3)


def _copy_flat(w: BundleWriter, src: Path, sub: str) -> Stats:
    if src.is_dir():
        files = sorted(p for p in src.glob("*.jsonl") if p.is_file())  # the live layout: plain JSONL
        for f in files:
            w.copy_in(f, f"{sub}/{f.name}")
        return {"copied": len(files)}
    if src.is_file():
        size = w.copy_in(src, f"{sub}/{src.name}")
        return {"copied": 1} if size else {"copied": 0, "note": "source file empty"}
    return {"copied": 0, "note": f"source not present: {src}"}


def _copy_ledgers(w: BundleWriter, dd: DataDir) -> Stats:
    """neo's copyIncidentLedgers: the heal-attempts file under its fixed member name, every `*.jsonl` of the
    heal-events dir flat into ledgers/, every `*.jsonl` of the recovery-runs dir into ledgers/recovery-runs/."""
    neo = dd.neo
    attempts: Stats
    if neo.heal_attempts_file.is_file():
        size = w.copy_in(neo.heal_attempts_file, f"ledgers/{HEAL_ATTEMPTS_FILE}")
        attempts = {"copied": 1} if size else {"copied": 0, "note": "source file empty"}
    else:
        attempts = {"copied": 0, "note": f"source not present: {neo.heal_attempts_file}"}
    events: Stats = _copy_flat(w, neo.heal_events_dir, "ledgers") if neo.heal_events_dir.is_dir() else \
        {"copied": 0, "note": f"source not present: {neo.heal_events_dir}"}
    runs: Stats = _copy_flat(w, neo.recovery_runs_dir, f"ledgers/{RECOVERY_RUNS_DIR}") if neo.recovery_runs_dir.is_dir() \
        else {"copied": 0, "note": f"source not present: {neo.recovery_runs_dir}"}
    total: int = sum(x["copied"] for x in (attempts, events, runs))
    return {"copied": total, "healAttempts": attempts, "healEvents": events, "recoveryRuns": runs}


def backup_encoding(dd: DataDir, choice: str | None = None) -> str:
    """neo's token for the payload encoding: the flag, else `[backup] payload_encoding`, else plain JSONL (which
    every neo release reads; neo 13.1.0 reads nothing else)."""
    table = dd.config_table("backup")
    unknown = sorted(set(table) - {"payload_encoding"})
    if unknown:
        raise UsageError(f"unknown key [backup] {unknown[0]} (known: payload_encoding)", path=dd.config_path)
    value = choice if choice is not None else table.get("payload_encoding", "jsonl")
    try:
        return codec.choice_token(str(value))
    except ValueError as exc:
        raise UsageError(f"{exc}", path=None if choice is not None else dd.config_path) from None


def integrity_entry(w: BundleWriter, sub: str, source_count: int | None) -> Stats:
    # the lines the writer counted as it wrote and hashed them: reading the files back would count them again
    bundle_count = sum(c.lines for rel, c in w.checksums.items() if rel.startswith(f"{sub}/"))
    entry: Stats = {"subsystem": sub, "sourceCount": source_count, "bundleCount": bundle_count}
    if source_count is None:
        entry["status"] = "skipped"
    elif source_count != bundle_count:
        entry.update(status="fail", reason=f"source {source_count} != bundle {bundle_count}")
    else:
        entry["status"] = "pass" if bundle_count > 0 else "empty"
    return entry


def _capture(dd: DataDir, ids: dict[str, str | None], rows: dict[str, int]) -> Stats:
    """neo's capture block: was a source really empty, and is it the same collection as last time?"""
    previous = next((b for b in list_bundles(dd.backup_root).bundles if b.meta_state == "valid"), None)
    prev_sources = ((previous.meta or {}).get("capture") or {}).get("sources") or {} if previous else {}
    sources: Stats = {}
    for key, source in CAPTURE_SOURCES.items():
        if key not in rows:
            continue  # not backed up in this bundle
        prev_id = (prev_sources.get(source) or {}).get("collectionId")
        cur = ids.get(key)
        lineage = "unknown" if not (prev_id and cur) else ("same" if prev_id == cur else "changed")
        state = "populated" if rows.get(key, 0) > 0 else ("zero" if cur else "unestablished")
        prev_rows = (prev_sources.get(source) or {}).get("rowCount")
        prev_rows = prev_rows if isinstance(prev_rows, int) and not isinstance(prev_rows, bool) and prev_rows >= 0 \
            else None  # unavailable, never 0
        sources[source] = {"source": source, "rowCount": rows.get(key, 0), "rowState": state, "lineage": lineage,
                           "collectionId": cur, "comparedBundle": previous.name if previous else None,
                           "previousRowCount": prev_rows, "provenEmpty": state == "zero" and lineage == "same",
                           "collapsed": state == "zero" and lineage == "changed" and bool(prev_rows)}
    return {"schemaVersion": 1, "comparedTo": previous.name if previous else None, "sources": sources}


def build_topology(dd: DataDir) -> Stats:
    """neo's topology block: KB coords name the persist dir `path`, Memory Core coords name it `dataDir`."""
    return {"shared_topology": True, "kbChromaCoords": chroma_coords(dd, "path"),
            "mcChromaCoords": chroma_coords(dd, "dataDir")}


def chroma_coords(dd: DataDir, dir_key: str = "path") -> Stats:
    if dd.chroma_url:
        u = urlparse(dd.chroma_url)
        # the server's persist dir cannot be seen over HTTP: null with neo's reason rather than a guess
        return {"host": u.hostname, "port": u.port, dir_key: None, "storageReason": "physical-storage-not-observed"}
    return {"host": None, "port": None, dir_key: str(dd.chroma_path)}


def _open_chroma(dd: DataDir) -> cs.ClientAPI | None:
    """The Chroma client, or None when there is no embedded Chroma; an unreachable server is a clean error."""
    try:
        return cs.open_client(dd, create=False)
    except Exception as exc:
        if not dd.chroma_url:
            raise
        raise ConsoleError(f"cannot reach the Chroma server: {exc}", path=dd.chroma_url) from exc


LABELS = {"graph": "graph DB", "concepts": "concepts dir", "trajectories": "trajectories file",
          "mailbox": "mailbox file", "chroma": "Chroma"}


def sources_present(dd: DataDir, substrates: tuple[str, ...] = BACKED_UP) -> tuple[bool, dict[str, str]]:
    """Whether any selected substrate has a source to back up, and where each one was looked for.

    A missing graph DB, Chroma dir (or a Chroma without any of neo's collections) and flat files all at once is
    almost always a mistyped data dir, not a Memory Core that happens to be empty.
    """
    looked: dict[str, str] = {}
    found = False
    if "graph" in substrates:
        looked["graph"] = str(dd.graph_db)
        found = found or dd.graph_db.is_file()
    for sub in FLAT_TARGETS:
        src = dd.flat_target(sub)
        if sub in substrates:
            looked[sub] = str(src)
            found = found or (src.is_dir() if sub in FLAT_DIRECTORIES else src.is_file())
    if set(VECTOR_SUBSTRATES) & set(substrates):
        looked["chroma"] = dd.chroma_label
        if not found:  # opening Chroma is the slow check: only when nothing cheaper answered
            client = _open_chroma(dd)
            names = [dd.collection_name(c.key) for c in VECTOR_COLLECTIONS if c.substrate in substrates]
            found = any(cs.get_collection(client, n) is not None for n in names)
    return found, looked


def nothing_to_back_up(dd: DataDir, looked: dict[str, str]) -> NothingToBackUp:
    where = "; ".join(f"{LABELS[k]} {v}" + (" (none of neo's collections)" if k == "chroma" else "")
                      for k, v in looked.items())
    return NothingToBackUp(f"nothing to back up: none of the sources exists (looked for {where}). Check "
                           "--data-dir; to take an empty bundle anyway: recovery-console backup --allow-empty",
                           path=dd.root, details={"lookedFor": looked})


def run_backup(
    dd: DataDir,
    *,
    on_progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
    when: datetime | None = None,
    reason: str | None = None,
    substrates: tuple[str, ...] = BACKED_UP,
    lock: bool = True,
    allow_empty: bool = False,
    payload_encoding: str | None = None,
    ignore_neo_lease: bool = False,
) -> BackupResult:
    """Back up the selected substrates into a new bundle; nothing is published unless every step passed.

    Refuses with NothingToBackUp, before creating anything, when no selected source exists at all, unless
    ``allow_empty`` (a deliberately empty bundle, e.g. the safety bundle of a replace into an empty store).
    A top-level backup (``lock``) refuses with NeoLeaseHeld while neo's heavy job holds its lease, unless
    ``ignore_neo_lease`` (journaled). ``payload_encoding``: jsonl | br | gz (default: the config's, else jsonl).
    """
    encoding = backup_encoding(dd, payload_encoding)
    lease_warning: str | None = None
    if lock:
        lease_warning = check_neo_lease(dd, "backup", ignore=ignore_neo_lease).warning
    if not allow_empty:
        found, looked = sources_present(dd, substrates)
        if not found:
            raise nothing_to_back_up(dd, looked)
    if lock:
        with exclusive(dd.state_dir, "back up"):
            res = run_backup(dd, on_progress=on_progress, cancel=cancel, when=when, reason=reason,
                             substrates=substrates, lock=False, allow_empty=True, payload_encoding=encoding)
        if lease_warning:
            res = dataclasses.replace(res, warnings=(lease_warning, *res.warnings))
        return res
    started = time.monotonic()
    when = when or datetime.now(UTC)
    w = BundleWriter(dd.backup_root, when, encoding)
    pool = ThreadPoolExecutor(1, thread_name_prefix="backup-graph")
    stop = threading.Event()
    try:
        subsystems: Stats = {}
        counts: dict[str, int] = {}
        ids: dict[str, str | None] = {}
        dimension: int | None = None
        client = _open_chroma(dd) if set(VECTOR_SUBSTRATES) & set(substrates) else None
        # the graph export runs beside the Chroma export: SQLite steps (reads, JSON checks) without the GIL
        graph_job = pool.submit(_export_graph, w, dd, on_progress, cancel, stop) if "graph" in substrates else None
        if "kb" in substrates:
            stats, n, dim = _export_collection(w, client, KB.key, dd.collection_name(KB.key), on_progress, cancel)
            dimension = dimension or dim
            counts["kb"], ids["kb"] = n, stats["collectionId"]
            if n == 0:
                subsystems["kb"] = {"message": "Source collection empty; no file written.", "status": "degraded",
                                    "reason": "source-collection-empty", "count": 0, "expected": 0,
                                    "collectionId": stats["collectionId"]}
            else:
                subsystems["kb"] = {"message": f"Export complete. Exported {n} knowledge base chunks.",
                                    "status": "degraded" if stats.get("grewDuringExport") else "complete",
                                    "reason": "source-grew-during-export" if stats.get("grewDuringExport") else None,
                                    "count": n, "expected": stats["expected"], "collectionId": stats["collectionId"],
                                    "backupFile": stats["backupFile"]}
            subsystems["kb"]["payloadEncoding"] = stats["payloadEncoding"]
        if "mc" in substrates:
            mc: Stats = {}
            for c in MC_COLLECTIONS:
                name = dd.collection_name(c.key)
                if c is TEMPORAL and cs.get_collection(client, name) is None:
                    continue  # neo's temporal-summary lane is off by default: no collection, nothing captured
                mc[c.key], counts[c.key], dim = _export_collection(w, client, c.key, name, on_progress, cancel)
                dimension = dimension or dim
                ids[c.key] = mc[c.key]["collectionId"]
            n_mem, n_sum, n_temp = (counts.get(c.key, 0) for c in MC_COLLECTIONS)
            subsystems["mc"] = {
                "message": f"Export complete. Exported {n_mem} memories, {n_sum} summaries, {n_temp} temporal "
                           "summaries, and 0 graph elements.",
                "count": n_mem + n_sum + n_temp, **mc}
        if graph_job is not None:
            gstats, n_graph = graph_job.result()
            counts["graph"] = n_graph
            subsystems["graph"] = {
                "message": f"Export complete. Exported 0 memories, 0 summaries, 0 temporal summaries, and {n_graph} graph elements.",
                "count": n_graph, "graph": gstats}
        check_cancel(cancel)
        for sub in FLAT_TARGETS:
            if sub in substrates:
                subsystems[sub] = _copy_flat(w, dd.flat_target(sub), sub)
        if "ledgers" in substrates:
            subsystems["ledgers"] = _copy_ledgers(w, dd)
        integrity: list[Stats] = []
        if "kb" in substrates:
            integrity.append(integrity_entry(w, "kb", counts["kb"]))
        if "mc" in substrates:
            integrity.append(integrity_entry(w, "mc", sum(counts.get(c.key, 0) for c in MC_COLLECTIONS)))
        if "graph" in substrates:
            integrity.append(integrity_entry(w, "graph", subsystems["graph"]["graph"]["expected"]))
        failed = [e for e in integrity if e["status"] == "fail"]
        if failed:
            raise ConsoleError(
                f"Bundle integrity check failed for {len(failed)} subsystem(s): "
                + "; ".join(f"{e['subsystem']}: {e['reason']}" for e in failed)
            )
        warnings = [f"{e['subsystem']}: source is empty" for e in integrity if e["status"] == "empty"]
        # neo's validator refuses a null dimension for every substrate: with no vectors to measure, declare
        # the configured one (neo's own default when nothing is configured)
        dimension = dimension or dd.embedding_dimension or NEO_DEFAULT_DIMENSION
        completed = iso_ms(datetime.now(UTC))
        meta: Stats = {
            "bundleVersion": 1,
            "timestamp": colon_free(when),
            "completedAt": completed,
            "subsystems": subsystems,
            "integrity": integrity,
            "capture": _capture(dd, ids, counts),
            "topology": build_topology(dd),
            "embedding": {
                "counts": {c.key: counts[c.key] for c in VECTOR_COLLECTIONS if c.key in counts},
                "dimension": dimension,
                "schemaVersion": 1,
            },
            "neoVersion": None,
            "gitSha": None,
            "tool": {"name": "recovery-console", "version": __version__},
            # neo records the encoding per export (subsystems.*.payloadEncoding); this one line says it for the
            # whole bundle. A receipt: readers, neo's and ours, pick the decoder by file name
            "payloadEncoding": w.encoding,
        }
        consumer = dd.config.get("embedding", {})
        if consumer.get("provider") and consumer.get("model"):
            meta["embedding"]["expectedConsumer"] = {"model": consumer["model"], "provider": consumer["provider"]}
        if reason:
            meta["reason"] = reason
        if tuple(substrates) != BACKED_UP:
            meta["substrates"] = list(substrates)
        final = w.publish(meta)
    except BaseException as exc:
        stop.set()  # the graph thread, if it still runs, stops at its next page; its files go with the staging dir
        pool.shutdown(wait=True)
        w.abort()
        disk = storage_error(exc, dd.backup_root, "writing the bundle; nothing was published and the staging dir "
                             "was removed") if isinstance(exc, Exception) else None
        if disk is not None:
            raise disk from exc
        raise
    pool.shutdown(wait=True)
    total_bytes = sum(c.bytes for c in w.checksums.values())
    # every byte was just hashed and every line counted as it was written: the bundle starts out verified
    VerifyCache(dd.state_dir).record_written(final, read_meta(final)[1] or meta,
                                             {rel: c.lines for rel, c in w.checksums.items()},
                                             time.monotonic() - started)
    return BackupResult(
        bundle=final.name, path=str(final), completed_at=completed,
        duration_ms=int((time.monotonic() - started) * 1000), bytes=total_bytes, counts=counts,
        integrity=tuple(integrity), subsystems=subsystems, reason=reason, warnings=tuple(warnings),
        payload_encoding=w.encoding,
    )
