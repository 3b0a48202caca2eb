"""The one substrate registry: every module that names a substrate, a bundle folder, a file prefix or a Chroma
collection reads it here (neo-bundle-format.md sections 1 and 4).

A bundle has one folder per substrate. ``kb`` and ``mc`` hold Chroma exports (``mc`` two collections, routed
by file-name prefix as neo does), ``graph`` the SQLite graph, the rest flat files copied as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import UsageError

# every bundle folder, in neo's restore order (kb, mc, graph, then the flat files)
SUBSTRATES = ("kb", "mc", "graph", "concepts", "trajectories", "mailbox", "ledgers")
# the substrates with an integrity entry in the meta: what retention keeps and the guard requires
RECOVERY_SUBSTRATES = ("kb", "mc", "graph")
# neo's restore refuses a bundle without one of these (mailbox and ledgers came later: optional)
REQUIRED_SUBDIRS = ("kb", "mc", "graph", "concepts", "trajectories")
# what a backup captures, and so what a replace replaces (its safety bundle holds exactly these)
BACKED_UP = ("kb", "mc", "graph", "concepts", "trajectories", "mailbox", "ledgers")
# copied as files, never parsed into a store
FLAT_SUBSTRATES = ("concepts", "trajectories", "mailbox", "ledgers")
# the flat substrates with one target in the data dir (ledgers have three, where neo keeps them: core.ledgers)
FLAT_TARGETS = ("concepts", "trajectories", "mailbox")
# concepts restores a folder of files; the others one file each
FLAT_DIRECTORIES = ("concepts",)
MODES = ("merge", "replace")


@dataclass(frozen=True)
class Collection:
    """A Chroma collection and where its rows live in a bundle."""

    key: str  # the name counts, plans and results use
    name: str  # the collection in Chroma (neo's default; the temporal summaries' name is configurable)
    substrate: str  # the bundle folder
    prefix: str  # the file-name prefix neo routes by


KB = Collection("kb", "neo-knowledge-base", "kb", "knowledge-base-backup")
MEMORIES = Collection("memories", "neo-agent-memory", "mc", "memory-backup")
SUMMARIES = Collection("summaries", "neo-agent-sessions", "mc", "summaries-backup")
# neo's fourth collection: its config names it (NEO_TEMPORAL_SUMMARY_COLLECTION_NAME), DataDir.collection_name
TEMPORAL = Collection("temporalSummaries", "neo-temporal-summary", "mc", "temporal-summary-backup")
TEMPORAL_SUMMARIES_KEY = TEMPORAL.key
TEMPORAL_SUMMARIES_PREFIX = TEMPORAL.prefix

# backup and restore order (neo's: kb, then the Memory Core)
VECTOR_COLLECTIONS = (KB, MEMORIES, SUMMARIES, TEMPORAL)
# the Memory Core's collections, in the order its counts are reported
MC_COLLECTIONS = (MEMORIES, SUMMARIES, TEMPORAL)
# the plan's order: what the Memory Core lost first, the knowledge base (re-syncable) last
PLAN_COLLECTIONS = (MEMORIES, SUMMARIES, TEMPORAL, KB)
# neo's capture sources (the console's key -> neo's source name); temporal summaries and the graph have none
CAPTURE_SOURCES = {KB.key: "kb", MEMORIES.key: "mc.memories", SUMMARIES.key: "mc.summaries"}
COLLECTION_BY_KEY = {c.key: c for c in VECTOR_COLLECTIONS}
# the bundle folders of Chroma exports
VECTOR_SUBSTRATES = tuple(dict.fromkeys(c.substrate for c in VECTOR_COLLECTIONS))
# key -> Chroma collection name (neo's defaults)
COLLECTIONS = {c.key: c.name for c in VECTOR_COLLECTIONS}
MEMORY_COLLECTION, SESSION_COLLECTION, KB_COLLECTION = MEMORIES.name, SUMMARIES.name, KB.name


def collection_key(substrate: str, file_name: str) -> str:
    """The count key a bundle file's rows belong to: kb, memories, summaries or temporalSummaries (neo's routing:
    an mc file is a memory export by prefix, a temporal summary by prefix, a summary export otherwise)."""
    if substrate != "mc":
        return substrate
    if file_name.startswith(MEMORIES.prefix):
        return MEMORIES.key
    if file_name.startswith(TEMPORAL.prefix):
        return TEMPORAL.key
    return SUMMARIES.key


def selected(only: tuple[str, ...] | None, substrate: str) -> bool:
    """Is ``substrate`` part of an ``--only-substrate`` selection (None selects everything)?"""
    return only is None or substrate in only


def check_only_substrate(only: Iterable[str] | None) -> tuple[str, ...] | None:
    """neo's rule: None = all; [] = nothing; unknown names refused, listing the valid ones."""
    if only is None:
        return None
    names = tuple(only)
    unknown = [n for n in names if n not in SUBSTRATES]
    if unknown:
        raise UsageError(f"Unknown substrate(s) in --only-substrate: {', '.join(unknown)}. Valid: {', '.join(SUBSTRATES)}")
    return names


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"Unknown mode: {mode}. Must be 'merge' or 'replace'.")
    return mode


def check_recovery(require: Iterable[str]) -> list[str]:
    """A guard's required substrates: at least one, each a recovery substrate, duplicates dropped."""
    out = list(dict.fromkeys(require))
    if not out:
        raise UsageError(f"the guard must require at least one substrate ({', '.join(RECOVERY_SUBSTRATES)})")
    bad = [s for s in out if s not in RECOVERY_SUBSTRATES]
    if bad:
        raise UsageError(f"unknown substrate for the guard: {bad[0]!r} (choose from {', '.join(RECOVERY_SUBSTRATES)})")
    return out
