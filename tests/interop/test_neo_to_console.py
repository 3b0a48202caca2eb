"""Bundles written by neo 13.1.0's own backup.mjs: the console verifies, plans and restores them, ending where
neo's restore of the same bundle ends; and neo's bundle holds the rows the console's own backup holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.interop.conftest import World
from tests.interop.counters import assert_counters_agree
from tests.interop.data import INCIDENT_EDGE_TYPES, INCIDENT_LABELS, incident_source, live_after_wipe
from tests.interop.state import Seeds, bundle_rows, compare, diff_values, js_number_explains

pytestmark = pytest.mark.interop

MERGE = ("--mode", "merge")
FILTERED = ("--mode", "merge", "--only-substrate=graph", f"--filter-labels={INCIDENT_LABELS}",
            f"--filter-edge-types={INCIDENT_EDGE_TYPES}")


def test_neo_and_console_backups_of_one_store_hold_the_same_rows(world: Callable[[str], World], neo_seeds: Seeds) -> None:
    src = world("source").load(incident_source())
    ours = bundle_rows(Path(src.console("backup")["path"]))  # first: neo's start below writes its seeds
    theirs = bundle_rows(src.backup())
    for kind in ("nodes", "edges"):
        mine = {k: v for k, v in ours[kind].items() if not _seeded(kind, v, neo_seeds)}
        neos = {k: v for k, v in theirs[kind].items() if not _seeded(kind, v, neo_seeds)}
        assert set(mine) == set(neos), kind
        assert all(not diff_values(mine[k], neos[k]) for k in mine), f"{kind}: parsed data differs"
    for key in ("kb", "memories", "summaries"):
        assert set(ours[key]) == set(theirs[key]) and ours[key], key
        for rid, row in ours[key].items():
            other = theirs[key][rid]
            assert row["embedding"] == other["embedding"], f"{key} {rid}: float32 vector"
            assert row["document"] == other["document"]
            diffs = diff_values(row["metadata"], other["metadata"])
            # js-number-model: Chroma gives neo's JS client 1.0 back as 1 (one number type)
            assert all(js_number_explains(a, b) for _, a, b in diffs), f"{key} {rid}: {diffs}"


def _seeded(kind: str, data: dict, seeds: Seeds) -> bool:
    if kind == "nodes":
        return seeds.node(data["id"])
    return (data["source"], data["target"], data["type"]) in seeds.edge_keys


@pytest.mark.parametrize("flags", [MERGE, FILTERED], ids=["merge", "filtered-incident-merge"])
def test_neo_bundle_console_verify_diff_restore_ends_where_neo_restore_ends(
    world: Callable[[str], World], neo_seeds: Seeds, flags: tuple[str, ...]
) -> None:
    bundle = world("source").load(incident_source()).backup()
    meta = json.loads((bundle / "bundle-meta.json").read_text())
    assert meta["neoVersion"] == "13.1.0" and "embedding" not in meta, "13.1.0 writes the May shape"
    live = live_after_wipe(incident_source())

    neo_side = world("neo").load(live)
    neo_run = neo_side.restore(bundle, *flags).check()
    neo_state = neo_side.snapshot()

    console_side = world("console").load(live)
    verified = console_side.console("verify", str(bundle))
    assert verified["verdict"] == "RESTORABLE", verified["errors"]
    integrity = {e["subsystem"]: e["bundleCount"] for e in meta["integrity"]}
    assert verified["counts"]["kb"] == integrity["kb"] == 30
    assert verified["counts"]["memories"] + verified["counts"]["summaries"] == integrity["mc"] == 46
    assert verified["counts"]["graphNodes"] + verified["counts"]["graphEdges"] == integrity["graph"]
    plan = console_side.console("diff", str(bundle), *flags)
    restored = console_side.console("restore", str(bundle), *flags)
    assert restored["status"] == "completed"
    graph_counts = restored["subsystems"]["graph"]["counts"]["graph"]
    # the plan is what ran
    assert plan["graph"]["totals"]["wouldInsert"] == graph_counts["nodes"]["inserted"] + graph_counts["edges"]["inserted"]
    assert plan["graph"]["totals"]["alreadyPresent"] == (graph_counts["nodes"]["skippedExisting"]
                                                         + graph_counts["edges"]["skippedExisting"])
    assert plan["graph"]["filterStats"] == restored["subsystems"]["graph"]["filterStats"]
    if flags == MERGE:
        mc = restored["subsystems"]["mc"]["counts"]
        assert plan["memories"]["wouldInsert"] == mc["memories"]["inserted"] == 25
        assert plan["summaries"]["wouldInsert"] == mc["summaries"]["inserted"] == 4
        assert plan["kb"]["wouldInsert"] == restored["subsystems"]["kb"]["inserted"] == 20

    cmp = compare(neo_state, console_side.snapshot(), allow={"neo-boot-seeds"}, seeds=neo_seeds,
                  a_name="neo", b_name="console")
    cmp.assert_equal()
    # neo's bundle carries the seed rows its backup's own start wrote; in neo's world they were already live
    seeded = sum(1 for nid in bundle_rows(bundle)["nodes"] if neo_seeds.node(nid) and nid not in dict(live.nodes))
    if flags == FILTERED:
        seeded = sum(1 for nid, d in bundle_rows(bundle)["nodes"].items()
                     if neo_seeds.node(nid) and nid not in dict(live.nodes) and d["label"] not in INCIDENT_LABELS)
    assert_counters_agree(neo_run.result, restored, filtered=flags == FILTERED, seeded_bundle_nodes=seeded)
