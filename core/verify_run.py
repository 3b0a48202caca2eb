"""Post-restore verification: did the run do exactly what it reported, and nothing else?

Every restore that writes ends with this (its result's ``verification``), and ``verify-run RUN_ID`` repeats it
later against the stores as they are then. Each check passes, fails or is skipped, and says why:

- **counts**: every id the run's journal says it inserted is present; per node label, edge type and collection
  the present rows equal what the run reported and what its plan predicted (when it had one);
- **untouched**: the live rows that existed before the run are as they were (``core.run_digest`` says which rows
  a run could touch and how they are fingerprinted before the first write);
- **integrity**: ``PRAGMA integrity_check`` (the full check) and ``PRAGMA foreign_key_check`` find nothing, and
  no edge the run inserted points at a missing node;
- **vectors**: for a sample of the rows the run inserted into each collection (50 by default), a query by the
  row's own stored embedding returns that row first (a row whose vector another row shares may come second at
  the same distance: a tie is an answer); the sample size and every miss are reported;
- **flat**: every flat file the run wrote is byte-equal to the bundle's file (and to what the journal recorded).

A failed verification changes nothing: undo stays the operator's call.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import orjson

from core import chroma_store as cs
from core import graph_store as gs
from core.bundle import substrate_files
from core.datadir import DataDir
from core.journal import RunRecord, committed_batches, get_run, pairs, resolve_flat
from core.jsonl import sha256_file, write_atomic
from core.neo_paths import RECOVERY_RUNS_DIR
from core.post_write import AfterWrites, IntegrityCheck
from core.progress import Progress, ProgressFn, check_cancel, no_progress
from core.restore_model import EXPECTED_FILE
from core.run_digest import (
    Digest,
    GraphState,
    Reservoir,
    chroma_hash,
    graph_state,
    iso_ms_now,
    node_label,
    payload_sha256,
    prewrite_rows,
    read_json,
    read_postwrite,
    read_prewrite,
)
from core.substrates import COLLECTION_BY_KEY, FLAT_DIRECTORIES, KB, VECTOR_COLLECTIONS, selected
from core.verification import CHECKS, Check, KeyCheck, VectorCheck, Verification, answers_itself
from core.wire import encode

SAMPLE = 50  # rows per collection queried by their own vector
NEAREST = 10  # results asked per query: room to see a tie
LISTED = 20  # ids listed per finding; all are counted
VERIFICATION_FILE = "verification.json"


def _table(obj: object, kind: str) -> dict[str, int] | None:
    if not isinstance(obj, dict):
        return None
    rows = obj.get(kind)
    return {str(k): int(v) for k, v in rows.items()} if isinstance(rows, dict) else {}


# ------------------------------------------------------------------------------------------- the checks


class _Run:
    """One verification as it goes."""

    def __init__(self, dd: DataDir, rec: RunRecord, sample: int, cancel: threading.Event | None,
                 after: AfterWrites | None) -> None:
        self.dd, self.rec, self.sample, self.cancel, self.after = dd, rec, sample, cancel, after
        only = rec.options.get("onlySubstrate")
        self.only = tuple(str(s) for s in only) if isinstance(only, list) else None
        self.conn = gs.open_live(dd.graph_db)
        self._client: cs.ClientAPI | None = None
        self._opened = False
        self.missing: list[str] = []
        self.missing_n = 0
        self.journaled: Counter[str] = Counter()
        self.present: dict[str, Counter[str]] = {"nodes": Counter(), "edges": Counter(), "chroma": Counter()}
        self.hook_rows = self.hook_present = 0
        self.delta: dict[str, Digest] = {t: Digest(rows=0, sum=0) for t in gs.TABLES}
        self.samples = {c.key: Reservoir(sample, f"{rec.run_id}/{c.key}") for c in VECTOR_COLLECTIONS}
        self.wrote_graph = False
        self.refused: dict[str, int] = {}
        self.refused_seen: list[str] = []
        self._state: GraphState | None = None
        self.flat_written: dict[str, Mapping[str, object]] = {}  # "substrate/name" -> its journal record
        self._check: IntegrityCheck | None = None
        self._own_check = False

    def client(self) -> cs.ClientAPI | None:
        if not self._opened:
            self._client = cs.open_client(self.dd, create=False)
            self._opened = True
        return self._client

    def collection(self, key: str) -> cs.Collection | None:
        """Where the run wrote this collection: the data dir's name for it, or the run's --target-collection."""
        target = self.rec.options.get("targetCollection")
        name = target if key == KB.key and isinstance(target, str) and target else self.dd.collection_name(key)
        return cs.get_collection(self.client(), name)

    def close(self) -> None:
        if self._check is not None and self._own_check:
            self._check.close()
        if self.conn is not None:
            self.conn.close()

    def _miss(self, ids: list[str]) -> None:
        self.missing_n += len(ids)
        self.missing += ids[: max(0, LISTED - len(self.missing))]

    # ---------------------------------------------------------------- one pass over the journal

    def read_journal(self) -> None:
        """What the run says it inserted: the graph's digest delta and rows per kind, the Chroma ids looked up."""
        for b in committed_batches(self.rec.path):
            check_cancel(self.cancel)
            s = b.get("s")
            if s == "graph":
                for kind, table in (("nodes", gs.NODES), ("edges", gs.EDGES)):
                    got = pairs(b, kind)
                    self.wrote_graph = self.wrote_graph or bool(got)
                    if b.get("origin") == "hook":
                        self.hook_rows += len(got)
                    elif got:
                        h = sum(zlib.crc32(rid.encode("utf-8", "surrogatepass")) ^ crc for rid, crc in got)
                        self.delta[table] = self.delta[table].plus(len(got), h)
                        self.journaled[kind] += len(got)
            elif isinstance(s, str) and s in COLLECTION_BY_KEY:
                self._chroma_batch(s, [rid for rid, _ in pairs(b, "rows")])
            elif s == "flat" and isinstance(target := b.get("target"), Mapping):
                self.flat_written[f"{target.get('substrate')}/{target.get('name')}"] = b

    def graph_state(self) -> GraphState:
        """The graph now: one read of each table (its digest and census), kept for every check that asks; the
        post-write one if no connection has committed since."""
        if self._state is None:
            kept = self.after.state if self.after is not None and self.after.unchanged() else None
            self._state = kept or graph_state(self.dd)
        return self._state

    def graph_present(self) -> None:
        """Per label and edge type, the inserted rows present. When the tables' digests equal the digests from
        before the run plus exactly the journaled rows, the tables hold those rows and nothing else changed:
        the census before and after then says how many of each label went in, with no lookup by id. Otherwise
        (a row missing or changed, a hook, an older run) every journaled id is looked up."""
        if not self.wrote_graph:
            return
        pre, now = read_prewrite(self.rec.path), self.graph_state()
        if (not self.hook_rows and pre is not None and pre.graph is not None and pre.graph_census is not None
                and now.census is not None
                and all(now.digests.get(t) == pre.graph.get(t, Digest(rows=0, sum=0)).plus(self.delta[t].rows,
                        self.delta[t].sum) for t in gs.TABLES)):
            for kind, table in (("nodes", gs.NODES), ("edges", gs.EDGES)):
                before = pre.graph_census.get(table, {})
                self.present[kind].update({k: n - before.get(k, 0) for k, n in now.census.get(table, {}).items()
                                           if n != before.get(k, 0)})
            return
        for b in committed_batches(self.rec.path, "graph"):
            check_cancel(self.cancel)
            self._graph_batch(b)

    def _graph_batch(self, b: Mapping[str, object]) -> None:
        hook = b.get("origin") == "hook"
        for kind in ("nodes", "edges"):
            ids = [rid for rid, _ in pairs(b, kind)]
            if not ids:
                continue
            rows = [] if self.conn is None else (
                [(rid, node_label(data)) for rid, data in gs.rows_data(self.conn, gs.NODES, ids)] if kind == "nodes"
                else gs.edge_types(self.conn, ids))
            found = {rid for rid, _ in rows}
            self._miss([rid for rid in ids if rid not in found])
            if hook:
                self.hook_present += len(found)
            else:
                self.present[kind].update(key for _, key in rows)

    def orphans(self) -> list[str]:
        """The run's edges whose endpoint is missing (asked only when foreign_key_check found an edge so)."""
        found: list[str] = []
        for b in committed_batches(self.rec.path, "graph"):
            ids = [rid for rid, _ in pairs(b, "edges")]
            if ids and self.conn is not None:
                found += gs.orphan_edges(self.conn, ids)[: max(0, LISTED - len(found))]
        return found

    def start_integrity(self) -> None:
        """`integrity_check` on a connection of its own, on a thread beside the other checks: it reads every page
        of the file with the GIL released, and is the longest of them."""
        started = self.after.integrity() if self.after is not None else None
        self._own_check = started is None
        if started is not None or self.wrote_graph or selected(self.only, "graph"):
            self._check = started or IntegrityCheck(self.dd)

    def _chroma_batch(self, key: str, ids: list[str]) -> None:
        col = self.collection(key)
        found = cs.existing_ids(col, ids) if col is not None and ids else set()
        self.journaled[key] += len(ids)
        self.present["chroma"][key] += len(found)
        absent = [rid for rid in ids if rid not in found]
        refused = min(len(absent), self.refused.get(key, 0))  # the rows Chroma refused at the run
        if refused:
            self.refused[key] -= refused
            self.refused_seen.append(f"{key}: {refused:,} journaled row(s) absent, as the run reported them "
                                     f"failed (Chroma refused them), e.g. {absent[0]}")
            self.journaled[key] -= refused
            absent = absent[refused:]
        self._miss(absent)
        for rid in ids:
            if rid in found:
                self.samples[key].add(rid)

    # ---------------------------------------------------------------- the checks

    def counts(self, expected: Mapping[str, object] | None) -> tuple[Check, tuple[KeyCheck, ...]]:
        reported = expected.get("reported") if expected else None
        planned = expected.get("planned") if expected else None
        keys: list[KeyCheck] = []
        for kind in ("nodes", "edges", "chroma"):
            rep, plan = _table(reported, kind), _table(planned, kind)
            names = dict.fromkeys([*(rep or {}), *(plan or {}), *self.present[kind]])
            for key in names:
                if kind == "chroma" and (rep is None or key not in rep) and (plan is None or key not in plan):
                    continue
                keys.append(KeyCheck(kind=kind, key=key, present=self.present[kind][key],
                                     reported=None if rep is None else rep.get(key, 0),
                                     planned=None if plan is None else plan.get(key, 0)))
        total = sum(self.journaled.values()) + self.hook_rows
        details: list[str] = []
        if self.missing_n:
            details.append(f"{self.missing_n:,} inserted row(s) are missing, e.g. " + ", ".join(self.missing))
        for k in keys:
            if not k.ok:
                what = f"{k.kind[:-1] if k.kind != 'chroma' else 'collection'} {k.key}"
                details.append(f"{what}: {k.present:,} present; the run reported {k.reported if k.reported is not None else '?'}"
                               f", the plan said {k.planned if k.planned is not None else '?'}")
        details += self.refused_seen
        if self.hook_rows:
            details.append(f"post-restore hook: {self.hook_present:,} of its {self.hook_rows:,} inserted rows present")
        failed = bool(self.missing_n) or any(not k.ok for k in keys)
        if total == 0:
            summary = "the run inserted nothing"
        elif failed:
            summary = f"{total - self.missing_n:,} of {total:,} inserted rows present" + \
                      ("; counts differ from the run's report or its plan" if any(not k.ok for k in keys) else "")
        else:
            summary = f"all {total:,} inserted rows present" + (
                ", per label, edge type and collection as reported and planned" if planned is not None
                else ", per label, edge type and collection as reported (the run had no plan to compare with)")
        return Check(name="counts", status="failed" if failed else "passed", summary=summary,
                     details=tuple(details)), tuple(keys)

    def untouched(self, at_run: bool) -> Check:
        pre = read_prewrite(self.rec.path)
        if pre is None:
            return Check(name="untouched", status="skipped",
                         summary="no pre-write digest (the run stopped before its first write, or an older version "
                                 "ran it)")
        if pre.mode == "replace":
            return Check(name="untouched", status="skipped",
                         summary="replace truncates the stores it restores by design: no live row is kept")
        details: list[str] = []
        failed = False
        parts: list[str] = []
        if pre.graph is not None:
            post = read_postwrite(self.rec.path)
            # at the run: judged on what its writers left (a hook rewrites what it owns), and only the counts
            # check sees a row that went missing after that
            now = post.digests if post is not None and at_run else self.graph_state().digests
            measured = post.digests if post is not None else now
            for table in gs.TABLES:
                before = pre.graph.get(table, Digest(rows=0, sum=0))
                want = before.plus(self.delta[table].rows, self.delta[table].sum)
                got = measured.get(table, Digest(rows=0, sum=0))
                if got != want:
                    failed = True
                    details.append(f"graph {table}: {before.rows:,} live rows before + {self.delta[table].rows:,} "
                                   f"inserted should make {want.rows:,} with the same data; found {got.rows:,}"
                                   + (" with different data" if got.rows == want.rows else ""))
                if now.get(table) != measured.get(table):
                    details.append(f"graph {table}: changed since the run ended ({measured[table].rows:,} rows then, "
                                   f"{now[table].rows:,} now): a later writer, not the run")
            parts.append(f"graph {pre.graph[gs.NODES].rows:,} node(s), {pre.graph[gs.EDGES].rows:,} edge(s)"
                         if gs.NODES in pre.graph and gs.EDGES in pre.graph else "graph")
        for key, before in pre.collections.items():
            col = self.collection(key)
            changed: list[str] = []
            n = 0
            for chunk in prewrite_rows(self.rec.path, key):
                rows = cs.stored(col, [rid for rid, _ in chunk]) if col is not None else {}
                for rid, h in chunk:
                    row = rows.get(rid)
                    if row is None or chroma_hash(rid, *row) != h:
                        n += 1
                        if len(changed) < LISTED:
                            changed.append(rid + (" (deleted)" if row is None else " (changed)"))
            if n:
                failed = True
                details.append(f"{key}: {n:,} of the {before.rows:,} live rows the bundle names changed: "
                               + ", ".join(changed))
            parts.append(f"{key} {before.rows:,} row(s) the bundle names")
        written = self.flat_written
        for name, sha in pre.flat.items():
            if name in written:
                continue
            path = self._flat_path(name)
            now_sha = sha256_file(path) if path is not None and path.is_file() else None
            if now_sha != sha:
                failed = True
                details.append(f"{name}: {'deleted' if now_sha is None else 'changed'}, the run did not write it")
        if pre.flat:
            parts.append(f"{len(pre.flat)} flat file(s)")
        summary = ("live rows changed: " if failed else "as before the run: ") + ("; ".join(parts) or "nothing live")
        return Check(name="untouched", status="failed" if failed else "passed", summary=summary,
                     details=tuple(details))

    def _flat_path(self, name: str, target: object = None) -> Path | None:
        """Where the file is now, read only: undo's rule (`resolve_flat`, on the journal's own target record: a
        ledger names its member), except that a name undo refuses to touch for safety (a backslash in it) is
        still read, inside the substrate's own folder."""
        sub, _, file = name.partition("/")
        found = resolve_flat(self.dd, target if isinstance(target, Mapping) else {"substrate": sub, "name": file}).path
        if found is None and sub in FLAT_DIRECTORIES and file not in ("", ".", "..") and not {"/", "\x00"} & set(file):
            return self.dd.flat_target(sub) / file
        return found

    def integrity(self) -> Check:
        if not self.wrote_graph and not selected(self.only, "graph"):
            return Check(name="integrity", status="skipped", summary="the run did not restore the graph")
        if self.conn is None:
            return Check(name="integrity", status="skipped", summary="no graph database")
        fk_n, fk = gs.foreign_key_problems(self.conn)
        # with no edge anywhere lacking a node, none the run inserted does: look the run's edges up only if not
        orphans = self.orphans() if fk_n else []
        problems = self._check.result() if self._check is not None else gs.integrity_problems(self.conn)
        details = [f"integrity_check: {p}" for p in problems] + [f"foreign_key_check: {p}" for p in fk]
        if orphans:
            details.append("edges the run inserted whose endpoint is missing: " + ", ".join(orphans))
        failed = bool(problems or fk_n or orphans)
        summary = ("integrity_check ok, foreign_key_check clean, no orphan edge introduced" if not failed else
                   f"integrity_check {'ok' if not problems else 'FAILED'}, foreign_key_check "
                   f"{'clean' if not fk_n else f'{fk_n:,} violation(s)'}, "
                   f"{len(orphans):,} orphan edge(s) introduced")
        return Check(name="integrity", status="failed" if failed else "passed", summary=summary,
                     details=tuple(details))

    def vectors(self) -> tuple[Check, tuple[VectorCheck, ...]]:
        results: list[VectorCheck] = []
        for c in VECTOR_COLLECTIONS:
            sample = self.samples[c.key]
            if not self.journaled[c.key]:
                continue
            col = self.collection(c.key)
            ids = sample.items
            misses: list[str] = []
            answered = 0
            if col is not None and ids:
                stored = cs.embeddings(col, ids)
                order = [rid for rid in ids if rid in stored]
                misses += [f"{rid}: no stored vector" for rid in ids if rid not in stored]
                k = max(1, min(NEAREST, cs.count(col)))
                for rid, hits in zip(order, cs.nearest(col, [stored[r] for r in order], k), strict=True):
                    if answers_itself(rid, hits):
                        answered += 1
                    elif len(misses) < LISTED:
                        first = hits[0] if hits else ("nothing", 0.0)
                        mine = next((d for r, d in hits if r == rid), None)
                        misses.append(f"{rid}: nearest is {first[0]} at {first[1]:.6f}" +
                                      (f", itself at {mine:.6f}" if mine is not None else f", itself not in the {k}"))
            results.append(VectorCheck(collection=c.key, space=cs.space(col) if col is not None else "none",
                                       sampled=len(ids), answered=answered, misses=tuple(misses)))
        if not results:
            return Check(name="vectors", status="skipped", summary="the run inserted no vector"), ()
        failed = any(v.answered != v.sampled for v in results)
        summary = "; ".join(f"{v.collection} {v.answered}/{v.sampled} answer with themselves ({v.space})"
                            for v in results)
        details = tuple(m for v in results for m in (f"{v.collection} {x}" for x in v.misses))
        return Check(name="vectors", status="failed" if failed else "passed", summary=summary,
                     details=details), tuple(results)

    def flat(self) -> Check:
        written = self.flat_written
        if not written:
            return Check(name="flat", status="skipped", summary="the run wrote no flat file")
        details: list[str] = []
        equal = 0
        for name, b in written.items():
            target = b.get("target")
            path = self._flat_path(name, target)
            now = sha256_file(path) if path is not None and path.is_file() else None
            source = self._bundle_file(name, target)
            bundle_sha = payload_sha256(source) if source is not None else None
            if now is None:
                details.append(f"{name}: missing")
            elif now != b.get("sha256"):
                details.append(f"{name}: differs from what the run wrote")
            elif bundle_sha is not None and bundle_sha != now:
                details.append(f"{name}: differs from the bundle's file")
            else:
                equal += 1
        gone = "" if all(self._bundle_file(n, b.get("target")) is not None for n, b in written.items()) else " (a bundle is gone: compared with the journal)"
        return Check(name="flat", status="failed" if details else "passed",
                     summary=f"{equal} of {len(written)} written file(s) byte-equal to the bundle{gone}",
                     details=tuple(details))

    def _bundle_file(self, name: str, target: object = None) -> Path | None:
        sub, _, file = name.partition("/")
        sources = self.rec.options.get("sources")
        bundle = Path(str(sources[sub])) if isinstance(sources, dict) and sub in sources else Path(self.rec.bundle)
        if not bundle.is_dir():
            return None
        if sub == "ledgers":  # a recovery run's ledger sits one folder deeper than the other two
            runs = isinstance(target, Mapping) and target.get("member") == "recoveryRuns"
            hit = [f for f in substrate_files(bundle, sub)
                   if f.name == file and (f.parent.name == RECOVERY_RUNS_DIR) == runs]
        elif sub in FLAT_DIRECTORIES:
            hit = [f for f in substrate_files(bundle, sub) if f.name == file]
        else:
            hit = substrate_files(bundle, sub)[:1]
        return hit[0] if hit else None


