"""A bundle's graph per node label and edge type, counted once and kept: what the timeline shows on demand.

neo's meta counts graph *elements* only; nodes, edges and the per-label split need a pass over the graph
payload. That pass runs once per bundle, when an operator asks for the split, and its answer is kept in one
JSON file in the console's state dir, keyed by the bundle's graph files' stamps (path, size, mtime, inode): a
bundle whose graph files change (or are replaced) is counted again. Looking again reads no row. A missing,
unreadable or foreign cache is an empty one: it only ever saves work.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core.bundle import substrate_files
from core.progress import ProgressFn, Ticker, check_cancel, no_progress
from core.scan import open_payload
from core.state_file import BundleStateFile

CACHE_FILE = "bundle-census.json"
LOCK_FILE = "bundle-census.lock"
VERSION = 1
Stamp = tuple[str, int, int, int]  # (path in the bundle, size, mtime_ns, inode)



@dataclass(frozen=True, kw_only=True)
class Census:
    nodes: int
    edges: int
    labels: Mapping[str, int]
    edge_types: Mapping[str, int]
    unreadable: int = 0  # lines that are not graph records (restore refuses or fails them)


def graph_stamps(bundle: Path) -> tuple[Stamp, ...]:
    out = []
    for f in substrate_files(bundle, "graph"):
        st = f.stat()
        out.append((f.relative_to(bundle).as_posix(), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(sorted(out))


def count_graph(bundle: Path, *, on_progress: ProgressFn = no_progress,
                cancel: threading.Event | None = None) -> Census:
    """One streaming pass: nodes per label, edges per type (a record neo would ignore is not counted)."""
    labels: Counter[str] = Counter()
    types: Counter[str] = Counter()
    bad = 0
    n = 0
    ticker = Ticker(f"count {bundle.name}"[:40], None, on_progress, unit="lines")
    loads = orjson.loads
    for path in substrate_files(bundle, "graph"):
        with open_payload(path) as fh:
            for raw in fh:
                n += 1
                if n % 8192 == 0:
                    check_cancel(cancel)
                    ticker.update(n)
                try:
                    obj = loads(raw)
                    kind, data = obj["type"], obj["data"]
                    group = data["label"] if kind == "node" else data["type"] if kind == "edge" else None
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    if raw.strip():
                        bad += 1
                    continue
                if kind == "node":
                    labels[group if isinstance(group, str) else str(group)] += 1
                elif kind == "edge":
                    types[group if isinstance(group, str) else str(group)] += 1
    ticker.update(n, force=True)
    return Census(nodes=sum(labels.values()), edges=sum(types.values()), labels=dict(labels.most_common()),
                  edge_types=dict(types.most_common()), unreadable=bad)


def _decode(entry: Any, stamps: tuple[Stamp, ...]) -> Census | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("stamps"), list):
        return None
    if tuple(tuple(s) for s in entry["stamps"] if isinstance(s, list)) != stamps:
        return None  # the graph files changed since they were counted
    labels, types = entry.get("labels"), entry.get("edgeTypes")
    nodes, edges, bad = entry.get("nodes"), entry.get("edges"), entry.get("unreadable", 0)
    if not (isinstance(labels, dict) and isinstance(types, dict) and isinstance(nodes, int)
            and isinstance(edges, int) and isinstance(bad, int)
            and all(isinstance(v, int) for v in (*labels.values(), *types.values()))):
        return None
    return Census(nodes=nodes, edges=edges, labels=labels, edge_types=types, unreadable=bad)


class CensusCache:
    def __init__(self, state_dir: Path | None) -> None:
        self.file = BundleStateFile(state_dir, CACHE_FILE, LOCK_FILE, version=VERSION, ignored="ignored")
        self._entries: dict[str, Any] | None = None

    @property
    def state_dir(self) -> Path | None:
        return self.file.state_dir

    @property
    def path(self) -> Path | None:
        return self.file.path

    def _read(self) -> dict[str, Any]:
        return self.file.read()[0]

    def get(self, bundle: Path) -> Census | None:
        """The census of the bundle's graph files as they are now, if one was counted."""
        if self._entries is None:
            self._entries = self._read()
        try:
            stamps = graph_stamps(bundle)
        except OSError:
            return None
        return _decode(self._entries.get(os.path.abspath(bundle)), stamps)

    def put(self, bundle: Path, stamps: tuple[Stamp, ...], census: Census) -> None:
        """Keep a census (best effort: a state dir that cannot be written only costs a recount later)."""
        if self.path is None:
            return
        entry = {"stamps": [list(s) for s in stamps], "nodes": census.nodes, "edges": census.edges,
                 "labels": dict(census.labels), "edgeTypes": dict(census.edge_types),
                 "unreadable": census.unreadable}
        with contextlib.suppress(OSError):
            self._entries = self.file.put(os.path.abspath(bundle), entry)


def census_of(cache: CensusCache, bundle: Path, *, compute: bool, on_progress: ProgressFn = no_progress,
              cancel: threading.Event | None = None) -> Census | None:
    """The kept census, or (with ``compute``) one counted now and kept; None when not counted and not asked."""
    got = cache.get(bundle)
    if got is not None or not compute:
        return got
    stamps = graph_stamps(bundle)
    census = count_graph(bundle, on_progress=on_progress, cancel=cancel)
    if graph_stamps(bundle) == stamps:  # unchanged while it was read: the answer belongs to these files
        cache.put(bundle, stamps, census)
    return census
