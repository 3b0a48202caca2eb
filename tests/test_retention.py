"""Retention per substrate and prune, on real (tiny) bundle folders written by hand.

Bundles are made cheaply: a few-line JSONL file per substrate and a hand-written bundle-meta.json, so the
property tests can walk ~100 random histories in a few seconds. The oracle below is written from the policy
text (neo-bundle-format.md 5.3 and issue 4), not from core.retention.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.cli import main
from core.bundle import TRASH_PREFIX, bundle_name, list_bundles
from core.datadir import DataDir, resolve
from core.errors import ConsoleError, GuardRefused, UsageError
from core.lock import exclusive
from core.progress import Cancelled
from core.prune import PruneResult, SweepFailed, move_to_trash, prune, sweep_after_backup
from core.retention import evaluate, judge_bundles, load_policy
from core.units import iso_ms
from core.wire import encode

NOW = datetime(2026, 8, 7, 12, 0, tzinfo=UTC)
SUBS = ("kb", "mc", "graph")

# one substrate of one bundle: (integrity status or None for "no entry", rows written to disk)
STATES: dict[str, tuple[str | None, int]] = {
    "pass": ("pass", 2),  # restorable
    "pass-nobytes": ("pass", 0),  # the meta claims pass, the file is gone: not restorable
    "empty": ("empty", 0),
    "fail": ("fail", 2),
    "skipped": ("skipped", 2),  # unevaluated: kept
    "skipped-nobytes": ("skipped", 0),
    "missing": (None, 2),  # no integrity entry but bytes: unevaluated, kept
}
METAS = ("valid", "absent", "malformed", "garbage", "unreadable")


# ------------------------------------------------------------------------------------------ builders


def make_dd(root: Path, config: str | None = None) -> DataDir:
    root.mkdir(parents=True, exist_ok=True)
    cfg = None
    if config is not None:
        cfg = root / "console.toml"
        cfg.write_text(config)
    return resolve(root / ".neo-ai-data", config=cfg, env={})


def write_bundle(backup_root: Path, when: datetime, *, meta: str = "valid",
                 states: dict[str, str] | None = None) -> Path:
    """A bundle folder as neo lays it out; `states` maps kb/mc/graph to a key of STATES (default: pass)."""
    states = dict.fromkeys(SUBS, "pass") | (states or {})
    b = backup_root / bundle_name(when)
    integrity = []
    for s in SUBS:
        status, rows = STATES[states[s]]
        (b / s).mkdir(parents=True)
        if rows:
            lines = "".join(json.dumps({"id": f"{s}-{i}"}) + "\n" for i in range(rows))
            (b / s / f"{s}-backup-x.jsonl").write_text(lines)
        if status is not None:
            integrity.append({"subsystem": s, "status": status, "sourceCount": rows, "bundleCount": rows})
    for extra in ("concepts", "trajectories"):
        (b / extra).mkdir()
    body = {"bundleVersion": 1, "timestamp": b.name.removeprefix("backup-"), "completedAt": iso_ms(when),
            "integrity": integrity}
    if meta == "valid":
        (b / "bundle-meta.json").write_text(json.dumps(body, indent=2) + "\n")
    elif meta == "malformed":  # a JSON object but not a completed receipt
        del body["completedAt"]
        (b / "bundle-meta.json").write_text(json.dumps(body))
    elif meta == "garbage":
        (b / "bundle-meta.json").write_text('{"bundleVersion": 1, "integ')
    elif meta == "unreadable":  # a read error even as root: the meta path is a directory
        (b / "bundle-meta.json").mkdir()
    return b


def bundle_dirs(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.name.startswith("backup-")} if root.is_dir() else set()


# keep only the newest restorable copy by count, so an old bundle is deletable in a short history
KEEP1 = "[retention]\nkeep_minimum = 1\n"


def days(n: float) -> timedelta:
    return timedelta(days=n)


# ------------------------------------------------------------------------------------------- oracle


@dataclass
class Hist:
    when: datetime
    meta: str
    states: dict[str, str]

    @property
    def name(self) -> str:
        return bundle_name(self.when)


def oracle_keep(history: list[Hist], policy: dict[str, tuple[int, float]], now: datetime) -> set[str]:
    """The written policy, brute force: keep = malformed/unreadable meta, any unevaluated substrate, the newest
    max(1, keep_last) restorable per substrate, anything within some substrate's max age."""

    def restorable(h: Hist, s: str) -> bool:
        return h.meta == "valid" and h.states[s] == "pass"

    def unevaluated(h: Hist, s: str) -> bool:
        return h.meta == "valid" and h.states[s] in ("skipped", "missing")

    keep = set()
    for h in history:
        if h.meta in ("malformed", "garbage", "unreadable"):
            keep.add(h.name)
        if any(unevaluated(h, s) for s in SUBS):
            keep.add(h.name)
        if any(now - h.when <= timedelta(days=policy[s][1]) for s in SUBS):
            keep.add(h.name)
    newest_first = sorted(history, key=lambda h: h.when, reverse=True)
    for s in SUBS:
        good = [h.name for h in newest_first if restorable(h, s)]
        keep.update(good[: max(1, policy[s][0])])
    return keep


