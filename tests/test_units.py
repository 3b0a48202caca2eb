"""Sizes, ages and durations as people read them: one formatter for every surface."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.units import colon_free, human_age, human_bytes, iso_ms, iso_z, precise_age


@pytest.mark.parametrize("n,text", [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (1024 ** 2, "1.0 MiB"),
    (23_456_789, "22.4 MiB"), (5 * 1024 ** 3, "5.0 GiB"), (3 * 1024 ** 4, "3.0 TiB"),
])
def test_sizes_are_binary_and_say_so(n: int, text: str) -> None:
    assert human_bytes(n) == text


@pytest.mark.parametrize("hours,whole,tenths", [
    (0.25, "15m", "15m"), (9.4, "9h", "9.4h"), (47.9, "48h", "47.9h"), (60, "2d", "2.5d"), (24 * 16, "16d", "16d"),
])
def test_ages(hours: float, whole: str, tenths: str) -> None:
    assert human_age(hours) == whole and precise_age(hours) == tenths


def test_an_age_that_does_not_exist() -> None:
    assert human_age(None) == "none"


def test_timestamps() -> None:
    t = datetime(2026, 5, 10, 1, 11, 23, 456_789, tzinfo=UTC)
    assert iso_ms(t) == "2026-05-10T01:11:23.456Z"  # JavaScript's toISOString
    assert colon_free(t) == "2026-05-10T01-11-23.456Z"  # bundle names
    assert iso_z(t) == "2026-05-10T01:11:23.456789Z"  # `list --json`, as it always was
