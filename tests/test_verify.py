"""`verify` names the file and line of every kind of damage an operator can meet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from console.cli import main
from core.backup import run_backup
from core.datadir import DataDir
from core.verify import (
    BUNDLE_EMPTY,
    BUNDLE_INCOMPLETE,
    BUNDLE_INVALID,
    NO_BUNDLES,
    RESTORABLE,
    verify_bundle,
)
from core.verify_walk import find_restorable
from tests.builders import make_live


@pytest.fixture(scope="module")
def good_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.datadir import resolve

    dd = resolve(tmp_path_factory.mktemp("v") / ".neo-ai-data", env={})
    make_live(dd, nodes=20, memories=12, summaries=3, kb=5, dim=4)
    return Path(run_backup(dd).path)


@pytest.fixture
def bundle(good_bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "backups" / good_bundle.name
    shutil.copytree(good_bundle, copy)
    return copy


def memory_file(b: Path) -> Path:
    return next((b / "mc").glob("memory-backup-*.jsonl"))


def rewrite_line(path: Path, number: int, fn) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[number - 1] = fn(lines[number - 1])
    path.write_text("".join(lines))


def errors(b: Path, **kw) -> list[str]:
    res = verify_bundle(b, **kw)
    assert res.verdict == BUNDLE_INVALID, res.verdict
    return [str(e) for e in res.errors]


def test_good_bundle_is_restorable(bundle: Path) -> None:
    res = verify_bundle(bundle)
    assert res.verdict == RESTORABLE and res.checksums == "verified"
    assert res.counts["memories"] == 12 and res.counts["graph"] == 39 and res.dimension == 4


def test_truncated_last_line(bundle: Path) -> None:
    f = memory_file(bundle)
    raw = f.read_bytes()
    f.write_bytes(raw[: len(raw) - 30])
    errs = errors(bundle)
    assert any(e.startswith(f"mc/{f.name}:12: truncated last line") for e in errs), errs


def test_line_that_is_not_json(bundle: Path) -> None:
    f = memory_file(bundle)
    rewrite_line(f, 5, lambda line: line[:20] + "\n")
    errs = errors(bundle)
    assert any(e.startswith(f"mc/{f.name}:5: line is not JSON") for e in errs), errs


def test_wrong_dimension(bundle: Path) -> None:
    f = memory_file(bundle)

    def shorten(line: str) -> str:
        row = json.loads(line)
        row["embedding"] = row["embedding"][:3]
        return json.dumps(row) + "\n"

    rewrite_line(f, 7, shorten)
    errs = errors(bundle)
    assert any(e.startswith(f"mc/{f.name}:7: embedding: wrong-dimension: 3 values, expected 4") for e in errs), errs


@pytest.mark.parametrize("token", ["NaN", "Infinity", "1e999"])
def test_non_finite_embedding(bundle: Path, token: str) -> None:
    f = memory_file(bundle)

    def poison(line: str) -> str:
        row = json.loads(line)
        return line.replace(json.dumps(row["embedding"][1]), token, 1)

    rewrite_line(f, 2, poison)
    errs = errors(bundle)
    assert any(e.startswith(f"mc/{f.name}:2: embedding holds a non-finite value") for e in errs), errs


def test_non_finite_as_null(bundle: Path) -> None:
    """JavaScript's JSON.stringify writes NaN as null."""
    f = memory_file(bundle)

    def poison(line: str) -> str:
        row = json.loads(line)
        row["embedding"][0] = None
        return json.dumps(row) + "\n"

    rewrite_line(f, 3, poison)
    assert any(e.startswith(f"mc/{f.name}:3: embedding: non-finite-values") for e in errors(bundle))


def test_count_disagrees_with_meta(bundle: Path) -> None:
    meta_path = bundle / "bundle-meta.json"
    meta = json.loads(meta_path.read_text())
    meta["embedding"]["counts"]["memories"] = 13
    meta.pop("checksums")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    errs = errors(bundle)
    assert "bundle-meta.json: meta says 13 memories rows, the files hold 12" in errs


def test_checksum_mismatch(bundle: Path) -> None:
    f = next((bundle / "graph").glob("*.jsonl"))
    rewrite_line(f, 1, lambda line: line.replace('"CONCEPT"', '"CONCEPX"'))
    res = verify_bundle(bundle)
    assert res.verdict == BUNDLE_INVALID and res.checksums == "mismatch"
    assert any(str(e).startswith(f"graph/{f.name}: sha256") for e in res.errors)


def test_missing_required_subdir(bundle: Path) -> None:
    shutil.rmtree(bundle / "trajectories")
    res = verify_bundle(bundle)
    assert res.verdict == BUNDLE_INCOMPLETE
    assert "trajectories/: required subdirectory trajectories/ is missing" in [str(e) for e in res.errors]


def test_malformed_meta(bundle: Path) -> None:
    (bundle / "bundle-meta.json").write_text('{"bundleVersion": 1, "timest')
    res = verify_bundle(bundle)
    assert res.verdict == BUNDLE_INVALID
    assert str(res.errors[0]).startswith("bundle-meta.json: bundle-meta.json is not JSON")


def test_dimension_against_live(bundle: Path) -> None:
    errs = errors(bundle, expected_dimension=8)
    assert "bundle-meta.json: bundle embedding dimension 4 != live collections' 8" in errs


def test_walk_skips_invalid_to_restorable(bundle: Path, tmp_path: Path) -> None:
    root = bundle.parent
    assert find_restorable(tmp_path / "nowhere").code == "BUNDLE_ROOT_MISSING"
    newer = root / "backup-2099-01-01T00-00-00.000Z"
    shutil.copytree(bundle, newer)
    rewrite_line(memory_file(newer), 1, lambda line: "{oops\n")
    walk = find_restorable(root)
    assert walk.code == RESTORABLE and walk.bundle == bundle.name and walk.examined == 2
    assert walk.skipped[0].bundle == newer.name and walk.skipped[0].verdict == BUNDLE_INVALID


def test_walk_codes_for_empty_roots(data_dir: DataDir) -> None:
    data_dir.backup_root.mkdir(parents=True)
    assert find_restorable(data_dir.backup_root).code == NO_BUNDLES
    b = Path(run_backup(data_dir, allow_empty=True).path)  # a deliberately empty bundle
    assert verify_bundle(b).verdict == BUNDLE_EMPTY
    assert find_restorable(data_dir.backup_root).code == BUNDLE_EMPTY


def test_cli_names_file_and_line_and_exits_1(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = memory_file(bundle)
    rewrite_line(f, 4, lambda line: "not json\n")
    assert main(["verify", str(bundle), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == BUNDLE_INVALID
    assert out["errors"][0]["file"] == f"mc/{f.name}" and out["errors"][0]["line"] == 4
    assert main(["verify", str(bundle.parent / "backup-nope")]) == 2