# ---------------------------------------------------------------------------------- property tests

histories = st.lists(
    st.tuples(
        st.integers(min_value=-600, max_value=50 * 24 * 60),  # minutes before NOW; a few in the future
        st.sampled_from(METAS),
        st.fixed_dictionaries({s: st.sampled_from(list(STATES)) for s in SUBS}),
    ),
    max_size=10,
    unique_by=lambda t: t[0],
).map(lambda items: [Hist(NOW - timedelta(minutes=m), meta, states) for m, meta, states in items])

# mostly valid metas and passing substrates, so the floors and ages decide most verdicts
realistic = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=50 * 24 * 60),
        st.sampled_from(("valid",) * 8 + ("absent", "malformed")),
        st.fixed_dictionaries({s: st.sampled_from(("pass",) * 6 + ("empty", "skipped", "pass-nobytes"))
                               for s in SUBS}),
    ),
    max_size=12,
    unique_by=lambda t: t[0],
).map(lambda items: [Hist(NOW - timedelta(minutes=m), meta, states) for m, meta, states in items])

sub_policy = st.tuples(st.integers(0, 4), st.integers(0, 80).map(lambda x: x / 2))


@st.composite
def policies(draw: st.DrawFn) -> tuple[str, dict[str, tuple[int, float]]]:
    """(TOML text, the policy it means) in the three shapes a config can take."""
    shape = draw(st.sampled_from(("per-substrate", "bundle-level", "graph-as-mc")))
    if shape == "bundle-level":
        k, n = draw(sub_policy)
        return f"[retention]\nkeep_minimum = {k}\nmax_days = {n}\n", dict.fromkeys(SUBS, (k, n))
    pol = {s: draw(sub_policy) for s in SUBS}
    if shape == "graph-as-mc":
        pol["graph"] = pol["mc"]
    text = "".join(f"[retention.{s}]\nkeep_last = {k}\nmax_age_days = {n}\n"
                   for s, (k, n) in pol.items() if not (shape == "graph-as-mc" and s == "graph"))
    return text, pol


