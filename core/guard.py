"""The backup-first guard: pass only when every required substrate has a restorable copy younger than a
maximum age (#10780: "a backup < 24 h old" before anything risky); an override passes and is journaled.

It answers from *verified* state (issue 16), as neo's restorability probe reads rows before it says yes: per
required substrate it takes the newest bundle that is not failed, verifies it fully unless the verify cache holds
a result for exactly its files, and walks on to the next one if that fails. A warm cache makes it a look at
metas and file stats; a cold one costs one bundle's read per required substrate (a bundle read once serves every
substrate), never the root. ``verify=False`` answers from claimed state and says so.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from core.bundle import BundleInfo, Listing, inspect_bundle, list_root, verify_cache
from core.datadir import DataDir
from core.errors import ConsoleError, UsageError
from core.progress import ProgressFn, no_progress
from core.restorability import State
from core.substrates import RECOVERY_SUBSTRATES, check_recovery
from core.units import hours, iso_ms, parse_duration, precise_age
from core.verify import RESTORABLE, verify_bundle
from core.verify_cache import VerifyCache
from core.wire import wire

GUARD_EXIT_OK, GUARD_EXIT_REFUSED = 0, 3
OVERRIDE_JOURNAL = "guard-overrides.jsonl"
DEFAULT_GUARD_MAX_AGE = timedelta(hours=24)  # #10780's "a backup < 24 h old"
MAX_READS = 5  # bundles one guard verifies at most (neo's restorabilityScanLimit default)
MAX_PASSED_OVER = 5  # newer bundles named per substrate when the walk went past them


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
    return shlex.join(["recovery-console", "backup", *dd.location_args()])


def _why_not_restorable(b: BundleInfo, s: str) -> str:
    answer = b.answer(s)
    sub = b.substrates.get(s)
    if answer.state is State.FAILED:
        return f"failed ({answer.word}): {answer.reason}"
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
    if answer.word == "collapsed":
        return f"is not a recovery source: {answer.reason}"
    if answer.state is State.CLAIMED:
        return "is claimed by its meta but was not verified"
    return f"has no {s} bytes on disk"


@dataclass(frozen=True, kw_only=True)
class PassedOver:
    """A newer bundle the guard's walk went past for a substrate, and why."""

    bundle: str
    state: str  # failed | not-restorable
    why: str


