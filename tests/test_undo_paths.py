"""Undo touches only its own data dir: the journal names flat files by substrate and name, resolved against the
data dir undo is given, and anything that would resolve elsewhere is refused.

The scenario an operator meets: a restore (a forced merge that overwrites concepts and trajectories and
creates the mailbox), then the data dir is copied or moved, and `undo` runs in the copy. The original must
stay byte-identical and the copy must end exactly where it was before the restore. And a mailbox configured
outside the data dir (beside a graph DB set by NEO_MEMORY_DB_PATH) is undone where it is.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.cli import main
from core.datadir import DataDir, resolve
from core.errors import ConsoleError
from core.journal import IDS_FILE, list_runs
from core.restore import run_restore
from core.restore_model import RestoreOptions
from core.undo import undo_run
from tests.builders import edge, graph_state, live_graph, node, write_bundle

LIVE_NODES = '{"id":"neo-mjs","live":1}\n'
LIVE_TRAJ = '{"sessionId":"live"}\n'


def tree(root: Path) -> dict[str, tuple[str, str]]:
    """Every entry under `root` -> (kind, sha256 of its bytes or symlink target): byte-identity of a whole dir."""
    out: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            else:
                out[rel] = ("dir", "")
    return out


def flat_state(dd: DataDir) -> dict[str, bytes | None]:
    files = {"concepts/nodes.jsonl": dd.concepts_dir / "nodes.jsonl",
             "concepts/edges.jsonl": dd.concepts_dir / "edges.jsonl",
             "trajectories": dd.trajectories_file, "mailbox": dd.mailbox_file}
    return {k: (p.read_bytes() if p.is_file() else None) for k, p in files.items()}


def restored(tmp_path: Path) -> tuple[DataDir, str, tuple[object, object], dict[str, bytes | None]]:
    """A live data dir after a forced merge that overwrote two flat files and created two; -> (dd, run id, ...)."""
    dd = resolve(tmp_path / "orig" / ".neo-ai-data", env={})
    live_graph(dd, [node("L", "CONCEPT")], [])
    dd.concepts_dir.mkdir(parents=True)
    (dd.concepts_dir / "nodes.jsonl").write_text(LIVE_NODES)
    dd.trajectories_file.parent.mkdir(parents=True)
    dd.trajectories_file.write_text(LIVE_TRAJ)
    before_graph = graph_state(dd)
    before_flat = flat_state(dd)
    b = write_bundle(dd.backup_root, nodes=[node("L", "CONCEPT"), node("B", "FILE")],
                     edges=[edge("e1", "L", "B", "CONTAINS")],
                     concepts={"nodes.jsonl": '{"bundle":"nodes"}\n', "edges.jsonl": '{"bundle":"edges"}\n'},
                     trajectories='{"bundle":"traj"}\n', mailbox='{"bundle":"mail"}\n')
    res = run_restore(dd, b, RestoreOptions(force=True))
    assert res.status == "completed" and res.run_id
    after = flat_state(dd)
    assert after["trajectories"] == b'{"bundle":"traj"}\n' and after["mailbox"] == b'{"bundle":"mail"}\n'
    assert after["concepts/nodes.jsonl"] == b'{"bundle":"nodes"}\n'
    return dd, res.run_id, before_graph, before_flat


def test_the_journal_names_flat_files_by_substrate_and_name(tmp_path: Path) -> None:
    dd, run_id, _, _ = restored(tmp_path)
    raw = (dd.runs_dir / run_id / IDS_FILE).read_bytes()
    flat = [orjson.loads(line) for line in raw.splitlines() if b'"s":"flat"' in line]
    assert sorted((rec["target"]["substrate"], rec["target"]["name"]) for rec in flat) == [
        ("concepts", "edges.jsonl"), ("concepts", "nodes.jsonl"), ("mailbox", "sent-to-cull.jsonl"),
        ("trajectories", "trajectories.jsonl")]
    for rec in flat:
        assert rec["previous"] is None or not Path(rec["previous"]).is_absolute()
    assert str(tmp_path).encode() not in raw


# where the default layout puts each flat target, relative to the data dir: what journals held before targets
# were named by substrate and name
LEGACY_PATHS = {"concepts": "concepts/{name}", "trajectories": "datasets/rlaif/trajectories.jsonl",
                "mailbox": "sqlite/sent-to-cull.jsonl"}


def legacy(rec: dict[str, Any]) -> str:
    """A flat record's target as a data-dir-relative path (the journal format before this one)."""
    t = rec["target"]
    return LEGACY_PATHS[t["substrate"]].format(name=t["name"])


