"""backup and restore refuse to start while neo's heavy job holds its lease, naming who holds it; the override
is journaled beside the guard's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.cli import main
from core.backup import run_backup
from core.datadir import DataDir
from core.neo_gate import NeoLeaseHeld
from core.restore import run_restore
from core.restore_model import RestoreOptions
from tests import neofmt
from tests.builders import make_live


@pytest.fixture
def held(data_dir: DataDir) -> Path:
    return neofmt.write_lease(data_dir.neo.lease_file, owner="dream", reason="periodic-dream",
                              acquired=datetime.now(UTC) - timedelta(minutes=3))


def test_backup_refuses_while_neo_holds_the_lease(data_dir: DataDir, held: Path) -> None:
    make_live(data_dir, nodes=3, memories=1, summaries=1, kb=1)
    with pytest.raises(NeoLeaseHeld) as err:
        run_backup(data_dir)
    text = str(err.value)
    assert "backup refused" in text and "'dream'" in text and "reason=periodic-dream" in text and "pid=41233" in text
    assert err.value.details is not None and err.value.details["owner"] == "dream"
    assert not data_dir.backup_root.exists() or not any(data_dir.backup_root.iterdir())


def test_restore_refuses_while_neo_holds_the_lease_before_anything(data_dir: DataDir, held: Path,
                                                                   tmp_path: Path) -> None:
    bundle = neofmt.write_bundle(tmp_path / "b", neofmt.NeoBundleSpec(nodes=neofmt.graph_rows(3)[0]))
    with pytest.raises(NeoLeaseHeld):
        run_restore(data_dir, bundle, RestoreOptions())
    assert not data_dir.graph_db.exists() and not data_dir.runs_dir.exists()
    dry = run_restore(data_dir, bundle, RestoreOptions(dry_run=True))  # a dry run writes nothing: not gated
    assert dry.dry_run


def test_the_override_runs_and_is_journaled(data_dir: DataDir, held: Path) -> None:
    make_live(data_dir, nodes=3, memories=1, summaries=1, kb=1)
    res = run_backup(data_dir, ignore_neo_lease=True)
    assert res.warnings[0].startswith("ran with --ignore-neo-lease")
    journal = data_dir.state_dir / "guard-overrides.jsonl"
    entry = json.loads(journal.read_text().splitlines()[-1])
    assert entry["reason"] == "backup --ignore-neo-lease"
    assert entry["lease"]["owner"] == "dream" and entry["lease"]["status"] == "held"
    assert {"time", "user", "uid", "pid", "host", "found"} <= set(entry)


def test_an_expired_lease_does_not_stop_a_backup_but_is_reported(data_dir: DataDir) -> None:
    neofmt.write_lease(data_dir.neo.lease_file, acquired=datetime.now(UTC) - timedelta(hours=7))
    make_live(data_dir, nodes=3, memories=1, summaries=1, kb=1)
    res = run_backup(data_dir)
    assert any("has expired" in w for w in res.warnings)


def test_the_cli_exits_3_and_names_the_holder(data_dir: DataDir, held: Path, capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    make_live(data_dir, nodes=3, memories=1, summaries=1, kb=1)
    code = main(["--data-dir", str(data_dir.root), "backup", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 3 and out["exitCode"] == 3
    assert out["error"]["code"] == "NEO_LEASE_HELD" and out["error"]["file"] == str(held)
    assert out["error"]["details"]["owner"] == "dream"
    bundle = neofmt.write_bundle(tmp_path / "b", neofmt.NeoBundleSpec(nodes=neofmt.graph_rows(3)[0]))
    code = main(["--data-dir", str(data_dir.root), "restore", str(bundle)])
    err = capsys.readouterr().err
    assert code == 3 and err.startswith("recovery-console: refused: ")
    assert "restore refused: neo's heavy-maintenance lease is held by 'dream'" in err
    code = main(["--data-dir", str(data_dir.root), "restore", str(bundle), "--ignore-neo-lease", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["status"] == "completed"


def test_the_lease_is_found_where_neo_configures_it(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    orch = tmp_path / "container-volume" / "orchestrator"
    neofmt.write_lease(orch / "heavy-maintenance-lease.json", owner="backup")
    monkeypatch.setenv("NEO_AI_ORCHESTRATOR_DIR", str(orch))
    code = main(["--data-dir", str(tmp_path / "dd"), "backup", "--allow-empty"])
    assert code == 3 and "'backup'" in capsys.readouterr().err
