"""A merge into a real Chroma server (`chroma run`), as well as into the embedded store.

The session's server is shared and collection names are fixed, so this module is the only one writing to it
and it starts from empty collections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.datadir import resolve
from core.plan import build_plan, scan_bundle
from core.restore import run_restore
from core.restore_model import RestoreOptions, RestoreResult
from core.undo import undo_run
from core.wire import encode
from tests.builders import (
    chroma_state,
    live_vectors,
    node,
    reset_server_collections,
    same_chroma,
    vec,
    write_bundle,
)


def sub(res: RestoreResult, key: str) -> dict[str, Any]:
    """One substrate's outcome as the result reports it on the wire."""
    out = encode(res.subsystems[key])
    assert isinstance(out, dict)
    return out


@pytest.mark.slow
def test_merge_into_a_chroma_server(tmp_path: Path, chroma_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reset_server_collections(chroma_server)
    dd = resolve(tmp_path / ".neo-ai-data", chroma_url=chroma_server, env={})
    local = resolve(tmp_path / "embedded", env={})
    live = [vec(f"m{i}", dim=16, metadata={"live": True}) for i in range(0, 40, 4)]
    rows = [vec(f"m{i}", dim=16) for i in range(40)] + [vec("m7", dim=16)]  # and one in-bundle duplicate
    summaries = [vec(f"s{i}", dim=16) for i in range(5)]
    for target in (dd, local):
        live_vectors(target, "memories", live)
    b = write_bundle(dd.backup_root, nodes=[node("A", "FILE")], memories=rows, summaries=summaries, dimension=16)
    plan = build_plan(scan_bundle(dd, b))
    assert (plan.memories.live, plan.memories.already_present, plan.memories.would_insert) == (10, 11, 30)
    # small chunks so the merge spans several get/add requests
    monkeypatch.setattr("core.chroma_store.REQUEST_BUDGET_BYTES", 16 * (16 * 20 + 4096))
    results = {}
    for name, target in (("server", dd), ("embedded", local)):
        results[name] = run_restore(target, b, RestoreOptions())
    for res in results.values():
        assert sub(res, "mc")["counts"]["memories"]["inserted"] == 30
        assert sub(res, "mc")["counts"]["memories"]["skippedExisting"] == 11
        assert sub(res, "mc")["counts"]["summaries"]["inserted"] == 5
        assert res.failures_total == 0
    server_state, embedded_state = chroma_state(dd, "memories"), chroma_state(local, "memories")
    assert same_chroma(server_state, embedded_state) and len(server_state) == 40
    assert b'"live":true' in server_state["m4"][1]  # the live row was kept
    again = run_restore(dd, b, RestoreOptions())  # idempotent
    assert sub(again, "mc")["counts"]["memories"]["inserted"] == 0
    undo_run(dd, results["server"].run_id or "")
    assert set(chroma_state(dd, "memories")) == {r["id"] for r in live}
    assert chroma_state(dd, "summaries") == {}