@pytest.mark.parametrize("how", ["copy", "move"])
def test_undo_in_a_copied_or_moved_data_dir_leaves_the_original_alone(tmp_path: Path, how: str) -> None:
    orig, run_id, before_graph, before_flat = restored(tmp_path)
    dest = tmp_path / "elsewhere" / "deeper" / ".neo-ai-data"
    dest.parent.mkdir(parents=True)
    if how == "copy":
        shutil.copytree(orig.root, dest, symlinks=True)
        snapshot = tree(orig.root)
    else:
        os.rename(orig.root, dest)
    other = resolve(dest, env={})

    u = undo_run(other, run_id)

    if how == "copy":
        assert tree(orig.root) == snapshot  # not one byte of the original changed, no file added or removed
    else:
        assert not orig.root.exists()  # nothing was recreated where the dir used to be
    assert graph_state(other) == before_graph
    assert flat_state(other) == before_flat
    assert u.removed == {"edges": 1, "nodes": 1, "files": 4}
    assert sorted(u.restored_files) == sorted([str(other.concepts_dir / "nodes.jsonl"), str(other.trajectories_file)])
    (rec,) = list_runs(other)
    assert rec.undo and rec.undo["status"] == "completed"


def _rewrite_flat(dd: DataDir, run_id: str, **fields: object) -> None:
    """Edit the journal's flat records as an old (or tampered) journal would hold them."""
    path = dd.runs_dir / run_id / IDS_FILE
    out = []
    for line in path.read_bytes().splitlines():
        rec = orjson.loads(line)
        if rec.get("s") == "flat":
            for k, v in fields.items():
                rec[k] = v(rec) if callable(v) else v
        out.append(orjson.dumps(rec))
    path.write_bytes(b"\n".join(out) + b"\n")


def _assert_refused_untouched(dd: DataDir, run_id: str, match: str, *protected: Path) -> None:
    """Undo refuses; the `protected` trees are byte-identical, and in `dd` no flat file or graph row changed."""
    snapshots = {p: tree(p) for p in protected}
    graph, flat = graph_state(dd), flat_state(dd)
    with pytest.raises(ConsoleError, match=match):
        undo_run(dd, run_id)
    for p, snap in snapshots.items():
        assert tree(p) == snap
    assert graph_state(dd) == graph  # refused before the first write: the graph rows are still there
    assert flat_state(dd) == flat
    (rec,) = list_runs(dd)
    assert rec.undoable  # the run can still be undone once the journal is put right


def test_an_old_journal_with_absolute_paths_of_another_dir_is_refused_and_named(tmp_path: Path) -> None:
    orig, run_id, _, _ = restored(tmp_path)
    dest = tmp_path / "copy" / ".neo-ai-data"
    shutil.copytree(orig.root, dest, symlinks=True)
    copy = resolve(dest, env={})
    # what today's journals hold: absolute paths into the original data dir
    _rewrite_flat(copy, run_id, target=lambda r: str(orig.root / legacy(r)),
                  previous=lambda r: r["previous"] and str(orig.runs_dir / run_id / r["previous"]))
    victim = orig.mailbox_file
    _assert_refused_untouched(copy, run_id, f"outside the data dir.*{re.escape(str(victim))}", orig.root)


def test_an_old_journal_with_absolute_paths_inside_the_data_dir_is_undone(tmp_path: Path) -> None:
    dd, run_id, before_graph, before_flat = restored(tmp_path)
    _rewrite_flat(dd, run_id, target=lambda r: str(dd.root / legacy(r)),
                  previous=lambda r: r["previous"] and str(dd.runs_dir / run_id / r["previous"]))
    undo_run(dd, run_id)
    assert graph_state(dd) == before_graph and flat_state(dd) == before_flat


