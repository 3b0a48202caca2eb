"""A composite restore: each substrate from the newest bundle in which it is restorable, in one run.

neo's August incident: for 35 days the newest bundles held an empty KB export while memories and the graph were
fine. The right recovery takes kb from the last bundle where it was restorable and the rest from the newest;
``choose`` finds exactly that, per substrate, and says why every newer bundle was passed over:

- kb, mc and graph: the newest bundle (no newer than ``at``) whose substrate is *verified*, or *claimed* and then
  verified here, before the first write; never empty, failed, collapsed or behind a malformed meta;
- the flat substrates (concepts, trajectories, mailbox): the newest bundle with a valid meta that holds their
  files (they carry no integrity entry to judge);
- ``overrides`` (``--source kb=BUNDLE``) name a substrate's bundle; it must still be restorable.

The restore itself is the one restore path (``core.restore.run_restore`` with ``RestoreOptions.sources``): one
run, one journal, one undo. ``plan_sources`` builds its plan: each source bundle's plan for the substrates it
gives, put together as one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.bundle import (
    BundleInfo,
    Listing,
    inspect_bundle,
    list_root,
    parse_bundle_time,
    resolve_bundle,
    verify_cache,
)
from core.datadir import DataDir
from core.errors import UsageError
from core.live_scan import scan_bundle
from core.plan import Plan, Scan, build_plan
from core.progress import ProgressFn, check_cancel, no_progress
from core.restorability import State
from core.restore_model import RestoreOptions
from core.substrates import BACKED_UP, RECOVERY_SUBSTRATES, REQUIRED_SUBDIRS, VECTOR_SUBSTRATES
from core.units import iso_ms
from core.verify import verify_bundle
from core.wire import wire

COMPOSE_FILE = "compose.json"  # a composite run's choice of sources and the reasons, kept in its run dir
# neo's capture sources behind each recovery substrate (the graph has none)


@dataclass(frozen=True, kw_only=True)
class PassedOver:
    bundle: str
    why: str


@dataclass(frozen=True, kw_only=True)
class Choice:
    substrate: str
    bundle: str | None  # None: no bundle holds a restorable copy
    path: Path | None = field(default=None, metadata=wire(skip=True))
    state: str | None  # verified (earlier, or now before the first write) | present (a flat substrate)
    why: str
    passed_over: tuple[PassedOver, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Composition:
    at: str | None
    choices: tuple[Choice, ...]
    newer_than_at: int = 0  # bundles left out because they are newer than `at`
    warnings: tuple[str, ...] = ()

    @property
    def sources(self) -> dict[str, Path]:
        return {c.substrate: c.path for c in self.choices if c.path is not None}

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c.substrate for c in self.choices if c.path is None)

    @property
    def primary(self) -> Path | None:
        """The newest source bundle: what a single-bundle view (a title, the journal's `bundle`) names."""
        paths = sorted(self.sources.values(), key=lambda p: p.name, reverse=True)
        return paths[0] if paths else None

    def choice(self, substrate: str) -> Choice | None:
        return next((c for c in self.choices if c.substrate == substrate), None)

    def record(self) -> dict[str, object]:
        """What the run dir keeps (``compose.json``) for the incident report."""
        return {"at": self.at, "why": {c.substrate: c.why for c in self.choices},
                "passed": {c.substrate: {p.bundle: p.why for p in c.passed_over} for c in self.choices},
                "newerThanAt": self.newer_than_at, "warnings": list(self.warnings)}


def describe_sources(sources: Mapping[str, Path]) -> str:
    """``kb ← backup-…; mc, graph ← backup-…``: which substrate comes from which bundle, newest bundle first."""
    by_bundle: dict[str, list[str]] = {}
    for sub in BACKED_UP:
        if sub in sources:
            by_bundle.setdefault(sources[sub].name, []).append(sub)
    return "; ".join(f"{', '.join(subs)} ← {name}" for name, subs in sorted(by_bundle.items(), reverse=True))


def parse_at(text: str, dd: DataDir | None = None) -> datetime:
    """``--at``: an ISO 8601 time (``2026-05-10T01:00Z``, a date: local time unless it says), or a bundle as
    ``restore`` names one (its name, its path, ``latest``): that bundle's time."""
    t = parse_bundle_time(text) if text.startswith("backup-") else None
    if t is not None:
        return t
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        if dd is not None:
            try:
                t = parse_bundle_time(resolve_bundle(dd.backup_root, text).name)
            except UsageError:
                t = None
            if t is not None:
                return t
        raise UsageError(f"--at must be an ISO 8601 time or a bundle, got {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.now().astimezone().tzinfo)


def parse_sources(text: str, dd: DataDir) -> dict[str, Path]:
    """``--source kb=BUNDLE,mc=BUNDLE``: each substrate's bundle (a name, a path or `latest`)."""
    out: dict[str, Path] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        sub, sep, ref = part.partition("=")
        if not sep or sub.strip() not in BACKED_UP or not ref.strip():
            raise UsageError(f"--source takes SUBSTRATE=BUNDLE pairs ({', '.join(BACKED_UP)}), got {part!r}")
        out[sub.strip()] = resolve_bundle(dd.backup_root, ref.strip())
    return out


def judge(b: BundleInfo, substrate: str) -> tuple[str, str | None]:
    """(state, why not) from the one answer every look gives (``core.restorability``): verified, claimed,
    failed or not-restorable, with the reason it does not count."""
    answer = b.answer(substrate)
    if answer.counts:
        return answer.state.value, None
    return answer.state.value, f"{substrate} {answer.word}: {answer.reason}" if answer.word else answer.reason


class _Verifier:
    """A claimed copy read in full before it is chosen, through the data dir's verify cache (so a bundle is
    read at most once, here or by any earlier look), and looked at again with what that read found."""

    def __init__(self, dd: DataDir, on_progress: ProgressFn, cancel: threading.Event | None) -> None:
        self.cache = verify_cache(dd)
        self.on_progress, self.cancel = on_progress, cancel
        self.seen: dict[Path, BundleInfo] = {}

    def problem(self, b: BundleInfo, substrate: str) -> str | None:
        if b.path not in self.seen:
            verify_bundle(b.path, on_progress=self.on_progress, cancel=self.cancel, cache=self.cache)
            self.seen[b.path] = inspect_bundle(b.path, cache=self.cache)
        state, why = judge(self.seen[b.path], substrate)
        return None if state == State.VERIFIED.value else (why or f"{substrate} {state}")


def _choose_recovery(sub: str, bundles: Sequence[BundleInfo], verifier: _Verifier, at_text: str) -> Choice:
    passed: list[PassedOver] = []
    for b in bundles:
        check_cancel(verifier.cancel)
        state, why = judge(b, sub)
        if state == State.VERIFIED.value:
            return Choice(substrate=sub, bundle=b.name, path=b.path, state="verified",
                          why=f"the newest bundle{at_text} where {sub} is restorable (verified: the verify cache "
                              "holds a pass for these exact files)", passed_over=tuple(passed))
        if state == State.CLAIMED.value:
            problem = verifier.problem(b, sub)
            if problem is None:
                return Choice(substrate=sub, bundle=b.name, path=b.path, state="verified",
                              why=f"the newest bundle{at_text} where {sub} is restorable (verified before the "
                                  "first write)", passed_over=tuple(passed))
            why = f"{sub} failed verification: {problem}"
        passed.append(PassedOver(bundle=b.name, why=why or state))
    return Choice(substrate=sub, bundle=None, state=None,
                  why=f"no bundle{at_text} holds a restorable {sub}", passed_over=tuple(passed))


def _choose_flat(sub: str, bundles: Sequence[BundleInfo], at_text: str) -> Choice:
    passed: list[PassedOver] = []
    for b in bundles:
        info = b.substrates.get(sub)
        if b.meta_state != "valid" or b.error:
            passed.append(PassedOver(bundle=b.name, why="no valid bundle-meta.json" if b.meta_state != "valid"
                                     else f"could not be read ({b.error})"))
        elif info is None or info.bytes <= 0:
            passed.append(PassedOver(bundle=b.name, why=f"holds no {sub} file"))
        else:
            return Choice(substrate=sub, bundle=b.name, path=b.path, state="present",
                          why=f"the newest complete bundle{at_text} that holds {sub}", passed_over=tuple(passed))
    if sub not in REQUIRED_SUBDIRS:  # optional in neo's bundles (mailbox, ledgers): nothing to restore, not a fault
        return Choice(substrate=sub, bundle=None, state=None,
                      why=f"no complete bundle{at_text} holds {sub} (optional: not restored)")
    return Choice(substrate=sub, bundle=None, state=None, why=f"no complete bundle{at_text} holds {sub}",
                  passed_over=tuple(passed))


def choose(dd: DataDir, substrates: Sequence[str] | None = None, *, at: datetime | None = None,
           overrides: Mapping[str, Path] | None = None, listing: Listing | None = None,
           on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None) -> Composition:
    """Per substrate (default: every substrate a backup captures), the bundle a composite restore takes it from.

    A claimed copy is verified here (a full pass over that bundle, once per bundle), so a torn file is passed
    over for the next older copy instead of refusing the restore later.
    """
    subs = list(substrates if substrates is not None else BACKED_UP)
    unknown = [s for s in subs if s not in BACKED_UP]
    if unknown:
        raise UsageError(f"a composite restore takes {', '.join(BACKED_UP)}; not {', '.join(unknown)}")
    overrides = dict(overrides or {})
    listing = listing or list_root(dd)
    bundles = [b for b in listing.bundles if at is None or b.time <= at]
    at_text = f" at or before {iso_ms(at)}" if at is not None else ""
    verifier = _Verifier(dd, on_progress, cancel)
    by_path = {b.path.resolve(): b for b in listing.bundles}
    choices: list[Choice] = []
    for sub in subs:
        if sub in overrides:
            b = by_path.get(overrides[sub].resolve())
            if b is None:
                raise UsageError(f"--source {sub}: {overrides[sub]} is not a bundle of {dd.backup_root}")
            if sub in RECOVERY_SUBSTRATES:
                state, why = judge(b, sub)
                problem = why if state not in ("claimed", "verified") else (
                    None if state == "verified" else verifier.problem(b, sub))
                if problem is not None:
                    raise UsageError(f"--source {sub}={b.name}: {sub} is not restorable there: {problem}")
            choices.append(Choice(substrate=sub, bundle=b.name, path=b.path,
                                  state="verified" if sub in RECOVERY_SUBSTRATES else "present",
                                  why="named by --source"))
        elif sub in RECOVERY_SUBSTRATES:
            choices.append(_choose_recovery(sub, bundles, verifier, at_text))
        else:
            choices.append(_choose_flat(sub, bundles, at_text))
    return Composition(at=iso_ms(at) if at else None, choices=tuple(choices),
                       newer_than_at=len(listing.bundles) - len(bundles), warnings=tuple(mix_warnings(choices, by_path)))


def _dimension(b: BundleInfo) -> int | None:
    emb = (b.meta or {}).get("embedding")
    dim = emb.get("dimension") if isinstance(emb, Mapping) else None
    return dim if isinstance(dim, int) and not isinstance(dim, bool) else None


def _model(b: BundleInfo) -> str | None:
    emb = (b.meta or {}).get("embedding")
    consumer = emb.get("expectedConsumer") if isinstance(emb, Mapping) else None
    model = consumer.get("model") if isinstance(consumer, Mapping) else None
    return str(model) if model else None


def mix_warnings(choices: Sequence[Choice], by_path: Mapping[Path, BundleInfo]) -> list[str]:
    """What the chosen bundles' metas say about mixing them (the restore's validation refuses a dimension mix)."""
    vector = [(c.substrate, by_path.get(c.path.resolve())) for c in choices
              if c.path is not None and c.substrate in VECTOR_SUBSTRATES]
    dims = {sub: _dimension(b) for sub, b in vector if b is not None and _dimension(b) is not None}
    models = {sub: _model(b) for sub, b in vector if b is not None and _model(b) is not None}
    out: list[str] = []
    if len(set(dims.values())) > 1:
        out.append("embedding dimension differs between the chosen bundles (" + ", ".join(
            f"{s} {d}" for s, d in dims.items()) + "): one Chroma cannot hold both; the restore refuses this mix")
    if len(set(models.values())) > 1:
        out.append("the chosen bundles name different embedding models (" + ", ".join(
            f"{s} {m}" for s, m in models.items()) + "): neo only advises against it; check before restoring")
    return out


# ------------------------------------------------------------------------------------------------ the plan


def merge_plans(parts: Mapping[str, Plan], only: tuple[str, ...], primary: Path) -> Plan:
    """One plan from each source bundle's plan, each of which selected only the substrates it gives."""
    any_plan = next(iter(parts.values()))
    graph, mc, kb = parts.get("graph"), parts.get("mc"), parts.get("kb")
    flat = {}
    for sub, fp in any_plan.flat.items():
        own = parts.get(sub)
        flat[sub] = own.flat[sub] if own is not None and sub in own.flat else fp
    warnings: list[str] = []
    for p in {id(p): p for p in parts.values()}.values():
        warnings += [w for w in p.warnings if w not in warnings]
    return Plan(bundle=primary, mode=any_plan.mode, force=any_plan.force, filters=any_plan.filters,
                only_substrate=only, graph=(graph or any_plan).graph, memories=(mc or any_plan).memories,
                summaries=(mc or any_plan).summaries,
                temporal_summaries=(mc or any_plan).temporal_summaries, kb=(kb or any_plan).kb, flat=flat,
                warnings=tuple(warnings))


def plan_sources(dd: DataDir, sources: Mapping[str, Path], opts: RestoreOptions, *,
                 on_progress: ProgressFn = no_progress, cancel: threading.Event | None = None,
                 scan: Callable[..., Scan] = scan_bundle) -> Plan:
    """The plan of a composite restore: one scan per source bundle, each planned for the substrates it gives."""
    by_bundle: dict[Path, list[str]] = {}
    for sub, path in sources.items():
        by_bundle.setdefault(path, []).append(sub)
    parts: dict[str, Plan] = {}
    for path, subs in by_bundle.items():
        scanned = scan(dd, path, on_progress=on_progress, cancel=cancel)
        p = build_plan(scanned, opts.filters, tuple(subs), opts.mode, opts.force)
        for sub in subs:
            parts[sub] = p
    only = tuple(s for s in BACKED_UP if s in sources) + tuple(s for s in sources if s not in BACKED_UP)
    primary = sorted(sources.values(), key=lambda p: p.name, reverse=True)[0]
    return merge_plans(parts, only, primary)

