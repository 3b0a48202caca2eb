"""Today's neo bundles (written by tests/neofmt.py from the documented format, never by the console): every
command gives a `.jsonl.br` / `.jsonl.gz` bundle the same figures as the same bundle in plain `.jsonl`, and a
torn or mislabelled payload is BUNDLE_INVALID naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.bundle import list_bundles
from core.verify import BUNDLE_INVALID, RESTORABLE, verify_bundle
from tests import neofmt

ENCODINGS = ("jsonl", "jsonl+br", "jsonl+gz")


def spec(**kw: object) -> neofmt.NeoBundleSpec:
    nodes, edges = neofmt.graph_rows(30)
    base: dict[str, object] = dict(kb=neofmt.vector_rows("kb", 12), memories=neofmt.vector_rows("memories", 20),
                                   summaries=neofmt.vector_rows("summaries", 5),
                                   temporal=neofmt.vector_rows("temporalSummaries", 4), nodes=nodes, edges=edges,
                                   capture={})
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
    listings = {enc: list_bundles(b.parent, count_rows=True) for enc, b in shapes.items()}
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
    r = verify_bundle(bundle)
    assert r.verdict == BUNDLE_INVALID
    first = r.errors[0]
    assert (first.code, first.file) == ("payload-unreadable", f"mc/{victim.name}")
    listing = list_bundles(tmp_path, count_rows=True)
    assert victim.name in (listing.bundles[0].substrates["mc"].error or "")
