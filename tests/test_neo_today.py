"""Today's neo bundles (written by tests/neofmt.py from the documented format, never by the console): every
command gives a `.jsonl.br` / `.jsonl.gz` bundle the same figures as the same bundle in plain `.jsonl`, and a
torn or mislabelled payload is BUNDLE_INVALID naming the file."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from core import chroma_store as cs
from core.bundle import list_bundles
from core.datadir import DataDir, resolve
from core.errors import BundleInvalid
from core.live_scan import scan_bundle
from core.plan import build_plan
from core.restorability import State
from core.restore import run_restore
from core.restore_model import RestoreOptions, RestoreResult
from core.verify import BUNDLE_INVALID, RESTORABLE, verify_bundle
from core.verify_cache import VerifyCache
from core.wire import encode
from tests import neofmt
from tests.builders import chroma_state, graph_state, live_vectors, same_chroma

ENCODINGS = ("jsonl", "jsonl+br", "jsonl+gz")


def spec(**kw: object) -> neofmt.NeoBundleSpec:
    nodes, edges = neofmt.graph_rows(30)
    base: dict[str, object] = {"kb": neofmt.vector_rows("kb", 12), "memories": neofmt.vector_rows("memories", 20),
                               "summaries": neofmt.vector_rows("summaries", 5),
                               "temporal": neofmt.vector_rows("temporalSummaries", 4), "nodes": nodes,
                               "edges": edges, "capture": {}}
    base.update(kw)
    return neofmt.NeoBundleSpec(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One bundle, three encodings, each in its own backup root."""
    base = tmp_path_factory.mktemp("shapes")
    out = {}
    for enc in ENCODINGS:
        root = base / enc.replace("+", "-")
        bundle = neofmt.write_bundle(root, spec(encoding=enc))
        out[enc] = bundle
    return out


def test_verify_gives_every_encoding_the_same_figures(shapes: dict[str, Path]) -> None:
    results = {enc: verify_bundle(b) for enc, b in shapes.items()}
    for enc, r in results.items():
        assert r.verdict == RESTORABLE, (enc, r.errors)
    plain = results["jsonl"]
    assert plain.counts == {"kb": 12, "memories": 20, "summaries": 5, "temporalSummaries": 4, "graph": 59,
                            "graphNodes": 30, "graphEdges": 29, "concepts": 1, "trajectories": 1, "mailbox": 1,
                            "ledgers": 2}
    for enc in ("jsonl+br", "jsonl+gz"):
        assert results[enc].counts == plain.counts
        assert results[enc].row_total == plain.row_total
        assert results[enc].dimension == plain.dimension == 8


def test_list_counts_the_same_rows_and_the_bytes_on_disk(shapes: dict[str, Path]) -> None:
    listings = {enc: list_bundles(b.parent) for enc, b in shapes.items()}  # rows from each meta: no payload read
    rows = {enc: {k: s.rows for k, s in lst.bundles[0].substrates.items()} for enc, lst in listings.items()}
    assert rows["jsonl+br"] == rows["jsonl+gz"] == rows["jsonl"]
    assert rows["jsonl"]["mc"] == 29
    for enc, lst in listings.items():
        b = lst.bundles[0]
        assert all(b.restorable(s) for s in ("kb", "mc", "graph")), enc
        disk = sum(p.stat().st_size for p in neofmt.payloads(shapes[enc]))
        assert sum(b.substrates[s].bytes for s in ("kb", "mc", "graph")) == disk
    assert listings["jsonl+br"].bundles[0].substrates["kb"].bytes < listings["jsonl"].bundles[0].substrates["kb"].bytes