@dataclass(frozen=True, kw_only=True)
class GuardSubstrate:
    ok: bool
    newest_restorable: str | None
    age_hours: float | None
    problem: str | None
    state: str | None = None  # verified | claimed: what newest_restorable is known to be
    verified_by: str | None = None  # "read now" | "verify cache"; None when only claimed
    verify_seconds: float | None = None  # how long this guard's read of newest_restorable took
    passed_over: tuple[PassedOver, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GuardRead:
    """A bundle this guard verified in full, its verdict and how long that took."""

    bundle: str
    verdict: str
    seconds: float


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
    verify: bool = True  # answered from verified state (False: --no-verify, from what the metas claim)
    reads: tuple[GuardRead, ...] = ()  # the bundles this guard read, newest first


class _Walk:
    """The bundles as the guard sees them, re-looked at after each verify it runs."""

    def __init__(self, bundles: Sequence[BundleInfo], cache: VerifyCache, now: datetime, on_progress: ProgressFn,
                 cancel: threading.Event | None) -> None:
        self.bundles = bundles
        self.cache = cache
        self.now = now
        self.on_progress = on_progress
        self.cancel = cancel
        self.fresh: dict[str, BundleInfo] = {}
        self.reads: list[GuardRead] = []
        self.faults: dict[str, str] = {}  # bundle -> why its read did not verify it

    def current(self, b: BundleInfo) -> BundleInfo:
        return self.fresh.get(b.name, b)

    def read(self, b: BundleInfo) -> BundleInfo | None:
        """Verify ``b`` fully (recording the result) and look at it again; None once MAX_READS are spent."""
        if len(self.reads) >= MAX_READS:
            return None
        started = time.monotonic()
        res = verify_bundle(b.path, on_progress=self.on_progress, cancel=self.cancel, cache=self.cache)
        self.reads.append(GuardRead(bundle=b.name, verdict=res.verdict, seconds=round(time.monotonic() - started, 3)))
        if res.verdict != RESTORABLE:
            first = res.errors[0] if res.errors else (res.warnings[0] if res.warnings else None)
            self.faults[b.name] = f"verify: {res.verdict}" + (f": {first}" if first else "")
        self.fresh[b.name] = inspect_bundle(b.path, now=self.now, cache=self.cache)
        return self.fresh[b.name]

    def seconds(self, name: str) -> float | None:
        return next((r.seconds for r in self.reads if r.bundle == name), None)


def _newest_copy(walk: _Walk, s: str, verify: bool, max_age: timedelta) -> tuple[BundleInfo | None, str | None,
                                                                                   list[PassedOver], str | None]:
    """(the newest copy the guard vouches for, its state, the newer bundles walked past, why the walk stopped)."""
    passed: list[PassedOver] = []
    for b0 in walk.bundles:
        b = walk.current(b0)
        answer = b.answer(s)
        if not answer.counts:
            passed.append(PassedOver(bundle=b.name, state=answer.state.value, why=_why_not_restorable(b, s)))
            continue
        if not verify or answer.state is State.VERIFIED:
            return b, answer.state.value, passed, None
        if walk.now - b.time > max_age:  # too old to pass whatever a read finds: not worth reading
            return b, answer.state.value, passed, None
        again = walk.read(b)
        if again is None:
            return None, None, passed, f"stopped after verifying {MAX_READS} bundles"
        answer = again.answer(s)
        if answer.state is State.VERIFIED:
            return again, answer.state.value, passed, None
        why = (f"failed ({answer.word}): {answer.reason}" if answer.state is State.FAILED
               else walk.faults.get(b.name, _why_not_restorable(again, s)))
        passed.append(PassedOver(bundle=b.name, state=State.FAILED.value, why=why))
    return None, None, passed, None


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
    verify: bool = True,
    on_progress: ProgressFn = no_progress,
    cancel: threading.Event | None = None,
) -> GuardResult:
    """Pass only when every required substrate has a verified copy younger than max_age (a claimed one with
    ``verify=False``).

    max_age and require default to `guard_defaults(dd)`. With skip, the result is ok whatever it found, and the
    override is appended to the journal. ``listing`` is a read of the backup root the caller already has.
    """
    defaults = guard_defaults(dd)
    max_age = defaults.max_age if max_age is None else max_age
    if max_age <= timedelta(0):
        raise UsageError("the guard's max age must be greater than zero")
    required = tuple(check_recovery(defaults.require if require is None else require))
    now = now or datetime.now(UTC)
    listing = listing or list_root(dd, now=now)
    walk = _Walk(listing.bundles, verify_cache(dd), now, on_progress, cancel)
    latest = listing.bundles[0] if listing.bundles else None
    details: dict[str, GuardSubstrate] = {}
    problems: list[str] = []
    for s in required:
        good, state, passed, stopped = _newest_copy(walk, s, verify, max_age)
        shown = tuple(passed[:MAX_PASSED_OVER])
        if good is None:
            problem = "no restorable copy in any bundle"
            if latest is None:
                problem += f" (no bundles in {dd.backup_root})"
            else:
                problem += f"; the newest bundle {latest.name} {_why_not_restorable(walk.current(latest), s)}"
            if stopped:
                problem += f"; {stopped}"
            details[s] = GuardSubstrate(ok=False, newest_restorable=None, age_hours=None, problem=problem,
                                        passed_over=shown)
        else:
            age = now - good.time
            fresh = age <= max_age
            problem = None
            if not fresh:
                problem = (f"the newest restorable copy is {precise_age(hours(age))} old ({good.name}), "
                           f"older than {precise_age(hours(max_age))}")
                if latest is not None and latest.name != good.name:
                    problem += f"; the newest bundle {latest.name} {_why_not_restorable(walk.current(latest), s)}"
            seconds = walk.seconds(good.name)
            by = None if state != State.VERIFIED.value else ("read now" if seconds is not None else "verify cache")
            details[s] = GuardSubstrate(ok=fresh, newest_restorable=good.name, age_hours=hours(age), problem=problem,
                                        state=state, verified_by=by, verify_seconds=seconds, passed_over=shown)
        if details[s].problem:
            problems.append(f"  {s}: {details[s].problem}")
    would_pass = not problems
    command = backup_command(dd)
    limit = precise_age(hours(max_age))
    if would_pass:
        ages = ", ".join(f"{s} {precise_age(details[s].age_hours or 0)}" for s in required)
        verdict = "\n".join([f"backup guard ok: newest restorable copies are {ages} old (max {limit})",
                             *_provenance(details, required, verify)])
    else:
        failing = [s for s in required if not details[s].ok]
        others = [s for s in required if details[s].ok]
        verdict = "\n".join([
            f"backup guard: no fresh restorable backup of {', '.join(failing)} (max age {limit})",
            *problems,
            *([] if verify else ["  answered from what the metas claim (--no-verify): nothing was read"]),
            f"  take one now: {command}",
            *([f"  if {', '.join(failing)} is empty on purpose, require only the rest: "
               f"recovery-console guard --require {','.join(others)}"] if others else []),
            f"  to run anyway: --skip-backup-check (recorded in {dd.state_dir / OVERRIDE_JOURNAL})",
        ])
    reads = tuple(walk.reads)
    if not skip:
        return GuardResult(ok=would_pass, exit_code=GUARD_EXIT_OK if would_pass else GUARD_EXIT_REFUSED,
                           message=verdict, max_age=max_age, require=required, would_pass=would_pass,
                           backup_command=command, substrates=details, verify=verify, reads=reads)
    journal = record_override(dd, {
        "time": iso_ms(datetime.now(UTC)), "user": user_name(), "sudoUser": os.environ.get("SUDO_USER"),
        "uid": os.getuid(), "pid": os.getpid(), "host": socket.gethostname(),
        "reason": reason or "guard --skip-backup-check", "maxAgeHours": hours(max_age), "require": list(required),
        "wouldHavePassed": would_pass, "found": verdict,
    })
    message = (f"backup guard skipped by --skip-backup-check (recorded in {journal}); "
               + ("it would have passed" if would_pass else f"it would have refused:\n{verdict}"))
    return GuardResult(ok=True, exit_code=GUARD_EXIT_OK, message=message, max_age=max_age, require=required,
                       would_pass=would_pass, skipped=True, journal=journal, backup_command=command, substrates=details,
                       verify=verify, reads=reads)


def _provenance(details: Mapping[str, GuardSubstrate], required: Sequence[str], verify: bool) -> list[str]:
    """How the guard knows each copy it vouches for, one line per bundle, and what its walk went past."""
    if not verify:
        return ["  claimed by their metas, not verified (--no-verify): nothing was read"]
    by_bundle: dict[tuple[str, str], list[str]] = {}
    for s in required:
        d = details[s]
        if d.newest_restorable is not None:
            how = "read in full now" if d.verified_by == "read now" else "from the verify cache"
            by_bundle.setdefault((d.newest_restorable, how), []).append(s)
    lines = [f"  verified {', '.join(subs)}: {name}, {how}" for (name, how), subs in by_bundle.items()]
    seen: set[str] = set()
    for s in required:
        for p in details[s].passed_over:
            if p.state == State.FAILED.value and p.bundle not in seen:
                seen.add(p.bundle)
                lines.append(f"  walked past {p.bundle}: {p.why}")
    return lines