def check_history(history: list[Hist], toml: str, pol: dict[str, tuple[int, float]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dd = make_dd(Path(tmp), toml)
        for h in history:
            write_bundle(dd.backup_root, h.when, meta=h.meta, states=h.states)
        everything = {h.name for h in history}
        expected = oracle_keep(history, pol, NOW)

        report = evaluate(dd, now=NOW)
        assert {b.name: b.verdict for b in report.bundles} == {
            n: ("keep" if n in expected else "delete") for n in everything}
        for b in report.bundles:
            assert b.reasons, "every verdict says why"

        dry = prune(dd, dry_run=True, now=NOW)
        assert {d.name for d in dry.deleted if d.kind == "bundle"} == everything - expected
        assert bundle_dirs(dd.backup_root) == everything, "a dry run deletes nothing"

        prune(dd, now=NOW, skip_guard=True)
        left = bundle_dirs(dd.backup_root)
        assert left == expected
        for s in SUBS:  # the newest restorable copy of every substrate survives, whatever the policy
            good = sorted((h for h in history if h.meta == "valid" and h.states[s] == "pass"),
                          key=lambda h: h.when)
            if good:
                assert good[-1].name in left
        for h in history:
            if h.meta in ("malformed", "garbage", "unreadable"):
                assert h.name in left
        assert not [n for n in os.listdir(dd.backup_root) if n.startswith(TRASH_PREFIX)] if history else True


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, policy=policies())
def test_random_histories_prune_exactly_what_the_written_policy_deletes(
    history: list[Hist], policy: tuple[str, dict[str, tuple[int, float]]]
) -> None:
    check_history(history, *policy)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=realistic, policy=policies())
def test_mostly_healthy_histories_follow_the_floors(
    history: list[Hist], policy: tuple[str, dict[str, tuple[int, float]]]
) -> None:
    check_history(history, *policy)


# ------------------------------------------------------------------------------------------ policy


def test_shipped_defaults(tmp_path: Path) -> None:
    pol = load_policy(make_dd(tmp_path))
    got = {s: (p.keep_last, p.max_age_days, p.cadence_hint) for s, p in pol.substrates.items()}
    assert got == {"kb": (2, 14, "weekly"), "mc": (7, 30, "daily"), "graph": (7, 30, "daily")}
    assert (pol.defrag_snapshot.keep_last, pol.defrag_snapshot.max_age_days) == (3, 7)
    assert encode(pol)["kb"] == {"keepLast": 2, "maxAgeDays": 14, "cadenceHint": "weekly"}  # type: ignore[index]


def test_graph_follows_mc_and_bundle_level_keys_are_the_base(tmp_path: Path) -> None:
    pol = load_policy(make_dd(tmp_path, "[retention]\nkeep_minimum = 4\nmax_days = 9\nkeep_partials = 0\n"
                                        "[retention.mc]\nkeep_last = 10\n"
                                        "[retention.defrag_snapshot]\nkeep_last = 1\n"))
    got = {s: (p.keep_last, p.max_age_days) for s, p in pol.substrates.items()}
    assert got == {"kb": (4, 9), "mc": (10, 9), "graph": (10, 9)}
    assert (pol.defrag_snapshot.keep_last, pol.defrag_snapshot.max_age_days, pol.keep_partials) == (1, 7, 0)


@pytest.mark.parametrize(("toml", "named"), [
    ("[retention.kb]\nkeep_last = -1\n", "[retention.kb].keep_last"),
    ("[retention.mc]\nmax_age_days = -3\n", "[retention.mc].max_age_days"),
    ("[retention.mc]\nmax_age_days = \"30\"\n", "[retention.mc].max_age_days"),
    ("[retention.kb]\nkeep_last = 2.5\n", "[retention.kb].keep_last"),
    ("[retention.knowledge]\nkeep_last = 2\n", "knowledge"),
    ("[retention.kb]\nkeep_lats = 2\n", "keep_lats"),
    ("[retention]\nkeep_minimum = -1\n", "keep_minimum"),
    ("[retention]\nmax_days = true\n", "max_days"),
    ("[retention.graph]\nmax_age_days = 1e12\n", "[retention.graph].max_age_days"),
    ("retention = 3\n", "[retention]"),
])
def test_nonsense_policy_is_refused_naming_the_key(tmp_path: Path, toml: str, named: str) -> None:
    dd = make_dd(tmp_path, toml)
    with pytest.raises(UsageError) as err:
        load_policy(dd)
    assert named in str(err.value)
    assert str(dd.config_path) in str(err.value)


