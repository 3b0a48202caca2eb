"""Composite restore: each substrate from the newest bundle where it is restorable, in one run with one journal
and one undo, on the demo's August-style history (a bundle whose KB export is empty) and on hand-made bundles
that exercise every reason a newer bundle is passed over."""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.bundle import list_bundles
from core.compose import choose, parse_at
from core.datadir import DataDir, resolve
from core.errors import BundleInvalid, UsageError
from core.journal import list_runs
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.undo import undo_run
from tests.builders import chroma_state, graph_state, live_graph, node, same_chroma, vec, write_bundle
from tests.test_hostile_text import cli


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from core.demo import build_demo

    root = tmp_path_factory.mktemp("compose") / "incident" / ".neo-ai-data"
    # scale 0.05: the smallest at which every older bundle still has summaries to count
    build_demo(root, seed=3, scale=0.05, dimension=8, now=datetime.now(UTC) - timedelta(minutes=1))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def demo(demo_root: Path, tmp_path: Path) -> DataDir:
    dest = tmp_path / "incident" / ".neo-ai-data"
    shutil.copytree(demo_root, dest, symlinks=True)
    return resolve(dest, env={})


def kb_empty_bundle(dd: DataDir) -> str:
    """The demo's August-style bundle: the newest one whose KB export is empty."""
    return next(b.name for b in list_bundles(dd.backup_root).bundles if b.integrity("kb") == "empty")


def test_the_august_history_takes_kb_from_its_last_restorable_bundle_and_the_rest_from_the_newest(
        demo: DataDir) -> None:
    """As of the day the empty-KB bundle was the newest (`--at` it): kb comes from the last bundle where it was
    restorable (past the empty export and a torn meta), everything else from the newest; one run, one undo."""
    august = kb_empty_bundle(demo)
    names = [b.name for b in list_bundles(demo.backup_root).bundles]
    before = graph_state(demo), {k: chroma_state(demo, k) for k in ("kb", "memories", "summaries")}
    code, out, err = cli("--data-dir", str(demo.root), "restore", "--compose", "--at", august, "--json")
    assert code == 0, err
    res = json.loads(out)
    older = names[names.index(august) + 1:]
    kb_from = res["sources"]["kb"].rsplit("/", 1)[1]
    assert kb_from in older and kb_from != older[0]  # the next older bundle has a torn meta: passed over too
    assert {k: v.rsplit("/", 1)[1] for k, v in res["sources"].items() if k != "kb"} == dict.fromkeys(
        ("mc", "graph", "concepts", "trajectories", "mailbox"), august)
    kb_choice = next(c for c in res["composition"]["choices"] if c["substrate"] == "kb")
    assert [p["bundle"] for p in kb_choice["passedOver"]] == [august, older[0]]
    assert "kb empty" in kb_choice["passedOver"][0]["why"]
    assert "malformed bundle-meta.json" in kb_choice["passedOver"][1]["why"]
    sub = res["subsystems"]
    assert sub["kb"]["inserted"] > 0 and sub["graph"]["counts"]["graph"]["nodes"]["inserted"] > 0
    assert res["verification"]["status"] == "passed"
    runs = list_runs(demo)
    assert len(runs) == 1 and runs[0].run_id == res["runId"]  # one run, one journal
    assert json.loads((runs[0].path / "compose.json").read_text())["passed"]["kb"][august].startswith("kb empty")
    undo = undo_run(demo, res["runId"])  # one undo puts everything back
    assert undo.status == "completed"
    assert graph_state(demo) == before[0]
    assert all(same_chroma(chroma_state(demo, k), v) for k, v in before[1].items())
    report = cli("--data-dir", str(demo.root), "report", res["runId"])[1]
    assert "passed over for kb: kb empty" in report and f"| kb | {kb_from} |" in report


def test_without_at_everything_comes_from_the_newest_when_it_is_whole(demo: DataDir) -> None:
    comp = choose(demo)
    newest = list_bundles(demo.backup_root).bundles[0].name
    # neo's optional ledgers are in none of the demo's bundles: named, nothing passed over, not restored
    assert {c.bundle for c in comp.choices if c.substrate != "ledgers"} == {newest}
    assert comp.choice("ledgers") is not None and comp.choice("ledgers").bundle is None  # type: ignore[union-attr]
    assert not any(c.passed_over for c in comp.choices)


