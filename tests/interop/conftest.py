"""Fixtures of the neo interop suite: neo's pinned release, a Chroma server, per-test neo projects.

Each xdist worker is its own session: it gets its own `chroma run` (sequential tests on one server, wiped
before each project), and waits on a file lock while another worker installs neo the first time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import running_chroma_server
from tests.interop.data import DIM, StartState, load, reset_chroma
from tests.interop.neo_runtime import NeoInstall, NeoProject, NeoRun, ensure_installed, require_node
from tests.interop.state import Seeds, State, snapshot


@pytest.fixture(scope="session")
def neo_install() -> NeoInstall:
    node, npm = require_node()
    return ensure_installed(node, npm)


@pytest.fixture(scope="session")
def interop_chroma(tmp_path_factory: pytest.TempPathFactory, neo_install: NeoInstall) -> Iterator[str]:
    with running_chroma_server(tmp_path_factory.mktemp("interop-chroma")) as url:
        yield url


_SERVER_OWNER: dict[str, World] = {}


class World(NeoProject):
    """A neo project whose `.neo-ai-data` is also the console's data dir, over the shared Chroma server.

    The server holds one world's collections at a time: making a world empties it, and a world that lost
    the server refuses to run anything or be snapshotted (its Chroma rows would be another world's).
    """

    def __init__(self, install: NeoInstall, root: Path, chroma_url: str, dimension: int | None = DIM) -> None:
        reset_chroma(chroma_url)
        _SERVER_OWNER[chroma_url] = self
        super().__init__(install, root, chroma_url, dimension)
        # the console is configured like neo: the same dimension, or (None) nothing, for both tools' defaults
        self.console_config = root / "console.toml"
        self.console_config.write_text(f"[embedding]\ndimension = {dimension}\n" if dimension else "")

    def _active(self) -> None:
        assert _SERVER_OWNER.get(self.chroma_url) is self, f"{self.root.name}: another world owns the Chroma server now"

    def load(self, state: StartState) -> World:
        self._active()
        load(self.data_dir, self.graph_db, self.chroma_url, state)
        return self

    def snapshot(self) -> State:
        self._active()
        return snapshot(self.data_dir, self.graph_db, self.chroma_url)

    def node(self, script: str, *args: str, timeout: float = 180) -> NeoRun:
        self._active()
        return super().node(script, *args, timeout=timeout)

    def console(self, *args: str, expect: int = 0) -> dict[str, Any]:
        """The console's CLI as an operator runs it, with `--json`; returns the parsed result."""
        self._active()
        cmd = [sys.executable, "-m", "console", *args[:1], "--data-dir", str(self.data_dir),
               "--chroma-url", self.chroma_url, "--config", str(self.console_config), *args[1:], "--json"]
        # the same NEO_* environment neo gets (the console honours NEO_MEMORY_DB_PATH and NEO_BACKUP_PATH too)
        env = {k: v for k, v in self.env().items() if not k.startswith("RECOVERY_CONSOLE_")}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False,
                              env={**env, "HOME": str(Path.home())}, cwd=Path(__file__).parents[2])
        assert proc.returncode == expect, f"{' '.join(args)} -> {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return json.loads(proc.stdout) if proc.stdout.strip() else {}


@pytest.fixture
def world(tmp_path: Path, neo_install: NeoInstall, interop_chroma: str) -> Callable[..., World]:
    """`world(name, dimension=DIM)`: a fresh neo project and data dir; the Chroma server is emptied for it."""

    def make(name: str, dimension: int | None = DIM) -> World:
        return World(neo_install, tmp_path / name, interop_chroma, dimension)

    return make


@pytest.fixture(scope="session")
def neo_seeds(tmp_path_factory: pytest.TempPathFactory, neo_install: NeoInstall, interop_chroma: str) -> Seeds:
    """What neo writes into an empty store when it starts: its own backup of one, read back."""
    w = World(neo_install, tmp_path_factory.mktemp("neo-seeds") / "p", interop_chroma)
    bundle = w.backup()
    nodes, edges = set(), set()
    for f in (bundle / "graph").glob("*.jsonl"):
        for line in f.read_text().splitlines():
            obj = json.loads(line)
            if obj["type"] == "node":
                nodes.add(obj["data"]["id"])
            else:
                d = obj["data"]
                edges.add((d["source"], d["target"], d["type"]))
    assert "frontier" in nodes, "neo seeds its frontier anchor at start"
    return Seeds(frozenset(nodes), frozenset(edges))
