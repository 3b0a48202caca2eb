"""Today's neo bundles, written by the tests from the documented format (neo-today.md sections 1-8, 11.5), never
by the console's own writer, so a writer bug cannot hide a reader bug.

Everything here is independent of ``core``: payloads are compressed with the ``brotli`` binding and the standard
library's ``gzip`` directly, lines are serialised with the standard ``json`` module the way JavaScript's
``JSON.stringify`` writes them, and the meta, capture block, root receipt and lease follow neo's shapes key by key.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import brotli

SUFFIX = {"jsonl": ".jsonl", "jsonl+br": ".jsonl.br", "jsonl+gz": ".jsonl.gz"}
KB_NAME, MEM_NAME, SUM_NAME, TEMP_NAME = ("neo-knowledge-base", "neo-agent-memory", "neo-agent-sessions",
                                          "neo-temporal-summary")
PREFIX = {"kb": "knowledge-base-backup", "memories": "memory-backup", "summaries": "summaries-backup",
          "temporalSummaries": "temporal-summary-backup", "graph": "graph-backup"}
Row = dict[str, Any]


def stamp(t: datetime) -> str:
    """neo's file/folder timestamp: toISOString() with every ':' replaced by '-'."""
    return iso(t).replace(":", "-")


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def line(record: Any) -> bytes:
    """JSON.stringify(record) + '\\n': compact, UTF-8, U+2028/2029 left raw (as Node does)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def encode(text: bytes, encoding: str) -> bytes:
    if encoding == "jsonl+br":
        return brotli.compress(text, quality=4, lgwin=22, mode=brotli.MODE_GENERIC)
    if encoding == "jsonl+gz":
        return gzip.compress(text, mtime=0)
    return text


def vector(rng: random.Random, dim: int) -> list[float]:
    # multiples of 1/1024: exact in float32, so a row restored into Chroma compares equal
    return [rng.randint(-1024, 1024) / 1024 for _ in range(dim)]


def vector_rows(key: str, n: int, *, dim: int = 8, seed: int = 0, start: int = 0) -> list[Row]:
    rng = random.Random(f"{key}:{seed}")
    rows = []
    for i in range(start, start + n):
        meta: dict[str, Any] = {"userId": "@neo-gpt", "i": i}
        if key == "kb":
            meta.update({"source": f"src/file{i % 7}.mjs", "line_start": i, "kind": "method"})
        elif key == "temporalSummaries":
            meta.update({"window": "day", "from": f"2026-09-{1 + i % 28:02d}"})
        rows.append({"id": f"{key}-{i}", "embedding": vector(rng, dim), "metadata": meta,
                     "document": f"{key} document {i}"})
    return rows


def graph_rows(n_nodes: int, *, prefix: str = "n") -> tuple[list[Row], list[Row]]:
    nodes = [{"id": f"{prefix}{i}", "label": "CONCEPT" if i % 3 else "FILE",
              "properties": {"name": f"node {i}", "userId": "@neo-gpt"}} for i in range(n_nodes)]
    edges = [{"id": f"{prefix}e{i}", "source": f"{prefix}{i}", "target": f"{prefix}{i + 1}", "type": "RELATES_TO",
              "properties": {"weight": 1}} for i in range(n_nodes - 1)]
    return nodes, edges


def delivered_edges(pairs: Iterable[tuple[str, str]], **props: Any) -> list[Row]:
    return [{"id": f"d-{s}-{t}", "source": s, "target": t, "type": "DELIVERED_TO", "properties": dict(props)}
            for s, t in pairs]


@dataclass
class Capture:
    """One source's capture entry, before neo's derivations (rowState, lineage, provenEmpty, collapsed)."""

    collection_id: str | None = None
    previous_id: str | None = None
    previous_rows: int | None = None


@dataclass
class NeoBundleSpec:
    kb: list[Row] = field(default_factory=list)
    memories: list[Row] = field(default_factory=list)
    summaries: list[Row] = field(default_factory=list)
    temporal: list[Row] | None = None  # None: no temporal export at all (today's backup.mjs)
    nodes: list[Row] = field(default_factory=list)
    edges: list[Row] = field(default_factory=list)
    dim: int = 8
    encoding: str = "jsonl+br"
    encodings: dict[str, str] = field(default_factory=dict)  # per key override (kb, memories, ..., graph)
    capture: dict[str, Capture] | None = None  # None: no capture block (an older writer)
    compared_to: str | None = "backup-2026-09-19T03-00-00.101Z"
    ledgers: bool = True
    heal_attempts: Any = field(default_factory=lambda: {"attempts": [{"collection": "neo-agent-memory",
                                                                      "at": 1790000000000}]})
    heal_events: list[Row] = field(default_factory=lambda: [
        {"type": "heal", "collection": "neo-agent-memory", "status": "ok", "detail": "reindex", "at": 1790000000000}])
    recovery_runs: dict[str, list[Row]] = field(default_factory=lambda: {
        "run-2026-09-19.jsonl": [{"run": 1, "step": "probe", "at": 1790000000000}]})
    concepts: dict[str, bytes] = field(default_factory=lambda: {"nodes.jsonl": b'{"id":"neo-mjs"}\n'})
    trajectories: bytes = b'{"metadata":{"sessionId":"s1"},"messages":[]}\n'
    mailbox: bytes | None = b'{"msg":"cull"}\n'
    null_coords: bool = True
    neo_version: str = "0.0.0"
    expected_consumer: Mapping[str, str] | None = field(
        default_factory=lambda: {"model": "text-embedding-qwen3-embedding-8b", "provider": "openAiCompatible"})


def _enc(spec: NeoBundleSpec, key: str) -> str:
    return spec.encodings.get(key, spec.encoding)


def _write_payload(folder: Path, key: str, rows: Sequence[Row], encoding: str, when: datetime) -> Path | None:
    if not rows:
        return None  # neo writes no file for an empty source
    path = folder / f"{PREFIX[key]}-{stamp(when)}{SUFFIX[encoding]}"
    path.write_bytes(encode(b"".join(line(r) for r in rows), encoding))
    return path


def _graph_records(nodes: Sequence[Row], edges: Sequence[Row]) -> list[Row]:
    return [{"type": "node", "data": n} for n in nodes] + [{"type": "edge", "data": e} for e in edges]


def _stats(collection: str, path: Path | None, n: int, encoding: str, collection_id: str | None) -> Row:
    out: Row = {"collection": collection}
    if collection_id is not None:
        out["collectionId"] = collection_id
    out.update({"backupFile": str(path) if path else None, "payloadEncoding": encoding if path else None,
                "expected": n, "exported": n, "skipped": 0, "skippedIds": []})
    return out


def _capture_entry(source: str, rows: int, c: Capture, compared: str | None) -> Row:
    row_state = "populated" if rows > 0 else "zero"
    if not c.collection_id or not c.previous_id:
        lineage = "unknown"
    else:
        lineage = "same" if c.collection_id == c.previous_id else "changed"
    prev = c.previous_rows if c.previous_rows is not None and c.previous_rows >= 0 else None
    return {"source": source, "rowCount": rows, "rowState": row_state, "lineage": lineage,
            "collectionId": c.collection_id, "comparedBundle": compared, "previousRowCount": prev,
            "provenEmpty": row_state == "zero" and lineage == "same",
            "collapsed": row_state == "zero" and lineage == "changed" and prev is not None and prev > 0}


def write_bundle(root: Path, spec: NeoBundleSpec, *, when: datetime | None = None) -> Path:
    """A published bundle ``<root>/backup-<ts>/`` the way neo's head backup.mjs writes it."""
    when = when or datetime(2026, 9, 20, 3, 0, 0, 123000, tzinfo=UTC)
    name = f"backup-{stamp(when)}"
    bundle = root / name
    for sub in ("kb", "mc", "graph", "concepts", "trajectories", "mailbox"):
        (bundle / sub).mkdir(parents=True)
    ids = {k: str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{k}.{name}")) for k in ("kb", "memories", "summaries", "temp")}
    if spec.capture:
        ids.update({k: c.collection_id for k, c in spec.capture.items() if c.collection_id is not None})
    t = when + timedelta(seconds=5)
    kb_file = _write_payload(bundle / "kb", "kb", spec.kb, _enc(spec, "kb"), t)
    mem_file = _write_payload(bundle / "mc", "memories", spec.memories, _enc(spec, "memories"), t + timedelta(minutes=5))
    sum_file = _write_payload(bundle / "mc", "summaries", spec.summaries, _enc(spec, "summaries"),
                              t + timedelta(minutes=21))
    temp_file = _write_payload(bundle / "mc", "temporalSummaries", spec.temporal or [],
                               _enc(spec, "temporalSummaries"), t + timedelta(minutes=21, seconds=30))
    records = _graph_records(spec.nodes, spec.edges)
    graph_file = _write_payload(bundle / "graph", "graph", records, _enc(spec, "graph"), t + timedelta(minutes=22))
    for fname, data in spec.concepts.items():
        (bundle / "concepts" / fname).write_bytes(data)
    (bundle / "trajectories" / "trajectories.jsonl").write_bytes(spec.trajectories)
    if spec.mailbox is not None:
        (bundle / "mailbox" / "sent-to-cull.jsonl").write_bytes(spec.mailbox)
    ledgers: Row | None = None
    if spec.ledgers:
        ldir = bundle / "ledgers"
        (ldir / "recovery-runs").mkdir(parents=True)
        if spec.heal_attempts is not None:
            (ldir / "heal-attempts.json").write_text(json.dumps(spec.heal_attempts, indent=2))
        if spec.heal_events is not None:
            (ldir / "heal-events.jsonl").write_bytes(b"".join(line(r) for r in spec.heal_events))
        for fname, rows in spec.recovery_runs.items():
            (ldir / "recovery-runs" / fname).write_bytes(b"".join(line(r) for r in rows))
        ledgers = {"copied": int(spec.heal_attempts is not None) + int(spec.heal_events is not None)
                   + len(spec.recovery_runs),
                   "healAttempts": {"copied": int(spec.heal_attempts is not None)},
                   "healEvents": {"copied": int(spec.heal_events is not None)},
                   "recoveryRuns": {"copied": len(spec.recovery_runs)}}
    n_kb, n_mem, n_sum = len(spec.kb), len(spec.memories), len(spec.summaries)
    n_temp, n_graph = len(spec.temporal or []), len(records)
    mc_stats: Row = {
        "message": f"Export complete. Exported {n_mem} memories, {n_sum} summaries, {n_temp} temporal summaries, "
                   "and 0 graph elements.",
        "count": n_mem + n_sum + n_temp,
        "memories": _stats(MEM_NAME, mem_file, n_mem, _enc(spec, "memories"), ids["memories"]),
        "summaries": _stats(SUM_NAME, sum_file, n_sum, _enc(spec, "summaries"), ids["summaries"]),
    }
    if spec.temporal is not None:
        mc_stats["temporalSummaries"] = _stats(TEMP_NAME, temp_file, n_temp, _enc(spec, "temporalSummaries"),
                                               ids["temp"])
    kb_stats: Row = {"message": f"Export complete. Exported {n_kb} knowledge base chunks.", "status": "complete",
                     "reason": None, "count": n_kb, "expected": n_kb, "collectionId": ids["kb"],
                     "payloadEncoding": _enc(spec, "kb") if kb_file else None}
    if not n_kb:
        kb_stats.update({"message": "Export degraded (source-collection-empty). This bundle is not a clean KB "
                                    "capture.", "status": "degraded", "reason": "source-collection-empty"})
    subsystems: Row = {
        "kb": kb_stats,
        "mc": mc_stats,
        "graph": {"message": f"Export complete. Exported 0 memories, 0 summaries, 0 temporal summaries, and "
                             f"{n_graph} graph elements.", "count": n_graph,
                  "graph": {"collection": "native-graph", "backupFile": str(graph_file) if graph_file else None,
                            "payloadEncoding": _enc(spec, "graph") if graph_file else None,
                            "expected": n_graph, "exported": n_graph, "skipped": 0, "skippedIds": []}},
        "concepts": {"copied": len(spec.concepts)},
        "trajectories": {"copied": 1},
        "mailbox": {"copied": int(spec.mailbox is not None)},
    }
    if ledgers is not None:
        subsystems["ledgers"] = ledgers

    def integrity(sub: str, n: int) -> Row:
        entry: Row = {"subsystem": sub, "status": "pass" if n else "empty", "sourceCount": n, "bundleCount": n}
        if not n:
            entry["reason"] = "source-empty"
        return entry

    counts: Row = {"kb": n_kb, "memories": n_mem, "summaries": n_sum}
    if spec.temporal is not None:
        counts["temporalSummaries"] = n_temp
    embedding: Row = {"counts": counts, "dimension": spec.dim}
    if spec.expected_consumer is not None:
        embedding["expectedConsumer"] = dict(spec.expected_consumer)
    embedding["schemaVersion"] = 1
    if spec.null_coords:
        topology = {"shared_topology": True,
                    "kbChromaCoords": {"host": "localhost", "port": 8000, "path": None,
                                       "storageReason": "physical-storage-not-observed"},
                    "mcChromaCoords": {"host": "localhost", "port": 8000, "dataDir": None,
                                       "storageReason": "physical-storage-not-observed"}}
    else:
        topology = {"shared_topology": True,
                    "kbChromaCoords": {"host": "localhost", "port": 8000, "path": "/srv/neo/.neo-ai-data/chroma"},
                    "mcChromaCoords": {"host": "localhost", "port": 8000, "dataDir": "/srv/neo/.neo-ai-data/chroma"}}
    meta: Row = {
        "bundleVersion": 1,
        "timestamp": stamp(when),
        "completedAt": iso(when + timedelta(minutes=41)),
        "subsystems": subsystems,
        "integrity": [integrity("kb", n_kb), integrity("mc", n_mem + n_sum + n_temp), integrity("graph", n_graph)],
    }
    if spec.capture is not None:
        sources: Row = {}
        for key, source, n in (("kb", "kb", n_kb), ("memories", "mc.memories", n_mem),
                               ("summaries", "mc.summaries", n_sum)):
            c = spec.capture.get(key, Capture(ids[key], ids[key], n))
            sources[source] = _capture_entry(source, n, c, spec.compared_to)
        meta["capture"] = {"schemaVersion": 1, "comparedTo": spec.compared_to, "sources": sources}
    meta.update({"topology": topology, "embedding": embedding, "neoVersion": spec.neo_version,
                 "gitSha": "4d2c2abce9db6ff9827dfefbf5085d1ba73a2da5"})
    (bundle / "bundle-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return bundle


def payloads(bundle: Path) -> list[Path]:
    return sorted(p for sub in ("kb", "mc", "graph") for p in (bundle / sub).iterdir()
                  if p.name.endswith((".jsonl", ".jsonl.br", ".jsonl.gz")))


def tear(path: Path, keep: float = 0.5) -> None:
    """Cut a file short, as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])


def mislabel(path: Path) -> None:
    """Put the decoded text back under the compressed name (not brotli / not gzip any more)."""
    data = path.read_bytes()
    text = brotli.decompress(data) if path.name.endswith(".br") else gzip.decompress(data)
    path.write_bytes(text)


def recode(bundle: Path, encoding: str) -> Path:
    """The same bundle with its kb/mc/graph payloads in another encoding (the meta's receipts follow)."""
    meta = json.loads((bundle / "bundle-meta.json").read_text())
    for p in payloads(bundle):
        for suf in (".jsonl.br", ".jsonl.gz", ".jsonl"):
            if p.name.endswith(suf):
                stem, old = p.name[: -len(suf)], suf
                break
        text = p.read_bytes()
        text = brotli.decompress(text) if old == ".jsonl.br" else gzip.decompress(text) if old == ".jsonl.gz" else text
        p.unlink()
        (p.parent / f"{stem}{SUFFIX[encoding]}").write_bytes(encode(text, encoding))

    def fix(obj: Any) -> None:
        if isinstance(obj, dict):
            if obj.get("payloadEncoding"):
                obj["payloadEncoding"] = encoding
                bf = obj.get("backupFile")
                if isinstance(bf, str):
                    for suf in (".jsonl.br", ".jsonl.gz", ".jsonl"):
                        if bf.endswith(suf):
                            obj["backupFile"] = bf[: -len(suf)] + SUFFIX[encoding]
                            break
            for v in obj.values():
                fix(v)

    fix(meta["subsystems"])
    (bundle / "bundle-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return bundle


def write_receipt(root: Path, *, status: str = "success", sync: str = "disabled", bundle: str | None = None,
                  error: str | None = None, exit_code: int | None = None,
                  finished: datetime | None = None, schema: int = 1) -> Path:
    """``last-backup-receipt.json`` as neo's offHostSyncStore writes it (2-space JSON, no trailing newline)."""
    finished = finished or datetime(2026, 9, 20, 3, 42, 55, 10000, tzinfo=UTC)
    ran = sync in ("success", "failed", "timeout")
    receipt = {
        "backup": {"durationMs": 2467012, "error": error if status == "failed" else None, "status": status},
        "bundleCompletedAt": iso(finished - timedelta(minutes=2)) if status == "success" else None,
        "integrity": {"emptySubsystems": [], "restorable": True if status == "success" else None},
        "bundleName": bundle if status == "success" else None,
        "finishedAt": iso(finished),
        "offHostSync": {"completionScope": "direct-child", "descendants": "unknown",
                        "durationMs": 1200 if ran else None, "exitCode": exit_code, "signal": None,
                        "status": sync, "stderrTail": "rsync: connection refused" if sync == "failed" else "",
                        "terminatedVia": "exit" if ran else None},
        "schemaVersion": schema,
    }
    path = root / "last-backup-receipt.json"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(receipt, indent=2))
    return path


def write_lease(path: Path, *, owner: str = "backup", reason: str = "manual-cli", pid: int = 41233,
                boot_id: str | None = "neo-orchestrator-7c9f", acquired: datetime | None = None,
                ttl_ms: int = 21_600_000, expires: bool = True) -> Path:
    """``heavy-maintenance-lease.json`` as neo's buildLeasePayload writes it."""
    acquired = acquired or datetime.now(UTC)
    lease: Row = {"owner": owner, "reason": reason, "pid": pid, "token": str(uuid.uuid4())}
    if boot_id is not None:
        lease["bootId"] = boot_id
    lease["acquiredAt"] = iso(acquired)
    lease["staleAfterMs"] = ttl_ms
    if expires:
        lease["expiresAt"] = iso(acquired + timedelta(milliseconds=ttl_ms))
    lease["metadata"] = {"script": "ai/scripts/maintenance/backup.mjs"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(lease, indent=2))
    return path
