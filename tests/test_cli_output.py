"""What the CLI prints for a person: run ids never cut, commands to copy never wrapped, words not booleans."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from core.datadir import DataDir, resolve
from tests.test_hostile_text import BUNDLE, FIELDS, cli, hostile_dir

# a data dir deep enough that every suggested command is longer than the narrowest terminal tried
DEEP = "a-rather-long-directory-name-for-an-incident/and-another-level-below-it"


def small_dir(tmp_path: Path) -> DataDir:
    return hostile_dir(tmp_path / DEEP, dict.fromkeys(FIELDS, "x"))


def lines_with(out: str, needle: str) -> list[str]:
    return [line for line in out.splitlines() if needle in line]


@pytest.mark.parametrize("width", [80, 40, 24])
def test_runs_never_cuts_a_run_id(tmp_path: Path, width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    dd = small_dir(tmp_path)
    assert cli("--data-dir", str(dd.root), "restore", "latest", "--only-substrate", "graph")[0] == 0
    assert cli("--data-dir", str(dd.root), "restore", "latest", "--only-substrate", "graph", "--mode", "replace",
               "--force", "--yes")[0] == 0
    run_ids = sorted(p.name for p in dd.runs_dir.iterdir())
    assert len(run_ids) == 2 and all(len(r) > 20 for r in run_ids)
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = cli("--data-dir", str(dd.root), "runs")
    assert code == 0 and "…" not in out
    for run_id in run_ids:
        assert lines_with(out, run_id), (run_id, out)  # whole, on one line: ready for `undo RUN_ID`
    if width == 80:
        assert "status" in out and "undo" in out and "n/a (replace)" in out


def test_restore_says_copied_and_skipped_in_words(tmp_path: Path) -> None:
    dd = small_dir(tmp_path)
    bundle = dd.backup_root / BUNDLE
    (bundle / "trajectories" / "trajectories.jsonl").write_text('{"metadata": {"sessionId": "s"}}\n')
    (bundle / "mailbox").mkdir()
    (bundle / "mailbox" / "sent-to-cull.jsonl").write_text('{"msg": "cull"}\n')
    args = ["--data-dir", str(dd.root), "restore", "latest", "--only-substrate", "concepts,trajectories,mailbox"]
    outs = [cli(*args, "--dry-run"), cli(*args), cli(*args)]
    assert [code for code, _, _ in outs] == [0, 0, 0]
    dry, first, again = (out for _, out, _ in outs)
    for out in (dry, first, again):
        assert "True" not in out and "False" not in out
    assert lines_with(dry, "trajectories")[0].split()[1:3] == ["│", "would"]
    assert "copied" in lines_with(first, "trajectories")[0] and "copied 1" in lines_with(first, "concepts")[0]
    assert "skipped" in lines_with(again, "mailbox")[0] and "present live" in lines_with(again, "mailbox")[0]
    assert "skipped 1" in lines_with(again, "concepts")[0]


@pytest.mark.parametrize("width", [80, 40])
def test_suggested_commands_print_whole_on_one_line(tmp_path: Path, width: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    # list and retention with nothing to list: the first backup
    empty = resolve(tmp_path / DEEP / "empty" / ".neo-ai-data", env={})
    first_backup = shlex.join(["recovery-console", "backup", "--data-dir", str(empty.root)])
    assert len(first_backup) > width
    for command in ("list", "retention"):
        code, out, _ = cli("--data-dir", str(empty.root), command)
        assert code == 0 and lines_with(out, first_backup), (command, out)  # for this data dir, whole
    # retention with something to prune: the preview command; a dry-run prune refused by the guard: the backup
    # command, exactly as the guard prints it
    dd = small_dir(tmp_path)
    for i in range(12):
        old = dd.backup_root / f"backup-2026-0{1 + i % 3}-{10 + i}T01-00-00.000Z"
        (old / "graph").mkdir(parents=True)
        (old / "graph" / "g.jsonl").write_text('{"type":"node","data":{"id":"a","label":"A"}}\n')
        (old / "bundle-meta.json").write_text('{"completedAt": "x", "integrity": [{"subsystem": "graph", '
                                              '"status": "pass", "sourceCount": 1, "bundleCount": 1}]}')
    code, out, _ = cli("--data-dir", str(dd.root), "retention")
    preview = shlex.join(["recovery-console", "prune", "--dry-run", "--data-dir", str(dd.root)])
    assert code == 0 and "to delete" in " ".join(out.split()) and lines_with(out, preview), out
    from core.guard import backup_command

    code, out, err = cli("--data-dir", str(dd.root), "prune", "--dry-run")
    assert code == 0 and "refused by the backup guard" in " ".join(out.split()), (out, err)
    assert lines_with(out, backup_command(dd)), out
    assert len(backup_command(dd)) > width


def test_demo_prints_the_incident_diff_command_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    target = tmp_path / DEEP / "demo"
    code, out, _ = cli("demo", "--dir", str(target), "--scale", "0.02", "--no-tui")
    assert code == 0
    expected = shlex.join(["recovery-console", "--data-dir", str(target), "diff", "latest~1",
                           "--filter-labels=FILE,DIRECTORY,KB_GAP,TOOLING_GAP",
                           "--filter-edge-types=CONTAINS,DISCOVERED_IN,EVALUATED_BY"])
    assert lines_with(out, expected), out
