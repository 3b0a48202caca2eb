"""Where neo keeps what the console reads beside the stores: its heavy-maintenance lease, its incident ledgers,
and the name of its temporal-summary collection (neo-today.md sections 2, 4 and 8).

neo's defaults under the plane's data dir (the console's data dir, ``.neo-ai-data``), each movable the way neo
moves it (its environment variable) or in the console's config ``[neo]`` table; env beats config beats default,
as for every other path. Relative config paths are relative to the config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UsageError

LEASE_FILE = "heavy-maintenance-lease.json"
HEAL_ATTEMPTS_FILE = "heal-attempts.json"
HEAL_EVENTS_DIR = "data-heal-events"
HEAL_EVENTS_FILE = "heal-events.jsonl"
RECOVERY_RUNS_DIR = "recovery-runs"
ORCHESTRATOR_DIR = "orchestrator-daemon"
TEMPORAL_SUMMARY_COLLECTION = "neo-temporal-summary"

# [neo] key -> neo's environment variable
PATH_KEYS = {
    "orchestrator_dir": "NEO_AI_ORCHESTRATOR_DIR",
    "heal_attempts_file": "NEO_RECOVERY_ACTUATOR_HEAL_ATTEMPTS_PATH",
    "recovery_runs_dir": "NEO_RECOVERY_ACTUATOR_RUN_STATE_DIR",
}
NAME_KEYS = {"temporal_summary_collection": "NEO_TEMPORAL_SUMMARY_COLLECTION_NAME"}
OTHER_KEYS = ("offhost_required",)


@dataclass(frozen=True)
class NeoPaths:
    orchestrator_dir: Path
    heal_attempts_file: Path
    recovery_runs_dir: Path
    temporal_summary_collection: str

    @property
    def lease_file(self) -> Path:
        """``<orchestrator.dataDir>/heavy-maintenance-lease.json`` (neo 13.1.0: the same path under its project's
        ``.neo-ai-data``, which is this data dir)."""
        return self.orchestrator_dir / LEASE_FILE

    @property
    def heal_events_dir(self) -> Path:
        return self.orchestrator_dir / HEAL_EVENTS_DIR

    @property
    def heal_events_file(self) -> Path:
        return self.heal_events_dir / HEAL_EVENTS_FILE


def neo_paths(root: Path, config: Mapping[str, Any], config_path: Path | None,
              env: Mapping[str, str]) -> NeoPaths:
    table = config.get("neo", {})
    if not isinstance(table, Mapping):
        raise UsageError("[neo] must be a table", path=config_path)
    known = (*PATH_KEYS, *NAME_KEYS, *OTHER_KEYS)
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise UsageError(f"unknown key [neo] {unknown[0]} (known: {', '.join(known)})", path=config_path)
    if "offhost_required" in table and not isinstance(table["offhost_required"], bool):
        raise UsageError(f"[neo] offhost_required must be true or false, got {table['offhost_required']!r}",
                         path=config_path)
    base = config_path.parent if config_path else Path.cwd()

    def pick(key: str, default: Path) -> Path:
        if env.get(PATH_KEYS[key]):
            return Path(env[PATH_KEYS[key]]).expanduser().resolve()
        value = table.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise UsageError(f"[neo] {key} must be a path, got {value!r}", path=config_path)
        p = Path(value).expanduser()
        return (p if p.is_absolute() else base / p).resolve()

    plane_orchestrator = root / ORCHESTRATOR_DIR
    name = env.get(NAME_KEYS["temporal_summary_collection"]) or table.get("temporal_summary_collection") \
        or TEMPORAL_SUMMARY_COLLECTION
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"[neo] temporal_summary_collection must be a collection name, got {name!r}",
                         path=config_path)
    return NeoPaths(
        orchestrator_dir=pick("orchestrator_dir", plane_orchestrator),
        # neo anchors these two at the plane's orchestrator-daemon dir, not at orchestrator.dataDir
        heal_attempts_file=pick("heal_attempts_file", plane_orchestrator / HEAL_ATTEMPTS_FILE),
        recovery_runs_dir=pick("recovery_runs_dir", plane_orchestrator / RECOVERY_RUNS_DIR),
        temporal_summary_collection=name.strip(),
    )