def test_nonsense_policy_through_the_cli_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = make_dd(tmp_path, "[retention.kb]\nkeep_last = -1\n")
    assert main(["--config", str(dd.config_path), "--data-dir", str(dd.root), "retention"]) == 2
    assert "[retention.kb].keep_last must be a whole number >= 0" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- verdicts


def test_august_incident_keeps_the_last_complete_kb_and_says_why(tmp_path: Path) -> None:
    """Six recent bundles with zero KB rows and valid metas; older bundles with a complete KB."""
    dd = make_dd(tmp_path)
    for d in range(6):
        write_bundle(dd.backup_root, NOW - days(d + 0.1), states={"kb": "empty"})
    complete = [NOW - days(40 + d) for d in range(5)]  # 40..44 days old: beyond every max age
    for t in complete:
        write_bundle(dd.backup_root, t)
    report = evaluate(dd, now=NOW)
    by_name = {b.name: b for b in report.bundles}
    last_good = by_name[bundle_name(complete[0])]
    assert last_good.verdict == "keep"
    assert "kb: newest restorable, kept whatever its age" in last_good.reasons
    assert "kb: among newest 2 restorable" in last_good.reasons
    second = by_name[bundle_name(complete[1])]
    assert second.verdict == "keep" and second.reasons == ("kb: among newest 2 restorable",)
    for age, t in zip((42, 43, 44), complete[2:], strict=True):
        doomed = by_name[bundle_name(t)]
        assert doomed.verdict == "delete"
        assert doomed.reasons == (f"no policy keeps it (kb {age}d > 14d, mc {age}d > 30d, graph {age}d > 30d)",)
    assert all(by_name[bundle_name(NOW - days(d + 0.1))].keep for d in range(6))
    cov = report.substrates["kb"]
    assert cov.newest_restorable == last_good.name and cov.age_hours == pytest.approx(40 * 24)
    assert cov.oldest_restorable == bundle_name(complete[-1]) and cov.oldest_kept == second.name
    assert report.substrates["mc"].newest_restorable == bundle_name(NOW - days(0.1))


def test_august_incident_under_an_empty_policy(tmp_path: Path) -> None:
    """keep_last = 0 and max_age_days = 0 everywhere still keeps the newest restorable copy of each substrate."""
    dd = make_dd(tmp_path, "[retention]\nkeep_minimum = 0\nmax_days = 0\n")
    for d in range(6):
        write_bundle(dd.backup_root, NOW - days(d + 0.1), states={"kb": "empty"})
    write_bundle(dd.backup_root, NOW - days(40))
    write_bundle(dd.backup_root, NOW - days(41))
    result = prune(dd, now=NOW, skip_guard=True)
    assert bundle_dirs(dd.backup_root) == {bundle_name(NOW - days(0.1)), bundle_name(NOW - days(40))}
    assert len(result.deleted) == 6
    kept = {b.name: b for b in evaluate(dd, now=NOW).bundles}
    assert kept[bundle_name(NOW - days(40))].reasons == ("kb: newest restorable, kept whatever its age",)
    assert kept[bundle_name(NOW - days(0.1))].reasons == ("mc: newest restorable, kept whatever its age",
                                                          "graph: newest restorable, kept whatever its age")


def neo_classic_keep(names_times: list[tuple[str, datetime]], now: datetime) -> set[str]:
    """neo's cleanOldBackups (#11663) with keepMinimum 3, maxDays 30: newest 3 by time, or age <= 30 days."""
    ordered = sorted(names_times, key=lambda nt: nt[1], reverse=True)
    return {n for i, (n, t) in enumerate(ordered) if i < 3 or now - t <= timedelta(days=30)}


