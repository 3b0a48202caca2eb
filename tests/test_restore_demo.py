"""Acceptance on the May 10 incident demo: `diff` and `restore` with the incident filters report exactly
filteredOut 22,756 / alreadyPresent 3,580 / wouldInsert 11,589, and every live row survives byte for byte."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from console.cli import main
from core.datadir import resolve
from core.demo import MAY10_FIGURES, build_demo
from tests.builders import chroma_state, graph_state, same_chroma

FLAGS = ["--filter-labels=FILE,DIRECTORY,KB_GAP,TOOLING_GAP", "--filter-edge-types=CONTAINS,DISCOVERED_IN,EVALUATED_BY"]


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return orjson.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_may_10_figures_from_diff_and_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    build_demo(root, dimension=16)
    dd = resolve(root, env={})
    plan = cli_json(capsys, "--data-dir", str(root), "diff", "latest~1", *FLAGS, "--json")
    totals = plan["graph"]["totals"]
    assert {k: totals[k] for k in MAY10_FIGURES} == MAY10_FIGURES
    assert 0 < totals["alreadyPresentDiffers"] <= totals["alreadyPresent"]  # rows neo re-ingested since the bundle

    nodes_before, edges_before = graph_state(dd)
    chroma_before = {k: chroma_state(dd, k) for k in ("memories", "summaries", "kb")}
    res = cli_json(capsys, "--data-dir", str(root), "restore", "latest~1", *FLAGS, "--json")
    assert res["status"] == "completed" and res["failuresTotal"] == 0
    g = res["subsystems"]["graph"]
    fs, counts = g["filterStats"], g["counts"]["graph"]
    assert fs["filteredNodes"] + fs["filteredEdges"] + fs["orphanEdges"] == MAY10_FIGURES["filteredOut"]
    assert counts["nodes"]["skippedExisting"] + counts["edges"]["skippedExisting"] == MAY10_FIGURES["alreadyPresent"]
    assert counts["nodes"]["inserted"] + counts["edges"]["inserted"] == MAY10_FIGURES["wouldInsert"]
    assert counts["nodes"]["failed"] == counts["edges"]["failed"] == 0
    for key in ("memories", "summaries"):  # the Chroma side matches its plan too
        got = res["subsystems"]["mc"]["counts"][key]
        assert (got["inserted"], got["skippedExisting"]) == (plan[key]["wouldInsert"], plan[key]["alreadyPresent"])
    assert res["subsystems"]["kb"]["inserted"] == plan["kb"]["wouldInsert"]

    nodes, edges = graph_state(dd)
    assert all(nodes[k] == v for k, v in nodes_before.items())  # every live row byte-identical
    assert all(edges[k] == v for k, v in edges_before.items())
    assert len(nodes) + len(edges) == len(nodes_before) + len(edges_before) + MAY10_FIGURES["wouldInsert"]
    for key, before in chroma_before.items():
        after = chroma_state(dd, key)
        assert same_chroma(before, {k: after[k] for k in before})

    again = cli_json(capsys, "--data-dir", str(root), "diff", "latest~1", *FLAGS, "--json")
    assert again["graph"]["totals"]["wouldInsert"] == 0  # everything restorable is now present