def test_the_printed_command_pins_the_choice_and_plans_the_same(demo: DataDir) -> None:
    august = kb_empty_bundle(demo)
    code, out, _ = cli("--data-dir", str(demo.root), "restore", "--compose", "--at", august, "--dry-run", "--json")
    assert code == 0
    dry = json.loads(out)
    from core.command_line import restore_command

    sources = {k: Path(v) for k, v in dry["sources"].items()}
    cmd = restore_command(demo, None, RestoreOptions(only_substrate=tuple(sources), sources=sources))
    argv = shlex.split(cmd.text)
    assert argv.count("--compose") == 1 and sum(a.startswith("--source=") for a in argv) == 6
    code, again, _ = cli(*argv[1:], "--dry-run", "--json")
    assert code == 0 and json.loads(again)["plan"] == dry["plan"]


# ---------------------------------------------------------------- hand-made histories


def bundle(dd: DataDir, day: int, *, kb: int = 2, mem: int = 2, dim: int = 8, meta: dict[str, Any] | None = None,
           nodes: int = 2) -> Path:
    return write_bundle(dd.backup_root, name=f"backup-2026-08-{day:02d}T00-00-00.000Z",
                        nodes=[node(f"d{day}n{i}", "CONCEPT") for i in range(nodes)],
                        kb=[vec(f"d{day}k{i}", dim) for i in range(kb)],
                        memories=[vec(f"d{day}m{i}", dim) for i in range(mem)], dimension=dim, meta=meta)


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_graph(d, [node("live", "CONCEPT")], [])
    return d


def test_a_claimed_copy_that_fails_verification_is_passed_over_not_restored(dd: DataDir) -> None:
    bundle(dd, 1)
    torn = bundle(dd, 2)
    kb_file = next((torn / "kb").iterdir())
    kb_file.write_bytes(kb_file.read_bytes()[:-30] + b"\n")  # a row cut mid-vector; the meta still says pass
    bundle(dd, 3, kb=0)  # the newest: an empty KB export
    comp = choose(dd)
    kb = comp.choice("kb")
    assert kb is not None and kb.bundle == "backup-2026-08-01T00-00-00.000Z" and kb.state == "verified"
    assert [p.bundle for p in kb.passed_over] == ["backup-2026-08-03T00-00-00.000Z", "backup-2026-08-02T00-00-00.000Z"]
    assert kb.passed_over[1].why.startswith("kb failed verification: ") and " kb/" in kb.passed_over[1].why
    assert comp.choice("mc").bundle == comp.choice("graph").bundle == "backup-2026-08-03T00-00-00.000Z"  # type: ignore[union-attr]


def test_a_collapsed_capture_is_never_a_source(dd: DataDir) -> None:
    bundle(dd, 1)
    bundle(dd, 2, meta={"capture": {"schemaVersion": 1, "sources": {"kb": {"collapsed": True, "rows": 0}}}})
    kb = choose(dd).choice("kb")
    assert kb is not None and kb.bundle == "backup-2026-08-01T00-00-00.000Z"
    assert "collapsed" in kb.passed_over[0].why


def test_source_overrides_a_choice_but_never_with_an_unrestorable_copy(dd: DataDir) -> None:
    bundle(dd, 1)
    bundle(dd, 2, kb=0)
    code, out, err = cli("--data-dir", str(dd.root), "restore", "--compose", "--source",
                         "graph=backup-2026-08-01T00-00-00.000Z", "--dry-run", "--json")
    assert code == 0, err
    src = json.loads(out)["sources"]
    assert src["graph"].endswith("08-01T00-00-00.000Z") and src["mc"].endswith("08-02T00-00-00.000Z")
    code, _, err = cli("--data-dir", str(dd.root), "restore", "--compose", "--source",
                       "kb=backup-2026-08-02T00-00-00.000Z", "--dry-run")
    assert code == 2 and "kb is not restorable there: kb empty" in err


def test_a_mix_of_embedding_dimensions_is_refused_before_any_write(dd: DataDir) -> None:
    bundle(dd, 1, dim=4)
    bundle(dd, 2, kb=0, dim=8)
    comp = choose(dd)
    assert any("embedding dimension differs" in w for w in comp.warnings)
    with pytest.raises(BundleInvalid, match="dimension-contract-mismatch across the composite restore"):
        run_restore(dd, None, RestoreOptions(sources=comp.sources, only_substrate=tuple(comp.sources)))
    assert list_runs(dd) == []  # refused before the journal: nothing was written


