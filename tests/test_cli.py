"""The headless CLI: exit codes, one-line errors, stable --json shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from core.datadir import DataDir
from tests.builders import make_live


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["verify", "--no-such-flag"])
    assert exc.value.code == 2
    proc = subprocess.run([sys.executable, "-m", "console", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_bad_config_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[paths\n")
    code, _, err = run(capsys, "--config", str(cfg), "list")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"recovery-console: error: {cfg}: config is not valid TOML")


def test_list_json_shape(data_dir: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    make_live(data_dir, nodes=4, memories=3, summaries=1, kb=2)
    code, out, _ = run(capsys, "--data-dir", str(data_dir.root), "backup", "--json", "--no-prune")
    assert code == 0
    backup = json.loads(out)
    assert {"bundle", "path", "completedAt", "integrity", "counts", "subsystems"} <= set(backup)
    code, out, _ = run(capsys, "--data-dir", str(data_dir.root), "list", "--json")
    listing = json.loads(out)
    assert code == 0 and listing["bundles"][0]["name"] == backup["bundle"]
    b = listing["bundles"][0]
    assert b["metaState"] == "valid" and b["substrates"]["mc"]["rows"] == 4
    assert b["substrates"]["graph"] == {**b["substrates"]["graph"], "restorable": True, "integrity": "pass"}
    code, out, _ = run(capsys, "verify", "latest", "--data-dir", str(data_dir.root), "--json")
    assert code == 0 and json.loads(out)["verdict"] == "RESTORABLE"


def test_global_options_resolve_paths_and_env(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("NEO_BACKUP_PATH", str(tmp_path / "elsewhere"))
    code, out, _ = run(capsys, "--data-dir", str(tmp_path / "dd"), "list", "--json")
    assert json.loads(out)["backupRoot"] == str(tmp_path / "elsewhere")
    code, out, _ = run(capsys, "--data-dir", str(tmp_path / "dd"), "list", "--json", "--backup-root",
                       str(tmp_path / "flag"))
    assert json.loads(out)["backupRoot"] == str(tmp_path / "flag")
    cfg = tmp_path / "rc.toml"
    cfg.write_text('[paths]\ndata_dir = "data"\nbackup_root = "bk"\n')
    monkeypatch.delenv("NEO_BACKUP_PATH")
    code, out, _ = run(capsys, "--config", str(cfg), "list", "--json")
    assert json.loads(out)["backupRoot"] == str(tmp_path / "bk")


def test_bad_chroma_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "--chroma-url", "localhost", "list")
    assert code == 2 and "--chroma-url must look like http://HOST:PORT" in err
