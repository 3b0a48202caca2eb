"""Bundles for the restorability tests, written byte by byte the way neo (no checksums) or the console (with
checksums) writes them, so a test can then tear, pad, link or relabel one file and look again."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STAMP = "2026-05-10T01-11-23.456Z"


def _vector_row(prefix: str, i: int) -> dict[str, Any]:
    return {"id": f"{prefix}-{i}", "embedding": [0.5, float(i % 7), 1.25], "document": f"{prefix} {i}",
            "metadata": {"n": i}}


def _graph_row(i: int, nodes: int) -> dict[str, Any]:
    if i < nodes:
        return {"type": "node", "data": {"id": f"n{i}", "label": "CONCEPT", "name": f"node {i}"}}
    a = i - nodes
    return {"type": "edge", "data": {"id": f"e{a}", "source": f"n{a % nodes}", "target": f"n{(a + 1) % nodes}",
                                     "type": "RELATES_TO"}}


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for r in rows:
            fh.write(json.dumps(r, separators=(",", ":")).encode() + b"\n")


@dataclass
class Built:
    path: Path
    kb: Path
    memories: Path
    summaries: Path
    graph: Path
    concepts: Path

    @property
    def meta_path(self) -> Path:
        return self.path / "bundle-meta.json"

    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_path.read_text())

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.meta_path.write_text(json.dumps(meta, indent=2) + "\n")


def build_bundle(root: Path, when: datetime | None = None, *, kb: int = 12, memories: int = 9, summaries: int = 3,
                 graph_nodes: int = 20, graph_edges: int = 30, checksums: bool = False,
                 meta: bool = True) -> Built:
    """A complete bundle: kb, mc (memories + summaries), graph, concepts, trajectories, mailbox; the meta with
    integrity ``pass`` and ``bundleCount`` per recovery substrate, ``embedding.counts``, export receipts naming each
    payload by absolute path as neo does, a capture block, and (``checksums``) the console's checksums."""
    when = when or datetime(2026, 5, 10, 1, 11, 23, 456000, tzinfo=UTC)
    name = "backup-" + when.strftime("%Y-%m-%dT%H-%M-%S.") + f"{when.microsecond // 1000:03d}Z"
    b = root / name
    b.mkdir(parents=True)
    files = {
        "kb": b / "kb" / f"knowledge-base-backup-{STAMP}.jsonl",
        "memories": b / "mc" / f"memory-backup-{STAMP}.jsonl",
        "summaries": b / "mc" / f"summaries-backup-{STAMP}.jsonl",
        "graph": b / "graph" / f"graph-backup-{STAMP}.jsonl",
        "concepts": b / "concepts" / "nodes.jsonl",
    }
    _write(files["kb"], [_vector_row("kb", i) for i in range(kb)])
    _write(files["memories"], [_vector_row("mem", i) for i in range(memories)])
    _write(files["summaries"], [_vector_row("sum", i) for i in range(summaries)])
    _write(files["graph"], [_graph_row(i, graph_nodes) for i in range(graph_nodes + graph_edges)])
    _write(files["concepts"], [{"id": "c1", "name": "concept"}])
    _write(b / "trajectories" / "trajectories.jsonl", [{"t": 1}])
    _write(b / "mailbox" / "sent-to-cull.jsonl", [{"m": 1}])
    built = Built(b, files["kb"], files["memories"], files["summaries"], files["graph"], files["concepts"])
    if not meta:
        return built
    graph_rows = graph_nodes + graph_edges

    def capture(source: str, rows: int) -> dict[str, Any]:
        return {"source": source, "rowCount": rows, "rowState": "populated", "lineage": "same",
                "collectionId": f"id-{source}", "comparedBundle": None, "previousRowCount": rows,
                "provenEmpty": False, "collapsed": False}

    doc: dict[str, Any] = {
        "bundleVersion": 1, "timestamp": name.removeprefix("backup-"), "completedAt": "2026-05-10T01:14:02.118Z",
        "subsystems": {
            "kb": {"message": f"Export complete. Exported {kb} knowledge base chunks.", "count": kb,
                   "backupFile": str(files["kb"])},
            "mc": {"count": memories + summaries,
                   "memories": {"backupFile": f"/elsewhere/{name}/mc/{files['memories'].name}", "exported": memories},
                   "summaries": {"backupFile": str(files["summaries"]), "exported": summaries}},
            "graph": {"count": graph_rows, "graph": {"backupFile": str(files["graph"]), "exported": graph_rows}},
        },
        "integrity": [
            {"subsystem": "kb", "status": "pass", "sourceCount": kb, "bundleCount": kb},
            {"subsystem": "mc", "status": "pass", "sourceCount": memories + summaries,
             "bundleCount": memories + summaries},
            {"subsystem": "graph", "status": "pass", "sourceCount": graph_rows, "bundleCount": graph_rows},
        ],
        "capture": {"schemaVersion": 1, "comparedTo": None,
                    "sources": {"kb": capture("kb", kb), "mc.memories": capture("mc.memories", memories),
                                "mc.summaries": capture("mc.summaries", summaries)}},
        "embedding": {"counts": {"kb": kb, "memories": memories, "summaries": summaries}, "dimension": 3,
                      "schemaVersion": 1},
    }
    if checksums:
        sums = {}
        for f in sorted(p for p in b.rglob("*") if p.is_file()):
            data = f.read_bytes()
            sums[str(f.relative_to(b))] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                                           "lines": sum(1 for line in data.splitlines() if line.strip())}
        doc["checksums"] = sums
    built.write_meta(doc)
    return built


def cut_at_line(path: Path, keep: float = 0.5) -> int:
    """Tear a payload the plausible way: keep the first ``keep`` of its lines, ending on a newline. Keeps the
    file's mtime moving forward like a real rewrite. Returns the rows kept."""
    lines = path.read_bytes().splitlines(keepends=True)
    kept = lines[: int(len(lines) * keep)]
    path.write_bytes(b"".join(kept))
    return len(kept)


def cut_in_half(path: Path) -> None:
    """Tear a payload mid-line: the first half of its bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
