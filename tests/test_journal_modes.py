"""File modes: a restored flat file keeps the mode of the file it replaces; the run journal is owner-only.

A new flat file gets what any program creating it would get: 0666 masked by the process umask. The journal
holds copies of overwritten data and the ids of everything a run wrote, so it is 0600 / 0700 like bundles.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.datadir import DataDir, resolve
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.undo import undo_run
from tests.builders import write_bundle


@pytest.fixture(params=[0o022, 0o077, 0o002], ids=["umask022", "umask077", "umask002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def live_flat(tmp_path: Path) -> DataDir:
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    dd.concepts_dir.mkdir(parents=True)
    (dd.concepts_dir / "nodes.jsonl").write_text('{"live":"nodes"}\n')
    os.chmod(dd.concepts_dir / "nodes.jsonl", 0o640)
    dd.trajectories_file.parent.mkdir(parents=True)
    dd.trajectories_file.write_text('{"live":"traj"}\n')
    os.chmod(dd.trajectories_file, 0o604)
    return dd


def bundle(dd: DataDir) -> Path:
    b = write_bundle(dd.backup_root, concepts={"nodes.jsonl": '{"b":"nodes"}\n', "edges.jsonl": '{"b":"edges"}\n'},
                     trajectories='{"b":"traj"}\n', mailbox='{"b":"mail"}\n')
    for p in b.rglob("*"):
        os.chmod(p, 0o700 if p.is_dir() else 0o600)  # as backup writes them
    return b


def test_restored_files_keep_the_replaced_mode_new_ones_follow_the_umask(tmp_path: Path, umask: int) -> None:
    dd = live_flat(tmp_path)
    res = run_restore(dd, bundle(dd), RestoreOptions(force=True))
    assert (dd.concepts_dir / "nodes.jsonl").read_text() == '{"b":"nodes"}\n'
    assert mode(dd.concepts_dir / "nodes.jsonl") == 0o640  # replaced: its mode stays
    assert mode(dd.trajectories_file) == 0o604
    assert mode(dd.concepts_dir / "edges.jsonl") == 0o666 & ~umask  # new: a plain create, not the bundle's 0600
    assert mode(dd.mailbox_file) == 0o666 & ~umask
    undo_run(dd, res.run_id or "")
    assert (dd.concepts_dir / "nodes.jsonl").read_text() == '{"live":"nodes"}\n'
    assert mode(dd.concepts_dir / "nodes.jsonl") == 0o640  # put back with the mode it had
    assert dd.trajectories_file.read_text() == '{"live":"traj"}\n' and mode(dd.trajectories_file) == 0o604
    assert not dd.mailbox_file.exists()


def test_replace_keeps_the_mode_of_the_concepts_files_it_deletes_first(tmp_path: Path) -> None:
    dd = live_flat(tmp_path)
    run_restore(dd, bundle(dd), RestoreOptions(mode="replace", force=True, yes=True, only_substrate=["concepts"]))
    assert (dd.concepts_dir / "nodes.jsonl").read_text() == '{"b":"nodes"}\n'
    assert mode(dd.concepts_dir / "nodes.jsonl") == 0o640


def test_the_journal_is_owner_only(tmp_path: Path, umask: int) -> None:
    dd = live_flat(tmp_path)
    os.chmod(dd.concepts_dir / "nodes.jsonl", 0o644)  # a world-readable live file: its saved copy is still 0600
    res = run_restore(dd, bundle(dd), RestoreOptions(force=True))
    run_dir = dd.runs_dir / (res.run_id or "")
    saved = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")}
    assert {"run.json", "ids.jsonl", "flat/concepts/nodes.jsonl", "flat/trajectories/trajectories.jsonl"} <= saved
    assert mode(dd.runs_dir) == 0o700 and mode(run_dir) == 0o700
    for p in run_dir.rglob("*"):
        assert mode(p) == (0o700 if p.is_dir() else 0o600), p
    undo_run(dd, res.run_id or "")  # rewrites run.json: still owner-only
    assert mode(run_dir / "run.json") == 0o600 and mode(run_dir / "ids.jsonl") == 0o600
