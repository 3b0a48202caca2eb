"""neo's restore receipt and the console's, reduced to the counters both report, with their known differences."""

from __future__ import annotations

from typing import Any


def neo_counters(result: dict[str, Any]) -> dict[str, Any]:
    s = result["subsystems"]
    graph = ((s.get("graph") or {}).get("counts") or {}).get("graph") or {}
    mc = (s.get("mc") or {}).get("counts") or {}
    return {
        "nodes": graph.get("nodes"), "edges": graph.get("edges"),
        "memories": mc.get("memories"), "summaries": mc.get("summaries"),
        "kbImported": (s.get("kb") or {}).get("imported"),
        "filterStats": (s.get("graph") or {}).get("filterStats"),
        "flat": {k: s[k] for k in ("concepts", "trajectories", "mailbox") if k in s},
    }


def console_counters(result: dict[str, Any]) -> dict[str, Any]:
    s = result["subsystems"]
    graph = ((s.get("graph") or {}).get("counts") or {}).get("graph") or {}
    mc = (s.get("mc") or {}).get("counts") or {}
    drop = ("duplicatesInChunk",)
    kb = s.get("kb") or {}
    return {
        "nodes": graph.get("nodes"), "edges": graph.get("edges"),
        "memories": {k: v for k, v in mc["memories"].items() if k not in drop} if "memories" in mc else None,
        "summaries": {k: v for k, v in mc["summaries"].items() if k not in drop} if "summaries" in mc else None,
        "kb": kb,
        "filterStats": (s.get("graph") or {}).get("filterStats"),
        "flat": {k: s[k] for k in ("concepts", "trajectories", "mailbox") if k in s},
    }


def assert_counters_agree(neo: dict[str, Any], console: dict[str, Any], *, seeded_bundle_nodes: int,
                          filtered: bool) -> None:
    """Both receipts describe the same rows. Known, named differences of accounting (not of state):

    - neo-boot-seeds: neo inserts its seed nodes when it starts, so the bundle's copies of them count as
      `skippedExisting` in neo's receipt and as `inserted` in the console's;
    - orphan edges: without filters neo tries to insert an edge whose endpoint exists nowhere, SQLite's foreign
      key refuses it and neo counts it `failed`; the console leaves it out before writing (`orphanEdges`);
    - KB: neo upserts every row (`imported`), the console adds the missing ids (`inserted`) and counts the rest
      (`idAlreadyPresent`).
    """
    n, c = neo_counters(neo), console_counters(console)
    if n["nodes"] is not None or c["nodes"] is not None:
        assert c["nodes"]["inserted"] - n["nodes"]["inserted"] == seeded_bundle_nodes
        assert n["nodes"]["skippedExisting"] - c["nodes"]["skippedExisting"] == seeded_bundle_nodes
        assert n["nodes"]["failed"] == c["nodes"]["failed"] == 0
        assert n["edges"]["inserted"] == c["edges"]["inserted"]
        assert n["edges"]["skippedExisting"] == c["edges"]["skippedExisting"]
        if filtered:
            assert n["edges"]["failed"] == c["edges"]["failed"] == 0
            assert n["filterStats"] == c["filterStats"], "neo's filter and the console's drop the same rows"
        else:
            assert n["edges"]["failed"] == c["filterStats"]["orphanEdges"] and c["edges"]["failed"] == 0
    assert n["memories"] == c["memories"]
    assert n["summaries"] == c["summaries"]
    if n["kbImported"] is not None or c["kb"]:
        assert n["kbImported"] == c["kb"]["inserted"] + c["kb"]["idAlreadyPresent"]
    assert n["flat"] == c["flat"]
