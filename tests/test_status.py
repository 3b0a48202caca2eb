"""The state of a backup root from one read of it (what the console shows on each refresh), the guard's
configured defaults as public answers, and the filter presets every surface shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import core.bundle
from core.demo import build_demo
from core.guard import DEFAULT_GUARD_MAX_AGE, guard, guard_defaults
from core.presets import FILESYSTEM_MIRROR, GAP_NOISE, INCIDENT_DEFAULT, PRESETS
from core.retention import evaluate
from core.status import default_max_age_hours, root_status
from core.substrates import RECOVERY_SUBSTRATES
from core.wire import encode
from tests.test_retention import make_dd, write_bundle

NOW = datetime(2026, 5, 10, 10, tzinfo=UTC)


def test_one_read_of_the_root_answers_the_listing_retention_and_the_guard(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    dd = make_dd(tmp_path)
    for days in (0.5, 3, 60):
        write_bundle(dd.backup_root, NOW - timedelta(days=days))
    reads: list[Path] = []
    real = core.bundle.list_bundles

    def counted(root: Path, **kw: object) -> core.bundle.Listing:
        reads.append(root)
        return real(root, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(core.bundle, "list_bundles", counted)
    monkeypatch.setattr("core.status.list_bundles", counted)
    monkeypatch.setattr("core.retention.list_bundles", counted)
    monkeypatch.setattr("core.guard.list_bundles", counted)
    status = root_status(dd, now=NOW)
    assert reads == [dd.backup_root]  # one read, where the console used to make three
    assert [b.name for b in status.listing.bundles] == [b.name for b in real(dd.backup_root).bundles]
    assert status.listing.rows_counted and status.error is None
    # the same answers as asking each one on its own
    assert encode(status.retention) == encode(evaluate(dd, now=NOW))
    assert encode(status.guard) == encode(guard(dd, now=NOW))
    assert status.max_age_hours == 24.0


def test_a_config_the_policy_refuses_leaves_the_listing(tmp_path: Path) -> None:
    dd = make_dd(tmp_path, "[retention]\nkeep_minimum = -1\n")
    write_bundle(dd.backup_root, NOW - timedelta(days=1))
    status = root_status(dd, now=NOW)
    assert len(status.listing.bundles) == 1 and status.retention is None and status.guard is None
    assert status.error and "keep_minimum must be a whole number" in status.error


def test_the_guards_defaults_are_public_and_follow_the_config(tmp_path: Path) -> None:
    plain = make_dd(tmp_path / "plain")
    assert guard_defaults(plain).max_age == DEFAULT_GUARD_MAX_AGE == timedelta(hours=24)
    assert guard_defaults(plain).require == RECOVERY_SUBSTRATES
    assert default_max_age_hours(plain) == 24.0
    configured = make_dd(tmp_path / "configured", '[guard]\nmax_age = "36h"\nrequire = "mc, graph"\n')
    assert guard_defaults(configured).max_age == timedelta(hours=36)
    assert guard_defaults(configured).require == ("mc", "graph")
    assert default_max_age_hours(configured) == 36.0  # what the header flags as stale, as `guard` refuses


def test_the_presets_and_the_demo_agree(tmp_path: Path) -> None:
    assert set(PRESETS) == {"filesystem mirror", "gap noise", "incident default", "none"}
    incident = INCIDENT_DEFAULT.filters
    assert incident.labels == FILESYSTEM_MIRROR.filters.labels | GAP_NOISE.filters.labels
    assert incident.edge_types == FILESYSTEM_MIRROR.filters.edge_types | GAP_NOISE.filters.edge_types
    assert PRESETS["none"].filters.active is False
    demo = build_demo(tmp_path / "demo", scale=0.01, dimension=4)
    assert (demo.incident_filters.labels, demo.incident_filters.edge_types) == (
        INCIDENT_DEFAULT.labels, INCIDENT_DEFAULT.edge_types)
