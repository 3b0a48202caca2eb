"""The August incident with bundles written by the real backup path (embedded Chroma, SQLite graph)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import chroma_store as ch
from core.backup import run_backup
from core.bundle import bundle_name
from core.datadir import DataDir
from core.errors import GuardRefused
from core.guard import guard
from core.prune import prune
from core.retention import evaluate
from core.substrates import KB_COLLECTION
from tests.builders import make_live

NOW = datetime(2026, 8, 7, 12, 0, tzinfo=UTC)


def test_kb_lost_six_backups_ago_real_bundles(data_dir: DataDir) -> None:
    make_live(data_dir)
    complete = [NOW - timedelta(days=d) for d in (40, 41, 42, 43, 44)]
    for t in sorted(complete):
        run_backup(data_dir, when=t)
    ch.open_client(data_dir).delete_collection(KB_COLLECTION)  # the KB collection is gone; backups go on
    recent = [NOW - timedelta(days=d, hours=1) for d in range(6)]
    for t in sorted(recent):
        assert run_backup(data_dir, when=t).warnings == ("kb: source is empty",)

    report = evaluate(data_dir, now=NOW)
    by_name = {b.name: b for b in report.bundles}
    assert all(by_name[bundle_name(t)].substrates["kb"].rows == 0 for t in recent)
    last_good = by_name[bundle_name(complete[0])]
    assert last_good.keep and "kb: newest restorable, kept whatever its age" in last_good.reasons
    assert last_good.substrates["kb"].rows == 10 and last_good.substrates["kb"].restorable
    assert by_name[bundle_name(complete[1])].reasons == ("kb: among newest 2 restorable",)
    assert [b.name for b in report.bundles if not b.keep] == [bundle_name(t) for t in complete[2:]]
    assert report.substrates["kb"].age_hours == pytest.approx(40 * 24)
    assert report.substrates["mc"].newest_restorable == bundle_name(recent[0])

    # the guard sees the amnesia window for kb and refuses a prune, naming kb and why
    g = guard(data_dir, now=NOW)
    assert not g.ok and g.exit_code == 3
    assert not g.substrates["kb"].ok and g.substrates["mc"].ok and g.substrates["graph"].ok
    assert f"the newest bundle {bundle_name(recent[0])} has kb integrity 'empty'" in g.message
    with pytest.raises(GuardRefused):
        prune(data_dir, now=NOW)
    done = prune(data_dir, now=NOW, skip_guard=True)
    assert sorted(d.name for d in done.deleted) == sorted(bundle_name(t) for t in complete[2:])
    assert evaluate(data_dir, now=NOW).substrates["kb"].newest_restorable == bundle_name(complete[0])