@pytest.mark.parametrize("damage", ["tear", "mislabel"])
@pytest.mark.parametrize("enc", ["jsonl+br", "jsonl+gz"])
def test_a_damaged_payload_is_bundle_invalid_naming_the_file(tmp_path: Path, shapes: dict[str, Path], enc: str,
                                                           damage: str) -> None:
    bundle = tmp_path / shapes[enc].name
    shutil.copytree(shapes[enc], bundle)
    victim = next((bundle / "mc").glob("memory-backup-*"))
    (neofmt.tear if damage == "tear" else neofmt.mislabel)(victim)
    cache = VerifyCache(tmp_path / "state")
    r = verify_bundle(bundle, cache=cache)
    assert r.verdict == BUNDLE_INVALID
    first = r.errors[0]
    assert (first.code, first.file) == ("payload-unreadable", f"mc/{victim.name}")
    answer = list_bundles(tmp_path, cache=cache).bundles[0].substrates["mc"].answer
    assert answer is not None and answer.state is State.FAILED and victim.name in (answer.reason or "")


# ---- restore and plan: the same figures, whatever the encoding ------------------------------------------------

def _dd(root: Path) -> DataDir:
    return resolve(root / ".neo-ai-data", env={})


def _restore_figures(res: RestoreResult) -> dict[str, object]:
    enc = encode(res)
    assert isinstance(enc, dict)
    subs = enc["subsystems"]
    return {k: {kk: vv for kk, vv in v.items() if kk != "message"} for k, v in subs.items()}


def test_plan_and_restore_give_every_encoding_the_same_figures(tmp_path: Path, shapes: dict[str, Path]) -> None:
    figures, plans, states = {}, {}, {}
    for enc, bundle in shapes.items():
        dd = _dd(tmp_path / enc.replace("+", "-"))
        plan = build_plan(scan_bundle(dd, bundle))
        # every number of the plan (the flat targets' paths differ by data dir: their actions are compared)
        plans[enc] = encode(dataclasses.replace(plan, bundle=Path("x"), flat={
            k: dataclasses.replace(v, target=None, files=tuple(dataclasses.replace(f, target="") for f in v.files))
            for k, v in plan.flat.items()}))
        res = run_restore(dd, bundle, RestoreOptions())
        assert res.status == "completed" and res.failures_total == 0, res.failures
        figures[enc] = _restore_figures(res)
        states[enc] = (graph_state(dd), {k: chroma_state(dd, k) for k in ("kb", "memories", "summaries",
                                                                             "temporalSummaries")})
    assert figures["jsonl+br"] == figures["jsonl+gz"] == figures["jsonl"]
    assert plans["jsonl+br"] == plans["jsonl+gz"] == plans["jsonl"]
    mc = figures["jsonl"]["mc"]
    assert isinstance(mc, dict)
    assert mc["counts"]["temporalSummaries"] == {"inserted": 4, "skippedExisting": 0, "failed": 0,
                                                 "duplicatesInChunk": 0}
    assert mc["counts"]["memories"]["inserted"] == 20
    for enc in ("jsonl+br", "jsonl+gz"):
        assert states[enc][0] == states["jsonl"][0]
        for key, rows in states["jsonl"][1].items():
            assert same_chroma(states[enc][1][key], rows), (enc, key)
    assert len(states["jsonl"][1]["temporalSummaries"]) == 4


@pytest.mark.parametrize("enc", ["jsonl+br", "jsonl+gz"])
def test_a_restore_refuses_a_torn_payload_before_its_first_write(tmp_path: Path, shapes: dict[str, Path],
                                                                 enc: str) -> None:
    bundle = tmp_path / "root" / shapes[enc].name
    shutil.copytree(shapes[enc], bundle)
    victim = next((bundle / "graph").iterdir())  # graph is restored after kb and mc: still refused up front
    neofmt.tear(victim, 0.8)
    dd = _dd(tmp_path)
    with pytest.raises(BundleInvalid) as err:
        run_restore(dd, bundle, RestoreOptions())
    assert err.value.code == "BUNDLE_INVALID" and victim.name in str(err.value)
    assert not dd.graph_db.exists()
    assert not dd.chroma_path.exists() or chroma_state(dd, "kb") == {}
    with pytest.raises(BundleInvalid):
        scan_bundle(dd, bundle)  # diff names the file too