def test_no_restorable_copy_anywhere_is_refused_with_the_way_out(dd: DataDir) -> None:
    bundle(dd, 1, kb=0)
    code, _, err = cli("--data-dir", str(dd.root), "restore", "--compose")
    assert code == 1 and "no restorable kb in any bundle" in err
    assert "--only-substrate=mc,graph" in err  # these bundles hold no flat file: nothing else to offer
    code, out, _ = cli("--data-dir", str(dd.root), "restore", "--compose", "--only-substrate=mc,graph", "--json")
    assert code == 0 and set(json.loads(out)["sources"]) == {"mc", "graph"}


def test_at_takes_a_time_or_a_bundle_name_and_refuses_nonsense() -> None:
    assert parse_at("2026-08-02T00:00:00Z") == datetime(2026, 8, 2, tzinfo=UTC)
    assert parse_at("backup-2026-08-02T00-00-00.000Z") == datetime(2026, 8, 2, tzinfo=UTC)
    with pytest.raises(UsageError):
        parse_at("yesterday-ish")


def test_a_composite_run_undoes_in_one_step_and_its_journal_names_every_source(dd: DataDir) -> None:
    bundle(dd, 1)
    bundle(dd, 2, kb=0)
    comp = choose(dd)
    res = run_restore(dd, None, RestoreOptions(sources=comp.sources, only_substrate=tuple(comp.sources)),
                      composition=comp.record())
    assert res.verification is not None and res.verification.status == "passed"
    rec = list_runs(dd)[0]
    assert set(rec.options["sources"]) == set(comp.sources)  # type: ignore[arg-type]
    ids = orjson.loads((rec.path / "compose.json").read_bytes())
    assert ids["why"]["kb"].startswith("the newest bundle where kb is restorable")
    undo = undo_run(dd, rec.run_id)
    assert undo.removed["kb"] == 2 and undo.removed["memories"] == 2 and undo.removed["nodes"] == 2


# ---------------------------------------------------------------- the console


async def test_c_on_the_august_bundle_composes_restores_verifies_and_reports(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from textual.widgets import Static

    from console.scenes import settle
    from console.screens.compose import ComposeScreen
    from console.screens.restore import RestoreScreen
    from tests.tui_support import copy_demo, demo_cache, make
    from widgets.confirm import ConfirmScreen

    dd = copy_demo(demo_cache(tmp_path_factory), tmp_path_factory.mktemp("compose-tui"))
    august = kb_empty_bundle(dd)
    app = make(dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        names = [b.name for b in list_bundles(dd.backup_root).bundles]
        await pilot.press(*["down"] * names.index(august), "c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ComposeScreen) and screen.composition is not None and screen.plan is not None
        kb = screen.composition.choice("kb")
        assert kb is not None and kb.bundle not in (None, august, names[names.index(august) + 1])
        assert {c.substrate: c.bundle for c in screen.composition.choices if c.substrate != "kb"} == {
            **dict.fromkeys(("mc", "graph", "concepts", "trajectories", "mailbox"), august),
            "ledgers": None}  # neo's optional ledgers: in none of the demo's bundles, not restored
        assert "--compose" in str(screen.query_one("#command-text", Static).render())
        await pilot.press("y")
        assert "--source=kb=" + str(kb.bundle) in app.clipboard
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("tab", "enter")
        await settle(pilot)
        restore = app.screen
        assert isinstance(restore, RestoreScreen) and restore.state == "done"
        assert restore.result is not None and restore.result.verification is not None
        assert restore.result.verification.status == "passed"
        panel = str(restore.query_one("#verification", Static).render())
        assert panel.startswith("Verification passed") and "✓ counts" in panel
        assert "composite" in str(restore.query_one("#restore-title", Static).render())
        await pilot.press("i")
        await settle(pilot)
        report = dd.state_dir / "reports" / f"{restore.result.run_id}.md"
        assert report.is_file() and "passed over for kb: kb empty" in report.read_text()
    assert len(list_runs(dd)) == 1
