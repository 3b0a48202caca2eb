"""The incident's fixed vocabulary and its size: the counts at scale 1 and the helpers every part builds with."""

from __future__ import annotations

import random
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.units import iso_ms

# a generated JSON record (a node's or an edge's data, a Chroma row, a flat file's line)
Json = dict[str, Any]

MAY10_FIGURES = {"filteredOut": 22_756, "alreadyPresent": 3_580, "wouldInsert": 11_589}

EPOCH = datetime(2026, 5, 10, 1, 11, 23, 456_000, tzinfo=UTC)  # the real bundle's time; content dates from it
AGENTS = ("@neo-gpt", "@neo-opus-4-7", "@neo-gemini", "@neo-sonnet", "@neo-codex", "@tobiu", "@neo-haiku", "@neo-qwen")
TOP_DIRS = ("src", "apps", "examples", "ai", "learn", "test", "buildScripts", "resources")
WORDS = ("component", "data", "manager", "worker", "form", "grid", "list", "tree", "state", "util", "layout",
         "button", "field", "view", "store", "model", "dialog", "menu", "draggable", "calendar", "chart", "core",
         "collection", "plugin", "table", "tab", "container", "toolbar", "vdom", "main")
CONCEPT_TOPICS = ("Multi-Threading", "VDOM", "State Provider", "Reactivity", "Config System", "Worker Bridge",
                  "Virtual Scrolling", "Shared Workers", "Remote Methods", "Delta Updates", "Class System",
                  "Observable", "Component Lifecycle", "Routing", "Theming", "Drag and Drop", "Forms", "Grids")


@dataclass(frozen=True)
class Shape:
    """Counts at scale 1; every number is scaled by the same factor."""

    directories: int = 1_141
    files: int = 8_299
    stub_files: int = 91  # FILE nodes made by concept extraction: no CONTAINS edge
    kb_gaps: int = 395
    tooling_gaps: int = 365
    retrospectives: int = 792
    pull_requests: int = 711
    issues: int = 1_017
    concepts: int = 4_216
    classes: int = 844
    memories: int = 4_136
    messages: int = 409
    summaries: int = 250
    plans: int = 40
    discussions: int = 33
    spawned: int = 1_100  # SPAWNED_MEMORY edges, for memories 0..n-1
    discussed_in: int = 180
    resolves: int = 200
    implemented_by_kept: int = 60  # CONCEPT -> FILE that the wipe's re-ingest brought back
    implemented_by_orphan: int = 60  # CONCEPT -> stub FILE that exists nowhere live
    relates_to: int = 61
    ghosts: int = 43  # RELATES_TO -> an id that exists nowhere
    # the live graph after the wipe
    surviving_memories: int = 850
    surviving_summaries: int = 40
    surviving_messages: int = 20
    reingested_fs: int = 760
    new_memories: int = 100
    new_files: int = 25
    new_messages: int = 10
    live_parent_of: int = 900
    live_blocks: int = 400
    live_references: int = 30
    live_relates: int = 424
    # Chroma
    chroma_memories: int = 10_312
    chroma_summaries: int = 876
    kb_rows: int = 2_600
    live_memories: int = 1_000  # survivors; plus new ones
    live_new_memories: int = 68
    live_summaries: int = 60
    live_new_summaries: int = 5
    live_kb: int = 2_400
    live_new_kb: int = 50

    def scaled(self, factor: float) -> Shape:
        if factor == 1.0:
            return self
        values = {k: (max(1, round(v * factor)) if v else 0) for k, v in asdict(self).items()}
        return Shape(**values)


class Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def node(nid: str, label: str, props: Json) -> Json:
    return {"id": nid, "label": label, "properties": props}


def edge(eid: str, source: str, target: str, etype: str, props: Json) -> Json:
    return {"id": eid, "source": source, "target": target, "type": etype, "properties": props}


def ts(offset_s: float) -> str:
    return iso_ms(EPOCH + timedelta(seconds=offset_s))