def test_temporal_summaries_restore_into_the_collection_the_config_names(tmp_path: Path,
                                                                          shapes: dict[str, Path]) -> None:
    cfg = tmp_path / "console.toml"
    cfg.write_text('[neo]\ntemporal_summary_collection = "my-temporal"\n')
    dd = resolve(tmp_path / ".neo-ai-data", env={}, config=cfg)
    res = run_restore(dd, shapes["jsonl+br"], RestoreOptions(only_substrate=["mc"]))
    assert res.mc is not None and res.mc.counts.temporal_summaries.inserted == 4
    client = cs.open_client(dd, create=False)
    assert cs.count(cs.get_collection(client, "my-temporal")) == 4
    assert cs.get_collection(client, "neo-temporal-summary") is None


def test_a_replace_from_a_bundle_without_temporal_summaries_leaves_the_live_ones(tmp_path: Path) -> None:
    dd = _dd(tmp_path)
    live_vectors(dd, "temporalSummaries", neofmt.vector_rows("temporalSummaries", 3, seed=9))
    bundle = neofmt.write_bundle(tmp_path / "b", spec(temporal=None, encoding="jsonl+br"))
    plan = build_plan(scan_bundle(dd, bundle), mode="replace", force=True)
    assert (plan.temporal_summaries.selected, plan.temporal_summaries.live) == (False, 3)
    res = run_restore(dd, bundle, RestoreOptions(mode="replace", yes=True, force=True))
    assert res.status == "completed"
    assert len(chroma_state(dd, "temporalSummaries")) == 3
    assert len(chroma_state(dd, "memories")) == 20


def test_one_root_holding_both_shapes_lists_verifies_and_walks_them_alike(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from console.cli import main
    from core.verify_walk import find_restorable

    dd = _dd(tmp_path)
    older = neofmt.write_bundle(dd.backup_root, spec(encoding="jsonl"), when=datetime(2026, 5, 10, 1, 11, 23, tzinfo=UTC))
    newer = neofmt.write_bundle(dd.backup_root, spec(encoding="jsonl+br"))
    listing = list_bundles(dd.backup_root)
    assert [b.name for b in listing.bundles] == [newer.name, older.name]
    rows = [{k: s.rows for k, s in b.substrates.items()} for b in listing.bundles]
    assert rows[0] == rows[1]
    walk = find_restorable(dd.backup_root)
    assert (walk.code, walk.bundle) == ("RESTORABLE", newer.name)
    results = [verify_bundle(b) for b in (newer, older)]
    assert results[0].counts == results[1].counts and results[0].verdict == results[1].verdict == RESTORABLE
    victim = next((newer / "kb").iterdir())
    neofmt.tear(victim)
    walk = find_restorable(dd.backup_root)  # neo's walk passes over an invalid newest bundle
    assert (walk.code, walk.bundle) == ("RESTORABLE", older.name)
    assert walk.skipped[0].verdict == "BUNDLE_INVALID" and victim.name in (walk.skipped[0].reason or "")
    code = main(["--data-dir", str(dd.root), "diff", newer.name, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["error"]["code"] == "BUNDLE_INVALID" and out["error"]["file"] == str(victim)


def test_temporal_rows_the_meta_does_not_declare_are_refused_like_neo(tmp_path: Path) -> None:
    bundle = neofmt.write_bundle(tmp_path, spec())
    meta = json.loads((bundle / "bundle-meta.json").read_text())
    del meta["embedding"]["counts"]["temporalSummaries"]
    (bundle / "bundle-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    r = verify_bundle(bundle)
    assert r.verdict == BUNDLE_INVALID
    assert any(f.code == "count-contract-mismatch" and "4 temporalSummaries" in f.message for f in r.errors)
