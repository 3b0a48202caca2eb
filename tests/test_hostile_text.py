"""Text from a bundle, the live graph or Chroma never controls the terminal and is never read as markup.

Every displayed field (labels, edge types, ids, reasons, meta fields, bundle and file names) is filled with
hostile strings: ESC sequences (clear screen, OSC 0 window title), NUL, C1 controls, bidi overrides, Rich
markup. The real CLI commands and the real console (Pilot) must show them escaped, without a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.cli import main
from core import graph_store as g
from core.datadir import DataDir, resolve
from core.safetext import visible
from tests.builders import edge, insert_graph, node

# what no data may put on a terminal: C0 but the line feed, DEL, C1, bidi overrides/isolates/marks
FORBIDDEN = {chr(c) for c in range(0x20) if c != 0x0A} | {chr(c) for c in range(0x7F, 0xA0)} | {
    "\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}

FIELDS = ("label", "etype", "id", "reason", "meta", "file")
CAPTURED = "\x1b[2J\x1b]0;pwned\x07\x00\u202eodd[/]label"  # the strings the issue captured, in one
BUNDLE = "backup-2026-05-10T01-00-00.000Z"
BROKEN = "backup-2026-05-01T01-00-00.000Z"


def raw_controls(text: str) -> set[str]:
    return {ch for ch in text if ch in FORBIDDEN}


# ---------------------------------------------------------------- the escaping function


def test_visible_escapes_controls_and_bidi_and_keeps_the_rest() -> None:
    assert visible("plain label, ünïcödé ✓ [/] \\ 🙂") == "plain label, ünïcödé ✓ [/] \\ 🙂"
    assert visible("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert visible("\x00\x07\x7f\x9b") == "\\x00\\x07\\x7f\\x9b"
    assert visible("\u202eevil\u2066\u200f\u061c") == "\\u202eevil\\u2066\\u200f\\u061c"
    assert visible("tab\tcr\rlf\n") == "tab\\tcr\\rlf\\n"
    assert visible("two\nlines\x1b", newlines=True) == "two\nlines\\x1b"
    assert visible("\ud800") == "\\ud800"  # a lone surrogate cannot even be encoded for the terminal
    assert visible(42) == "42"


@given(st.text())
def test_visible_leaves_nothing_raw_and_is_idempotent(s: str) -> None:
    out = visible(s)
    assert not raw_controls(out) and "\n" not in out
    assert visible(out) == out
    assert raw_controls(visible(s, newlines=True)) == set()


# ---------------------------------------------------------------- a small hostile data dir, built directly


def _file_name(s: str) -> str:
    """``s`` as a file name: no NUL or slash, and short enough in bytes for any file system."""
    name = "".join(ch for ch in s if ch not in "\x00/").encode()[:120].decode(errors="ignore")
    return name or "x"


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def hostile_dir(root: Path, f: dict[str, str]) -> DataDir:
    """A live graph and two bundles whose every displayed field comes from ``f`` (no Chroma: fast).

    ``f`` keys: label, etype, id, reason, meta, file. The newer bundle is restorable; the older one has a
    hostile integrity status and a graph file that does not parse; two folders under the backup root are
    residue with hostile names.
    """
    dd = resolve(root / ".neo-ai-data", env={})
    g.connect(dd.graph_db).close()
    insert_graph(dd, [node("live-" + f["id"], "LIVE" + f["label"], name=f["meta"])], [])
    fname = _file_name(f["file"])
    b = dd.backup_root / BUNDLE
    nodes = [node("n-" + f["id"], f["label"], name=f["meta"]), node("n2", "CONCEPT"),
             node("n3" + f["id"], "X" + f["label"])]
    edges = [edge("e-" + f["id"], "n-" + f["id"], "n2", f["etype"]), edge("e2", "n2", "n3" + f["id"], "R" + f["etype"])]
    _jsonl(b / "graph" / f"graph-backup-{fname}.jsonl",
           [{"type": "node", "data": n} for n in nodes] + [{"type": "edge", "data": e} for e in edges])
    _jsonl(b / "concepts" / f"{fname}.jsonl", [{"id": f["id"]}])
    for d in ("kb", "mc", "trajectories"):
        (b / d).mkdir()
    meta = {"bundleVersion": 1, "timestamp": BUNDLE[7:], "completedAt": "2026-05-10T01:02:00.000Z",
            "reason": f["reason"], "neoVersion": f["meta"], "gitSha": f["meta"],
            "subsystems": {}, "topology": {"shared_topology": True},
            "integrity": [{"subsystem": "graph", "status": "pass", "sourceCount": 5, "bundleCount": 5},
                          {"subsystem": "kb", "status": "empty", "sourceCount": 0, "bundleCount": 0},
                          {"subsystem": "mc", "status": "empty", "sourceCount": 0, "bundleCount": 0}],
            "embedding": {"dimension": 8, "counts": {"kb": 0, "memories": 0, "summaries": 0},
                          "expectedConsumer": {"provider": f["meta"], "model": f["meta"]}}}
    (b / "bundle-meta.json").write_text(json.dumps(meta))
    old = dd.backup_root / BROKEN
    (old / "graph").mkdir(parents=True)
    (old / "graph" / f"graph-{fname}.jsonl").write_text(json.dumps({"type": "node", "data": {"id": f["id"]}})
                                                        + "\n{not json " + f["id"] + "\n")
    for d in ("kb", "mc", "concepts", "trajectories"):
        (old / d).mkdir()
    old_meta = dict(meta, reason=f["meta"], integrity=[{"subsystem": "graph", "status": f["meta"]},
                                                       {"subsystem": "kb", "status": f["reason"]}])
    old_meta["embedding"] = {"dimension": f["meta"], "counts": {f["meta"]: f["reason"]}}
    (old / "bundle-meta.json").write_text(json.dumps(old_meta))
    (dd.backup_root / f".backup-partial-{fname}").mkdir()
    (dd.backup_root / f"backup-{fname}").mkdir()
    return dd


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def run_every_command(dd: DataDir, f: dict[str, str]) -> dict[str, tuple[int, str, str]]:
    """Every command that shows data, as an operator runs them; an exception here is a traceback."""
    d = ["--data-dir", str(dd.root)]
    fname = _file_name(f["file"])
    res = {
        "list": cli(*d, "list"),
        "diff": cli(*d, "diff", "latest"),
        "diff broken": cli(*d, "diff", BROKEN),
        "verify walk": cli(*d, "verify"),
        "verify latest": cli(*d, "verify", "latest"),
        "verify broken": cli(*d, "verify", BROKEN),
        "verify residue": cli(*d, "verify", f"backup-{fname}"),
        "restore dry-run": cli(*d, "restore", "latest", "--dry-run"),
        "restore broken": cli(*d, "restore", BROKEN, "--dry-run"),
        "restore residue": cli(*d, "restore", f"backup-{fname}", "--dry-run"),
        "retention": cli(*d, "retention"),
        "prune dry-run": cli(*d, "prune", "--dry-run"),
        "guard": cli(*d, "guard", "--require", "graph"),
        "restore": cli(*d, "restore", "latest", "--only-substrate", "graph,concepts"),
    }
    # a restored node changed live since: undo keeps it and names it
    conn = sqlite3.connect(dd.graph_db)
    conn.execute("UPDATE Nodes SET data = json_set(data, '$.properties.touched', 1) WHERE id != 'n2'")
    conn.commit()
    conn.close()
    res["runs"] = cli(*d, "runs")
    run_ids = [p.name for p in dd.runs_dir.iterdir()] if dd.runs_dir.is_dir() else []
    for run_id in run_ids:
        res[f"undo {run_id}"] = cli(*d, "undo", run_id)
    res["runs after undo"] = cli(*d, "runs")
    return res


def assert_clean(results: dict[str, tuple[int, str, str]]) -> None:
    for name, (code, out, err) in results.items():
        assert code in (0, 1, 2, 3), (name, code, err)
        assert "Traceback" not in err, (name, err)
        assert not raw_controls(out), (name, sorted(raw_controls(out)), out)
        assert not raw_controls(err), (name, sorted(raw_controls(err)), err)


# ---------------------------------------------------------------- the CLI


def test_cli_shows_the_captured_sequences_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = dict.fromkeys(FIELDS, CAPTURED)
    dd = hostile_dir(tmp_path, f)
    monkeypatch.setenv("COLUMNS", "300")  # wide enough that no cell folds: the strings can be found whole
    res = run_every_command(dd, f)
    assert_clean(res)
    shown = visible(CAPTURED)  # \x1b[2J\x1b]0;pwned\x07\x00\u202eodd[/]label
    code, out, _ = res["diff"]
    assert code == 0 and shown in out  # the label, [/] and all: no MarkupError
    assert shown in res["list"][1]  # the meta reason
    assert visible(_file_name(CAPTURED)) in res["list"][1]  # residue folder names
    assert shown in res["retention"][1]
    assert visible(_file_name(CAPTURED)) in res["verify residue"][1]
    # errors on stderr name the folder and the file, escaped
    assert res["restore residue"][0] == 1 and visible(_file_name(CAPTURED)) in res["restore residue"][2]
    assert res["restore broken"][0] == 1 and visible(_file_name(CAPTURED)) in res["restore broken"][2]


def test_undo_names_a_kept_id_escaped(tmp_path: Path) -> None:
    """undo keeps a restored node changed live since, and names it: escaped."""
    hostile = "\x1b[2Jid\u202e\x9b"
    f = dict.fromkeys(FIELDS, hostile)
    res = run_every_command(hostile_dir(tmp_path, f), f)
    assert_clean(res)
    undo = next(out for name, (_, out, _) in res.items() if name.startswith("undo "))
    kept = next(line for line in undo.splitlines() if "modified since the run" in line)
    assert kept.startswith("  kept 2 nodes") and f"{visible(hostile)})" in kept, undo


HOSTILE_CHARS = ["\x1b", "\x1b[2J", "\x1b]0;t\x07", "\x00", "\x07", "\x08", "\r", "\n", "\t", "\x7f", "\x9b",
                 "\x85", "\u202e", "\u202d", "\u2066", "\u2069", "\u200f", "\u061c", "[/]", "[bold]", "\\",
                 "[link=x]", "%s", "{}", "'", '"', " ", "é", "🙂", "中"]
hostile = st.lists(st.sampled_from(HOSTILE_CHARS) | st.characters(exclude_categories=("Cs",)),
                   min_size=1, max_size=8).map("".join)
fields = st.fixed_dictionaries(dict.fromkeys(FIELDS, hostile))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields)
def test_cli_never_passes_a_control_character_through(f: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="rc-hostile-") as tmp:
        assert_clean(run_every_command(hostile_dir(Path(tmp), f), f))


def test_kb_divergence_error_escapes_the_bundle_id(tmp_path: Path) -> None:
    """The KB natural-key refusal names a bundle row's id on stderr: escaped, one line."""
    import numpy as np

    from core import chroma_store as ch
    from core.substrates import COLLECTIONS

    dd = hostile_dir(tmp_path, dict.fromkeys(FIELDS, "x"))
    key = {"source": "src/a.mjs", "name": "A", "type": "class"}
    col = ch.get_collection(ch.open_client(dd), COLLECTIONS["kb"], create=True)
    col.add(ids=["live-kb-1"], embeddings=np.ones((1, 8), dtype=np.float32), metadatas=[key])
    _jsonl(dd.backup_root / BUNDLE / "kb" / "knowledge-base-backup-x.jsonl",
           [{"id": CAPTURED, "embedding": [1.0] * 8, "metadata": key, "document": "d"}])
    meta_path = dd.backup_root / BUNDLE / "bundle-meta.json"
    meta = json.loads(meta_path.read_text())
    meta["integrity"][1] = {"subsystem": "kb", "status": "pass", "sourceCount": 1, "bundleCount": 1}
    meta["embedding"]["counts"]["kb"] = 1
    meta_path.write_text(json.dumps(meta))
    code, _, err = cli("--data-dir", str(dd.root), "restore", "latest")
    assert code == 1 and "KB_MERGE_NATURAL_KEY_DIVERGENCE" in err
    assert not raw_controls(err) and visible(CAPTURED) in err and err.count("\n") == 1


