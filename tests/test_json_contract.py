"""The `--json` output of every command is a public contract: these goldens pin it byte for byte.

One small demo data dir is built with a fixed seed, and every command runs against it through the real CLI
entry point (`console.cli.main`). Only values that cannot repeat from run to run are normalised, by key
(times, durations, ages, run ids, pids, Chroma's random collection ids) and by the data dir's path; every key,
its order, its type and every other value are compared exactly, as the text `json.dumps(indent=2)` prints.

A deliberate change of a shape regenerates the goldens: `RC_UPDATE_GOLDEN=1 pytest tests/test_json_contract.py`,
then read the diff of `tests/golden/` before committing it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.cli import main

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RC_UPDATE_GOLDEN") == "1"

# Values that differ on every run, replaced by a placeholder naming their type.
VOLATILE_KEYS = frozenset({
    "ageHours", "durationMs", "startedAt", "endedAt", "now", "mtime", "runId", "pid", "host", "seconds",
    "collectionId", "newestTime", "oldestTime", "oldestKeptTime", "time", "user", "uid", "sudoUser",
    "verifySeconds", "generatedBy",
})
# bundle names and file stamps the commands themselves create (a backup taken during the test)
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_RUN = re.compile(r"\d{8}T\d{9}Z-[0-9a-f]{6}")
_AGE = re.compile(r"\b\d+(?:\.\d+)?[mhd]\b")


def _placeholder(value: Any) -> str:
    return f"<{type(value).__name__}>" if value is not None else "<None>"


class Normaliser:
    def __init__(self, root: Path, demo_stamps: set[str]) -> None:
        self.root = str(root)
        self.base = str(root.parent.parent)  # the defrag root sits beside the data dir
        # the demo's own stamps follow the clock too: name them by rank, newest first
        self.demo_stamps = {s: f"<B{i}>" for i, s in enumerate(sorted(demo_stamps, reverse=True))}

    def text(self, s: str) -> str:
        s = s.replace(self.root, "<DATA>").replace(self.base, "<BASE>")
        s = _RUN.sub("<RUN>", s)
        s = _STAMP.sub(lambda m: self.demo_stamps.get(m.group(0), "<NEW>"), s)
        s = _ISO.sub("<ISO>", s)
        return _AGE.sub("<AGE>", s)

    def __call__(self, obj: Any, key: str | None = None) -> Any:
        if key in VOLATILE_KEYS:
            return _placeholder(obj)
        if isinstance(obj, dict):
            return {self.text(k): self(v, k) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self(v) for v in obj]
        if isinstance(obj, str):
            return self.text(obj)
        return obj


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from core.demo import build_demo

    root = tmp_path_factory.mktemp("contract") / "incident" / ".neo-ai-data"
    # ages follow the real clock, so retention and the guard see the demo as designed
    build_demo(root, seed=11, scale=0.02, dimension=8, now=datetime.now(UTC) - timedelta(minutes=1))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def work(demo: Path, tmp_path: Path) -> Path:
    """A private copy for commands that write."""
    dest = tmp_path / "incident" / ".neo-ai-data"
    shutil.copytree(demo, dest, symlinks=True)
    return dest


def _stamps(root: Path) -> set[str]:
    stamps: set[str] = set()
    for _dirpath, dirs, files in os.walk(root / "backups"):
        for name in [*dirs, *files]:
            stamps.update(_STAMP.findall(name))
    return stamps


def run_json(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(["--data-dir", str(root), *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def check(name: str, root: Path, stamps: set[str], code: int, obj: Any) -> None:
    text = json.dumps({"exitCode": code, "output": Normaliser(root, stamps)(obj)}, indent=2, ensure_ascii=False)
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        return
    assert path.exists(), f"no golden for {name}: run with RC_UPDATE_GOLDEN=1 and review tests/golden/"
    assert text + "\n" == path.read_text(encoding="utf-8"), (
        f"`{name} --json` changed shape or content; if on purpose, regenerate with RC_UPDATE_GOLDEN=1 and "
        "review the diff")


INCIDENT = ("--filter-labels=FILE,DIRECTORY,KB_GAP,TOOLING_GAP",
            "--filter-edge-types=CONTAINS,DISCOVERED_IN,EVALUATED_BY")

READ_ONLY = {
    "list": ("list",),
    "list-no-rows": ("list", "--no-rows"),
    "verify-latest": ("verify", "latest"),
    "verify-walk": ("verify",),
    # the demo's newest bundle is the backup taken after the wipe; the incident's plan is of the one before it
    "diff-latest": ("diff", "latest~1"),
    "diff-incident": ("diff", "latest~1", *INCIDENT),
    "diff-replace-only": ("diff", "latest~1", "--mode", "replace", "--only-substrate", "graph,concepts"),
    "restore-dry-run": ("restore", "latest~1", "--dry-run", *INCIDENT),
    "retention": ("retention",),
    "retention-no-rows": ("retention", "--no-rows"),
    "prune-dry-run": ("prune", "--dry-run"),
    "guard": ("guard",),
    "guard-strict": ("guard", "--max-age", "1m", "--require", "kb,mc,graph"),
    "runs-empty": ("runs",),
}


@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_read_only_commands(name: str, demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the guard and verify record what they read in the verify cache: each command starts from a cold one, so
    # its output does not depend on which test ran before it
    (demo / "recovery-console" / "verify-cache.json").unlink(missing_ok=True)
    code, obj = run_json(capsys, demo, *READ_ONLY[name])
    check(name, demo, _stamps(demo), code, obj)


def test_restore_runs_undo(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stamps = _stamps(work)
    code, obj = run_json(capsys, work, "restore", "latest~1", *INCIDENT)
    check("restore-merge", work, stamps, code, obj)
    run_id = obj["runId"]
    code, obj = run_json(capsys, work, "restore", "latest~1", *INCIDENT)
    check("restore-merge-again", work, stamps, code, obj)
    code, obj = run_json(capsys, work, "runs")
    check("runs", work, stamps, code, obj)
    code, obj = run_json(capsys, work, "verify-run", run_id)
    check("verify-run", work, stamps, code, obj)
    code, obj = run_json(capsys, work, "report", run_id)
    check("report", work, stamps, code, obj)
    code, obj = run_json(capsys, work, "undo", run_id)
    check("undo", work, stamps, code, obj)


def test_compose_dry_run(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, obj = run_json(capsys, work, "restore", "--compose", "--dry-run")
    check("restore-compose-dry-run", work, _stamps(work), code, obj)


def test_backup_and_prune(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stamps = _stamps(work)
    code, obj = run_json(capsys, work, "backup", "--no-prune")
    check("backup", work, stamps, code, obj)
    code, obj = run_json(capsys, work, "prune", "--skip-backup-check")
    check("prune", work, stamps, code, obj)
