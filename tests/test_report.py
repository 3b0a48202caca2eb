"""The incident report: a self-contained record of a run that renders cleanly as GitHub Markdown (checked with
markdown-it-py, the CommonMark parser rich depends on, with GFM tables), whatever the
data holds (labels like `a|b`, `<script>`, backticks, newlines, terminal escapes), and the same facts as JSON."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from core.datadir import DataDir, resolve
from core.guard import guard
from core.plan import Filters
from core.report import build_report, md, to_markdown
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.safetext import visible
from core.undo import undo_run
from tests.builders import edge, live_graph, node, vec, write_bundle
from tests.test_hostile_text import FORBIDDEN, cli

HOSTILE = ["a|b", "<script>alert(1)</script>", "tick`s``` fence", "line\nbreak", "*bold*_under_", "\x1b[31mred\x1b[0m",
           "# heading", "[link](http://x)", "pipe | and \\ backslash", "- item", "1. first"]
LEFT_OUT = ["a|b", "<script>alert(1)</script>", "tick`s``` fence"]


@pytest.fixture
def dd(tmp_path: Path) -> DataDir:
    return resolve(tmp_path / ".neo-ai-data", env={})


def hostile_run(dd: DataDir) -> str:
    live_graph(dd, [node("live", "CONCEPT")], [])
    nodes = [node(f"n{i}", label) for i, label in enumerate(HOSTILE)]
    edges = [edge(f"e{i}", "n0", f"n{i}", label) for i, label in enumerate(HOSTILE) if i]
    b = write_bundle(dd.backup_root, nodes=nodes, edges=edges, memories=[vec("m1"), vec("m2")],
                     trajectories='{"t": 1}\n')
    res = run_restore(dd, b, RestoreOptions(filters=Filters.of(LEFT_OUT, ["line\nbreak"])), predict=True)
    assert res.verification is not None and res.verification.status == "passed"
    return str(res.run_id)


def html_of(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def table_shapes(markdown: str) -> list[tuple[int, list[int]]]:
    """Per table: its header's cell count and every body row's (a `|` from data would add a cell)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    shapes: list[tuple[int, list[int]]] = []
    cells = 0
    header = 0
    rows: list[int] = []
    section = ""
    for t in tokens:
        if t.type == "table_open":
            rows, header = [], 0
        elif t.type in ("thead_open", "tbody_open"):
            section = t.type
        elif t.type == "tr_open":
            cells = 0
        elif t.type in ("th_open", "td_open"):
            cells += 1
        elif t.type == "tr_close":
            if section == "thead_open":
                header = cells
            else:
                rows.append(cells)
        elif t.type == "table_close":
            shapes.append((header, rows))
    return shapes


def test_hostile_strings_render_as_text_in_every_table_and_never_as_markup(dd: DataDir) -> None:
    run_id = hostile_run(dd)
    text = to_markdown(build_report(dd, run_id))
    assert not {ch for ch in text if ch in FORBIDDEN}  # no terminal control, no colour code
    shapes = table_shapes(text)
    assert len(shapes) >= 7
    for header, rows in shapes:
        assert rows and all(n == header for n in rows), shapes  # a `|` in a label never splits a cell
    html = html_of(text)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<a href" not in html and "<em>" not in html and "<strong>bold" not in html
    body = html.split("<h2>Plan, applied, present</h2>", 1)[1].split("<h2>", 1)[0]
    for label in ("*bold*_under_", "# heading", "[link](http://x)", "pipe | and \\ backslash", "- item", "1. first"):
        assert f"<td>{label}</td>" in body.replace("&amp;", "&"), label  # read back exactly as the data holds it
    assert "<td>line\\nbreak</td>" in html and "<td>\\x1b[31mred\\x1b[0m</td>" in html
    assert "a|b" in html and "tick`s``` fence" in html


def test_commands_sit_in_a_fence_longer_than_any_backtick_run_and_run_as_printed(dd: DataDir) -> None:
    run_id = hostile_run(dd)
    report = build_report(dd, run_id)
    text = to_markdown(report)
    section = text.split("## Commands that reproduce it", 1)[1]
    fence = re.search(r"^(`{3,})sh$", section, re.M)
    assert fence is not None and len(fence.group(1)) > 3  # the labels hold a run of three backticks
    block = section.split(fence.group(0), 1)[1].split("\n" + fence.group(1) + "\n", 1)[0].strip("\n")
    lines = block.splitlines()
    assert lines == [visible(c) for c in report.commands] and len(lines) == 4
    assert lines[0] != report.commands[0] and "take the exact one from `report --format json`" in section
    html = html_of(text)
    assert "--filter-labels=" in html and "<pre><code class=\"language-sh\">" in html
    # the first command is this very restore: run as a dry run, it plans what the run did (all present now)
    import shlex

    code, out, _ = cli(*shlex.split(report.commands[0])[1:], "--dry-run", "--json")
    assert code == 0
    plan = json.loads(out)["plan"]
    assert sorted(plan["filters"]["labels"]) == sorted(LEFT_OUT)
    assert plan["graph"]["totals"]["wouldInsert"] == 0  # everything the run inserted is there


def test_the_report_says_who_when_where_and_what_and_json_has_the_same(dd: DataDir, tmp_path: Path) -> None:
    run_id = hostile_run(dd)
    guard(dd, skip=True, reason="dream run during the incident")
    code, out, _ = cli("--data-dir", str(dd.root), "report", run_id[:10], "--format", "json")
    assert code == 0
    obj = json.loads(out)
    assert obj["runId"] == run_id and obj["dataDir"] == str(dd.root) and obj["status"] == "completed"
    assert obj["user"] and obj["verification"]["status"] == "passed"
    assert [g["reason"] for g in obj["guardOverrides"]] == ["dream run during the incident"]
    assert obj["timeline"][0]["role"].startswith("source of")
    code, text, _ = cli("--data-dir", str(dd.root), "report", run_id)
    assert code == 0
    for heading in ("Where, who, when", "Sources and why", "Bundles around the incident", "Filters and options",
                    "Plan, applied, present", "Verification: PASSED", "Guard overrides in the window", "Undo",
                    "Commands that reproduce it"):
        assert f"## {heading}" in text, heading
    assert "dream run during the incident" in text
    out_file = tmp_path / "reports" / "incident.md"
    code, said, _ = cli("--data-dir", str(dd.root), "report", run_id, "--out", str(out_file))
    def stable(t: str) -> str:
        return re.sub(r"\| report generated \|.*", "", t)

    assert code == 0 and str(out_file) in said and stable(out_file.read_text()) == stable(text)
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    undo_run(dd, run_id)
    again = to_markdown(build_report(dd, run_id))
    undo = again.split("## Undo", 1)[1].split("##", 1)[0]
    assert "Undo completed" in undo and "removed" in undo and "Not undone" not in undo
    commands = again.split("## Commands that reproduce it", 1)[1]
    assert " verify-run " in commands and " undo " not in commands  # nothing left to undo


def test_md_escapes_what_markdown_or_html_would_read() -> None:
    assert md("a|b") == "a\\|b"
    assert md("<b>&") == "&lt;b&gt;&amp;"
    assert md("`x` *y* _z_ [l](u) ~s~ \\") == "\\`x\\` \\*y\\* \\_z\\_ \\[l\\](u) \\~s\\~ \\\\"
    assert md("# h") == "\\# h" and md("- i") == "\\- i" and md("1. x") == "1\\. x"
    assert md("\x1b[2J\n") == "\\\\x1b\\[2J\\\\n"
