"""The guard vouches only for a bundle it has seen verified (issue 16): it reads the newest candidate unless the
verify cache already holds a result for exactly its files, walks past one that fails, and says which it used.

The torn bundle here is the plausible kind: neo's layout, no checksums, the meta intact, the graph cut at a line
boundary. Every cheap check passes it; only reading its rows tells it from a good one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.cli import main
from core.bundle import list_root
from core.datadir import DataDir, resolve
from core.errors import GuardRefused
from core.guard import guard
from core.prune import prune
from core.restorability import State
from tests.restorability_builders import Built, build_bundle, cut_at_line


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("NEO_BACKUP_PATH", "NEO_MEMORY_DB_PATH", "RECOVERY_CONSOLE_CONFIG", "RECOVERY_CONSOLE_CHROMA_URL"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def ago(**kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)


def torn(dd: DataDir, when: datetime) -> Built:
    b = build_bundle(dd.backup_root, when, graph_nodes=20, graph_edges=30)
    assert cut_at_line(b.graph) == 25
    return b


def run(dd: DataDir, *args: str) -> int:
    return main(["--data-dir", str(dd.root), "guard", *args])


def test_a_torn_only_fresh_bundle_is_refused_by_name_and_fault(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    old = build_bundle(dd.backup_root, ago(hours=30))
    bad = torn(dd, ago(hours=1))
    assert list_root(dd).bundles[0].answer("graph").state is State.CLAIMED  # every cheap check passes it
    assert run(dd, "--require", "graph", "--json") == 3
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    g = out["substrates"]["graph"]
    assert not out["ok"] and out["verify"] is True
    assert g["newestRestorable"] == old.path.name and g["state"] == "claimed"  # too old to be worth a read
    assert [p["bundle"] for p in g["passedOver"]] == [bad.path.name]
    assert "integrity says graph holds 50 rows, the files hold 25" in g["passedOver"][0]["why"]
    assert [r["bundle"] for r in out["reads"]] == [bad.path.name]
    assert out["reads"][0]["verdict"] == "BUNDLE_INVALID"
    assert (f"graph: the newest restorable copy is 30h old ({old.path.name}), older than 24h; the newest bundle "
            f"{bad.path.name} failed (invalid): verify: BUNDLE_INVALID: ") in captured.err
    assert "integrity says graph holds 50 rows, the files hold 25" in captured.err


def test_a_torn_only_bundle_with_nothing_older(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    bad = torn(dd, ago(hours=1))
    assert run(dd, "--require", "graph") == 3
    err = capsys.readouterr().err
    assert f"graph: no restorable copy in any bundle; the newest bundle {bad.path.name} failed (invalid)" in err


def test_the_guard_passes_on_the_older_good_one_and_names_it(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    good = build_bundle(dd.backup_root, ago(hours=5))
    bad = torn(dd, ago(hours=1))
    assert run(dd, "--require", "graph", "--json") == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    g = out["substrates"]["graph"]
    assert out["ok"] and g["ok"]
    assert g["newestRestorable"] == good.path.name
    assert g["state"] == "verified" and g["verifiedBy"] == "read now" and g["verifySeconds"] >= 0
    assert g["passedOver"][0]["bundle"] == bad.path.name and g["passedOver"][0]["state"] == "failed"
    assert [r["bundle"] for r in out["reads"]] == [bad.path.name, good.path.name]
    assert f"verified graph: {good.path.name}, read in full now" in out["message"]
    assert f"walked past {bad.path.name}: failed (invalid): verify: BUNDLE_INVALID" in out["message"]


def test_kb_and_mc_of_the_torn_bundle_still_verify(dd: DataDir) -> None:
    """A fault in the graph spoils the graph: the same read vouches for the bundle's kb and mc."""
    build_bundle(dd.backup_root, ago(hours=5))
    bad = torn(dd, ago(hours=1))
    result = guard(dd)
    assert result.ok  # the graph's newest verified copy is 5h old; kb and mc come from the torn bundle
    assert result.substrates["kb"].newest_restorable == bad.path.name
    assert result.substrates["mc"].newest_restorable == bad.path.name
    assert result.substrates["graph"].ok and result.substrates["graph"].newest_restorable != bad.path.name
    assert [r.bundle for r in result.reads].count(bad.path.name) == 1  # one read serves every substrate


def test_a_warm_cache_reads_nothing(dd: DataDir) -> None:
    good = build_bundle(dd.backup_root, ago(hours=2))
    first = guard(dd)
    assert first.ok and [r.bundle for r in first.reads] == [good.path.name]
    second = guard(dd)
    assert second.ok and second.reads == ()
    assert {d.verified_by for d in second.substrates.values()} == {"verify cache"}
    assert {d.state for d in second.substrates.values()} == {"verified"}


def test_a_cold_guard_reads_one_bundle_not_the_root(dd: DataDir) -> None:
    for h in range(6):
        build_bundle(dd.backup_root, ago(hours=2 + h))
    result = guard(dd)
    assert result.ok and len(result.reads) == 1
    assert all(b.answer("graph").state is State.CLAIMED for b in list_root(dd).bundles[1:])


def test_a_change_after_the_verify_is_read_again(dd: DataDir) -> None:
    good = build_bundle(dd.backup_root, ago(hours=2))
    assert guard(dd).ok
    cut_at_line(good.graph)  # torn after it was verified: the stamps no longer match
    again = guard(dd, require=["graph"])
    assert not again.ok and [r.bundle for r in again.reads] == [good.path.name]


def test_no_verify_answers_from_the_claims_and_says_so(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    bad = torn(dd, ago(hours=1))
    assert run(dd, "--require", "graph", "--no-verify", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verify"] is False and out["reads"] == []
    assert out["substrates"]["graph"]["newestRestorable"] == bad.path.name
    assert out["substrates"]["graph"]["state"] == "claimed" and out["substrates"]["graph"]["verifiedBy"] is None
    assert "not verified (--no-verify): nothing was read" in out["message"]


def test_after_the_guard_every_look_shows_the_fault(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    bad = torn(dd, ago(hours=1))
    guard(dd, require=["graph"])
    assert main(["--data-dir", str(dd.root), "list", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)["bundles"][0]
    assert b["name"] == bad.path.name
    assert (b["substrates"]["graph"]["state"], b["substrates"]["graph"]["restorable"]) == ("failed", False)
    assert (b["substrates"]["graph"]["rows"], b["substrates"]["graph"]["rowsFrom"]) == (25, "verify")
    assert b["substrates"]["kb"]["state"] == "verified"
    assert main(["--data-dir", str(dd.root), "retention", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["substrates"]["graph"]["restorableBundles"] == 0  # never counted by the floor
    assert r["substrates"]["kb"]["newestRestorable"] == bad.path.name


def test_prune_checks_verified_copies(dd: DataDir) -> None:
    build_bundle(dd.backup_root, ago(days=60))
    torn(dd, ago(hours=1))
    with pytest.raises(GuardRefused, match="failed \\(invalid\\)"):
        prune(dd)
    assert len(list_root(dd).bundles) == 2
