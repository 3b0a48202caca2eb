"""Every command under --json prints exactly one JSON object on stdout, failures and usage errors included.

Run as an operator's script would: a real process (`python -m console`), stdout parsed whole (json.loads
refuses a second object or stray text), the exit code checked against the documented one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.datadir import DataDir, resolve
from tests.builders import live_graph, node, write_bundle

CLI = [sys.executable, "-m", "console"]
ERROR_KEYS = {"code", "message", "file", "line"}


def run(*argv: str, cwd: Path | None = None) -> tuple[int, str, str]:
    proc = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=180, cwd=cwd, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


def one_object(stdout: str) -> dict[str, Any]:
    obj = json.loads(stdout)  # raises on empty output, on a second object and on any text around it
    assert isinstance(obj, dict), stdout
    return obj


def error_of(stdout: str, code: str) -> dict[str, Any]:
    obj = one_object(stdout)
    assert set(obj["error"]) >= ERROR_KEYS, obj
    assert obj["error"]["code"] == code, obj
    assert isinstance(obj["error"]["message"], str) and obj["error"]["message"], obj
    return obj["error"]


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    """A data dir with a live graph node and one good bundle."""
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_graph(d, [node("A", "CONCEPT")], [])
    write_bundle(d.backup_root, nodes=[node("A", "CONCEPT"), node("B", "FILE")])
    return d


# (argv after --data-dir DIR, exit code, error code): one failure path per command, and usage errors of each kind
CASES: list[tuple[list[str], int, str]] = [
    (["list", "--json", "--no-such-flag"], 2, "USAGE"),
    (["--config", "/nonexistent/rc.toml", "list", "--json"], 2, "USAGE"),
    (["backup", "--json", "--no-prune", "--graph-db", "/nonexistent/x.sqlite", "--chroma-path", "/nonexistent/c",
      "--data-dir", "/nonexistent/dd"], 1, "NO_SOURCES"),
    (["--readonly", "backup", "--json"], 2, "USAGE"),
    (["verify", "nope", "--json"], 2, "USAGE"),
    (["verify", "--dimension", "abc", "--json"], 2, "USAGE"),  # argparse: a bad flag value
    (["diff", "nope", "--json"], 2, "USAGE"),
    (["diff", "latest", "--json", "--mode", "upsert"], 2, "USAGE"),
    (["restore", "--json"], 2, "USAGE"),  # argparse: the bundle argument is missing
    (["restore", "latest", "--json", "--mode", "replace", "--force"], 1, "FAILED"),  # no terminal, no --yes
    (["restore", "latest", "--json", "--only-substrate=graph,nope"], 2, "USAGE"),
    (["runs", "--json", "extra"], 2, "USAGE"),
    (["--chroma-url", "localhost", "runs", "--json"], 2, "USAGE"),
    (["undo", "no-such-run", "--json"], 2, "USAGE"),
    (["retention", "--json", "--no-rows=1"], 2, "USAGE"),
    (["--config", "/nonexistent/rc.toml", "retention", "--json"], 2, "USAGE"),
    (["prune", "--json"], 3, "GUARD_REFUSED"),  # one bundle of May 2026 is not a fresh backup
    (["guard", "--json", "--max-age", "soon"], 2, "USAGE"),
    (["demo", "--no-tui", "--json", "--dir", "{tmp}"], 2, "USAGE"),  # not a demo dir: refused
    (["--json"], 2, "USAGE"),  # --json with no command
]


@pytest.mark.parametrize("argv,exit_code,code", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_json_failure_is_one_error_object(dd: DataDir, tmp_path: Path, argv: list[str], exit_code: int,
                                          code: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    got, out, err = run("--data-dir", str(dd.root), *argv)
    assert got == exit_code, (out, err)
    error = error_of(out, code)
    assert error["file"] is None or isinstance(error["file"], str)
    assert error["line"] is None or isinstance(error["line"], int)
    assert one_object(out)["exitCode"] == exit_code
    assert "Traceback" not in err and err.strip(), err  # stderr still tells a human, in one line or the usage


def test_bundle_invalid_has_its_code_and_names_the_file(tmp_path: Path) -> None:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_graph(d, [node("A", "CONCEPT")], [])
    write_bundle(d.backup_root, graph_lines=[b'{"type":"node","data":{"id":"X","label":"FILE"}}', b"{not json"])
    got, out, err = run("--data-dir", str(d.root), "restore", "latest", "--json")
    assert got == 1, err
    error = error_of(out, "BUNDLE_INVALID")
    assert "nothing was written" in error["message"]
    assert not d.runs_dir.exists() or not any(d.runs_dir.iterdir())


def test_results_on_non_zero_exits_keep_their_shape(dd: DataDir, tmp_path: Path) -> None:
    """guard's refusal and verify's verdict are results, not errors: the same objects as before."""
    got, out, _ = run("--data-dir", str(dd.root), "guard", "--json")
    obj = one_object(out)
    assert got == 3 and "error" not in obj and obj["ok"] is False and obj["exitCode"] == 3
    bad = write_bundle(dd.backup_root, graph_lines=[b"{not json"], name="backup-2026-05-11T01-11-23.456Z")
    got, out, _ = run("--data-dir", str(dd.root), "verify", str(bad), "--json")
    obj = one_object(out)
    assert got == 1 and "error" not in obj and obj["verdict"] == "BUNDLE_INVALID"


INJECT = """
import sys
import console.commands.list_cmd as list_cmd

