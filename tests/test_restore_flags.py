"""The restore arguments neo added: --preserve-read-state, --operation reseed, --target-collection."""

from __future__ import annotations

import pytest

from core.errors import UsageError
from core.restore_flags import CANONICAL_COLLECTIONS, DisposableTargetRequired, resolve_restore_args


def test_nothing_stated_is_a_plain_merge() -> None:
    a = resolve_restore_args(mode=None, only=None)
    assert (a.mode, a.only, a.preserve_read_state, a.warnings) == ("merge", None, False, ())


def test_reseed_pins_replace_graph_and_preserve_read_state() -> None:
    a = resolve_restore_args(mode=None, only=None, operation="reseed")
    assert (a.mode, a.only, a.preserve_read_state, a.warnings) == ("replace", ("graph",), True, ())


def test_reseed_accepts_arguments_that_agree_with_its_pins() -> None:
    a = resolve_restore_args(mode="replace", only=["graph"], operation="reseed", preserve_read_state=True)
    assert (a.mode, a.only) == ("replace", ("graph",))


@pytest.mark.parametrize(("mode", "only", "message"), [
    ("merge", None, '--operation reseed pins mode="replace", but "merge" was requested'),
    (None, ["graph", "mc"], '--operation reseed pins onlySubstrate=["graph"], but ["graph","mc"] was requested'),
    (None, [], '--operation reseed pins onlySubstrate=["graph"], but [] was requested'),
])
def test_reseed_refuses_a_contradicting_argument(mode: str | None, only: list[str] | None, message: str) -> None:
    with pytest.raises(UsageError) as err:
        resolve_restore_args(mode=mode, only=only, operation="reseed")
    assert message in str(err.value) and "Refusing rather than silently redefining" in str(err.value)


def test_an_unknown_operation_is_refused() -> None:
    with pytest.raises(UsageError, match="Unknown operation: wipe. Valid: reseed."):
        resolve_restore_args(mode=None, only=None, operation="wipe")


def test_preserve_read_state_under_merge_warns_and_does_nothing() -> None:
    a = resolve_restore_args(mode="merge", only=None, preserve_read_state=True)
    assert a.mode == "merge" and len(a.warnings) == 1 and "no effect under --mode merge" in a.warnings[0]
    assert resolve_restore_args(mode="replace", only=None, preserve_read_state=True).warnings == ()


def test_target_collection_into_a_throwaway_collection() -> None:
    a = resolve_restore_args(mode=None, only=["kb"], target_collection="  kb-scratch ")
    assert (a.mode, a.only, a.target_collection) == ("merge", ("kb",), "kb-scratch")


@pytest.mark.parametrize("only", [None, ["kb", "mc"], ["graph"], []])
def test_target_collection_requires_exactly_kb(only: list[str] | None) -> None:
    with pytest.raises(UsageError, match="requires --only-substrate=kb"):
        resolve_restore_args(mode=None, only=only, target_collection="scratch")


def test_target_collection_refuses_replace() -> None:
    with pytest.raises(UsageError, match="cannot be combined with --mode replace"):
        resolve_restore_args(mode="replace", only=["kb"], target_collection="scratch")


@pytest.mark.parametrize("name", ["", "   ", "--force"])
def test_target_collection_needs_a_name(name: str) -> None:
    with pytest.raises(UsageError, match="requires a collection name"):
        resolve_restore_args(mode=None, only=["kb"], target_collection=name)


@pytest.mark.parametrize("name", [*CANONICAL_COLLECTIONS, " neo-knowledge-base "])
def test_target_collection_refuses_every_canonical_name(name: str) -> None:
    with pytest.raises(DisposableTargetRequired) as err:
        resolve_restore_args(mode=None, only=["kb"], target_collection=name)
    assert err.value.code == "DISPOSABLE_RESTORE_TARGET_REQUIRED"


def test_canonical_names_are_case_sensitive_like_neos() -> None:
    assert resolve_restore_args(mode=None, only=["kb"], target_collection="NEO-KNOWLEDGE-BASE").target_collection


def test_target_collection_refuses_a_name_configured_here() -> None:
    with pytest.raises(DisposableTargetRequired, match="my-temporal"):
        resolve_restore_args(mode=None, only=["kb"], target_collection="my-temporal", guarded=["my-temporal"])


def test_reseed_with_a_target_collection_is_refused_by_the_target_check_first() -> None:
    with pytest.raises(UsageError, match="requires --only-substrate=kb"):
        resolve_restore_args(mode=None, only=None, operation="reseed", target_collection="scratch")
    with pytest.raises(UsageError, match="pins onlySubstrate"):
        resolve_restore_args(mode=None, only=["kb"], operation="reseed", target_collection="scratch")
