"""Console bundles, restored by neo 13.1.0's own restore.mjs, end where the console's own restore ends.

Every case starts two worlds from the same state; neo restores the console's bundle in one, the console in
the other; the states are then equal but for the named allowances of tests/interop/state.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.interop.conftest import World
from tests.interop.counters import assert_counters_agree
from tests.interop.data import (
    INCIDENT_EDGE_TYPES,
    INCIDENT_LABELS,
    Row,
    StartState,
    incident_source,
    live_after_wipe,
    vectorless_source,
)
from tests.interop.state import Seeds, bundle_rows, compare

pytestmark = pytest.mark.interop

MERGE = ("--mode", "merge")
FILTERED = ("--mode", "merge", "--only-substrate=graph", f"--filter-labels={INCIDENT_LABELS}",
            f"--filter-edge-types={INCIDENT_EDGE_TYPES}")


def _console_backup(world: Callable[[str], World], state: StartState) -> Path:
    return Path(world("source").load(state).console("backup")["path"])


def _seed_nodes_inserted_by_neo(bundle: Path, start: StartState, seeds: Seeds, labels: str = "") -> int:
    """Bundle nodes neo's own boot writes first (so its receipt counts them as already present)."""
    live = {nid for nid, _ in start.nodes}
    skip = set(labels.split(",")) - {""}
    n = 0
    for f in (bundle / "graph").glob("*.jsonl"):
        for line in f.read_text().splitlines():
            obj = json.loads(line)
            d = obj["data"]
            if obj["type"] == "node" and seeds.node(d["id"]) and d["id"] not in live and d["label"] not in skip:
                n += 1
    return n


@pytest.mark.parametrize("flags", [MERGE, FILTERED], ids=["merge", "filtered-incident-merge"])
def test_console_bundle_neo_merge_ends_where_console_merge_ends(
    world: Callable[[str], World], neo_seeds: Seeds, flags: tuple[str, ...]
) -> None:
    bundle = _console_backup(world, incident_source())
    live = live_after_wipe(incident_source())

    neo_side = world("neo").load(live)
    neo_run = neo_side.restore(bundle, *flags).check()
    neo_state = neo_side.snapshot()
    console_side = world("console").load(live)
    console_run = console_side.console("restore", str(bundle), *flags)
    assert console_run["status"] == "completed"

    cmp = compare(neo_state, console_side.snapshot(), allow={"neo-boot-seeds"}, seeds=neo_seeds,
                  a_name="neo", b_name="console")
    cmp.assert_equal()
    assert cmp.allowed["neo-boot-seeds"], "neo's boot seeds are the one expected difference here"
    labels = INCIDENT_LABELS if flags == FILTERED else ""
    assert_counters_agree(neo_run.result, console_run, filtered=flags == FILTERED,
                          seeded_bundle_nodes=_seed_nodes_inserted_by_neo(bundle, live, neo_seeds, labels))
    if flags == FILTERED:
        stats = neo_run.result["subsystems"]["graph"]["filterStats"]
        assert stats["filteredNodes"] > 100 and stats["filteredEdges"] > 100, "the incident filters really ran"


def test_console_bundle_restored_by_neo_into_an_empty_data_dir(world: Callable[[str], World], neo_seeds: Seeds) -> None:
    """The disaster case: nothing left live. Every bundle row lands, through either tool."""
    bundle = _console_backup(world, incident_source())
    neo_side = world("neo")
    neo_run = neo_side.restore(bundle).check()
    neo_state = neo_side.snapshot()
    console_side = world("console")
    console_run = console_side.console("restore", str(bundle))
    state = console_side.snapshot()
    cmp = compare(neo_state, state, allow={"neo-boot-seeds", "neo-boot-collections", "neo-embedding-function-record"},
                  seeds=neo_seeds, a_name="neo", b_name="console")
    cmp.assert_equal()
    assert_counters_agree(neo_run.result, console_run, filtered=False,
                          seeded_bundle_nodes=_seed_nodes_inserted_by_neo(bundle, StartState(), neo_seeds))
    for side in (neo_state, state):
        assert len(side.chroma["neo-agent-memory"]) == 40 and len(side.chroma["neo-knowledge-base"]) == 30
    # collections the console created (no embedding-function record) serve neo: its backup reads every row back
    ours, theirs = bundle_rows(bundle), bundle_rows(console_side.backup())
    for key in ("kb", "memories", "summaries"):
        assert set(theirs[key]) == set(ours[key]) and all(
            theirs[key][rid]["embedding"] == row["embedding"] for rid, row in ours[key].items()), key


