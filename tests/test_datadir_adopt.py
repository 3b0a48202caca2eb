"""`--data-dir` naming the folder above `.neo-ai-data` uses the child and says so; a Memory Core is used as is.

"Holds a Memory Core" means: any of neo's layout entries is there (sqlite/memory-core-graph.sqlite,
sqlite/sent-to-cull.jsonl, chroma/, backups/, concepts/, datasets/rlaif/trajectories.jsonl) or the console's
own state dir (recovery-console/). A project checkout, a home dir or an empty dir has none of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.datadir import CORE_MARKERS, holds_memory_core, resolve
from tests.builders import chain_graph, insert_graph, node, write_bundle

CLI = [sys.executable, "-m", "console"]


def project_with_core(tmp_path: Path) -> Path:
    """A neo checkout: source folders at the top, the Memory Core in .neo-ai-data/."""
    project = tmp_path / "neo"
    (project / "src").mkdir(parents=True)
    (project / "package.json").write_text("{}\n")
    insert_graph(resolve(project / ".neo-ai-data", env={}), *chain_graph(3))
    return project


def test_the_folder_above_is_adopted_and_said(tmp_path: Path) -> None:
    project = project_with_core(tmp_path)
    dd = resolve(project, env={})
    assert dd.root == project / ".neo-ai-data"
    assert dd.resolved_from == project
    assert dd.graph_db == project / ".neo-ai-data" / "sqlite" / "memory-core-graph.sqlite"
    assert dd.backup_root == project / ".neo-ai-data" / "backups"
    assert dd.notice is not None and str(project / ".neo-ai-data") in dd.notice and str(project) in dd.notice


@pytest.mark.parametrize("marker", CORE_MARKERS)
def test_a_dir_that_is_a_memory_core_is_used_as_is(tmp_path: Path, marker: str) -> None:
    """Even with a .neo-ai-data child that holds one too: the operator named this dir."""
    here = tmp_path / "core"
    target = here / marker
    target.parent.mkdir(parents=True, exist_ok=True)
    if "." in Path(marker).name:
        target.write_text("")
    else:
        target.mkdir()
    project_child = here / ".neo-ai-data" / "backups"
    project_child.mkdir(parents=True)
    dd = resolve(here, env={})
    assert holds_memory_core(here)
    assert dd.root == here and dd.resolved_from is None and dd.notice is None


@pytest.mark.parametrize("case", ["missing", "empty", "empty child", "child is a file", "unrelated files"])
def test_no_memory_core_anywhere_keeps_the_named_dir(tmp_path: Path, case: str) -> None:
    here = tmp_path / "here"
    if case != "missing":
        here.mkdir()
    if case == "empty child":
        (here / ".neo-ai-data").mkdir()
    elif case == "child is a file":
        (here / ".neo-ai-data").write_text("")
    elif case == "unrelated files":
        (here / "src").mkdir()
        (here / "dist" / "chromadb-backups").mkdir(parents=True)  # the defrag root sits beside, not inside
        (here / "sent-to-cull.jsonl").write_text("")  # neo's test runs can leave it at a repo root
    dd = resolve(here, env={})
    assert dd.root == here and dd.resolved_from is None and dd.notice is None


def test_the_cli_says_it_on_stderr_and_keeps_stdout_json(tmp_path: Path) -> None:
    project = project_with_core(tmp_path)
    write_bundle(project / ".neo-ai-data" / "backups", nodes=[node("A", "CONCEPT")])
    proc = subprocess.run([*CLI, "--data-dir", str(project), "list", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["backupRoot"] == str(project / ".neo-ai-data" / "backups")
    assert len(listing["bundles"]) == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recovery-console: using ") and str(project) in lines[0]
    # a backup through the parent lands in the child, not in a new backups/ beside the checkout
    proc = subprocess.run([*CLI, "--data-dir", str(project), "backup", "--no-prune", "--json"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert Path(json.loads(proc.stdout)["path"]).parent == project / ".neo-ai-data" / "backups"
    assert not (project / "backups").exists() and not (project / "recovery-console").exists()


def test_no_notice_when_the_dir_is_named_exactly(tmp_path: Path) -> None:
    project = project_with_core(tmp_path)
    proc = subprocess.run([*CLI, "--data-dir", str(project / ".neo-ai-data"), "list", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""


async def test_the_console_shows_the_notice(tmp_path: Path) -> None:
    from console.scenes import settle
    from tests.tui_support import make

    project = project_with_core(tmp_path)
    app = make(resolve(project, env={}))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        notes = [n.message for n in app._notifications]
        assert any("using " in m and str(project) in m for m in notes), notes
        assert app.header_state.location == "neo/.neo-ai-data"
