"""The suite needs Node and npm: a developer without them gets a skip that says so; CI never skips it."""

from __future__ import annotations

import pytest

from tests.interop.neo_runtime import NEO_VERSION, require_node

pytestmark = pytest.mark.interop


def no_node(_name: str) -> None:
    return None


def test_missing_node_skips_with_the_reason_on_a_developers_machine() -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_node(env={}, which=no_node)
    assert f"neo.mjs@{NEO_VERSION}" in str(skipped.value) and "Node.js 20+" in str(skipped.value)


def test_missing_node_fails_the_run_in_ci() -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        require_node(env={"CI": "true"}, which=no_node)
    assert "must run in CI" in str(failed.value)
