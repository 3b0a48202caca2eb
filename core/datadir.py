"""Where a Memory Core's stores live: neo's `.neo-ai-data/` layout, overridable by flags, env and TOML."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.errors import UsageError
from core.neo_paths import NeoPaths, neo_paths
from core.substrates import COLLECTION_BY_KEY, FLAT_TARGETS, TEMPORAL

NEO_DIR_NAME = ".neo-ai-data"
# What makes a dir a Memory Core: any of neo's layout entries (or the console's own state) under it. A project
# checkout, a home dir or an empty dir has none of them.
CORE_MARKERS = ("sqlite/memory-core-graph.sqlite", "sqlite/sent-to-cull.jsonl", "chroma", "backups", "concepts",
                "datasets/rlaif/trajectories.jsonl", "recovery-console")

@dataclass(frozen=True)
class DataDir:
    root: Path
    graph_db: Path
    chroma_path: Path
    chroma_url: str | None
    backup_root: Path
    concepts_dir: Path
    trajectories_file: Path
    mailbox_file: Path
    defrag_root: Path
    state_dir: Path  # the console's own journal and locks
    config: Mapping[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    # the dir the operator named, when it held no Memory Core and its .neo-ai-data child did (root is the child)
    resolved_from: Path | None = None
    # the locations set by a flag, the environment or the config rather than neo's layout under the root
    explicit: frozenset[str] = frozenset()
    # where neo keeps its lease and ledgers, and its temporal-summary collection's name ([neo], neo's env)
    neo_paths: NeoPaths | None = None

    @property
    def neo(self) -> NeoPaths:
        return self.neo_paths or neo_paths(self.root, self.config, self.config_path, {})

    def collection_name(self, key: str) -> str:
        """The Chroma collection a count key is restored into and exported from."""
        if key == TEMPORAL.key:
            return self.neo.temporal_summary_collection
        return COLLECTION_BY_KEY[key].name

    @property
    def notice(self) -> str | None:
        """One line for the operator when the data dir is not the dir they named."""
        if self.resolved_from is None:
            return None
        return f"using {self.root}: {self.resolved_from} holds no Memory Core, its {NEO_DIR_NAME} child does"

    @property
    def chroma_label(self) -> str:
        return self.chroma_url or str(self.chroma_path)

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    @property
    def embedding_dimension(self) -> int | None:
        dim = self.config.get("embedding", {}).get("dimension")
        return int(dim) if dim is not None else None

    def flat_target(self, substrate: str) -> Path:
        """Where a flat substrate lives in this data dir: the concepts folder, or the one file."""
        targets = {"concepts": self.concepts_dir, "trajectories": self.trajectories_file, "mailbox": self.mailbox_file}
        assert set(targets) == set(FLAT_TARGETS)
        try:
            return targets[substrate]
        except KeyError:
            raise UsageError(f"{substrate} has no target in this data dir layout") from None

    def flat_target_configured(self, substrate: str) -> bool:
        """Was this flat target put somewhere on purpose (the mailbox follows the graph DB), or is it where neo's
        layout puts it, under the data dir?"""
        key = {"concepts": "concepts_dir", "trajectories": "trajectories_file", "mailbox": "graph_db"}[substrate]
        return key in self.explicit

    def location_args(self) -> list[str]:
        """The global flags that point a command at this data dir: ``--data-dir``, plus every location that is not
        neo's default under it (however it was set: flag, environment or config), so a printed command run from
        another shell or directory reaches the same stores."""
        args = ["--data-dir", str(self.root)]
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        if self.backup_root != self.root / "backups":
            args += ["--backup-root", str(self.backup_root)]
        if self.graph_db != self.root / "sqlite" / "memory-core-graph.sqlite":
            args += ["--graph-db", str(self.graph_db)]
        if self.chroma_url:
            args += ["--chroma-url", self.chroma_url]
        elif self.chroma_path != self.root / "chroma" / "unified":
            args += ["--chroma-path", str(self.chroma_path)]
        return args

    def config_table(self, key: str) -> Mapping[str, Any]:
        """A `[key]` table of the config ({} when absent); anything but a table is a UsageError naming the file."""
        value = self.config.get(key, {})
        if not isinstance(value, Mapping):
            raise UsageError(f"[{key}] must be a table, got {value!r}", path=self.config_path)
        return value


def load_config(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError("config file not found", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config is not valid TOML: {exc}", path=path) from None


def resolve(
    data_dir: str | Path | None = None,
    *,
    backup_root: str | Path | None = None,
    graph_db: str | Path | None = None,
    chroma_path: str | Path | None = None,
    chroma_url: str | None = None,
    config: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> DataDir:
    """Flag beats env beats config beats neo's default layout under the data dir."""
    env = os.environ if env is None else env
    cfg: dict[str, Any] = {}
    cfg_path: Path | None = None
    if config is None and env.get("RECOVERY_CONSOLE_CONFIG"):
        config = env["RECOVERY_CONSOLE_CONFIG"]
    if config is not None:
        cfg_path = Path(config).expanduser().resolve()
        cfg = load_config(cfg_path)
    paths = cfg.get("paths", {})
    base = cfg_path.parent if cfg_path else Path.cwd()

    def from_cfg(key: str) -> Path | None:
        value = paths.get(key)
        if value is None:
            return None
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else (base / p)

    root = Path(data_dir).expanduser() if data_dir is not None else (from_cfg("data_dir") or Path(NEO_DIR_NAME))
    root = root.resolve()
    resolved_from: Path | None = None
    if not holds_memory_core(root) and holds_memory_core(root / NEO_DIR_NAME):
        root, resolved_from = root / NEO_DIR_NAME, root

    explicit: set[str] = set()

    def pick(flag: str | Path | None, env_key: str | None, cfg_key: str, default: Path) -> Path:
        if flag is not None:
            explicit.add(cfg_key)
            return Path(flag).expanduser().resolve()
        if env_key and env.get(env_key):
            explicit.add(cfg_key)
            return Path(env[env_key]).expanduser().resolve()
        configured = from_cfg(cfg_key)
        if configured is not None:
            explicit.add(cfg_key)
        return (configured or default).resolve()

    graph = pick(graph_db, "NEO_MEMORY_DB_PATH", "graph_db", root / "sqlite" / "memory-core-graph.sqlite")
    url = chroma_url if chroma_url is not None else (env.get("RECOVERY_CONSOLE_CHROMA_URL") or paths.get("chroma_url"))
    if url is not None:
        url = validate_chroma_url(str(url))
    return DataDir(
        root=root,
        graph_db=graph,
        chroma_path=pick(chroma_path, None, "chroma_path", root / "chroma" / "unified"),
        chroma_url=url,
        backup_root=pick(backup_root, "NEO_BACKUP_PATH", "backup_root", root / "backups"),
        concepts_dir=pick(None, None, "concepts_dir", root / "concepts"),
        trajectories_file=pick(None, None, "trajectories_file", root / "datasets" / "rlaif" / "trajectories.jsonl"),
        mailbox_file=graph.parent / "sent-to-cull.jsonl",
        defrag_root=pick(None, None, "defrag_root", root.parent / "dist" / "chromadb-backups"),
        state_dir=pick(None, None, "state_dir", root / "recovery-console"),
        config=cfg,
        config_path=cfg_path,
        resolved_from=resolved_from,
        explicit=frozenset(explicit),
        neo_paths=neo_paths(root, cfg, cfg_path, env),
    )


def holds_memory_core(path: Path) -> bool:
    """True when ``path`` has any of neo's layout entries (a graph DB, a Chroma dir, bundles, ...) in it."""
    try:
        return path.is_dir() and any(os.path.lexists(path / marker) for marker in CORE_MARKERS)
    except OSError:  # unreadable: not ours to adopt
        return False


def validate_chroma_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.port is None:
        raise UsageError(f"--chroma-url must look like http://HOST:PORT, got {url!r}")
    return url