def verify_run(dd: DataDir, run_id: str, *, sample: int = SAMPLE, at_run: bool = False, save: bool = True,
               on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None,
               after: AfterWrites | None = None) -> Verification:
    """Verify a journaled run against the stores now; with ``save`` the result is also kept in its run dir (the
    latest one: the incident report quotes it). The caller holds the data dir lock if writers may run."""
    started = time.monotonic()
    rec = get_run(dd, run_id)
    if rec.undo and rec.undo.get("status") == "completed":
        v = Verification(run_id=rec.run_id, status="undone", checked_at=iso_ms_now(), at_run=at_run,
                         sample_size=sample, checks=tuple(Check(name=n, status="skipped", summary=(
                             f"the run was undone at {rec.undo.get('endedAt')}: its rows were removed on purpose"))
                             for n in CHECKS))
        return _save(rec, v) if save else v
    run = _Run(dd, rec, max(0, sample), cancel, after)
    try:
        def step(n: int, what: str) -> None:
            check_cancel(cancel)
            on_progress(Progress("verification", n, len(CHECKS), unit="checks", message=what))

        step(0, "reading the journal: every inserted row present?")
        expected = read_json(rec.path / EXPECTED_FILE)
        refused = expected.get("refused") if expected else None
        run.refused = {str(k): int(v) for k, v in refused.items()} if isinstance(refused, dict) else {}
        run.read_journal()
        run.start_integrity()
        run.graph_present()
        counts, keys = run.counts(expected)
        step(1, "the live rows from before the run untouched?")
        untouched = run.untouched(at_run)
        step(2, "integrity_check, foreign_key_check, orphans")
        integrity = run.integrity()
        step(3, "vectors answer with themselves?")
        vectors, vector_rows = run.vectors()
        step(4, "flat files equal to the bundle?")
        flat = run.flat()
        step(5, "done")
    finally:
        run.close()
    checks = (counts, untouched, integrity, vectors, flat)
    v = Verification(run_id=rec.run_id, status="failed" if any(c.status == "failed" for c in checks) else "passed",
                     checked_at=iso_ms_now(), at_run=at_run, sample_size=sample, checks=checks, counts=keys,
                     vectors=vector_rows, duration_ms=int((time.monotonic() - started) * 1000))
    return _save(rec, v) if save else v


def _save(rec: RunRecord, v: Verification) -> Verification:
    write_atomic(rec.path / VERIFICATION_FILE, orjson.dumps(encode(v)))
    return v


def last_verification(run_dir: Path) -> Mapping[str, object] | None:
    """The run's latest verification as it was written (the report reads it; a JSON object, not re-run)."""
    return read_json(run_dir / VERIFICATION_FILE)


