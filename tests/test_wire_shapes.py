"""The wire shape of every engine result the CLI goldens do not reach, pinned byte for byte.

`tests/test_json_contract.py` pins what each command prints for the demo; these scenarios reach the shapes a
demo run never produces: failed rows, a post-restore hook, a replace with its safety bundle and occupancy, a
dry run that would be refused, verify findings, a guard override, an undo that keeps rows, defrag snapshots
and residue, the prune a backup runs after it publishes, the KB divergence examples of a plan, the demo's own
result. Normalised like the CLI goldens (volatile keys by name, paths by prefix); regenerate deliberately with
`RC_UPDATE_GOLDEN=1` and read the diff of `tests/golden/engine/`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from core import chroma_store as ch
from core.backup import run_backup
from core.datadir import DataDir, resolve
from core.demo import build_demo
from core.graph_store import connect
from core.guard import guard
from core.journal import list_runs
from core.plan import Filters, build_plan, scan_bundle
from core.prune import prune, sweep_after_backup
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.retention import evaluate
from core.undo import undo_run
from core.verify import verify_bundle
from core.verify_walk import find_restorable
from core.wire import encode
from tests.builders import edge, live_graph, live_vectors, node, vec, write_bundle
from tests.test_json_contract import Normaliser

GOLDEN = Path(__file__).parent / "golden" / "engine"
UPDATE = os.environ.get("RC_UPDATE_GOLDEN") == "1"


def wire(obj: Any) -> Any:
    """The object as the CLI would print it (a JSON round trip, as `write_json` does)."""
    return json.loads(json.dumps(encode(obj)))


def check(name: str, dd: DataDir, obj: Any) -> None:
    text = json.dumps(Normaliser(dd.root, set())(wire(obj)), indent=2, ensure_ascii=False) + "\n"
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden for {name}: run with RC_UPDATE_GOLDEN=1 and review tests/golden/engine/"
    assert text == path.read_text(encoding="utf-8"), f"the wire shape of {name} changed"


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / "x" / ".neo-ai-data", env={})


def _workspace(dd: DataDir) -> Path:
    ws = dd.root.parent / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "a.mjs").write_text("export default 1;\n")
    (ws / "README.md").write_text("# ws\n")
    return ws


def test_merge_with_failed_rows_and_a_hook(dd: DataDir) -> None:
    live_graph(dd, [node("A", "CONCEPT")], [])
    conn = connect(dd.graph_db)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON Nodes WHEN NEW.id = 'bad' "
                 "BEGIN SELECT RAISE(ABORT, 'refused by a live trigger'); END")
    conn.close()
    b = write_bundle(dd.backup_root, nodes=[node("n1", "FILE"), node("bad", "FILE"), node("n2", "FILE")],
                     edges=[edge("e1", "n1", "n2", "RELATES_TO"), edge("e2", "n1", "bad", "RELATES_TO")],
                     memories=[vec("m1"), vec("m2", metadata={"nested": {"not": "scalar"}})],
                     summaries=[vec("s1")], kb=[vec("k1", metadata={"source": "s", "name": "n", "type": "src"})],
                     concepts={"nodes.jsonl": '{"c":1}\n'}, trajectories='{"t":1}\n', mailbox='{"m":1}\n')
    res = run_restore(dd, b, RestoreOptions(post_restore_hook="filesystem-ingestor", workspace=_workspace(dd)))
    check("restore-failed-rows-hook", dd, res)
    check("run-record", dd, list_runs(dd)[0])


def test_replace_with_safety_bundle(dd: DataDir) -> None:
    live_graph(dd, [node("A", "CONCEPT"), node("X", "FILE")], [edge("eL", "A", "X", "CONTAINS")])
    live_vectors(dd, "memories", [vec("m-live")])
    b = write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT"), node("B", "FILE")],
                     edges=[edge("e1", "A", "B", "CONTAINS")], memories=[vec("m1")])
    res = run_restore(dd, b, RestoreOptions(mode="replace", yes=True, force=True, only_substrate=["graph", "mc"]))
    check("restore-replace", dd, res)


def test_dry_run_that_a_real_run_would_refuse(dd: DataDir) -> None:
    live_graph(dd, [node("A", "CONCEPT")], [])
    b = write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT"), node("B", "FILE")],
                     concepts={"nodes.jsonl": "{}\n"}, trajectories='{"t":1}\n')
    res = run_restore(dd, b, RestoreOptions(mode="replace", dry_run=True, filters=Filters.of(["FILE"]),
                                            post_restore_hook="filesystem-ingestor", workspace=_workspace(dd)))
    check("restore-dry-run-refused", dd, res)


def test_verify_findings_and_the_walk(dd: DataDir) -> None:
    good = write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT")], name="backup-2026-05-09T01-11-23.456Z")
    bad = write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT")], memories=[vec("m1"), vec("m2", dim=3)])
    with open(bad / "graph" / "graph-backup-2026-05-10T01-11-40.002Z.jsonl", "ab") as fh:
        fh.write(b'{"type":"edge","data":{"id":"e"}}\n{"type":"node","data":{"id":"torn"')
    (bad / "trajectories" / "t.jsonl").write_bytes(b'{"a":"b"}\r{"c":1}\n')
    check("verify-findings", dd, verify_bundle(bad, expected_dimension=8))
    walk = find_restorable(dd.backup_root)
    assert walk.bundle == good.name
    check("verify-walk-skipped", dd, walk)


def test_guard_refused_and_overridden(dd: DataDir) -> None:
    write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT")], name="backup-2026-05-09T01-11-23.456Z")
    now = datetime(2026, 5, 10, 10, tzinfo=UTC)
    check("guard-refused", dd, guard(dd, now=now))
    check("guard-skipped", dd, guard(dd, now=now, skip=True, reason="test override"))


def test_undo_that_keeps_rows(dd: DataDir) -> None:
    live_graph(dd, [node("A", "CONCEPT")], [])
    dd.trajectories_file.parent.mkdir(parents=True)
    dd.trajectories_file.write_text('{"live":1}\n')
    b = write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT"), node("B", "FILE"), node("C", "ISSUE"),
                                            node("D", "ISSUE")],
                     edges=[edge("e1", "A", "B", "CONTAINS")], memories=[vec("m1"), vec("m2")],
                     trajectories='{"bundle":1}\n', concepts={"nodes.jsonl": "{}\n"})
    res = run_restore(dd, b, RestoreOptions(force=True))
    live_graph(dd, [node("N", "MESSAGE")], [edge("eN", "N", "D", "SENT_TO")])
    conn = connect(dd.graph_db)
    conn.execute("UPDATE Nodes SET data = ? WHERE id = 'C'", (orjson.dumps(node("C", "ISSUE", edited=True)).decode(),))
    conn.close()
    col = ch.get_collection(ch.open_client(dd), "neo-agent-memory")
    assert col is not None
    col.update(ids=["m2"], metadatas=[{"edited": True}])
    (dd.runs_dir / (res.run_id or "") / "flat" / "trajectories" / "trajectories.jsonl").unlink()
    check("undo-kept", dd, undo_run(dd, res.run_id or ""))
    check("run-record-undone", dd, list_runs(dd)[0])


def test_retention_with_snapshots_residue_and_the_sweep(dd: DataDir) -> None:
    now = datetime(2026, 5, 10, 10, tzinfo=UTC)  # the sweep below runs on the real clock, later than this
    for days in (1, 50, 90):
        stamp = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H-%M-%S.000Z")
        write_bundle(dd.backup_root, nodes=[node("A", "CONCEPT")], memories=[vec("m1")], kb=[vec("k1")],
                     name=f"backup-{stamp}")
    (dd.backup_root / ".backup-partial-x").mkdir()
    (dd.backup_root / ".trash-backup-y").mkdir()
    (dd.backup_root / "backup-not-a-time").mkdir()
    target = dd.defrag_root / "neo-agent-memory"
    for days in (0.5, 20, 30):
        ms = int((now - timedelta(days=days)).timestamp() * 1000)
        (target / f"backup-{ms}").mkdir(parents=True)
    (target / "backup-odd").mkdir()
    check("retention-snapshots", dd, evaluate(dd, now=now))
    check("prune-dry-run-snapshots", dd, prune(dd, dry_run=True, now=now))
    check("sweep", dd, sweep_after_backup(dd))


def test_backup_with_its_sweep(dd: DataDir) -> None:
    live_graph(dd, [node("A", "CONCEPT")], [])
    live_vectors(dd, "memories", [vec("m1")])
    res = run_backup(dd)
    check("backup-swept", dd, dataclasses.replace(res, retention=sweep_after_backup(dd)))


def test_plan_with_kb_divergence_examples(dd: DataDir) -> None:
    meta = {"tenantId": "t", "repoSlug": "r", "source": "src/A.mjs", "name": "A - f()", "type": "src"}
    live_vectors(dd, "kb", [vec("hash-old", metadata=meta, document=None)])
    b = write_bundle(dd.backup_root, kb=[vec("hash-new", metadata=meta, document=None)],
                     nodes=[node("A", "FILE")], edges=[edge(None, "A", "Z", "RELATES_TO")])
    check("plan-kb-divergence", dd, build_plan(scan_bundle(dd, b), Filters.of(["ISSUE"], ["X"])))


def test_demo_result(tmp_path: Path) -> None:
    root = tmp_path / "x" / ".neo-ai-data"
    res = build_demo(root, seed=3, scale=0.01, dimension=4, now=datetime(2026, 5, 10, 10, tzinfo=UTC))
    check("demo", resolve(root, env={}), res)
