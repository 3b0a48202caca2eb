"""The backup-first guard: pass only when every required substrate has a restorable copy younger than a
maximum age (#10780: "a backup < 24 h old" before anything risky); an override passes and is journaled."""

from __future__ import annotations

import getpass
import os
import shlex
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from core.bundle import BundleInfo, Listing, list_bundles
from core.datadir import DataDir
from core.errors import ConsoleError, UsageError
from core.substrates import RECOVERY_SUBSTRATES, check_recovery
from core.units import hours, iso_ms, parse_duration, precise_age
from core.wire import wire

GUARD_EXIT_OK, GUARD_EXIT_REFUSED = 0, 3
OVERRIDE_JOURNAL = "guard-overrides.jsonl"
DEFAULT_GUARD_MAX_AGE = timedelta(hours=24)  # #10780's "a backup < 24 h old"


@dataclass(frozen=True)
class GuardDefaults:
    """What the guard checks when the caller does not say: `[guard] max_age` / `require`, else 24 h and every
    recovery substrate."""

    max_age: timedelta
    require: tuple[str, ...]


def guard_defaults(dd: DataDir) -> GuardDefaults:
    path = dd.config_path
    table = dd.config_table("guard")
    unknown = sorted(set(table) - {"max_age", "require"})
    if unknown:
        raise UsageError(f"unknown key [guard] {unknown[0]} (known: max_age, require)", path=path)
    max_age = DEFAULT_GUARD_MAX_AGE
    if "max_age" in table:
        if not isinstance(table["max_age"], str):
            raise UsageError(f"[guard] max_age must be a duration string like \"24h\", got {table['max_age']!r}",
                             path=path)
        max_age = parse_duration(table["max_age"])
    require: tuple[str, ...] = RECOVERY_SUBSTRATES
    if "require" in table:
        value = table["require"]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"[guard] require must be a list of substrates, got {value!r}", path=path)
        require = tuple(value)
    return GuardDefaults(max_age, require)


def backup_command(dd: DataDir) -> str:
    """The exact command that takes a fresh bundle of this data dir, with every non-default location."""
    parts = ["recovery-console", "backup", "--data-dir", str(dd.root)]
    if dd.config_path is not None:
        parts += ["--config", str(dd.config_path)]
    if dd.backup_root != dd.root / "backups":
        parts += ["--backup-root", str(dd.backup_root)]
    if dd.graph_db != dd.root / "sqlite" / "memory-core-graph.sqlite":
        parts += ["--graph-db", str(dd.graph_db)]
    if dd.chroma_url:
        parts += ["--chroma-url", dd.chroma_url]
    elif dd.chroma_path != dd.root / "chroma" / "unified":
        parts += ["--chroma-path", str(dd.chroma_path)]
    return shlex.join(parts)


def _why_not_restorable(b: BundleInfo, s: str) -> str:
    sub = b.substrates.get(s)
    if b.error or (sub is not None and sub.error):
        return "could not be read"
    if b.meta_state == "absent":
        return "has no bundle-meta.json"
    if b.meta_state == "malformed":
        return f"has a malformed bundle-meta.json ({b.meta_error})"
    status = sub.integrity if sub else None
    if status is None:
        return f"has no {s} integrity entry (not captured)"
    if status != "pass":
        return f"has {s} integrity '{status}'"
    return f"has no {s} bytes on disk"


@dataclass(frozen=True, kw_only=True)
class GuardSubstrate:
    ok: bool
    newest_restorable: str | None
    age_hours: float | None
    problem: str | None


@dataclass(frozen=True, kw_only=True)
class GuardResult:
    ok: bool
    exit_code: int
    message: str
    max_age: timedelta = field(metadata=wire("maxAgeHours", encode=hours))
    require: tuple[str, ...]
    would_pass: bool  # what the check found, also when it was skipped
    skipped: bool = False
    journal: Path | None = None
    backup_command: str = ""
    substrates: Mapping[str, GuardSubstrate]


def record_override(dd: DataDir, entry: Mapping[str, object]) -> Path:
    """One JSON line per override, appended with a single O_APPEND write and fsynced."""
    dd.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = dd.state_dir / OVERRIDE_JOURNAL
    line = orjson.dumps(dict(entry)) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if os.write(fd, line) != len(line):
            raise ConsoleError("short write to the override journal", path=path)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container uid with no passwd entry
        return f"uid {os.getuid()}"


