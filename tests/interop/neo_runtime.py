"""neo.mjs's released `ai:backup` / `ai:restore`, installed outside the repository and run unmodified.

- `require_node`: Node 20+ and npm, or a skip on a developer's machine (a failure under CI=true).
- `ensure_installed`: `npm ci` of tests/interop/neo/{package.json,package-lock.json} into
  `${XDG_CACHE_HOME:-~/.cache}/recovery-console/neo-<hash>`, once per lock (and Node ABI), guarded by a file
  lock so parallel xdist workers install it once; then neo's own config bootstrap
  (`ai/scripts/setup/initServerConfigs.mjs`, what `npm prepare` runs in a neo clone).
- `NeoProject`: a per-test neo project root. backup.mjs and restore.mjs derive PROJECT_ROOT from their own
  file path and keep concepts, trajectories and the backup root under `<PROJECT_ROOT>/.neo-ai-data`, so each
  test gets its own root: hard links of the package's `ai/`, `src/`, `buildScripts/` (the scripts' whole
  import closure) and `package.json`, a `node_modules` link to the cache, and a fresh `.neo-ai-data`.
  Everything else neo reads comes from its own environment variables.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NEO_VERSION = "13.1.0"
LOCK_DIR = Path(__file__).parent / "neo"
# bump when the install steps below change: a cache built by older steps is then rebuilt
RECIPE = "2"
MIN_NODE_MAJOR = 20
# the top-level entries of the package that backup.mjs / restore.mjs import from (their static and dynamic
# import closure, traced over neo.mjs 13.1.0) plus package.json, which backup.mjs reads for `neoVersion`
PROJECT_ENTRIES = ("ai", "src", "buildScripts", "package.json")


def require_node(env: Mapping[str, str] | None = None, which: Any = shutil.which) -> tuple[str, str]:
    """(node, npm) paths, or skip with the reason; under CI=true a missing Node fails the run instead."""
    env = os.environ if env is None else env
    node, npm = which("node"), which("npm")
    problem = None
    if not node or not npm:
        problem = "`node` and `npm` are not both on PATH"
    else:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        m = re.match(r"v(\d+)\.", out)
        if not m or int(m.group(1)) < MIN_NODE_MAJOR:
            problem = f"Node {out or '?'} is older than {MIN_NODE_MAJOR}"
    if problem:
        message = (f"the neo interop suite runs neo.mjs@{NEO_VERSION}'s own backup.mjs/restore.mjs and needs "
                   f"Node.js {MIN_NODE_MAJOR}+ with npm: {problem}")
        if env.get("CI") == "true":
            pytest.fail(f"{message}. CI=true: this suite must run in CI, not be skipped.", pytrace=False)
        pytest.skip(message)
    return str(node), str(npm)


def cache_base(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "recovery-console"


def lock_hash(node: str) -> str:
    """The cache key: the pinned versions, the install steps, and the Node ABI the native module is built for."""
    abi = subprocess.run([node, "-p", "process.versions.modules + '-' + process.platform + '-' + process.arch"],
                         capture_output=True, text=True, check=True).stdout.strip()
    h = hashlib.sha256()
    for part in ((LOCK_DIR / "package.json").read_bytes(), (LOCK_DIR / "package-lock.json").read_bytes(),
                 RECIPE.encode(), abi.encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class NeoInstall:
    root: Path  # holds node_modules/neo.mjs and the packages its scripts import
    node: str
    stats: dict[str, Any]  # how the install went: seconds, bytes, when (read from the cache's receipt)

    @property
    def package(self) -> Path:
        return self.root / "node_modules" / "neo.mjs"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], cwd: Path, env: Mapping[str, str], what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=dict(env), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def ensure_installed(node: str, npm: str) -> NeoInstall:
    """The pinned neo install, built once per lock hash; reused while the lock and Node ABI match."""
    base = cache_base()
    key = lock_hash(node)
    root = base / f"neo-{key}"
    receipt = root / "install-receipt.json"
    with _file_lock(base / f"neo-{key}.lock"):
        if receipt.is_file():
            return NeoInstall(root, node, json.loads(receipt.read_text()))
        work = base / f".neo-{key}.partial"
        shutil.rmtree(work, ignore_errors=True)  # a previous install that died half way
        work.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(LOCK_DIR / name, work / name)
        env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false",
               "npm_config_audit": "false", "npm_config_loglevel": "error"}
        started = time.monotonic()
        # --ignore-scripts: no package's install script runs except the one native build below;
        # --omit=optional: chromadb's optional embedded-mode bindings (neo talks HTTP to `chroma run`)
        _run([npm, "ci", "--ignore-scripts", "--omit=optional"], work, env, "npm ci of the pinned neo.mjs")
        build_env = dict(env)
        prefix = Path(os.path.realpath(node)).parent.parent
        if (prefix / "include" / "node" / "node.h").is_file():
            # build better-sqlite3 against the local Node headers: no download from GitHub or nodejs.org
            build_env.update(npm_config_build_from_source="true", npm_config_nodedir=str(prefix))
        _run([npm, "rebuild", "better-sqlite3"], work, build_env, "building better-sqlite3 for this Node")
        # neo's own `npm prepare` step: materialise ai/config.mjs and the server configs from their templates
        _run([node, "ai/scripts/setup/initServerConfigs.mjs"], work / "node_modules" / "neo.mjs", env,
             "neo's initServerConfigs.mjs")
        _run([node, "-e", "new (require('better-sqlite3'))(':memory:').close()"], work, env,
             "loading better-sqlite3")
        stats = {"neo": NEO_VERSION, "seconds": round(time.monotonic() - started, 1), "bytes": _dir_bytes(work),
                 "node": subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip(),
                 "installedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (work / "install-receipt.json").write_text(json.dumps(stats, indent=2) + "\n")
        os.rename(work, root)
        return NeoInstall(root, node, stats)


def _link_tree(src: Path, dst: Path) -> None:
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:  # another filesystem: copy
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link, symlinks=True)


@dataclass
class NeoRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        """The JSON object neo prints last (`JSON.stringify(result, null, 2)` after its log lines)."""
        at = self.stdout.rfind("\n{\n")
        text = self.stdout[at + 1:] if at >= 0 else self.stdout[self.stdout.index("{"):]
        return json.loads(text)

    def check(self) -> NeoRun:
        assert self.returncode == 0, f"neo {self.args[:2]} failed ({self.returncode}):\n{self.stdout[-4000:]}\n{self.stderr[-4000:]}"
        return self


class NeoProject:
    """One neo project root, configured only through neo's environment variables and its .neo-ai-data."""

    def __init__(self, install: NeoInstall, root: Path, chroma_url: str, dimension: int | None) -> None:
        self.install = install
        self.root = root
        self.chroma_url = chroma_url
        self.dimension = dimension
        root.mkdir(parents=True)
        for entry in PROJECT_ENTRIES:
            src = install.package / entry
            if src.is_dir():
                _link_tree(src, root / entry)
            else:
                shutil.copy2(src, root / entry)  # small; a copy keeps the cache's inode out of reach
        (root / "node_modules").symlink_to(install.root / "node_modules", target_is_directory=True)
        self.data_dir.mkdir()
        (root / ".tmp").mkdir()
        (root / ".home").mkdir()

    @property
    def data_dir(self) -> Path:
        return self.root / ".neo-ai-data"

    @property
    def graph_db(self) -> Path:
        return self.data_dir / "sqlite" / "memory-core-graph.sqlite"

    @property
    def backup_root(self) -> Path:
        return self.data_dir / "backups"

    def env(self) -> dict[str, str]:
        host, port = self.chroma_url.removeprefix("http://").split(":")
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("NEO_", "npm_")) and k not in ("UNIT_TEST_MODE", "NODE_OPTIONS", "NODE_PATH")}
        env = {**keep,
               "HOME": str(self.root / ".home"),  # nothing of the developer's ~/.neo-ai reaches neo
               "TMPDIR": str(self.root / ".tmp"),  # the filtered-graph temp dirs neo never removes
               "NEO_MEMORY_DB_PATH": str(self.graph_db),
               "NEO_CHROMA_HOST": host,
               "NEO_CHROMA_PORT": port,
               "NEO_BACKUP_PATH": str(self.backup_root)}
        if self.dimension is not None:  # None: neo's own default (4096)
            env["NEO_VECTOR_DIMENSION"] = str(self.dimension)
        return env

    def node(self, script: str, *args: str, timeout: float = 180) -> NeoRun:
        # the scripts' main guard compares import.meta.url with `file://${argv[1]}`: an absolute real path
        path = os.path.realpath(self.root / script)
        cmd = [self.install.node, path, *args]
        proc = subprocess.run(cmd, cwd=self.root, env=self.env(), capture_output=True, text=True,
                              timeout=timeout, check=False)
        return NeoRun(cmd, proc.returncode, proc.stdout, proc.stderr)

    def backup(self) -> Path:
        run = self.node("ai/scripts/maintenance/backup.mjs").check()
        return Path(run.result["bundleRoot"])

    def restore(self, bundle: Path, *flags: str) -> NeoRun:
        return self.node("ai/scripts/maintenance/restore.mjs", str(bundle), *flags)

    def resolved_config(self) -> dict[str, Any]:
        """What neo itself resolves from this environment (its config modules, imported as its scripts do)."""
        probe = ("await import('./src/Neo.mjs'); await import('./src/core/_export.mjs');"
                 "const ai = (await import('./ai/config.mjs')).default;"
                 "const mc = (await import('./ai/mcp/server/memory-core/config.mjs')).default;"
                 "const kb = (await import('./ai/mcp/server/knowledge-base/config.mjs')).default;"
                 "console.log(JSON.stringify({vectorDimension: ai.vectorDimension, graph: mc.storagePaths.graph,"
                 " backupPath: mc.backupPath, chromaHost: kb.host, chromaPort: kb.port}));")
        proc = subprocess.run([self.install.node, "--input-type=module", "-e", probe], cwd=self.root,
                              env=self.env(), capture_output=True, text=True, timeout=60, check=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])
