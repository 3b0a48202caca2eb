"""The demo reproduces the May 10 incident exactly, deterministically, and never clobbers real data."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core import graph_store as g
from core.bundle import list_bundles
from core.demo import MAY10_FIGURES, build_demo
from core.errors import UsageError
from core.verify import RESTORABLE
from core.verify_walk import find_restorable

NOW = datetime(2026, 5, 10, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("demo") / "dd"
    return build_demo(root, now=NOW)


def graph_lines(bundle: Path) -> list[dict]:
    f = next((bundle / "graph").glob("*.jsonl"))
    return [json.loads(line) for line in f.read_text().splitlines()]


def test_the_last_bundle_before_the_wipe_has_the_may_10_shape(demo) -> None:
    root = Path(demo.root)
    listing = list_bundles(root / "backups")
    before = listing.bundles[1]
    assert before.name == "backup-2026-05-10T01-00-00.000Z"
    rows = graph_lines(before.path)
    nodes = [r["data"] for r in rows if r["type"] == "node"]
    edges = [r["data"] for r in rows if r["type"] == "edge"]
    assert (len(nodes), len(rows)) == (22_660, 37_925)
    labels = Counter(n["label"] for n in nodes)
    assert (labels["FILE"], labels["DIRECTORY"], labels["KB_GAP"], labels["TOOLING_GAP"]) == (8_299, 1_141, 395, 365)
    assert (labels["CONCEPT"], labels["AGENT_MEMORY"], labels["CLASS"], labels["MESSAGE"]) == (4_216, 4_136, 844, 409)
    types = Counter(e["type"] for e in edges)
    assert types["CONTAINS"] == 9_349 and types["DISCOVERED_IN"] + types["EVALUATED_BY"] == 3_104
    assert demo.expected == MAY10_FIGURES
    conn = g.connect(root / "sqlite" / "memory-core-graph.sqlite")
    assert g.counts(conn) == (3_545, 4_300)
    # live ids collide with backup ids: the ISSUE nodes were re-ingested with newer data
    live_issue = json.loads(conn.execute("SELECT data FROM Nodes WHERE id='issue-10000'").fetchone()[0])
    backup_issue = next(n for n in nodes if n["id"] == "issue-10000")
    assert live_issue["properties"]["state"] == "closed" and backup_issue["properties"]["state"] == "open"


def test_the_newest_bundle_is_a_backup_of_the_wiped_stores(demo) -> None:
    """A routine backup ran after the wipe: restorable by neo's rule, and exactly the wiped graph."""
    root = Path(demo.root)
    newest = list_bundles(root / "backups").bundles[0]
    assert newest.name == "backup-2026-05-10T09-00-00.000Z"
    assert all(newest.restorable(s) for s in ("kb", "mc", "graph"))
    rows = graph_lines(newest.path)
    conn = g.connect(root / "sqlite" / "memory-core-graph.sqlite")
    live = {r[0]: json.loads(r[1]) for r in conn.execute("SELECT id, data FROM Nodes")}
    nodes = {r["data"]["id"]: r["data"] for r in rows if r["type"] == "node"}
    assert nodes == live and len(rows) - len(nodes) == 4_300
    emb = (newest.meta or {})["embedding"]["counts"]
    assert (emb["memories"], emb["summaries"]) == (demo.live["memories"], demo.live["summaries"])


def test_incident_extras(demo) -> None:
    listing = list_bundles(Path(demo.root) / "backups")
    by_state = [b.meta_state for b in listing.bundles]
    assert by_state.count("malformed") == 1
    kb_empty = [b for b in listing.bundles if b.integrity("kb") == "empty"]
    assert len(kb_empty) == 1 and kb_empty[0].substrates["kb"].bytes == 0
    assert [b.name for b in listing.bundles].index(kb_empty[0].name) == 2  # the day before the 01:00 bundle
    assert [r.kind for r in listing.residue] == ["staging"]
    assert find_restorable(Path(demo.root) / "backups").code == RESTORABLE
    assert demo.live["memories"] == 1_068 and demo.live["summaries"] == 65


def test_deterministic_for_a_seed(tmp_path: Path, demo) -> None:
    a = build_demo(tmp_path / "a", scale=0.05, now=NOW, seed=3)
    b = build_demo(tmp_path / "b", scale=0.05, now=NOW, seed=3)
    fa = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / "backups").rglob("*.jsonl"))
    fb = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / "backups").rglob("*.jsonl"))
    assert fa == fb and a.bundles == b.bundles
    for rel in fa:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    c = build_demo(tmp_path / "c", scale=0.05, now=NOW, seed=4)
    assert c.bundles == a.bundles
    assert graph_lines(tmp_path / "c" / "backups" / c.bundles[0]) != graph_lines(tmp_path / "a" / "backups" / a.bundles[0])


def test_refuses_a_real_data_dir(tmp_path: Path) -> None:
    real = tmp_path / ".neo-ai-data"
    (real / "sqlite").mkdir(parents=True)
    (real / "sqlite" / "memory-core-graph.sqlite").write_bytes(b"precious")
    with pytest.raises(UsageError, match="not a demo data dir"):
        build_demo(real, scale=0.05)
    assert (real / "sqlite" / "memory-core-graph.sqlite").read_bytes() == b"precious"


def test_the_demo_command_opens_the_console_on_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`recovery-console demo` builds the data dir, then opens the console on it (not on the CLI's data dir)."""
    import console.tui
    from console.cli import main

    opened: list[tuple[object, object]] = []
    monkeypatch.setattr(console.tui, "run_tui", lambda dd, readonly=False: opened.append((dd, readonly)) or 0)
    root = tmp_path / "demo"
    assert main(["--readonly", "demo", "--dir", str(root), "--scale", "0.01", "--dimension", "4"]) == 0
    ((dd, readonly),) = opened
    assert getattr(dd, "root", None) == root.resolve() and readonly is True
