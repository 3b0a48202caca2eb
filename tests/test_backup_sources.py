"""A backup of a data dir where no source exists is refused before anything is created; --allow-empty takes one.

A mistyped --data-dir used to exit 0 with an empty bundle and fresh folders, which looks exactly like success.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.backup import run_backup
from core.datadir import DataDir, resolve
from core.errors import NothingToBackUp
from core.verify import verify_bundle
from tests.builders import add_rows, chain_graph, insert_graph, node, write_bundle

CLI = [sys.executable, "-m", "console"]


def backup(*argv: str) -> subprocess.CompletedProcess[str]:
    """`backup --no-prune` with these flags (global and backup's own)."""
    return subprocess.run([*CLI, "backup", "--no-prune", *argv], capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def test_a_mistyped_data_dir_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    typo = tmp_path / ".neo-ai-dat"
    proc = backup("--data-dir", str(typo))
    assert proc.returncode == 1 and proc.stdout == ""
    assert not typo.exists(), "the refusal created the data dir"
    err = proc.stderr.strip()
    assert err.count("\n") == 0, err  # one line
    dd = resolve(typo, env={})
    for path in (dd.graph_db, dd.chroma_path, dd.concepts_dir, dd.trajectories_file, dd.mailbox_file):
        assert str(path) in err, f"{path} not named in: {err}"
    assert "--allow-empty" in err


def test_an_existing_empty_dir_stays_untouched(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = backup("--data-dir", str(empty), "--json")
    assert proc.returncode == 1
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "NO_SOURCES" and error["file"] == str(empty)
    assert set(error["details"]["lookedFor"]) == {"graph", "chroma", "concepts", "trajectories", "mailbox"}
    assert tree(empty) == []  # no backups/, no staging dir, no recovery-console/ state dir


def test_allow_empty_takes_a_deliberately_empty_bundle(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    proc = backup("--data-dir", str(empty), "--json", "--allow-empty")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {e["status"] for e in result["integrity"]} == {"empty"}
    assert verify_bundle(Path(result["path"])).verdict == "BUNDLE_EMPTY"


@pytest.mark.parametrize("source", ["graph", "concepts", "trajectories", "mailbox", "chroma"])
def test_one_source_is_enough_to_back_up_as_before(tmp_path: Path, source: str) -> None:
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    if source == "graph":
        insert_graph(dd, *chain_graph(3))
    elif source == "concepts":
        dd.concepts_dir.mkdir(parents=True)
        (dd.concepts_dir / "nodes.jsonl").write_text('{"id":"c"}\n')
    elif source == "trajectories":
        dd.trajectories_file.parent.mkdir(parents=True)
        dd.trajectories_file.write_text('{"t":1}\n')
    elif source == "mailbox":
        dd.mailbox_file.parent.mkdir(parents=True)
        dd.mailbox_file.write_text('{"m":1}\n')
    else:
        add_rows(dd, "memories", 3)
    result = run_backup(dd)
    assert Path(result.path).is_dir()


def test_a_chroma_without_neos_collections_is_no_source(data_dir: DataDir) -> None:
    from core import chroma_store as ch

    ch.get_collection(ch.open_client(data_dir), "someone-elses", create=True)
    with pytest.raises(NothingToBackUp) as exc:
        run_backup(data_dir)
    assert str(data_dir.chroma_path) in exc.value.describe()
    assert not data_dir.backup_root.exists() and not data_dir.state_dir.exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_chroma_server_is_a_clean_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    proc = backup("--data-dir", str(tmp_path / "dd"), "--chroma-url", url, "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["code"] == "FAILED" and error["file"] == url and "cannot reach the Chroma server" in error["message"]
    assert not (tmp_path / "dd").exists()


def test_replace_into_an_empty_store_still_takes_its_safety_bundle(tmp_path: Path) -> None:
    """A fresh machine: nothing live yet. The pre-restore safety bundle records that (empty), the restore runs."""
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    bundle = write_bundle(tmp_path / "elsewhere", nodes=[node("A", "CONCEPT"), node("B", "FILE")])
    proc = subprocess.run([*CLI, "--data-dir", str(dd.root), "restore", str(bundle), "--mode", "replace", "--yes",
                           "--json"], capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed"
    safety = Path(result["safetyBundle"])
    assert safety.parent == dd.backup_root
    meta = json.loads((safety / "bundle-meta.json").read_text())
    assert meta["reason"] == "pre-restore" and {e["status"] for e in meta["integrity"]} == {"empty"}


async def test_the_tui_backup_key_refuses_an_empty_data_dir(tmp_path: Path) -> None:
    from textual.widgets import Static

    from console.scenes import settle
    from tests.tui_support import make
    from widgets.confirm import MessageScreen

    dd = resolve(tmp_path / "typo", env={})
    app = make(dd)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        home = app.screen
        await pilot.press("b")
        await settle(pilot)
        assert home._job is None
        assert isinstance(app.screen, MessageScreen)
        body = app.screen.query_one("#body", Static).content
        text = body.plain if hasattr(body, "plain") else str(body)
        assert "nothing to back up" in text and str(dd.graph_db) in text
        assert app.busy == ""
    assert not dd.root.exists()
    assert os.listdir(tmp_path) == []