def test_neo_bundle_level_config_reproduces_neo_classic(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, "[retention]\nkeep_minimum = 3\nmax_days = 30\n")
    ages = [1, 35, 40, 45, 50, 12, 29.9, 30.1]
    for a in ages:
        write_bundle(dd.backup_root, NOW - days(a))
    report = evaluate(dd, now=NOW)
    expected = neo_classic_keep([(bundle_name(NOW - days(a)), NOW - days(a)) for a in ages], NOW)
    assert {b.name for b in report.bundles if b.keep} == expected
    assert expected == {bundle_name(NOW - days(a)) for a in (1, 12, 29.9)}
    by_name = {b.name: b for b in report.bundles}
    assert "kb: within 30 days" in by_name[bundle_name(NOW - days(12))].reasons
    assert "mc: among newest 3 restorable" in by_name[bundle_name(NOW - days(12))].reasons
    assert not by_name[bundle_name(NOW - days(30.1))].keep


def test_no_meta_counts_toward_no_floor_and_is_kept_only_by_age(tmp_path: Path) -> None:
    dd = make_dd(tmp_path)
    write_bundle(dd.backup_root, NOW - days(5), meta="absent")
    write_bundle(dd.backup_root, NOW - days(60), meta="absent")
    report = {b.name: b for b in evaluate(dd, now=NOW).bundles}
    young, old = report[bundle_name(NOW - days(5))], report[bundle_name(NOW - days(60))]
    assert young.keep and "no bundle-meta.json: counts toward no floor, kept only by age" in young.reasons
    assert not old.keep
    assert not any(v.restorable for v in old.substrates.values())


@pytest.mark.parametrize(("meta", "states", "reason"), [
    ("garbage", {}, "malformed meta: kept (not JSON"),
    ("malformed", {}, "malformed meta: kept (no completedAt"),
    ("unreadable", {}, "malformed meta: kept (unreadable:"),
    ("valid", {"kb": "skipped"}, "kb: unevaluated (integrity skipped): kept"),
    ("valid", {"graph": "missing"}, "graph: unevaluated (integrity missing): kept"),
])
def test_always_kept_whatever_their_age(tmp_path: Path, meta: str, states: dict[str, str], reason: str) -> None:
    dd = make_dd(tmp_path)
    write_bundle(dd.backup_root, NOW - days(1))  # a newer, complete bundle: the floors are satisfied
    write_bundle(dd.backup_root, NOW - days(400), meta=meta, states=states)
    old = next(b for b in evaluate(dd, now=NOW).bundles if b.name == bundle_name(NOW - days(400)))
    assert old.verdict == "keep"
    assert any(r.startswith(reason) for r in old.reasons), old.reasons


def test_unreadable_bundle_is_kept(tmp_path: Path) -> None:
    """Root reads anything, so the read error is put into the listing the way inspect_bundle records one."""
    dd = make_dd(tmp_path, "[retention]\nkeep_minimum = 0\nmax_days = 0\n")  # only rule 1 can keep it
    write_bundle(dd.backup_root, NOW - days(1))
    write_bundle(dd.backup_root, NOW - days(400))
    bundles = list(list_bundles(dd.backup_root).bundles)
    assert judge_bundles(bundles, load_policy(dd), NOW)[1].verdict == "delete"
    old_info = bundles[1]
    mc = dataclasses.replace(old_info.substrates["mc"], error="Permission denied: mc")
    bundles[1] = dataclasses.replace(old_info, substrates={**old_info.substrates, "mc": mc})
    old = judge_bundles(bundles, load_policy(dd), NOW)[1]
    assert old.verdict == "keep" and old.reasons == ("unreadable: kept (mc: Permission denied: mc)",)
    bundles[1] = dataclasses.replace(old_info, error="Input/output error")
    assert judge_bundles(bundles, load_policy(dd), NOW)[1].reasons == ("unreadable: kept (Input/output error)",)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 directory")
def test_unreadable_substrate_dir_is_kept_not_taken_for_empty(tmp_path: Path) -> None:
    dd = make_dd(tmp_path)
    write_bundle(dd.backup_root, NOW - days(1))
    old = write_bundle(dd.backup_root, NOW - days(400))
    (old / "kb").chmod(0)
    try:
        verdict = next(b for b in evaluate(dd, now=NOW).bundles if b.name == old.name)
        assert verdict.keep and verdict.reasons[0].startswith("unreadable: kept (kb:")
    finally:
        (old / "kb").chmod(0o700)


