"""The equivalent command: every plan names the exact headless command that does the same, and running that
command does the same (it plans the same numbers)."""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.command_line import restore_command
from core.datadir import resolve
from core.plan import Filters
from core.restore_model import RestoreOptions
from tests.test_hostile_text import cli

INCIDENT = ("--filter-labels=FILE,DIRECTORY,KB_GAP,TOOLING_GAP",
            "--filter-edge-types=CONTAINS,DISCOVERED_IN,EVALUATED_BY")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from core.demo import build_demo

    root = tmp_path_factory.mktemp("cmdline") / "a-long-enough-incident-directory" / ".neo-ai-data"
    build_demo(root, seed=5, scale=0.02, dimension=8, now=datetime.now(UTC) - timedelta(minutes=1))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def printed_command(out: str) -> list[str]:
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("recovery-console ")]
    assert len(lines) == 1, out
    return shlex.split(lines[0])


def plan_of_dry_run(argv: list[str]) -> dict[str, Any]:
    code, out, err = cli(*argv[1:], "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)["plan"]
    assert isinstance(plan, dict)
    return plan


@pytest.mark.parametrize("flags", [
    INCIDENT,
    (*INCIDENT, "--only-substrate=graph,kb"),
    ("--mode", "replace", "--force", "--only-substrate=mc,concepts"),
    ("--only-substrate=",),
])
def test_diff_prints_the_restore_command_and_running_it_plans_the_same(demo_root: Path, flags: tuple[str, ...]) -> None:
    code, out, _ = cli("--data-dir", str(demo_root), "diff", "latest", *flags)
    assert code == 0
    argv = printed_command(out)
    assert argv[:4] == ["recovery-console", "--data-dir", str(demo_root), "restore"]
    assert "--yes" not in argv  # a replace run from the line still asks for the data dir's name
    code, diff_json, _ = cli("--data-dir", str(demo_root), "diff", "latest", *flags, "--json")
    assert code == 0
    assert plan_of_dry_run(argv) == json.loads(diff_json)


def test_the_command_carries_every_non_default_location(demo_root: Path, tmp_path: Path) -> None:
    """A data dir whose graph and bundles live elsewhere: the printed command reaches the same stores from
    anywhere, so it plans the same numbers (the live graph's rows are found, not an empty default)."""
    root = tmp_path / "moved" / ".neo-ai-data"
    shutil.copytree(demo_root, root, symlinks=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    graph = elsewhere / "graph.sqlite"
    shutil.move(root / "sqlite" / "memory-core-graph.sqlite", graph)
    backups = elsewhere / "bundles"
    shutil.move(root / "backups", backups)
    loc = ("--data-dir", str(root), "--graph-db", str(graph), "--backup-root", str(backups))
    code, out, _ = cli(*loc, "diff", "latest", *INCIDENT)
    assert code == 0
    argv = printed_command(out)
    assert argv[argv.index("--graph-db") + 1] == str(graph)
    assert argv[argv.index("--backup-root") + 1] == str(backups)
    code, diff_json, _ = cli(*loc, "diff", "latest", *INCIDENT, "--json")
    plan = json.loads(diff_json)
    assert plan["graph"]["live"]["nodes"] > 0
    assert plan_of_dry_run(argv) == plan


@pytest.mark.parametrize("width", ["80", "40"])
def test_the_command_is_printed_whole_on_one_line(demo_root: Path, width: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", width)
    code, out, _ = cli("--data-dir", str(demo_root), "diff", "latest", *INCIDENT)
    assert code == 0
    line = " ".join(printed_command(out))
    assert len(line) > int(width) and line.endswith("EVALUATED_BY")


def test_what_the_csv_flags_cannot_say_is_named_not_printed_wrong(tmp_path: Path) -> None:
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    ok = restore_command(dd, dd.backup_root / "backup-x", RestoreOptions(filters=Filters.of(["B", "A"], ["T"])))
    assert ok.exact and ok.argv[-3:] == ("backup-x", "--filter-labels=A,B", "--filter-edge-types=T")
    bad = restore_command(dd, dd.backup_root / "backup-x", RestoreOptions(filters=Filters.of(["a,b", " pad"])))
    assert not bad.exact and len(bad.problems) == 2 and "'a,b'" in " ".join(bad.problems)
    hostile = restore_command(dd, "/tmp/odd dir/backup-y", RestoreOptions(filters=Filters.of(["x\x1b[2J;rm -rf /"])))
    assert shlex.split(hostile.text)[-2:] == ["/tmp/odd dir/backup-y", "--filter-labels=x\x1b[2J;rm -rf /"]


def test_a_composite_restore_pins_every_source(tmp_path: Path) -> None:
    dd = resolve(tmp_path / ".neo-ai-data", env={}, chroma_url="http://127.0.0.1:8000")
    cmd = restore_command(dd, None, RestoreOptions(sources={"graph": dd.backup_root / "backup-new",
                                                            "kb": dd.backup_root / "backup-old"},
                                                   only_substrate=("kb", "graph")))
    assert cmd.argv[1:5] == ("--data-dir", str(dd.root), "--chroma-url", "http://127.0.0.1:8000")
    assert cmd.argv[5:] == ("restore", "--compose", "--source=kb=backup-old", "--source=graph=backup-new",
                            "--only-substrate=kb,graph")


# ---------------------------------------------------------------- the console


@pytest.fixture(scope="module")
def console_dd(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.tui_support import copy_demo, demo_cache

    return copy_demo(demo_cache(tmp_path_factory), tmp_path_factory.mktemp("cmd-tui"))


async def test_the_diff_shows_the_command_and_y_copies_exactly_the_restore_it_plans(console_dd: Any) -> None:
    from textual.widgets import Static

    from console.scenes import open_diff
    from core.wire import encode
    from tests.tui_support import make
    from widgets.command_bar import CommandBar
    from widgets.confirm import ConfirmScreen

    app = make(console_dd)
    async with app.run_test(size=(80, 24)) as pilot:
        diff = await open_diff(pilot)
        await pilot.press("3")
        await pilot.pause()
        bar = diff.query_one("#command", CommandBar)
        shown = str(bar.query_one("#command-text", Static).render())
        assert shown.startswith("$ recovery-console … restore backup-") and "\n" not in shown
        await pilot.press("y")
        await pilot.pause()
        copied = app.clipboard
        assert copied == restore_command(console_dd, diff.bundle.path, diff.restore_options()).text
        assert "--filter-labels=DIRECTORY,FILE,KB_GAP,TOOLING_GAP" in copied
        assert plan_of_dry_run(shlex.split(copied)) == json.loads(json.dumps(encode(diff.plan)))
        # the confirm dialog restates it, and copies the same line
        await pilot.press("R")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert dialog.query_one("#command-bar", CommandBar).command == bar.command
        app.copy_to_clipboard("")
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == copied
