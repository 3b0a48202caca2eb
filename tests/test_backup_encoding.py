"""backup --payload-encoding: what neo's head writes (brotli, quality 4) or gzip, the meta recording it the way
neo does, checksums over the bytes on disk; and the round trip at 4096-d."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import brotli
import pytest

from console.cli import main
from core.backup import run_backup
from core.datadir import DataDir, resolve
from core.errors import UsageError
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.verify import RESTORABLE, verify_bundle
from tests.builders import chroma_state, graph_state, make_live, same_chroma

SUFFIX = {"jsonl": ".jsonl", "br": ".jsonl.br", "gz": ".jsonl.gz"}
TOKEN = {"jsonl": "jsonl", "br": "jsonl+br", "gz": "jsonl+gz"}
DECODE = {"jsonl": lambda b: b, "br": brotli.decompress, "gz": gzip.decompress}


@pytest.mark.parametrize("enc", ["jsonl", "br", "gz"])
def test_the_payloads_are_named_and_encoded_as_asked(data_dir: DataDir, enc: str) -> None:
    make_live(data_dir, nodes=20, memories=12, summaries=3, kb=5)
    res = run_backup(data_dir, payload_encoding=enc)
    b = Path(res.path)
    meta = json.loads((b / "bundle-meta.json").read_text())
    payloads = sorted(p for sub in ("kb", "mc", "graph") for p in (b / sub).iterdir())
    assert len(payloads) == 4 and all(p.name.endswith(SUFFIX[enc]) for p in payloads)
    assert not any(p.name.endswith(".jsonl.br.jsonl") for p in payloads)
    for p in payloads:
        disk = p.read_bytes()
        rel = str(p.relative_to(b))
        assert meta["checksums"][rel]["sha256"] == hashlib.sha256(disk).hexdigest()  # the bytes on disk
        assert meta["checksums"][rel]["bytes"] == len(disk)
        text = DECODE[enc](disk)  # decoded by the plain library, not by the console's reader
        assert meta["checksums"][rel]["lines"] == text.count(b"\n")
    assert meta["payloadEncoding"] == TOKEN[enc] == res.payload_encoding
    subs = meta["subsystems"]
    for receipt in (subs["kb"], subs["mc"]["memories"], subs["mc"]["summaries"], subs["graph"]["graph"]):
        assert receipt["payloadEncoding"] == TOKEN[enc]
    for sub in ("concepts", "trajectories", "mailbox"):  # flat members stay plain verbatim copies
        assert all(p.name.endswith(".jsonl") for p in (b / sub).iterdir())
    assert verify_bundle(b).verdict == RESTORABLE


def test_the_config_sets_the_default_and_the_flag_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "console.toml"
    cfg.write_text('[backup]\npayload_encoding = "br"\n')
    dd = resolve(tmp_path / ".neo-ai-data", env={}, config=cfg)
    make_live(dd, nodes=3, memories=2, summaries=1, kb=1)
    code = main(["--config", str(cfg), "--data-dir", str(dd.root), "backup", "--json", "--no-prune"])
    assert code == 0 and json.loads(capsys.readouterr().out)["payloadEncoding"] == "jsonl+br"
    code = main(["--config", str(cfg), "--data-dir", str(dd.root), "backup", "--json", "--no-prune",
                 "--payload-encoding", "gz"])
    assert code == 0 and json.loads(capsys.readouterr().out)["payloadEncoding"] == "jsonl+gz"


def test_an_empty_source_writes_no_file_and_a_null_encoding(data_dir: DataDir) -> None:
    make_live(data_dir, nodes=3, memories=2, summaries=0, kb=1)
    meta = json.loads((Path(run_backup(data_dir, payload_encoding="br").path) / "bundle-meta.json").read_text())
    summ = meta["subsystems"]["mc"]["summaries"]
    assert (summ["backupFile"], summ["payloadEncoding"]) == (None, None)


@pytest.mark.parametrize("bad", ['payload_encoding = "zstd"', 'compression = "br"'])
def test_a_bad_backup_table_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    cfg = tmp_path / "console.toml"
    cfg.write_text(f"[backup]\n{bad}\n")
    dd = resolve(tmp_path / ".neo-ai-data", env={}, config=cfg)
    with pytest.raises(UsageError):
        run_backup(dd, allow_empty=True)
    assert not dd.backup_root.exists()


def test_round_trip_at_4096_dims_with_brotli(tmp_path: Path) -> None:
    """backup with br, verify, restore into an empty store: equal to the source."""
    src = resolve(tmp_path / "src" / ".neo-ai-data", env={})
    make_live(src, nodes=60, memories=40, summaries=8, kb=12, dim=4096)
    res = run_backup(src, payload_encoding="br")
    bundle = Path(res.path)
    v = verify_bundle(bundle)
    assert v.verdict == RESTORABLE and v.dimension == 4096
    assert v.counts["memories"] == 40 and v.counts["graph"] == 60 + 59
    dst = resolve(tmp_path / "dst" / ".neo-ai-data", env={})
    out = run_restore(dst, bundle, RestoreOptions())
    assert out.status == "completed" and out.failures_total == 0
    assert graph_state(dst) == graph_state(src)
    for key in ("kb", "memories", "summaries"):
        assert same_chroma(chroma_state(dst, key), chroma_state(src, key), tol=0.0), key
    for sub in ("concepts_dir",):
        assert sorted(p.read_bytes() for p in getattr(dst, sub).iterdir()) == \
            sorted(p.read_bytes() for p in getattr(src, sub).iterdir())
    assert dst.trajectories_file.read_bytes() == src.trajectories_file.read_bytes()
    assert dst.mailbox_file.read_bytes() == src.mailbox_file.read_bytes()


def test_a_live_temporal_summary_collection_is_backed_up_and_declared(data_dir: DataDir) -> None:
    from tests import neofmt
    from tests.builders import live_vectors

    make_live(data_dir, nodes=3, memories=2, summaries=1, kb=1)
    live_vectors(data_dir, "temporalSummaries", neofmt.vector_rows("temporalSummaries", 3))
    res = run_backup(data_dir, payload_encoding="br")
    b = Path(res.path)
    meta = json.loads((b / "bundle-meta.json").read_text())
    assert [p.name.startswith("temporal-summary-backup-") for p in sorted((b / "mc").iterdir())].count(True) == 1
    assert meta["embedding"]["counts"]["temporalSummaries"] == 3
    assert meta["subsystems"]["mc"]["count"] == 6 and "3 temporal summaries" in meta["subsystems"]["mc"]["message"]
    assert meta["subsystems"]["mc"]["temporalSummaries"]["collection"] == "neo-temporal-summary"
    assert next(e for e in meta["integrity"] if e["subsystem"] == "mc")["bundleCount"] == 6
    assert set(meta["capture"]["sources"]) == {"kb", "mc.memories", "mc.summaries"}  # neo's three, no more
    assert verify_bundle(b).counts["temporalSummaries"] == 3


def test_without_a_live_temporal_collection_nothing_is_declared(data_dir: DataDir) -> None:
    make_live(data_dir, nodes=3, memories=2, summaries=1, kb=1)
    meta = json.loads((Path(run_backup(data_dir).path) / "bundle-meta.json").read_text())
    assert "temporalSummaries" not in meta["embedding"]["counts"]
    assert "temporalSummaries" not in meta["subsystems"]["mc"]