def test_report_json_has_the_issue_shape(tmp_path: Path) -> None:
    dd = make_dd(tmp_path)
    write_bundle(dd.backup_root, NOW - days(1))
    write_bundle(dd.backup_root, NOW - days(2), states={"kb": "empty"})
    out = encode(evaluate(dd, now=NOW))
    assert isinstance(out, dict)
    assert set(out) >= {"policy", "bundles", "substrates", "residue", "defragSnapshots"}
    b = out["bundles"][0]
    assert set(b) >= {"name", "verdict", "reasons", "substrates"}
    assert b["substrates"]["kb"]["restorable"] is True and b["substrates"]["kb"]["rows"] == 2
    assert b["substrates"]["kb"]["bytes"] == len((json.dumps({"id": "kb-0"}) + "\n") * 2)
    assert out["bundles"][1]["substrates"]["kb"] == {"restorable": False, "bytes": 0, "rows": 0,
                                                     "integrity": "empty", "unevaluated": False, "error": None}
    assert set(out["substrates"]) == {"kb", "mc", "graph"}
    assert set(out["substrates"]["kb"]) >= {"newestRestorable", "ageHours", "oldestRestorable"}
    assert out["substrates"]["kb"]["ageHours"] == 24.0
    assert out["policy"]["mc"]["keepLast"] == 7


