"""The test fixture writer itself follows the documented format (neo-today.md), checked with plain libraries."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import brotli

from tests import neofmt


def test_a_bundle_has_neos_layout_names_and_meta(tmp_path: Path) -> None:
    nodes, edges = neofmt.graph_rows(4)
    spec = neofmt.NeoBundleSpec(kb=neofmt.vector_rows("kb", 3), memories=neofmt.vector_rows("memories", 5),
                                summaries=[], temporal=neofmt.vector_rows("temporalSummaries", 2),
                                nodes=nodes, edges=edges, capture={})
    b = neofmt.write_bundle(tmp_path, spec)
    assert b.name == "backup-2026-09-20T03-00-00.123Z"
    names = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert names == [
        "bundle-meta.json", "concepts/nodes.jsonl",
        "graph/graph-backup-2026-09-20T03-22-05.123Z.jsonl.br",
        "kb/knowledge-base-backup-2026-09-20T03-00-05.123Z.jsonl.br",
        "ledgers/heal-attempts.json", "ledgers/heal-events.jsonl", "ledgers/recovery-runs/run-2026-09-19.jsonl",
        "mailbox/sent-to-cull.jsonl",
        "mc/memory-backup-2026-09-20T03-05-05.123Z.jsonl.br",
        "mc/temporal-summary-backup-2026-09-20T03-21-35.123Z.jsonl.br",
        "trajectories/trajectories.jsonl",
    ]  # no summaries file: neo writes none for an empty source
    meta = json.loads((b / "bundle-meta.json").read_text())
    assert list(meta) == ["bundleVersion", "timestamp", "completedAt", "subsystems", "integrity", "capture",
                          "topology", "embedding", "neoVersion", "gitSha"]
    assert meta["subsystems"]["mc"]["summaries"]["payloadEncoding"] is None
    assert meta["subsystems"]["mc"]["memories"]["payloadEncoding"] == "jsonl+br"
    assert meta["integrity"][1] == {"subsystem": "mc", "status": "pass", "sourceCount": 7, "bundleCount": 7}
    assert meta["embedding"]["counts"] == {"kb": 3, "memories": 5, "summaries": 0, "temporalSummaries": 2}
    assert meta["topology"]["mcChromaCoords"] == {"host": "localhost", "port": 8000, "dataDir": None,
                                                  "storageReason": "physical-storage-not-observed"}
    graph = next((b / "graph").iterdir())
    text = brotli.decompress(graph.read_bytes())
    assert text.endswith(b"\n") and text.count(b"\n") == 7
    assert json.loads(text.splitlines()[0]) == {"type": "node", "data": nodes[0]}


def test_the_capture_block_derives_lineage_proven_empty_and_collapsed(tmp_path: Path) -> None:
    spec = neofmt.NeoBundleSpec(kb=[], memories=[], summaries=neofmt.vector_rows("summaries", 1), capture={
        "kb": neofmt.Capture("kb-new", "kb-old", 1500),        # zero rows, other collection, had rows: collapsed
        "memories": neofmt.Capture("mem", "mem", 0),           # zero rows, same collection: proven empty
        "summaries": neofmt.Capture("s", None, None)})         # no predecessor identity: unknown
    meta = json.loads((neofmt.write_bundle(tmp_path, spec) / "bundle-meta.json").read_text())
    src = meta["capture"]["sources"]
    assert list(src["kb"]) == ["source", "rowCount", "rowState", "lineage", "collectionId", "comparedBundle",
                               "previousRowCount", "provenEmpty", "collapsed"]
    assert (src["kb"]["rowState"], src["kb"]["lineage"], src["kb"]["collapsed"], src["kb"]["provenEmpty"]) == \
        ("zero", "changed", True, False)
    assert (src["mc.memories"]["lineage"], src["mc.memories"]["provenEmpty"]) == ("same", True)
    assert (src["mc.summaries"]["rowState"], src["mc.summaries"]["lineage"]) == ("populated", "unknown")


def test_recode_keeps_the_rows_and_moves_the_receipts(tmp_path: Path) -> None:
    spec = neofmt.NeoBundleSpec(memories=neofmt.vector_rows("memories", 4))
    b = neofmt.write_bundle(tmp_path, spec)
    before = brotli.decompress(next((b / "mc").iterdir()).read_bytes())
    neofmt.recode(b, "jsonl+gz")
    after = next((b / "mc").iterdir())
    assert after.name.endswith(".jsonl.gz") and gzip.decompress(after.read_bytes()) == before
    meta = json.loads((b / "bundle-meta.json").read_text())
    assert meta["subsystems"]["mc"]["memories"]["payloadEncoding"] == "jsonl+gz"
    assert meta["subsystems"]["mc"]["memories"]["backupFile"].endswith(".jsonl.gz")


def test_receipt_and_lease_have_neos_shapes(tmp_path: Path) -> None:
    r = neofmt.write_receipt(tmp_path, bundle="backup-x")
    assert not r.read_text().endswith("\n")
    doc = json.loads(r.read_text())
    assert list(doc) == ["backup", "bundleCompletedAt", "integrity", "bundleName", "finishedAt", "offHostSync",
                         "schemaVersion"]
    lease = json.loads(neofmt.write_lease(tmp_path / "l.json").read_text())
    assert list(lease) == ["owner", "reason", "pid", "token", "bootId", "acquiredAt", "staleAfterMs", "expiresAt",
                           "metadata"]


def test_the_console_reads_the_capture_block_neo_writes(tmp_path: Path) -> None:
    from core.capture import read_capture

    spec = neofmt.NeoBundleSpec(kb=[], memories=neofmt.vector_rows("memories", 3), capture={
        "kb": neofmt.Capture("kb-new", "kb-old", 1500), "memories": neofmt.Capture("m", "m", 2)})
    meta = json.loads((neofmt.write_bundle(tmp_path, spec) / "bundle-meta.json").read_text())
    cap = read_capture(meta)
    assert cap is not None and cap.compared_to == "backup-2026-09-19T03-00-00.101Z"
    kb, mem, summ = (cap.source(k) for k in ("kb", "memories", "mc.summaries"))
    assert kb is not None and mem is not None and summ is not None
    assert (kb.verdict, kb.collapsed, kb.previous_row_count, kb.lineage) == ("collapsed", True, 1500, "changed")
    assert mem.text == "3 rows  populated  lineage same  (was 2 in backup-2026-09-19T03-00-00.101Z)"
    assert summ.verdict == "proven empty"
    assert [s.key for s in cap.collapsed] == ["kb"]
    assert read_capture({"bundleVersion": 1}) is None


def test_an_older_capture_without_collapsed_reads_as_unknown_not_false() -> None:
    from core.capture import read_capture

    cap = read_capture({"capture": {"schemaVersion": 1, "comparedTo": None, "sources": {
        "kb": {"source": "kb", "rowCount": 0, "rowState": "zero", "lineage": "changed", "provenEmpty": False}}}})
    assert cap is not None
    kb = cap.source("kb")
    assert kb is not None and kb.collapsed is None and kb.previous_row_count is None and kb.verdict == "zero"
