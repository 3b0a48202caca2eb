"""Shared by the console's tests: one generated demo per test session (also across xdist workers), a cheap
copy of it per test, and the app built the one way the CLI builds it, with a MockClock and a fixed `now`.

No tests live here.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.clock import MockClock

from console.app import RecoveryApp
from console.factory import make_app
from console.scenes import FIXED_NOW, link_or_copy
from core.datadir import DataDir, resolve

# nine hours after the newest demo bundle: the May 10 2026 graph wipe, so bundle names match the real incident
NOW = FIXED_NOW
DEMO_DIR = ("incident", ".neo-ai-data")

BUILD = """
import sys
from datetime import datetime
from pathlib import Path
from console.scenes import build_fixed_demo
build_fixed_demo(Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]))
"""


def _cache_root(factory: pytest.TempPathFactory) -> Path:
    base = factory.getbasetemp()
    # xdist workers each get popen-gwN under one shared parent: build the demo once for all of them
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def demo_cache(factory: pytest.TempPathFactory) -> Path:
    """The data dir of a demo built once per session, in a child process so Chroma has flushed and closed."""
    root = _cache_root(factory) / "rc-demo-cache"
    root.mkdir(parents=True, exist_ok=True)
    target = root.joinpath(*DEMO_DIR)
    done = root / "built"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                if target.exists():
                    shutil.rmtree(target)
                subprocess.run([sys.executable, "-c", BUILD, str(target), NOW.isoformat()], check=True,
                               env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
                done.write_text("ok\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def copy_demo(cache: Path, dest: Path) -> DataDir:
    """A private copy of the demo data dir at ``dest/incident/.neo-ai-data`` (the same last two path parts)."""
    target = dest.joinpath(*DEMO_DIR)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(cache, target, symlinks=True, copy_function=link_or_copy)
    return resolve(target, env={})


def make(dd: DataDir, *, readonly: bool = False) -> RecoveryApp:
    return make_app(dd, readonly=readonly, clock=MockClock(), now=lambda: NOW)