@pytest.mark.parametrize("dimension", [None, 16], ids=["both-unconfigured", "both-configured-16"])
def test_console_bundle_of_a_store_without_vectors_meets_neos_embedding_contract(
    world: Callable[..., World], neo_seeds: Seeds, dimension: int | None
) -> None:
    """The dimension neo resolves (NEO_VECTOR_DIMENSION, else its default) is what the console's bundle declares.

    neo 13.1.0's restore does not read `embedding` yet; neo's current validator (validateEmbeddingContractSchema
    in neo-agent-brain's restore.mjs) refuses the bundle unless `dimension` is a positive integer equal to the
    destination's configured vectorDimension, for every substrate, so a null here is a bundle neo refuses.
    """
    src = world("source", dimension).load(vectorless_source())
    bundle = Path(src.console("backup")["path"])
    neo_side = world("neo", dimension)
    expected = neo_side.resolved_config()["vectorDimension"]
    assert expected == (dimension or 4096), "neo resolves NEO_VECTOR_DIMENSION, or its default"
    meta = json.loads((bundle / "bundle-meta.json").read_text())
    declared = meta["embedding"]
    assert isinstance(declared["dimension"], int) and not isinstance(declared["dimension"], bool) and \
        declared["dimension"] > 0, f"neo refuses: invalid-embedding-schema (dimension {declared['dimension']!r})"
    assert declared["dimension"] == expected, f"neo refuses: dimension-contract-mismatch {declared['dimension']} != {expected}"
    assert declared["schemaVersion"] == 1 and declared["counts"] == {"kb": 0, "memories": 0, "summaries": 0}
    neo_side.restore(bundle).check()
    neo_state = neo_side.snapshot()
    console_side = world("console", dimension)
    console_side.console("restore", str(bundle))
    compare(neo_state, console_side.snapshot(), allow={"neo-boot-seeds", "neo-boot-collections",
                                                      "neo-embedding-function-record"},
            seeds=neo_seeds).assert_equal()


def test_console_bundle_topology_uses_neos_keys(world: Callable[[str], World]) -> None:
    """Side by side with what neo's backup.mjs writes for the same server: the same keys, host and port."""
    src = world("source").load(vectorless_source())
    ours = json.loads((Path(src.console("backup")["path"]) / "bundle-meta.json").read_text())["topology"]
    theirs = json.loads((src.backup() / "bundle-meta.json").read_text())["topology"]
    assert theirs["shared_topology"] is ours["shared_topology"] is True
    for coords in ("kbChromaCoords", "mcChromaCoords"):
        assert set(theirs[coords]) <= set(ours[coords]), f"{coords}: neo's keys {sorted(theirs[coords])}"
        assert (ours[coords]["host"], ours[coords]["port"]) == (theirs[coords]["host"], theirs[coords]["port"])


def test_kb_row_edited_under_its_id_neo_upsert_takes_the_bundle_console_keeps_live(
    world: Callable[[str], World], neo_seeds: Seeds
) -> None:
    """A found difference, asserted rather than allowed. A KB id hashes the chunk's content, not its position:
    a method that moved down its file keeps its id with a new `line_start`. neo's KB merge upserts, so the
    bundle's older row replaces the live one; the console's merge never rewrites a live row."""
    bundle = _console_backup(world, incident_source())
    live = live_after_wipe(incident_source())
    moved = {r.id: r.metadata["line_start"] + 40 for r in live.chroma["kb"][:3]}
    live.chroma["kb"] = [Row(r.id, r.embedding, {**r.metadata, "line_start": moved[r.id]}, r.document)
                         if r.id in moved else r for r in live.chroma["kb"]]
    only_kb = ("--mode", "merge", "--only-substrate=kb")
    neo_side = world("neo").load(live)
    neo_side.restore(bundle, *only_kb).check()
    neo_state = neo_side.snapshot()
    console_side = world("console").load(live)
    console_side.console("restore", str(bundle), *only_kb)
    console_state = console_side.snapshot()
    cmp = compare(neo_state, console_state, allow={"neo-boot-seeds"}, seeds=neo_seeds, a_name="neo", b_name="console")
    assert len(cmp.unexplained) == 3 and all("metadata.line_start" in d for d in cmp.unexplained), cmp.unexplained
    for rid, live_line in moved.items():
        assert console_state.chroma["neo-knowledge-base"][rid].metadata["line_start"] == live_line
        assert neo_state.chroma["neo-knowledge-base"][rid].metadata["line_start"] == live_line - 40
