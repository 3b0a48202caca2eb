"""The diff / restore / runs / undo subcommands: flags as neo's, --json prints only the result, exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from console.cli import main
from core.datadir import DataDir, resolve
from tests.builders import edge, graph_state, live_graph, node, write_bundle


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    d = resolve(tmp_path / ".neo-ai-data", env={})
    live_graph(d, [node("A", "CONCEPT")], [])
    write_bundle(d.backup_root, nodes=[node("A", "CONCEPT"), node("B", "FILE"), node("K", "KB_GAP")],
                 edges=[edge("e1", "A", "B", "CONTAINS"), edge("e2", "K", "A", "DISCOVERED_IN")])
    return d


def run(capsys: pytest.CaptureFixture[str], dd: DataDir, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--data-dir", str(dd.root), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_diff_json_and_tables(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, dd, "diff", "latest", "--filter-labels=KB_GAP", "--json")
    assert code == 0
    plan = orjson.loads(out)
    assert plan["graph"]["totals"] == {"filteredOut": 2, "alreadyPresent": 1, "alreadyPresentDiffers": 0, "wouldInsert": 2}
    code, out, _ = run(capsys, dd, "diff", "latest")
    assert code == 0 and "Graph nodes" in out and "KB_GAP" in out and "would insert 4" in out


def test_restore_runs_undo_round_trip(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    before = graph_state(dd)
    code, out, _ = run(capsys, dd, "restore", "latest", "--filter-labels=KB_GAP", "--dry-run", "--json")
    assert code == 0 and orjson.loads(out)["dryRun"] is True and graph_state(dd) == before
    code, out, _ = run(capsys, dd, "restore", "latest", "--filter-labels=KB_GAP", "--json")
    res = orjson.loads(out)  # --json: stdout is the result object and nothing else
    assert code == 0 and res["status"] == "completed" and res["runId"]
    assert res["subsystems"]["graph"]["filterStats"]["filteredNodes"] == 1
    code, out, _ = run(capsys, dd, "runs", "--json")
    runs = orjson.loads(out)
    assert [r["runId"] for r in runs] == [res["runId"]] and runs[0]["status"] == "completed"
    code, out, _ = run(capsys, dd, "runs")
    assert code == 0 and res["runId"][:12] in out
    code, out, _ = run(capsys, dd, "undo", res["runId"], "--json")
    assert code == 0 and orjson.loads(out)["removed"] == {"edges": 1, "nodes": 1}
    assert graph_state(dd) == before


@pytest.mark.parametrize("argv,code,message", [
    (["--post-restore-hook=dream-service"], 2, "intentionally not supported"),
    (["--post-restore-hook=nope"], 2, "Unknown post-restore hook: nope. Allowlist: filesystem-ingestor."),
    (["--only-substrate=graph,nope"], 2, "Unknown substrate(s) in --only-substrate: nope. Valid:"),
    (["--mode", "upsert"], 2, "Unknown mode: upsert. Must be 'merge' or 'replace'."),
    (["--mode", "replace", "--force"], 1, "pass --yes"),  # stdin is not a terminal under pytest
])
def test_refusals_write_nothing(dd: DataDir, capsys: pytest.CaptureFixture[str], argv: list[str], code: int,
                                message: str) -> None:
    before = graph_state(dd)
    got, out, err = run(capsys, dd, "restore", "latest", *argv)
    assert got == code and message in err and out == ""
    assert graph_state(dd) == before and not dd.runs_dir.exists()


def test_readonly_refuses_restore_but_not_dry_run(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, dd, "--readonly", "restore", "latest")
    assert code == 2 and "--readonly" in err
    code, _, _ = run(capsys, dd, "--readonly", "restore", "latest", "--dry-run", "--json")
    assert code == 0


def test_only_substrate_empty_restores_nothing(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    before = graph_state(dd)
    code, out, _ = run(capsys, dd, "restore", "latest", "--only-substrate=", "--json")
    assert code == 0 and orjson.loads(out)["subsystems"] == {} and graph_state(dd) == before


def test_dry_run_of_a_replace_reports_the_refusal(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, dd, "restore", "latest", "--mode", "replace", "--only-substrate=graph", "--dry-run",
                       "--json")
    res = orjson.loads(out)
    assert code == 0 and "Refusing replace mode without --force" in res["validation"]["wouldRefuse"]
    assert res["subsystems"]["graph"]["counts"]["graph"]["nodes"] == {"inserted": 3, "skippedExisting": 0,
                                                                       "failed": 0}


def test_restore_prints_the_result_beside_its_plan(dd: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    """A person reads what happened against what was predicted; --json stays the result alone."""
    code, out, _ = run(capsys, dd, "restore", "latest", "--filter-labels=KB_GAP")
    assert code == 0
    rows = {cells[0]: cells[1:] for line in out.splitlines()
            if len(cells := [c.strip() for c in line.split("│")]) == 4}
    assert rows["graph inserted"] == ["2", "2", "= same"]
    assert rows["graph left out"] == ["2", "2", "= same"]  # KB_GAP filtered, and e2 from K orphaned
    assert rows["memories inserted"] == ["0", "0", "= same"] and "≠" not in out
    code, out, _ = run(capsys, dd, "restore", "latest", "--filter-labels=KB_GAP", "--json")
    assert code == 0 and orjson.loads(out)["plan"] is None
