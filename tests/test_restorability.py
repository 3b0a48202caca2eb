"""The one answer per substrate of a bundle, from the cheap look (meta + lstat) and the verify cache.

Every bundle here is built on disk and then damaged the way an operator's bundles get damaged: a copy cut short,
a file padded, a link planted, a file slipped in, a meta that names a path outside the bundle."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from core.bundle import read_meta
from core.restorability import (
    WHOLE_BUNDLE,
    Answer,
    OutsideBundle,
    State,
    Survey,
    VerifyRecord,
    judge,
    open_member,
    record_faults,
    safe_member,
    survey,
)
from core.verify_cache import CACHE_FILE, VerifyCache
from tests.restorability_builders import Built, build_bundle, cut_at_line, cut_in_half, touch_later

RECOVERY = ("kb", "mc", "graph")


def look(b: Built, record: VerifyRecord | None = None) -> tuple[Survey, dict[str, Answer]]:
    state, meta, error = read_meta(b.path)
    seen = survey(b.path, meta)
    return seen, {s: judge(s, state, meta, error, seen, record) for s in RECOVERY}


def states(answers: dict[str, Answer]) -> dict[str, str]:
    return {s: a.state.value for s, a in answers.items()}


def test_a_neo_bundle_is_claimed_with_rows_from_its_meta(tmp_path: Path) -> None:
    b = build_bundle(tmp_path, kb=12, memories=9, summaries=3, graph_nodes=20, graph_edges=30)
    seen, answers = look(b)
    assert seen.faults == ()
    assert states(answers) == {"kb": "claimed", "mc": "claimed", "graph": "claimed"}
    assert [(a.rows, a.rows_from) for a in answers.values()] == [(12, "integrity"), (12, "integrity"),
                                                                 (50, "integrity")]
    assert all(a.counts and a.word is None for a in answers.values())


def test_rows_come_from_checksums_then_integrity_then_embedding(tmp_path: Path) -> None:
    b = build_bundle(tmp_path, checksums=True, kb=7)
    _seen, answers = look(b)
    assert (answers["kb"].rows, answers["kb"].rows_from) == (7, "checksums")
    meta = b.meta()
    del meta["checksums"]
    meta["integrity"] = [e for e in meta["integrity"] if e["subsystem"] != "kb"] + [
        {"subsystem": "kb", "status": "pass", "sourceCount": 7}]
    b.write_meta(meta)
    _seen, answers = look(b)
    assert (answers["kb"].rows, answers["kb"].rows_from) == (7, "embedding")
    assert (answers["mc"].rows, answers["mc"].rows_from) == (12, "integrity")


def test_graph_cut_in_half_with_checksums_fails_on_its_size(tmp_path: Path) -> None:
    b = build_bundle(tmp_path, checksums=True)
    cut_in_half(b.graph)
    _seen, answers = look(b)
    g = answers["graph"]
    assert g.state is State.FAILED and not g.counts
    assert g.word == "torn"
    assert f"graph/{b.graph.name} holds" in (g.reason or "") and "the checksums say" in (g.reason or "")
    assert states(answers)["kb"] == "claimed" and states(answers)["mc"] == "claimed"


def test_graph_cut_at_a_line_without_checksums_is_only_claimed(tmp_path: Path) -> None:
    """Nothing short of reading the rows tells this one from a good one: claimed, with the meta's count."""
    b = build_bundle(tmp_path, graph_nodes=20, graph_edges=30)
    kept = cut_at_line(b.graph)
    assert kept == 25
    _seen, answers = look(b)
    assert answers["graph"].state is State.CLAIMED
    assert (answers["graph"].rows, answers["graph"].rows_from) == (50, "integrity")


