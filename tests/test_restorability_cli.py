"""Restorability through the commands an operator runs: looks that read no payload byte, bundles that are torn,
meta-less, symlinked, padded or carry a file or a checksum key they should not, and `backup` vouching for its own
bundle. Every bundle is built on disk (tests/restorability_builders.py) and damaged there."""

from __future__ import annotations

import builtins
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.cli import main
from core.backup import run_backup
from core.bundle import META_FILE, list_root
from core.datadir import DataDir, resolve
from core.receipt import RECEIPT_FILE
from core.restorability import State
from tests.builders import edge, graph_state, live_graph, make_live, node, write_bundle
from tests.restorability_builders import build_bundle, cut_at_line, cut_in_half


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("NEO_BACKUP_PATH", "NEO_MEMORY_DB_PATH", "RECOVERY_CONSOLE_CONFIG", "RECOVERY_CONSOLE_CHROMA_URL"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def ago(**kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)


def cli(capsys: pytest.CaptureFixture[str], dd: DataDir, *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = main(["--data-dir", str(dd.root), *argv])
    out = capsys.readouterr()
    body: Any = out.out
    if "--json" in argv and out.out.strip():
        body = json.loads(out.out)
    return code, body, out.err


class Opened:
    """Every path this process opens while it is installed (open, io.open, os.open)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real_open, real_io_open, real_os_open = builtins.open, io.open, os.open

        def spy(real: Any) -> Any:
            def wrapper(file: Any, *a: Any, **k: Any) -> Any:
                if isinstance(file, str | bytes | os.PathLike):
                    self.paths.append(os.fsdecode(file))
                return real(file, *a, **k)
            return wrapper

        monkeypatch.setattr(builtins, "open", spy(real_open))
        monkeypatch.setattr(io, "open", spy(real_io_open))
        monkeypatch.setattr(os, "open", spy(real_os_open))

    def under(self, root: Path) -> list[str]:
        return [p for p in self.paths if p.startswith(str(root)) and not p.endswith(META_FILE)]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[Opened]:
    yield Opened(monkeypatch)


# ------------------------------------------------------------------------------- looks read no payload


def test_list_and_retention_read_no_payload_byte(dd: DataDir, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for h in range(4):
        build_bundle(dd.backup_root, ago(hours=1 + 6 * h), checksums=h % 2 == 0)
    torn = build_bundle(dd.backup_root, ago(minutes=10))
    cut_at_line(torn.graph)
    spy = Opened(monkeypatch)
    code, listing, _ = cli(capsys, dd, "list", "--json")
    assert code == 0
    code, report, _ = cli(capsys, dd, "retention", "--json")
    assert code == 0
    code, _, _ = cli(capsys, dd, "guard", "--no-verify", "--json")
    assert code == 0
    monkeypatch.undo()
    # each meta was read, and neo's root receipt (when there is one: not here) beside the bundles; no payload byte
    assert [p for p in spy.under(dd.backup_root) if not p.endswith("/" + RECEIPT_FILE)] == []
    assert sum(p.endswith(META_FILE) for p in spy.paths) == 3 * 5
    assert len(listing["bundles"]) == 5
    rows = {b["name"]: (b["substrates"]["graph"]["rows"], b["substrates"]["graph"]["rowsFrom"])
            for b in listing["bundles"]}
    assert rows[torn.path.name] == (50, "integrity")  # the meta's claim: the torn file was not read
    assert {b["substrates"]["graph"]["state"] for b in listing["bundles"]} == {"claimed"}
    assert {rf for _, rf in rows.values()} == {"integrity", "checksums"}
    assert all(v["substrates"]["kb"]["state"] == "claimed" for v in report["bundles"])


def test_list_shows_states_and_what_the_rows_came_from(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    good = build_bundle(dd.backup_root, ago(hours=3), checksums=True)
    cut = build_bundle(dd.backup_root, ago(hours=2), checksums=True)
    cut_in_half(cut.graph)
    bare = build_bundle(dd.backup_root, ago(hours=1), meta=False)
    code, out, _ = cli(capsys, dd, "list", "--json")
    assert code == 0
    by = {b["name"]: b["substrates"] for b in out["bundles"]}
    assert by[good.path.name]["graph"] | {"files": None} == {
        "present": True, "files": None, "bytes": good.graph.stat().st_size, "rows": 50, "integrity": "pass",
        "restorable": True, "error": None, "state": "claimed", "word": None, "why": None, "rowsFrom": "checksums"}
    assert (by[cut.path.name]["graph"]["state"], by[cut.path.name]["graph"]["word"]) == ("failed", "torn")
    assert by[cut.path.name]["graph"]["restorable"] is False
    assert (by[bare.path.name]["kb"]["state"], by[bare.path.name]["kb"]["word"]) == ("not-restorable", "no meta")
    assert by[bare.path.name]["concepts"]["state"] is None  # only recovery substrates have a state
    code, text, _ = cli(capsys, dd, "list")
    assert "50 torn" in text and "50 ok?" in text and "- no meta" in text
    assert "3 bundle(s) not yet verified" not in text and "2 bundle(s) not yet verified" in text


def test_a_failed_bundle_never_counts_for_the_floor(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    old = build_bundle(dd.backup_root, ago(days=60), checksums=True)
    cut = build_bundle(dd.backup_root, ago(hours=1), checksums=True)
    cut_in_half(cut.kb)
    code, out, _ = cli(capsys, dd, "retention", "--json")
    assert code == 0
    assert out["substrates"]["kb"]["newestRestorable"] == old.path.name
    old_verdict = next(b for b in out["bundles"] if b["name"] == old.path.name)
    assert "kb: newest restorable, kept whatever its age" in old_verdict["reasons"]


# --------------------------------------------------------------------------------- no meta, no restore


def test_a_meta_less_bundle_is_unverifiable_by_name(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    bare = build_bundle(dd.backup_root, ago(hours=1), meta=False)
    cut_at_line(bare.kb)  # cut short: with no meta nothing can tell
    code, out, _ = cli(capsys, dd, "verify", bare.path.name, "--json")
    assert code == 1 and out["verdict"] == "BUNDLE_UNVERIFIABLE"
    assert out["warnings"][0]["code"] == "no-meta"
    code, walk, _ = cli(capsys, dd, "verify", "--json")
    assert walk["code"] != "RESTORABLE" and walk["skipped"][0]["verdict"] == "BUNDLE_UNVERIFIABLE"


def test_a_meta_less_bundle_restores_only_when_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_graph(d, [node("A", "CONCEPT")], [])
    b = write_bundle(d.backup_root, nodes=[node("A", "CONCEPT"), node("B", "FILE")],
                     edges=[edge("e1", "A", "B", "CONTAINS")], with_meta=False)
    before = graph_state(d)
    code, _, err = cli(capsys, d, "restore", b.name, "--only-substrate=graph")
    assert code == 1 and "BUNDLE_UNVERIFIABLE" in err and "--allow-unverifiable" in err
    assert graph_state(d) == before and not d.runs_dir.exists()
    code, res, _ = cli(capsys, d, "restore", b.name, "--only-substrate=graph", "--allow-unverifiable", "--json")
    assert code == 0 and res["status"] == "completed"
    assert graph_state(d) != before
    code, runs, _ = cli(capsys, d, "runs", "--json")
    assert runs[0]["options"]["allowUnverifiable"] is True


# ----------------------------------------------------------------------- nothing outside the bundle is read


def test_a_symlinked_member_is_never_read(dd: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "outside" / "secret.jsonl"
    secret.parent.mkdir()
    secret.write_text('{"id": "secret"}\n')
    b = build_bundle(dd.backup_root, ago(hours=1))
    (b.path / "concepts" / "x.jsonl").symlink_to(secret)
    spy = Opened(monkeypatch)
    code, out, _ = cli(capsys, dd, "verify", b.path.name, "--json")
    monkeypatch.undo()
    assert code == 1 and out["verdict"] == "BUNDLE_INVALID"
    assert any(e["code"] == "symlink" and e["file"] == "concepts/x.jsonl" for e in out["errors"])
    assert not [p for p in spy.paths if "secret" in p or p.endswith("x.jsonl")]
    code, listing, _ = cli(capsys, dd, "list", "--json")
    assert {listing["bundles"][0]["substrates"][s]["word"] for s in ("kb", "mc", "graph")} == {"symlink"}


def test_a_symlinked_mc_folder_is_never_read(dd: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    b = build_bundle(dd.backup_root, ago(hours=1))
    elsewhere = tmp_path / "elsewhere-mc"
    (b.path / "mc").rename(elsewhere)
    (b.path / "mc").symlink_to(elsewhere, target_is_directory=True)
    spy = Opened(monkeypatch)
    code, out, _ = cli(capsys, dd, "verify", b.path.name, "--json")
    monkeypatch.undo()
    assert code == 1 and any(e["code"] == "symlink" and e["file"] == "mc" for e in out["errors"])
    assert not [p for p in spy.paths if "elsewhere-mc" in p or "/mc/" in p]


def test_a_graph_file_outside_the_checksums_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    make_live(d, nodes=6, memories=0, summaries=0, kb=0, dim=4)
    b = Path(run_backup(d).path)
    planted = b / "graph" / "graph-backup-planted.jsonl"
    planted.write_text(orjson.dumps({"type": "node", "data": {"id": "planted", "label": "X"}}).decode() + "\n")
    code, out, _ = cli(capsys, d, "verify", b.name, "--json")
    assert code == 1 and any(e["code"] == "unlisted" and e["file"] == "graph/graph-backup-planted.jsonl"
                             for e in out["errors"])
    code, _, err = cli(capsys, d, "restore", b.name, "--only-substrate=graph")
    assert code == 1 and "not in the checksums" in err


def test_a_checksum_key_outside_the_bundle_is_never_opened(dd: DataDir, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    b = build_bundle(dd.backup_root, ago(hours=1), checksums=True)
    meta = b.meta()
    meta["checksums"]["../../../../etc/shadow"] = {"sha256": "0" * 64, "bytes": 1}
    b.write_meta(meta)
    spy = Opened(monkeypatch)
    code, out, _ = cli(capsys, dd, "verify", b.path.name, "--json")
    monkeypatch.undo()
    assert code == 1 and out["checksums"] == "mismatch"
    assert any(e["code"] == "bad-checksum-key" for e in out["errors"])
    assert not [p for p in spy.paths if "shadow" in p]


def test_a_padded_file_fails_its_checksum(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    b = build_bundle(dd.backup_root, ago(hours=1), checksums=True)
    with open(b.memories, "ab") as fh:
        fh.write(b"\n" * 64)  # blank lines: every row still parses and counts match; only the size tells
    code, out, _ = cli(capsys, dd, "verify", b.path.name, "--json")
    assert code == 1 and [e["code"] for e in out["errors"]] == ["size-mismatch"]
    code, listing, _ = cli(capsys, dd, "list", "--json")
    assert listing["bundles"][0]["substrates"]["mc"]["state"] == "failed"


# ------------------------------------------------------------------------------ the cache and `backup`


def test_backup_records_its_bundle_as_verified(tmp_path: Path) -> None:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    make_live(d, nodes=10, memories=6, summaries=2, kb=3, dim=4)
    run_backup(d)
    b = list_root(d).bundles[0]
    assert {s: b.answer(s).state for s in ("kb", "mc", "graph")} == dict.fromkeys(("kb", "mc", "graph"),
                                                                                  State.VERIFIED)
    assert (b.substrates["mc"].rows, b.substrates["mc"].rows_from) == (8, "verify")
    assert (b.substrates["graph"].rows, b.substrates["graph"].rows_from) == (19, "verify")
    assert not list_root(d).unverified


def test_verify_records_and_a_change_forgets(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    b = build_bundle(dd.backup_root, ago(hours=1))
    assert list_root(dd).unverified == 1
    code, _, _ = cli(capsys, dd, "verify", b.path.name, "--json")
    assert code == 0
    assert list_root(dd).bundles[0].answer("graph").state is State.VERIFIED and list_root(dd).unverified == 0
    cut_at_line(b.graph)
    assert list_root(dd).bundles[0].answer("graph").state is State.CLAIMED
    code, _, _ = cli(capsys, dd, "verify", b.path.name, "--json")
    assert code == 1
    answer = list_root(dd).bundles[0].answer("graph")
    assert answer.state is State.FAILED and "integrity says graph holds 50 rows, the files hold 25" in (answer.reason or "")
