"""Messages that thread workers post back to the UI.

Workers never touch widgets: they call ``post_message`` (thread-safe) with one of these. Progress messages can
replace a queued message of the same task, so a flood of engine ticks coalesces into the newest one; completion,
cancellation and failure messages never coalesce, so every one of them is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from core.progress import Progress
from core.status import RootStatus


@dataclass
class JobProgressed(Message):
    """A progress tick of a job (``backup``, ``verify``, ``scan``, ``restore``, ``prune``...)."""

    job: str
    progress: Progress

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, JobProgressed)
            and message.job == self.job
            and message.progress.task == self.progress.task
        )


@dataclass
class JobEvent(Message):
    """One line for the event log (never coalesced)."""

    job: str
    text: str
    level: str = "info"  # info | warning | error


@dataclass
class JobFinished(Message):
    """A job ended with a result (never coalesced)."""

    job: str
    result: object  # the engine's result (a Scan, Plan, BackupResult, RestoreResult, ...): each screen narrows it
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class JobCancelled(Message):
    """A job stopped between batches because the operator cancelled it (never coalesced)."""

    job: str
    detail: str = ""


@dataclass
class JobFailed(Message):
    """A job raised; ``error`` is what the operator sees (never coalesced)."""

    job: str
    error: str


@dataclass
class BundlesLoaded(Message):
    """One read of the backup root: the listing, its retention evaluation and the backup guard's answer (or why
    those could not be evaluated: the listing still shows)."""

    status: RootStatus


@dataclass
class GuardChecked(Message):
    """The backup guard's answer for a replace confirm: ``text`` is its message, or why it could not run."""

    ok: bool
    text: str
