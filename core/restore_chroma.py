"""Restoring the Chroma collections (kb, then the Memory Core's memories, summaries and temporal summaries),
chunk by chunk.

Merge adds only the ids a chunk finds absent (`get(ids)` then `add`): a live row, and its metadata, is never
rewritten. That is not always neo's end state: neo's KB import upserts, so when a chunk's metadata changed under
the same id, neo overwrites the live row and this keeps it (the interop suite found exactly that). Memories
and summaries neo adds too. Replace recreates each collection the bundle captured empty first (a bundle that
never captured temporal summaries leaves the live collection alone). Every chunk is journaled before it
is written; Chroma's `add` skips what already landed, so a chunk replayed after a crash is harmless.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson

from core import chroma_store as cs
from core.bundle import captures_collection, collection_files
from core.errors import storage_failure
from core.journal import crc_chroma
from core.progress import Ticker, check_cancel
from core.restore_model import ChromaCount, KbOutcome, McCounts, McOutcome, RunState, raise_storage_failure
from core.scan import iter_lines
from core.substrates import KB, MC_COLLECTIONS, MEMORIES, SUMMARIES, TEMPORAL

Line = tuple[Path, int, bytes]


class _Counts:
    """One collection's tally as chunks land."""

    def __init__(self) -> None:
        self.inserted = self.skipped_existing = self.failed = self.duplicates_in_chunk = 0

    def frozen(self) -> ChromaCount:
        return ChromaCount(inserted=self.inserted, skipped_existing=self.skipped_existing, failed=self.failed,
                           duplicates_in_chunk=self.duplicates_in_chunk)

    def progress(self) -> dict[str, int]:
        return {"inserted": self.inserted, "skippedExisting": self.skipped_existing, "failed": self.failed,
                "duplicatesInChunk": self.duplicates_in_chunk}


def restore_kb(s: RunState) -> None:
    files = collection_files(s.bundle, KB.key)
    c = _Counts()
    try:
        if files or s.replace:
            _collection(s, KB.key, files, c)
    except Exception as exc:
        raise_storage_failure(exc, s.dd.chroma_label, "the knowledge base into Chroma")
        raise
    finally:  # also when cancelled or failed: the result then says what was committed
        s.subsystems["kb"] = KbOutcome(
            message=(f"Import complete. Inserted {c.inserted} KB chunks; {c.skipped_existing} already present."
                     if files else "No KB file in the bundle."),
            imported=c.inserted, inserted=c.inserted, id_already_present=c.skipped_existing, failed=c.failed,
            duplicates_in_chunk=c.duplicates_in_chunk, natural_key_divergent=0,
            divergence_scan=s.v.divergence_scan, mode=s.opts.mode, target_collection=s.opts.target_collection)


def restore_mc(s: RunState) -> None:
    counts = {c.key: _Counts() for c in MC_COLLECTIONS}
    try:
        for c in MC_COLLECTIONS:
            files = collection_files(s.bundle, c.key)
            if files or (s.replace and captures_collection(s.bundle, s.v.meta, c.key)):
                _collection(s, c.key, files, counts[c.key])
    except Exception as exc:
        raise_storage_failure(exc, s.dd.chroma_label, "memories and summaries into Chroma")
        raise
    finally:  # also when cancelled or failed: the result then says what was committed
        written = sum(c.inserted for c in counts.values())
        s.subsystems["mc"] = McOutcome(
            message=f"Import batch complete. Successfully ingested {written} records.", imported=written,
            mode=s.opts.mode, counts=McCounts(memories=counts[MEMORIES.key].frozen(),
                                              summaries=counts[SUMMARIES.key].frozen(),
                                              temporal_summaries=counts[TEMPORAL.key].frozen(),
                                              memories_inserted=written))


def _chunk_rows(s: RunState) -> int:
    dim = s.v.dimension or 1024
    if s.dd.chroma_url:
        return cs.rows_per_request(s.client(), dim)  # a server's request-size limit
    # embedded: bounded by the client's max batch and ~1M parsed floats per chunk (≈250 rows at 4096-d)
    return max(50, min(cs.max_batch(s.client()), 1_000_000 // dim))


def _collection(s: RunState, key: str, files: list[Path], counts: _Counts) -> None:
    """Merge one collection's files chunk by chunk, updating `counts` as each chunk lands."""
    name = s.opts.target_collection if key == KB.key and s.opts.target_collection else s.dd.collection_name(key)
    col = cs.recreate(s.client(), name) if s.replace else cs.get_collection(s.client(), name, create=True)
    assert col is not None  # create=True
    ticker = Ticker(key, s.v.verify.counts.get(key), s.on_progress)
    size = _chunk_rows(s)
    buf: list[Line] = []
    done = 0
    for item in iter_lines(files):
        buf.append(item)
        if len(buf) >= size:
            check_cancel(s.cancel)
            _chunk(s, col, key, buf, counts)
            done += len(buf)
            buf = []
            ticker.update(done, counters={key: counts.progress()})
    if buf:
        check_cancel(s.cancel)
        _chunk(s, col, key, buf, counts)
        done += len(buf)
    ticker.update(done, force=True, counters={key: counts.progress()})


def _chunk(s: RunState, col: cs.Collection, key: str, buf: list[Line], counts: _Counts) -> None:
    rows: dict[str, tuple[Path, int, dict[str, object]]] = {}
    for path, number, raw in buf:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # validation makes this unreachable; never drop it silently
            counts.failed += 1
            s.fail(path, number, f"not JSON: {exc}")
            continue
        rid = obj.get("id") if isinstance(obj, dict) else None
        if not isinstance(rid, str) or not rid:
            counts.failed += 1
            s.fail(path, number, "row has no id")
        elif rid in rows:
            # chroma would fail the whole add with DuplicateIDError: keep the first, count the rest
            counts.skipped_existing += 1
            counts.duplicates_in_chunk += 1
        else:
            rows[rid] = (path, number, obj)
    if not rows:
        return
    existing = cs.existing_ids(col, list(rows))
    counts.skipped_existing += len(existing)
    todo = [(rid, v) for rid, v in rows.items() if rid not in existing]
    if not todo:
        return
    ids = [rid for rid, _ in todo]
    metas = [v[2].get("metadata") or None for _, v in todo]  # chroma rejects {}: store None
    docs = [v[2].get("document") for _, v in todo]
    emb = np.asarray([v[2].get("embedding") for _, v in todo], dtype=np.float32)
    assert s.journal is not None
    b = s.journal.pending(key, rows=[(rid, crc_chroma(d, m)) for rid, d, m in zip(ids, docs, metas, strict=True)],
                          collection=col.name)
    try:
        cs.add(col, ids, emb, metas, docs)
        counts.inserted += len(ids)
    except Exception as exc:
        if storage_failure(exc):  # a full disk refuses every row after it: stop, not one failure per row
            raise
        # isolate the rows chroma refuses; the others still go in (add skips what already landed)
        for i, (rid, (path, number, _obj)) in enumerate(todo):
            try:
                cs.add(col, [rid], emb[i:i + 1], metas[i:i + 1], docs[i:i + 1])
                counts.inserted += 1
            except Exception as exc:
                if storage_failure(exc):
                    raise
                counts.failed += 1
                s.fail(path, number, f"chroma refused the row: {exc}")
    s.journal.committed(b)

