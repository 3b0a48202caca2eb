"""What a post-restore verification found: the result types (``core.verify_run`` runs the checks).

Plain frozen dataclasses, low in the layers so a restore's result can carry one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

CHECKS = ("counts", "untouched", "integrity", "vectors", "flat")


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    status: str  # passed | failed | skipped
    summary: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class KeyCheck:
    """One node label, edge type or collection: the rows the run inserted that are present now, beside what the
    run reported inserting and what its plan predicted."""

    kind: str  # nodes | edges | chroma
    key: str
    present: int
    reported: int | None
    planned: int | None

    __wire__: ClassVar = ("kind", "key", "present", "reported", "planned", "ok")

    @property
    def ok(self) -> bool:
        return (self.reported is None or self.present == self.reported) and \
            (self.planned is None or self.present == self.planned)


@dataclass(frozen=True, kw_only=True)
class VectorCheck:
    collection: str
    space: str
    sampled: int
    answered: int
    misses: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Verification:
    run_id: str
    status: str  # passed | failed | undone (the run's rows were removed by undo: nothing to verify)
    checked_at: str
    at_run: bool  # taken as the run ended (False: later, by verify-run)
    sample_size: int
    checks: tuple[Check, ...]
    counts: tuple[KeyCheck, ...] = ()
    vectors: tuple[VectorCheck, ...] = ()
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "failed")


TIE = 1e-5  # distances this close are one distance (float32 vectors, cosine)


def answers_itself(rid: str, hits: list[tuple[str, float]]) -> bool:
    """A query by a row's own vector: the row comes first, or ties the first (another row holds the same
    vector)."""
    if not hits:
        return False
    if hits[0][0] == rid:
        return True
    first = hits[0][1]
    return any(r == rid and abs(d - first) <= TIE * max(1.0, abs(first)) for r, d in hits)