@pytest.mark.parametrize("field,value,message", [
    ("target", "../../outside/victim.jsonl", "files outside the data dir"),
    ("target", "concepts/../../../outside/victim.jsonl", "files outside the data dir"),
    ("previous", "../../../../../outside/victim.jsonl", "saved copies outside the run dir"),
])
def test_dot_dot_out_of_the_data_dir_or_run_dir_is_refused(tmp_path: Path, field: str, value: str,
                                                          message: str) -> None:
    dd, run_id, _, _ = restored(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.jsonl").write_text("not yours\n")
    _rewrite_flat(dd, run_id, **{field: lambda r: value if field == "target" or r["previous"] else None})
    resolved = re.escape(f"{value} (resolves to {outside / 'victim.jsonl'})")
    _assert_refused_untouched(dd, run_id, f"{message} .*{resolved}", outside)


def test_a_symlink_out_of_the_data_dir_is_refused(tmp_path: Path) -> None:
    orig, run_id, _, _ = restored(tmp_path)
    dest = tmp_path / "copy" / ".neo-ai-data"
    shutil.copytree(orig.root, dest, symlinks=True)
    # an operator's copy where concepts/ is a link back to the original's (cp -s, a bind, a hand-made link)
    shutil.rmtree(dest / "concepts")
    (dest / "concepts").symlink_to(orig.concepts_dir)
    copy = resolve(dest, env={})
    _assert_refused_untouched(copy, run_id, f"outside the data dir.*{re.escape(str(orig.concepts_dir / 'nodes.jsonl'))}",
                              orig.root)


def test_cli_undo_refusal_names_the_path_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd, run_id, _, _ = restored(tmp_path)
    _rewrite_flat(dd, run_id, target="../../outside/victim.jsonl")
    capsys.readouterr()
    code = main(["--data-dir", str(dd.root), "undo", run_id])
    err = capsys.readouterr().err
    assert code == 1
    assert "../../outside/victim.jsonl" in err and "outside the data dir" in err


def test_a_lost_saved_copy_keeps_the_restored_file_instead_of_deleting_it(tmp_path: Path) -> None:
    """Without the previous content to put back, deleting the restored file would lose both versions."""
    dd, run_id, _, before_flat = restored(tmp_path)
    (dd.runs_dir / run_id / "flat" / "trajectories" / "trajectories.jsonl").unlink()
    u = undo_run(dd, run_id)
    assert dd.trajectories_file.read_bytes() == b'{"bundle":"traj"}\n'  # kept as restored
    assert u.not_reverted == {"files": 1} and "trajectories.jsonl" in u.warnings[0]
    after = flat_state(dd)
    assert after["concepts/nodes.jsonl"] == before_flat["concepts/nodes.jsonl"] and after["mailbox"] is None


def test_an_older_journal_with_data_dir_relative_paths_is_undone(tmp_path: Path) -> None:
    """The format before substrate and name: paths relative to the data dir, still read."""
    dd, run_id, before_graph, before_flat = restored(tmp_path)
    _rewrite_flat(dd, run_id, target=legacy)
    undo_run(dd, run_id)
    assert graph_state(dd) == before_graph and flat_state(dd) == before_flat


@pytest.mark.parametrize("target,shown", [
    ({"substrate": "concepts", "name": "../../outside/victim.jsonl"}, "concepts/../../outside/victim.jsonl"),
    ({"substrate": "concepts", "name": ".."}, "concepts/.."),
    ({"substrate": "concepts", "name": "sub/nodes.jsonl"}, "concepts/sub/nodes.jsonl"),
    ({"substrate": "ledgers", "name": "heal-attempts.json"}, "ledgers/heal-attempts.json"),
    ({"substrate": "graph", "name": "memory-core-graph.sqlite"}, "graph/memory-core-graph.sqlite"),
    ({"substrate": "mailbox", "name": "victim.jsonl"}, "mailbox/victim.jsonl (this data dir's mailbox file is "
                                                       "sent-to-cull.jsonl)"),
    ({"name": "nodes.jsonl"}, "None/nodes.jsonl"),
])
def test_a_flat_target_this_data_dir_does_not_have_is_refused(tmp_path: Path, target: dict[str, str],
                                                              shown: str) -> None:
    dd, run_id, _, _ = restored(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.jsonl").write_text("not yours\n")
    _rewrite_flat(dd, run_id, target=target)
    _assert_refused_untouched(dd, run_id, f"flat targets this data dir does not have: .*{re.escape(shown)}", outside)


def test_a_mailbox_configured_outside_the_data_dir_is_undone_where_it_is(tmp_path: Path) -> None:
    """The graph DB set by NEO_MEMORY_DB_PATH puts the mailbox beside it, outside the data dir: undo follows it."""
    env = {"NEO_MEMORY_DB_PATH": str(tmp_path / "elsewhere" / "graph.sqlite")}
    dd = resolve(tmp_path / ".neo-ai-data", env=env)
    assert not dd.mailbox_file.is_relative_to(dd.root)
    dd.mailbox_file.parent.mkdir(parents=True)
    dd.mailbox_file.write_text('{"live":"mail"}\n')
    live_graph(dd, [node("L", "CONCEPT")], [])
    before_graph = graph_state(dd)
    b = write_bundle(dd.backup_root, nodes=[node("B", "FILE")], mailbox='{"bundle":"mail"}\n')
    res = run_restore(dd, b, RestoreOptions(force=True, only_substrate=["graph", "mailbox"]))
    assert res.run_id and dd.mailbox_file.read_text() == '{"bundle":"mail"}\n'
    u = undo_run(resolve(tmp_path / ".neo-ai-data", env=env), res.run_id)
    assert dd.mailbox_file.read_text() == '{"live":"mail"}\n'  # the mailbox's earlier content is back
    assert u.restored_files == [str(dd.mailbox_file)] and u.removed == {"nodes": 1, "files": 1}
    assert graph_state(dd) == before_graph