def test_retention_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    dd = make_dd(tmp_path, KEEP1)
    now = datetime.now(UTC)
    write_bundle(dd.backup_root, now - days(1))
    write_bundle(dd.backup_root, now - days(100))
    base = ["--config", str(dd.config_path), "--data-dir", str(dd.root)]
    assert main([*base, "retention", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["verdict"] for b in data["bundles"]] == ["keep", "delete"]
    assert main([*base, "retention"]) == 0
    text = capsys.readouterr().out
    assert "no policy keeps it (kb 100d > 14d, mc 100d > 30d, graph 100d > 30d)" in text
    assert "amnesia window 24h" in text
    assert "kb, mc, graph: newest restorable, kept whatever its age" in text  # one line per rule
    assert "1 bundle(s) to delete" in text


# -------------------------------------------------------------------------------------------- prune


def test_dry_run_deletes_nothing_and_real_prune_deletes_exactly_that(tmp_path: Path) -> None:
    dd = make_dd(tmp_path)
    for a in (1, 3, 20, 35, 40, 50, 60, 70, 80, 90):
        write_bundle(dd.backup_root, NOW - days(a))
    before = bundle_dirs(dd.backup_root)
    doomed = {b.name for b in evaluate(dd, now=NOW).bundles if not b.keep}
    assert doomed == {bundle_name(NOW - days(a)) for a in (70, 80, 90)}  # mc/graph keep the newest 7
    dry = prune(dd, dry_run=True, now=NOW)
    assert {d.name for d in dry.deleted} == doomed and dry.dry_run
    assert bundle_dirs(dd.backup_root) == before
    real = prune(dd, now=NOW, skip_guard=True)
    assert {d.name for d in real.deleted} == doomed and real.ok
    assert bundle_dirs(dd.backup_root) == before - doomed
    assert real.freed_bytes == dry.freed_bytes > 0


def test_interrupted_prune_leaves_trash_not_a_half_bundle_and_the_next_prune_cleans_it(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, KEEP1)
    write_bundle(dd.backup_root, NOW - days(1))
    victim = write_bundle(dd.backup_root, NOW - days(90))
    # a prune killed between its rename and its rmtree:
    trash = move_to_trash(victim)
    (trash / "kb" / "kb-backup-x.jsonl").unlink()  # ... and part-way through the rmtree
    assert trash.name.startswith(TRASH_PREFIX) and trash.parent == dd.backup_root
    listing = list_bundles(dd.backup_root)
    assert [b.name for b in listing.bundles] == [bundle_name(NOW - days(1))]
    assert [(r.name, r.kind) for r in listing.residue] == [(trash.name, "trash")]
    assert [(r.name, r.verdict) for r in evaluate(dd, now=NOW).residue] == [(trash.name, "delete")]
    result = prune(dd, now=NOW, skip_guard=True)
    assert [(d.name, d.kind) for d in result.deleted] == [(trash.name, "trash")]
    assert sorted(os.listdir(dd.backup_root)) == [bundle_name(NOW - days(1))]


def test_cancelled_prune_stops_between_whole_deletions(tmp_path: Path) -> None:
    import threading

    dd = make_dd(tmp_path, KEEP1)
    write_bundle(dd.backup_root, NOW - days(1))
    for a in (100, 101, 102):
        write_bundle(dd.backup_root, NOW - days(a))
    cancel = threading.Event()
    seen = []

    def on_progress(p: object) -> None:
        seen.append(p)
        cancel.set()

    with pytest.raises(Cancelled):
        prune(dd, now=NOW, skip_guard=True, on_progress=on_progress, cancel=cancel)
    assert len(seen) == 1 and seen[0].total == 3
    left = sorted(os.listdir(dd.backup_root))
    assert left == sorted(bundle_name(NOW - days(a)) for a in (1, 100, 101)), "oldest first, whole folders only"


def test_staging_residue_beyond_keep_partials_is_removed(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, "[retention]\nkeep_partials = 1\n")
    write_bundle(dd.backup_root, NOW - days(1))
    stagings = []
    for i in range(4):
        p = dd.backup_root / f".backup-partial-backup-2026-08-0{i + 1}T00-00-00.000Z-abc{i}"
        (p / "kb").mkdir(parents=True)
        (p / "kb" / "half.jsonl").write_text('{"id": 1}\n')
        t = (NOW - days(10 - i)).timestamp()
        os.utime(p, (t, t))
        stagings.append(p)
    unparseable = dd.backup_root / "backup-not-a-time"
    unparseable.mkdir()
    verdicts = {r.name: r.verdict for r in evaluate(dd, now=NOW).residue}
    assert verdicts == {**{p.name: "delete" for p in stagings[:3]}, stagings[3].name: "keep",
                        unparseable.name: "keep"}
    result = prune(dd, now=NOW, skip_guard=True)
    assert sorted(d.name for d in result.deleted) == sorted(p.name for p in stagings[:3])
    assert sorted(os.listdir(dd.backup_root)) == sorted([bundle_name(NOW - days(1)), stagings[3].name,
                                                         unparseable.name])


def test_defrag_snapshots_follow_their_own_policy(tmp_path: Path) -> None:
    dd = make_dd(tmp_path)
    kb = dd.defrag_root / "knowledge-base"
    made = {}
    for a in (1, 2, 3, 10, 20):
        p = kb / f"backup-{int((NOW - days(a)).timestamp() * 1000)}"
        p.mkdir(parents=True)
        (p / "chroma.sqlite3").write_bytes(b"x" * 100)
        made[a] = p.name
    mc_old = dd.defrag_root / "memory-core" / f"backup-{int((NOW - days(100)).timestamp() * 1000)}"
    mc_old.mkdir(parents=True)
    (kb / "backup-latest").mkdir()
    (kb / f"{TRASH_PREFIX}123-abcdef").mkdir()
    report = evaluate(dd, now=NOW)
    verdicts = {(s.target, s.name): s.verdict for s in report.defrag_snapshots}
    assert verdicts == {
        **{("knowledge-base", made[a]): "keep" for a in (1, 2, 3)},
        ("knowledge-base", made[10]): "delete", ("knowledge-base", made[20]): "delete",
        ("knowledge-base", "backup-latest"): "keep",
        ("memory-core", mc_old.name): "keep",  # the only snapshot of its target
    }
    assert "defragSnapshots" in encode(report)  # type: ignore[operator]
    result = prune(dd, now=NOW, skip_guard=True)
    assert sorted(d.name for d in result.deleted) == sorted(
        [f"knowledge-base/{made[10]}", f"knowledge-base/{made[20]}", f"{TRASH_PREFIX}123-abcdef"])
    assert sorted(os.listdir(kb)) == sorted([made[1], made[2], made[3], "backup-latest"])
    assert mc_old.is_dir()


def test_prune_refuses_without_a_fresh_backup(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, KEEP1)
    write_bundle(dd.backup_root, NOW - days(3))
    write_bundle(dd.backup_root, NOW - days(100))
    with pytest.raises(GuardRefused) as err:
        prune(dd, now=NOW)
    assert "kb: the newest restorable copy is 3d old" in str(err.value)
    assert len(bundle_dirs(dd.backup_root)) == 2
    assert not (dd.state_dir / "guard-overrides.jsonl").exists()
    dry = prune(dd, dry_run=True, now=NOW)  # a preview is never refused
    assert dry.guard is not None and dry.guard.ok is False and len(dry.deleted) == 1
    done = prune(dd, now=NOW, skip_guard=True)
    assert len(done.deleted) == 1
    entry = json.loads((dd.state_dir / "guard-overrides.jsonl").read_text())
    assert entry["reason"] == "prune --skip-backup-check" and entry["wouldHavePassed"] is False


def test_prune_runs_after_a_fresh_backup(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, KEEP1)
    write_bundle(dd.backup_root, NOW - timedelta(hours=2))
    write_bundle(dd.backup_root, NOW - days(100))
    result = prune(dd, now=NOW)
    assert result.guard is not None and result.guard.ok is True
    assert [d.name for d in result.deleted] == [bundle_name(NOW - days(100))]


def test_prune_takes_the_data_dir_lock(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, KEEP1)
    write_bundle(dd.backup_root, NOW - days(100))
    with exclusive(dd.state_dir, "restore"):
        with pytest.raises(ConsoleError, match="busy"):
            prune(dd, now=NOW, skip_guard=True)
        assert prune(dd, now=NOW, dry_run=True).dry_run  # a preview does not need the lock
        swept = sweep_after_backup(dd)  # never raises: the backup it follows is already published
        assert isinstance(swept, SweepFailed) and "busy" in swept.error
    assert len(bundle_dirs(dd.backup_root)) == 1


def test_sweep_after_backup_prunes_without_the_guard(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, KEEP1)
    now = datetime.now(UTC)
    write_bundle(dd.backup_root, now - days(3))  # stale: the guard would refuse a plain prune
    write_bundle(dd.backup_root, now - days(100))
    swept = sweep_after_backup(dd)
    assert isinstance(swept, PruneResult) and swept.ok
    assert [d.name for d in swept.deleted] == [bundle_name(now - days(100))]
    assert not (dd.state_dir / "guard-overrides.jsonl").exists(), "the sweep is not an operator override"


def test_prune_cli_readonly_and_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = make_dd(tmp_path, KEEP1)
    now = datetime.now(UTC)
    write_bundle(dd.backup_root, now - days(3))
    write_bundle(dd.backup_root, now - days(100))
    base = ["--config", str(dd.config_path), "--data-dir", str(dd.root)]
    assert main([*base, "--readonly", "prune"]) == 2
    assert "--readonly" in capsys.readouterr().err
    assert main([*base, "--readonly", "prune", "--dry-run", "--json"]) == 0
    assert [d["kind"] for d in json.loads(capsys.readouterr().out)["deleted"]] == ["bundle"]
    assert main([*base, "prune"]) == 3
    err = capsys.readouterr().err
    assert "refused" in err and "recovery-console backup --data-dir" in err and "--skip-backup-check" in err
    assert len(bundle_dirs(dd.backup_root)) == 2
    assert main([*base, "prune", "--skip-backup-check"]) == 0
    assert "deleted bundle " + bundle_name(now - days(100)) in capsys.readouterr().out
    assert bundle_dirs(dd.backup_root) == {bundle_name(now - days(3))}