def test_a_failed_verify_for_these_files_fails_the_substrate_it_names(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    cut_at_line(b.graph)
    seen, _ = look(b)
    rec = VerifyRecord("BUNDLE_INVALID", seen.stamps,
                       record_faults([("graph", "integrity says graph holds 50 rows, the files hold 25")]),
                       {"kb": 12, "memories": 9, "summaries": 3, "graph": 25})
    _seen, answers = look(b, rec)
    assert answers["graph"].state is State.FAILED and answers["graph"].word == "invalid"
    assert answers["graph"].reason == "verify: BUNDLE_INVALID: integrity says graph holds 50 rows, the files hold 25"
    assert (answers["graph"].rows, answers["graph"].rows_from) == (25, "verify")
    assert answers["kb"].state is State.VERIFIED and answers["mc"].state is State.VERIFIED
    whole = VerifyRecord("BUNDLE_INVALID", seen.stamps, record_faults([(None, "bad meta")]), {})
    _seen, answers = look(b, whole)
    assert states(answers) == {"kb": "failed", "mc": "failed", "graph": "failed"}


def test_a_passed_verify_makes_it_verified(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    seen, _ = look(b)
    _seen, answers = look(b, VerifyRecord("RESTORABLE", seen.stamps, {}, {"kb": 12}))
    assert states(answers) == {"kb": "verified", "mc": "verified", "graph": "verified"}
    assert answers["kb"].rows_from == "verify" and answers["graph"].rows_from == "integrity"


def test_no_meta_is_never_restorable_whatever_its_files(tmp_path: Path) -> None:
    b = build_bundle(tmp_path, meta=False)
    cut_in_half(b.kb)
    _seen, answers = look(b)
    for a in answers.values():
        assert a.state is State.NOT_RESTORABLE and a.word == "no meta"
        assert "BUNDLE_UNVERIFIABLE" in (a.reason or "")
    seen, _ = look(b)
    _seen, answers = look(b, VerifyRecord("RESTORABLE", seen.stamps))  # not even a cached pass lifts it
    assert {a.state for a in answers.values()} == {State.NOT_RESTORABLE}


def test_malformed_meta(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    b.meta_path.write_text('{"completedAt": "2026-05-10T01:14:02.118Z", "integrity": ')
    _seen, answers = look(b)
    assert {(a.state, a.word) for a in answers.values()} == {(State.NOT_RESTORABLE, "malformed")}


def test_a_symlinked_flat_file_spoils_the_whole_bundle(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"id": "stolen"}\n')
    b = build_bundle(tmp_path / "root")
    (b.path / "concepts" / "x.jsonl").symlink_to(outside)
    _seen, answers = look(b)
    for a in answers.values():
        assert a.state is State.FAILED and a.word == "symlink"
        assert a.reason == f"concepts/x.jsonl is a symbolic link (to {outside}): a restore never reads through one"


def test_a_symlinked_mc_folder_fails_mc(tmp_path: Path) -> None:
    b = build_bundle(tmp_path / "root")
    real = tmp_path / "real-mc"
    os.rename(b.path / "mc", real)
    (b.path / "mc").symlink_to(real, target_is_directory=True)
    seen, answers = look(b)
    assert answers["mc"].state is State.FAILED and answers["mc"].word == "symlink"
    assert [f.code for f in seen.faults] == ["symlink"]  # the link is the fault, not a missing mc/ on top
    assert not any(s.rel.startswith("mc/") for s in seen.stamps)  # never walked through


def test_a_graph_file_not_in_the_checksums_fails_the_graph(tmp_path: Path) -> None:
    b = build_bundle(tmp_path, checksums=True)
    (b.path / "graph" / "graph-backup-extra.jsonl").write_text('{"type":"node","data":{"id":"planted"}}\n')
    (b.path / "graph" / "notes.txt").write_text("not a payload: no restore reads it\n")
    _seen, answers = look(b)
    assert answers["graph"].state is State.FAILED and answers["graph"].word == "unlisted file"
    assert answers["graph"].reason == ("graph/graph-backup-extra.jsonl is not in the checksums: a restore would "
                                       "read a file the backup did not write")
    assert answers["kb"].state is State.CLAIMED


@pytest.mark.parametrize("key", ["../../../../etc/shadow", "/etc/shadow", "kb/../../x", "kb\\..\\..\\x", "kb//x",
                                 "./kb/x", "", "kb/\x00"])
def test_a_checksum_key_outside_the_bundle_fails_it(tmp_path: Path, key: str) -> None:
    b = build_bundle(tmp_path, checksums=True)
    meta = b.meta()
    meta["checksums"][key] = {"sha256": "0" * 64, "bytes": 1}
    b.write_meta(meta)
    _seen, answers = look(b)
    assert {(a.state, a.word) for a in answers.values()} == {(State.FAILED, "bad checksums")}
    assert safe_member(key) is None


def test_safe_member_keeps_real_members() -> None:
    assert safe_member("graph/graph-backup-2026.jsonl") == "graph/graph-backup-2026.jsonl"
    assert safe_member("ledgers/recovery-runs/r1.jsonl") == "ledgers/recovery-runs/r1.jsonl"
    assert safe_member("kb/..hidden.jsonl") == "kb/..hidden.jsonl"  # a name starting with dots is still a name
    assert safe_member(3) is None


def test_a_padded_file_fails_on_its_size_when_checksums_say_it(tmp_path: Path) -> None:
    b = build_bundle(tmp_path, checksums=True)
    with open(b.memories, "ab") as fh:
        fh.write(b"\0" * 4096)
    _seen, answers = look(b)
    assert answers["mc"].state is State.FAILED and answers["mc"].word == "torn"
    without = build_bundle(tmp_path / "neo")
    with open(without.memories, "ab") as fh:
        fh.write(b"\0" * 4096)
    _seen, answers = look(without)
    assert answers["mc"].state is State.CLAIMED  # only a verify can tell


def test_a_payload_the_receipt_names_must_exist(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    b.summaries.unlink()
    _seen, answers = look(b)
    assert answers["mc"].state is State.FAILED and answers["mc"].word == "missing"
    assert answers["mc"].reason == f"mc/{b.summaries.name} is named by the meta's export receipt but missing"


def test_a_payload_the_checksums_list_must_exist(tmp_path: Path) -> None:
    b = build_bundle(tmp_path, checksums=True)
    meta = b.meta()
    meta["subsystems"] = {}
    b.write_meta(meta)
    b.kb.unlink()
    _seen, answers = look(b)
    assert answers["kb"].state is State.FAILED and answers["kb"].word == "missing"
    assert "listed in the checksums but missing" in (answers["kb"].reason or "")


def test_a_missing_required_folder_spoils_the_whole_bundle(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    for f in (b.path / "trajectories").iterdir():
        f.unlink()
    (b.path / "trajectories").rmdir()
    _seen, answers = look(b)
    assert {(a.state, a.word) for a in answers.values()} == {(State.FAILED, "incomplete")}
    meta = b.meta()
    meta["substrates"] = ["kb", "mc", "graph"]  # a safety bundle of these only
    b.write_meta(meta)
    _seen, answers = look(b)
    assert {a.state for a in answers.values()} == {State.CLAIMED}


def test_a_fifo_is_not_a_payload(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    os.mkfifo(b.path / "graph" / "graph-backup-pipe.jsonl")
    _seen, answers = look(b)  # lstat only: a FIFO never blocks the look
    assert answers["graph"].state is State.FAILED and answers["graph"].word == "not a file"


@pytest.mark.parametrize(("source", "substrate"), [("kb", "kb"), ("mc.memories", "mc"), ("mc.summaries", "mc")])
def test_a_collapsed_capture_is_not_a_recovery_source(tmp_path: Path, source: str, substrate: str) -> None:
    b = build_bundle(tmp_path)
    meta = b.meta()
    meta["capture"]["sources"][source].update(rowCount=0, rowState="zero", lineage="changed", collapsed=True)
    b.write_meta(meta)
    _seen, answers = look(b)
    a = answers[substrate]
    assert a.state is State.NOT_RESTORABLE and a.word == "collapsed"
    assert a.reason == (f"capture {source} collapsed to 0 rows against a changed collection: not a recovery source")
    others = [s for s in RECOVERY if s != substrate]
    assert all(answers[s].state is State.CLAIMED for s in others)


def test_integrity_words(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    meta = b.meta()
    meta["integrity"] = [{"subsystem": "kb", "status": "empty", "sourceCount": 0, "bundleCount": 0},
                         {"subsystem": "mc", "status": "skipped"}]
    b.write_meta(meta)
    _seen, answers = look(b)
    assert [(a.state, a.word) for a in answers.values()] == [
        (State.NOT_RESTORABLE, "empty"), (State.NOT_RESTORABLE, "skipped"), (State.NOT_RESTORABLE, "not captured")]


def test_a_meta_that_claims_rows_over_no_bytes_fails(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    b.graph.write_bytes(b"")
    _seen, answers = look(b)
    assert answers["graph"].state is State.FAILED and answers["graph"].word == "missing"
    assert answers["graph"].reason == "the meta claims 50 graph rows, no payload bytes are on disk"


def test_the_look_opens_no_payload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the meta is read: every other open fails the test."""
    b = build_bundle(tmp_path, checksums=True)
    state, meta, error = read_meta(b.path)
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file: Any, *a: Any, **k: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *a, **k)

    def spy_os_open(path: Any, *a: Any, **k: Any) -> Any:
        opened.append(str(path))
        return real_os_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    seen = survey(b.path, meta)
    answers = [judge(s, state, meta, error, seen, None) for s in RECOVERY]
    monkeypatch.undo()
    assert opened == []
    assert {a.state for a in answers} == {State.CLAIMED}
    assert sum(s.size for s in seen.stamps) == sum(f.stat().st_size for f in b.path.rglob("*") if f.is_file())


# ------------------------------------------------------------------------------------------ the cache


def test_cache_round_trip_and_owner_only(tmp_path: Path) -> None:
    b = build_bundle(tmp_path / "root")
    state_dir = tmp_path / "state"
    seen, _ = look(b)
    rec = VerifyRecord("RESTORABLE", seen.stamps, {}, {"kb": 12, "graph": 50}, "2026-05-10T02:00:00.000Z", 0.25)
    assert VerifyCache(state_dir).store(b.path, rec) is None
    path = state_dir / CACHE_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert state_dir.stat().st_mode & 0o777 == 0o700
    again = VerifyCache(state_dir).lookup(b.path, seen)
    assert again == VerifyRecord("RESTORABLE", tuple(sorted(seen.stamps, key=lambda s: s.rel)), {},
                                 {"kb": 12, "graph": 50}, "2026-05-10T02:00:00.000Z", 0.25)


@pytest.mark.parametrize("change", ["touch", "append", "add", "remove", "replace"])
def test_any_change_to_the_files_drops_the_record(tmp_path: Path, change: str) -> None:
    b = build_bundle(tmp_path / "root")
    seen, _ = look(b)
    cache = VerifyCache(tmp_path / "state")
    cache.store(b.path, VerifyRecord("RESTORABLE", seen.stamps))
    if change == "touch":
        touch_later(b.graph)
    elif change == "append":
        with open(b.graph, "ab") as fh:
            fh.write(b"\n")
    elif change == "add":
        (b.path / "mailbox" / "more.jsonl").write_text("{}\n")
    elif change == "remove":
        (b.path / "mailbox" / "sent-to-cull.jsonl").unlink()
    else:  # same name, same size, same mtime, another inode: a copy put in its place
        st = b.kb.stat()
        tmp = b.kb.with_name("tmp")
        tmp.write_bytes(b.kb.read_bytes())
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, b.kb)
    seen_now, answers = look(b, VerifyCache(tmp_path / "state").lookup(b.path, look(b)[0]))
    assert VerifyCache(tmp_path / "state").lookup(b.path, seen_now) is None
    assert {a.state for a in answers.values()} == {State.CLAIMED}


@pytest.mark.parametrize("garbage", [b"", b"{", b"[]", b'{"version": 99, "bundles": {}}', b"\xff\xfe",
                                     b'{"version": 1, "bundles": {"/x": {"verdict": 3}}}'])
def test_a_corrupt_cache_is_an_empty_one_and_is_rewritten(tmp_path: Path, garbage: bytes) -> None:
    b = build_bundle(tmp_path / "root")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / CACHE_FILE).write_bytes(garbage)
    seen, _ = look(b)
    cache = VerifyCache(state_dir)
    assert cache.lookup(b.path, seen) is None
    assert cache.store(b.path, VerifyRecord("RESTORABLE", seen.stamps)) is None
    assert VerifyCache(state_dir).lookup(b.path, seen) is not None
    assert json.loads((state_dir / CACHE_FILE).read_bytes())["version"] == 1


def test_a_bad_entry_does_not_hide_the_good_ones(tmp_path: Path) -> None:
    b = build_bundle(tmp_path / "root")
    state_dir = tmp_path / "state"
    seen, _ = look(b)
    VerifyCache(state_dir).store(b.path, VerifyRecord("RESTORABLE", seen.stamps))
    doc = json.loads((state_dir / CACHE_FILE).read_bytes())
    doc["bundles"][str(tmp_path / "root" / "other")] = {"verdict": "RESTORABLE", "stamps": [["x", "big", 1, 2]]}
    (state_dir / CACHE_FILE).write_text(json.dumps(doc))
    assert VerifyCache(state_dir).lookup(b.path, seen) is not None


def test_concurrent_stores_all_land(tmp_path: Path) -> None:
    root = tmp_path / "root"
    from datetime import UTC, datetime, timedelta

    built = [build_bundle(root, datetime(2026, 5, 1, tzinfo=UTC) + timedelta(hours=i)) for i in range(8)]
    state_dir = tmp_path / "state"

    def store(b: Built) -> None:
        VerifyCache(state_dir).store(b.path, VerifyRecord("RESTORABLE", look(b)[0].stamps))

    threads = [threading.Thread(target=store, args=(b,)) for b in built]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache = VerifyCache(state_dir)
    assert all(cache.lookup(b.path, look(b)[0]) is not None for b in built)


def test_records_of_deleted_bundles_are_dropped_on_the_next_store(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    root = tmp_path / "root"
    old = build_bundle(root, datetime(2026, 5, 1, tzinfo=UTC))
    new = build_bundle(root, datetime(2026, 5, 2, tzinfo=UTC))
    cache = VerifyCache(tmp_path / "state")
    cache.store(old.path, VerifyRecord("RESTORABLE", look(old)[0].stamps))
    shutil.rmtree(old.path)
    cache.store(new.path, VerifyRecord("RESTORABLE", look(new)[0].stamps))
    doc = json.loads((tmp_path / "state" / CACHE_FILE).read_bytes())
    assert list(doc["bundles"]) == [str(new.path)]


def test_whole_bundle_faults_are_keyed_apart() -> None:
    assert record_faults([("concepts", "a"), ("graph", "b"), ("graph", "c"), (None, "d")]) == {
        WHOLE_BUNDLE: "a", "graph": "b"}


# ------------------------------------------------------------------------------ opening inside the bundle only


def test_open_member_reads_a_plain_member(tmp_path: Path) -> None:
    b = build_bundle(tmp_path)
    with os.fdopen(open_member(b.path, f"graph/{b.graph.name}"), "rb") as fh:
        assert fh.read() == b.graph.read_bytes()


@pytest.mark.parametrize("what", ["file-link", "folder-link", "dotdot", "absolute", "fifo"])
def test_open_member_never_leaves_the_bundle(tmp_path: Path, what: str) -> None:
    secret = tmp_path / "secret.jsonl"
    secret.write_text('{"id": "secret"}\n')
    b = build_bundle(tmp_path / "root")
    if what == "file-link":
        (b.path / "concepts" / "x.jsonl").symlink_to(secret)
        rel = "concepts/x.jsonl"
    elif what == "folder-link":
        shutil.rmtree(b.path / "mc")
        (b.path / "mc").symlink_to(tmp_path, target_is_directory=True)
        rel = "mc/secret.jsonl"
    elif what == "dotdot":
        rel = "../../secret.jsonl"
    elif what == "absolute":
        rel = str(secret)
    else:
        os.mkfifo(b.path / "graph" / "pipe.jsonl")
        rel = "graph/pipe.jsonl"
    with pytest.raises(OutsideBundle):
        open_member(b.path, rel)