# ---------------------------------------------------------------- the console (Pilot)


def screen_text(app: Any) -> str:
    """Exactly what the compositor sends to the terminal for the current screen, as text."""
    from rich.console import Console

    width, height = app.size
    con = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None,
                  record=True, legacy_windows=False)
    con.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return con.export_text(styles=False)


async def tour(dd: DataDir, f: dict[str, str]) -> list[tuple[str, str]]:
    """Visit every row of the bundles screen and every tab of the diff screen; return each screen's text."""
    from console.scenes import settle
    from console.screens.bundles import BundlesScreen
    from console.screens.diff import DiffScreen
    from tests.tui_support import make

    seen: list[tuple[str, str]] = []
    app = make(dd)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        home = app.screen
        assert isinstance(home, BundlesScreen)
        from textual.widgets import DataTable

        rows = home.query_one("#bundles", DataTable).row_count
        for i in range(rows):
            seen.append((f"bundles row {i}", screen_text(app)))
            await pilot.press("down")
            await pilot.pause()
        await pilot.press(*["up"] * rows)  # back to the newest bundle
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        diff = app.screen
        assert isinstance(diff, DiffScreen) and diff.plan is not None
        for tab in range(5):
            seen.append((f"diff tab {tab}", screen_text(app)))
            await pilot.press("right_square_bracket")
            await pilot.pause()
        diff.apply_filters([f["label"]], [f["etype"]])
        await pilot.press("R")
        await settle(pilot)
        seen.append(("confirm", screen_text(app)))
    return seen


def test_console_shows_the_captured_sequences_escaped(tmp_path: Path) -> None:
    f = dict.fromkeys(FIELDS, CAPTURED)
    seen = asyncio.run(tour(hostile_dir(tmp_path, f), f))
    for where, text in seen:
        assert not raw_controls(text), (where, sorted(raw_controls(text)))
    home = dict(seen)["bundles row 0"]
    assert f"({visible(CAPTURED)})" in home  # the meta reason in the detail pane: there, escaped, inert
    labels = dict(seen)["diff tab 0"]
    assert "\\x1b[2J\\x1b]0;pwned\\x07\\x00\\u202eodd[/]label" in labels


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields)
def test_console_never_passes_a_control_character_through(f: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="rc-hostile-") as tmp:
        for where, text in asyncio.run(tour(hostile_dir(Path(tmp), f), f)):
            assert not raw_controls(text), (where, sorted(raw_controls(text)))