def boom(args, ctx):
    raise {exc}

list_cmd.run = boom
from console.cli import main
sys.exit(main(sys.argv[1:]))
"""


def injected(exc: str, *argv: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-c", INJECT.format(exc=exc), *argv], capture_output=True, text=True,
                          timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def test_unexpected_exception_is_an_internal_error(tmp_path: Path) -> None:
    got, out, err = injected("ValueError('boom at 2 a.m.')", "--data-dir", str(tmp_path), "list", "--json")
    assert got == 1
    error = error_of(out, "INTERNAL")
    assert error["message"] == "ValueError: boom at 2 a.m."
    assert error["file"] == "<string>" and isinstance(error["line"], int)  # where it was raised
    # stderr keeps the traceback for the bug report and ends with the one line an operator reads
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("recovery-console: internal error: ValueError: boom at 2 a.m.")
    # without --json: the same, and stdout stays empty
    got, out, err = injected("ValueError('boom')", "--data-dir", str(tmp_path), "list")
    assert got == 1 and out == "" and "recovery-console: internal error: ValueError: boom" in err


def test_keyboard_interrupt_is_cancelled(tmp_path: Path) -> None:
    got, out, err = injected("KeyboardInterrupt", "--data-dir", str(tmp_path), "list", "--json")
    assert got == 130
    error_of(out, "CANCELLED")
    assert "Traceback" not in err
    got, out, err = injected("KeyboardInterrupt", "--data-dir", str(tmp_path), "list")
    assert got == 130 and out == "" and "interrupted" in err


def test_os_errors_name_the_path(tmp_path: Path) -> None:
    """A permission or filesystem error is the operator's to fix, not a bug: no traceback, the path named."""
    got, out, err = injected("PermissionError(13, 'Permission denied', '/srv/neo/backups')",
                             "--data-dir", str(tmp_path), "list", "--json")
    assert got == 1 and "Traceback" not in err
    error = error_of(out, "OS_ERROR")
    assert error["file"] == "/srv/neo/backups" and error["message"] == "Permission denied"
    assert err.strip() == "recovery-console: error: /srv/neo/backups: Permission denied"


def test_usage_error_without_json_prints_nothing_on_stdout(dd: DataDir) -> None:
    got, out, err = run("--data-dir", str(dd.root), "verify", "--dimension", "abc")
    assert got == 2 and out == "" and "invalid int value" in err
