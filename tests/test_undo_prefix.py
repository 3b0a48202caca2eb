"""`undo` takes any unique prefix of a run id; an ambiguous one is a usage error that lists the candidates."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from console.cli import main
from core.datadir import DataDir, resolve
from core.errors import UsageError
from core.journal import get_run
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.undo import undo_run
from tests.builders import graph_state, node, write_bundle


def two_runs(tmp_path: Path) -> tuple[DataDir, str, str]:
    dd = resolve(tmp_path / ".neo-ai-data", env={})
    ids = []
    for name, nid in (("backup-2026-05-10T01-11-23.456Z", "A"), ("backup-2026-05-11T01-11-23.456Z", "B")):
        b = write_bundle(dd.backup_root, nodes=[node(nid, "CONCEPT")], name=name)
        ids.append(run_restore(dd, b, RestoreOptions()).run_id or "")
    return dd, ids[0], ids[1]


def unique_prefix(run_id: str, other: str) -> str:
    return run_id[:len(os.path.commonprefix([run_id, other])) + 1]


def test_a_unique_prefix_names_the_run(tmp_path: Path) -> None:
    dd, first, second = two_runs(tmp_path)
    prefix = unique_prefix(first, second)
    assert get_run(dd, prefix).run_id == first
    u = undo_run(dd, prefix)
    assert u.run_id == first and u.removed == {"nodes": 1}
    assert set(graph_state(dd)[0]) == {"B"}
    assert get_run(dd, first).undo["status"] == "completed"  # type: ignore[index]


def test_an_ambiguous_prefix_lists_the_candidates_and_changes_nothing(tmp_path: Path) -> None:
    dd, first, second = two_runs(tmp_path)
    common = os.path.commonprefix([first, second])
    before = graph_state(dd)
    with pytest.raises(UsageError, match=f"prefix {common} is ambiguous: it matches 2 runs: {first}, {second}"):
        undo_run(dd, common)
    assert graph_state(dd) == before


@pytest.mark.parametrize("run_id", ["20200101", "zzz", "..", ".", ""])
def test_no_match_is_still_no_such_run(tmp_path: Path, run_id: str) -> None:
    dd, _, _ = two_runs(tmp_path)
    with pytest.raises(UsageError, match="no such run"):
        undo_run(dd, run_id)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd, first, second = two_runs(tmp_path)

    def undo(run_id: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--data-dir", str(dd.root), "undo", run_id, "--json"])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, _, err = undo(os.path.commonprefix([first, second]))
    assert code == 2 and first in err and second in err and "ambiguous" in err
    code, _, err = undo("nope")
    assert code == 2 and "no such run: nope" in err
    code, out, _ = undo(unique_prefix(second, first))
    assert code == 0 and orjson.loads(out)["runId"] == second
    code, _, err = undo(unique_prefix(second, first))
    assert code == 1 and "already undone" in err
