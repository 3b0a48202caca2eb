"""neo's heavy-maintenance lease: one JSON file neo's backup, defrag, Dream and other heavy jobs hold while they
run (``heavyMaintenanceLeasePrimitives.mjs``). The console reads it so that its own backup and restore do not
start under a heavy neo job; it never writes, renews or removes it.

The console's rule for "held" (deliberately not neo's own, see the README "neo's heavy-maintenance lease"):

- no file: free;
- a file that cannot be read or is not a lease (not JSON, not an object, no ``owner``): held by an unknown
  holder. neo itself would reclaim it; the console cannot tell a half-written lease from a broken one;
- a lease whose deadline has passed (``expiresAt``, else ``acquiredAt + staleAfterMs``): expired, not held.
  neo's acquirers reclaim such a lease themselves; time is the one test that means the same inside and outside
  neo's container;
- otherwise held, also without a deadline, and also when its pid is not running on this host: neo runs in a
  container whose hostname (``bootId``) and pids are not the host's, so "no such pid here" or "another host
  wrote it" proves nothing from the console's side. The pid is checked only as evidence for the operator's
  message; ``--ignore-neo-lease`` is the way past a lease the operator knows is dead, and is journaled.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FREE, HELD, EXPIRED, UNREADABLE = "free", "held", "expired", "unreadable"
MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class LeaseHolder:
    owner: str
    reason: str | None
    pid: int | None
    boot_id: str | None
    acquired_at: str | None
    expires_at: str | None
    renewed_at: str | None
    metadata: Mapping[str, Any]

    @property
    def label(self) -> str:
        parts = [f"'{self.owner}'"]
        if self.reason:
            parts.append(f"reason={self.reason}")
        if self.pid is not None:
            parts.append(f"pid={self.pid}")
        if self.boot_id:
            parts.append(f"host={self.boot_id}")
        if self.acquired_at:
            parts.append(f"since {self.acquired_at}")
        if self.expires_at:
            parts.append(f"until {self.expires_at}")
        script = self.metadata.get("script") or self.metadata.get("source")
        if isinstance(script, str):
            parts.append(f"({script})")
        return " ".join(parts)


@dataclass(frozen=True)
class NeoLease:
    path: Path
    status: str  # free | held | expired | unreadable
    holder: LeaseHolder | None = None
    evidence: str | None = None  # what the console could check about the holder, for the operator

    @property
    def blocks(self) -> bool:
        """Must a console backup or restore wait (or be told --ignore-neo-lease)?"""
        return self.status in (HELD, UNREADABLE)

    def describe(self) -> str:
        if self.status == FREE:
            return "neo's heavy-maintenance lease is free"
        if self.status == UNREADABLE:
            return f"neo's heavy-maintenance lease at {self.path} cannot be read ({self.evidence}): holder unknown"
        assert self.holder is not None
        text = f"neo's heavy-maintenance lease is held by {self.holder.label}"
        if self.status == EXPIRED:
            text = f"neo's heavy-maintenance lease held by {self.holder.label} has expired (neo reclaims it)"
        return f"{text}; {self.evidence}" if self.evidence else text


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _deadline(doc: Mapping[str, Any]) -> datetime | None:
    expires = _parse_time(doc.get("expiresAt"))
    if expires is not None:
        return expires
    acquired = _parse_time(doc.get("acquiredAt"))
    ttl = doc.get("staleAfterMs")
    if acquired is None or not isinstance(ttl, int | float) or isinstance(ttl, bool):
        return None
    try:
        return acquired + timedelta(milliseconds=float(ttl))
    except OverflowError:
        return None


def pid_evidence(pid: int | None, boot_id: str | None, hostname: str) -> str:
    """What this host can say about the holder's process: evidence for a person, never a verdict."""
    if boot_id and boot_id != hostname:
        return f"written on host '{boot_id}' (this is '{hostname}'): its pid cannot be checked from here"
    if pid is None or pid <= 0:
        return "no pid recorded"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return (f"no process {pid} on this host: a holder that died here, or a neo whose pids this host cannot "
                "see (a container)")
    except PermissionError:
        pass
    except OSError:
        return f"pid {pid} cannot be checked"
    return f"process {pid} is running on this host"


def read_lease(path: Path, *, now: datetime | None = None, hostname: str | None = None) -> NeoLease:
    now = now or datetime.now(UTC)
    hostname = hostname if hostname is not None else socket.gethostname()
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES)
    except FileNotFoundError:
        return NeoLease(path, FREE)
    except OSError as exc:
        return NeoLease(path, UNREADABLE, evidence=exc.strerror or type(exc).__name__)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return NeoLease(path, UNREADABLE, evidence="not JSON: half-written or damaged")
    if not isinstance(doc, dict) or not isinstance(doc.get("owner"), str) or not doc["owner"]:
        return NeoLease(path, UNREADABLE, evidence="not a lease: no owner")
    pid = doc.get("pid")
    pid = pid if isinstance(pid, int) and not isinstance(pid, bool) else None
    boot_id = doc.get("bootId") if isinstance(doc.get("bootId"), str) else None
    raw_meta = doc.get("metadata")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    holder = LeaseHolder(
        owner=doc["owner"], reason=doc.get("reason") if isinstance(doc.get("reason"), str) else None,
        pid=pid, boot_id=boot_id or None,
        acquired_at=doc.get("acquiredAt") if isinstance(doc.get("acquiredAt"), str) else None,
        expires_at=doc.get("expiresAt") if isinstance(doc.get("expiresAt"), str) else None,
        renewed_at=doc.get("renewedAt") if isinstance(doc.get("renewedAt"), str) else None,
        metadata=meta,
    )
    deadline = _deadline(doc)
    if deadline is not None and now >= deadline:
        return NeoLease(path, EXPIRED, holder, f"its deadline {deadline.isoformat()} has passed")
    evidence = pid_evidence(pid, holder.boot_id, hostname)
    if deadline is None:
        evidence = f"it records no deadline; {evidence}"
    return NeoLease(path, HELD, holder, evidence)