def guard(
    dd: DataDir,
    *,
    max_age: timedelta | None = None,
    require: Sequence[str] | None = None,
    skip: bool = False,
    now: datetime | None = None,
    reason: str | None = None,
    listing: Listing | None = None,
) -> GuardResult:
    """Pass only when every required substrate has a restorable copy younger than max_age.

    max_age and require default to `guard_defaults(dd)`. With skip, the result is ok whatever it found, and the
    override is appended to the journal. ``listing`` is a read of the backup root the caller already has.
    """
    defaults = guard_defaults(dd)
    max_age = defaults.max_age if max_age is None else max_age
    if max_age <= timedelta(0):
        raise UsageError("the guard's max age must be greater than zero")
    required = tuple(check_recovery(defaults.require if require is None else require))
    now = now or datetime.now(UTC)
    bundles = (listing or list_bundles(dd.backup_root)).bundles
    latest = bundles[0] if bundles else None
    details: dict[str, GuardSubstrate] = {}
    problems: list[str] = []
    for s in required:
        good = next((b for b in bundles if b.restorable(s)), None)
        if good is None:
            problem = "no restorable copy in any bundle"
            if latest is None:
                problem += f" (no bundles in {dd.backup_root})"
            else:
                problem += f"; the newest bundle {latest.name} {_why_not_restorable(latest, s)}"
            details[s] = GuardSubstrate(ok=False, newest_restorable=None, age_hours=None, problem=problem)
        else:
            age = now - good.time
            fresh = age <= max_age
            problem = None
            if not fresh:
                problem = (f"the newest restorable copy is {precise_age(hours(age))} old ({good.name}), "
                           f"older than {precise_age(hours(max_age))}")
                if latest is not None and latest.name != good.name:
                    problem += f"; the newest bundle {latest.name} {_why_not_restorable(latest, s)}"
            details[s] = GuardSubstrate(ok=fresh, newest_restorable=good.name, age_hours=hours(age), problem=problem)
        if details[s].problem:
            problems.append(f"  {s}: {details[s].problem}")
    would_pass = not problems
    command = backup_command(dd)
    limit = precise_age(hours(max_age))
    if would_pass:
        ages = ", ".join(f"{s} {precise_age(details[s].age_hours or 0)}" for s in required)
        verdict = f"backup guard ok: newest restorable copies are {ages} old (max {limit})"
    else:
        failing = [s for s in required if not details[s].ok]
        others = [s for s in required if details[s].ok]
        verdict = "\n".join([
            f"backup guard: no fresh restorable backup of {', '.join(failing)} (max age {limit})",
            *problems,
            f"  take one now: {command}",
            *([f"  if {', '.join(failing)} is empty on purpose, require only the rest: "
               f"recovery-console guard --require {','.join(others)}"] if others else []),
            f"  to run anyway: --skip-backup-check (recorded in {dd.state_dir / OVERRIDE_JOURNAL})",
        ])
    if not skip:
        return GuardResult(ok=would_pass, exit_code=GUARD_EXIT_OK if would_pass else GUARD_EXIT_REFUSED,
                           message=verdict, max_age=max_age, require=required, would_pass=would_pass,
                           backup_command=command, substrates=details)
    journal = record_override(dd, {
        "time": iso_ms(datetime.now(UTC)), "user": user_name(), "sudoUser": os.environ.get("SUDO_USER"),
        "uid": os.getuid(), "pid": os.getpid(), "host": socket.gethostname(),
        "reason": reason or "guard --skip-backup-check", "maxAgeHours": hours(max_age), "require": list(required),
        "wouldHavePassed": would_pass, "found": verdict,
    })
    message = (f"backup guard skipped by --skip-backup-check (recorded in {journal}); "
               + ("it would have passed" if would_pass else f"it would have refused:\n{verdict}"))
    return GuardResult(ok=True, exit_code=GUARD_EXIT_OK, message=message, max_age=max_age, require=required,
                       would_pass=would_pass, skipped=True, journal=journal, backup_command=command, substrates=details)
