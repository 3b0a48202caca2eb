"""The restore arguments neo added after May, with neo's semantics and refusals (neo-today.md section 9).

- ``--preserve-read-state``: replace only; the live ``DELIVERED_TO`` edges' ``readAt`` / ``archivedAt`` are
  put back after the graph replace wherever the restored edge has none. Under merge it does nothing (merge never
  touches a live edge) and says so.
- ``--operation reseed``: pins mode replace, only-substrate graph and preserve-read-state; a stated argument that
  contradicts a pin is refused, never silently redefined.
- ``--target-collection NAME``: the knowledge base into a throwaway collection; requires exactly
  ``--only-substrate kb``, refuses replace and neo's canonical collection names.

Checked in neo's order (the target collection before the operation's pins), before anything is read or written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import UsageError

OPERATIONS = ("reseed",)
RESEED_PINS = {"mode": "replace", "onlySubstrate": ("graph",)}
# neo's GUARDED_CANONICAL_COLLECTION_NAMES: never a disposable target, compared after trimming, case-sensitive
CANONICAL_COLLECTIONS = ("neo-agent-memory", "neo-agent-sessions", "neo-native-graph", "neo-temporal-summary",
                         "neo-knowledge-base")
MERGE_NO_EFFECT = ("--preserve-read-state has no effect under --mode merge: merge never truncates the graph, so "
                   "DELIVERED_TO read receipts were never at risk. The flag applies to --mode replace.")


class DisposableTargetRequired(UsageError):
    """--target-collection named a collection that holds live data."""

    code = "DISPOSABLE_RESTORE_TARGET_REQUIRED"


@dataclass(frozen=True)
class RestoreArgs:
    mode: str
    only: tuple[str, ...] | None
    preserve_read_state: bool
    operation: str | None
    target_collection: str | None
    warnings: tuple[str, ...] = ()


def _js(value: object) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":"))


def resolve_restore_args(*, mode: str | None, only: Iterable[str] | None, preserve_read_state: bool = False,
                         operation: str | None = None, target_collection: str | None = None,
                         guarded: Iterable[str] = ()) -> RestoreArgs:
    """``mode`` / ``only`` as the operator stated them (None: not stated). ``guarded``: more collection names
    that hold live data here (the console's configured names), refused like neo's canonical ones."""
    stated_only = tuple(only) if only is not None else None
    if operation is not None and operation not in OPERATIONS:
        raise UsageError(f"Unknown operation: {operation}. Valid: {', '.join(OPERATIONS)}.")
    target = None
    if target_collection is not None:
        target = target_collection.strip()
        if not target or target.startswith("--"):
            raise UsageError("--target-collection requires a collection name.")
        if stated_only != ("kb",):
            raise UsageError(
                "--target-collection only redirects the 'kb' substrate, so it requires --only-substrate=kb. "
                "Without that restriction the other substrates would still be restored into PRODUCTION while KB "
                f"went to '{target}': a partial redirect under a flag that implies the run touches nothing live.")
        if (mode or "merge") == "replace":
            raise UsageError(
                "--target-collection cannot be combined with --mode replace: replace truncates the CANONICAL "
                f"collection, so the run would empty production while importing into '{target}'. A freshly "
                "created disposable collection is already empty.")
        refused = (*CANONICAL_COLLECTIONS, *guarded)
        if target in refused:
            raise DisposableTargetRequired(
                f"DISPOSABLE_RESTORE_TARGET_REQUIRED: refusing to restore into \"{target}\": it is a canonical "
                f"collection. Name a throwaway collection. Canonical names: {', '.join(dict.fromkeys(refused))}.")
    warnings: list[str] = []
    out_mode, out_only, out_preserve = mode or "merge", stated_only, preserve_read_state
    if operation == "reseed":
        stated = {"mode": mode, "onlySubstrate": stated_only}
        for key, pinned in RESEED_PINS.items():
            asked = stated[key]
            if asked is not None and _js(asked) != _js(pinned):
                raise UsageError(
                    f"--operation reseed pins {key}={_js(pinned)}, but {_js(asked)} was requested. Use a plain "
                    "restore for a different mode or a wider substrate set. Refusing rather than silently "
                    "redefining the operation.")
        out_mode, out_only, out_preserve = "replace", ("graph",), True
    if out_preserve and out_mode != "replace":
        warnings.append(MERGE_NO_EFFECT)
    return RestoreArgs(out_mode, out_only, out_preserve, operation, target, tuple(warnings))
