"""The incident report of a restore run: a self-contained record to hand over, as Markdown or JSON.

It gathers what the run's journal, its verification and the backup root say: where (data dir, host, the
stores' locations), who and when, the bundles around the incident with their counts per substrate, the sources
chosen and why, the filters and options, the plan, the counters applied, the verification, the guard overrides
taken in the window, the undo state, and the exact commands that reproduce the run.

The Markdown renders on GitHub as it is: tables, no terminal colour code, and every string that comes from data
escaped (``md``: the terminal controls made visible by ``core.safetext.visible``, then the characters Markdown
or HTML would read: ``\\ | * _ ` [ ] < > &``, and a ``#`` or ``-`` that would start a block). Commands sit in
fenced code blocks whose fence is longer than any backtick run inside them.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from core.bundle import BundleInfo, list_bundles
from core.command_line import command, options_from_record, restore_command
from core.compose import COMPOSE_FILE
from core.datadir import DataDir
from core.guard import OVERRIDE_JOURNAL
from core.journal import RunRecord, current_user, get_run
from core.restore_model import EXPECTED_FILE
from core.run_digest import read_json
from core.safetext import visible
from core.substrates import RECOVERY_SUBSTRATES
from core.units import iso_ms
from core.verify_run import last_verification

WINDOW_OLDER = 3  # bundles older than the oldest source shown in the timeline
MAX_TIMELINE = 14
OVERRIDE_WINDOW = timedelta(hours=24)  # guard overrides from this long before the run until the report


@dataclass(frozen=True, kw_only=True)
class TimelineBundle:
    name: str
    time: str
    rows: Mapping[str, int | None]  # per recovery substrate, as the bundle's meta counts them
    restorable: Mapping[str, bool]
    role: str  # what this bundle was to the run: a source, passed over (why), after the run, …


@dataclass(frozen=True, kw_only=True)
class Source:
    substrate: str
    bundle: str
    why: str


@dataclass(frozen=True, kw_only=True)
class IncidentReport:
    run_id: str
    generated_at: str
    generated_by: str
    data_dir: str
    host: str  # where the run ran
    locations: Mapping[str, str]
    user: str | None
    started_at: str
    ended_at: str | None
    status: str
    mode: str
    error: str | None
    options: Mapping[str, object]
    sources: tuple[Source, ...]
    timeline: tuple[TimelineBundle, ...]
    plan: Mapping[str, object] | None
    applied: Mapping[str, object]
    verification: Mapping[str, object] | None
    guard_overrides: tuple[Mapping[str, object], ...]
    safety_bundle: str | None
    undo: Mapping[str, object] | None
    commands: tuple[str, ...]
    command_notes: tuple[str, ...] = ()


def _parse(t: str | None) -> datetime | None:
    if not t:
        return None
    try:
        parsed = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rows(b: BundleInfo) -> dict[str, int | None]:
    out: dict[str, int | None] = dict.fromkeys(RECOVERY_SUBSTRATES)
    entries = (b.meta or {}).get("integrity")
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and e.get("subsystem") in out and isinstance(e.get("bundleCount"), int):
            out[str(e["subsystem"])] = int(e["bundleCount"])
    return out


def _sources(rec: RunRecord, compose: Mapping[str, object] | None) -> tuple[Source, ...]:
    opts = rec.options
    chosen = opts.get("sources")
    why = compose.get("why") if compose else None
    reasons = why if isinstance(why, Mapping) else {}
    if isinstance(chosen, Mapping):
        return tuple(Source(substrate=str(sub), bundle=Path(str(path)).name,
                            why=str(reasons.get(sub) or "named by --source")) for sub, path in chosen.items())
    only = opts.get("onlySubstrate")
    subs = [str(s) for s in only] if isinstance(only, list) else ["every substrate in the bundle"]
    return (Source(substrate=", ".join(subs) or "nothing", bundle=Path(rec.bundle).name,
                   why="chosen by the operator (one bundle for every substrate restored)"),)


def _timeline(dd: DataDir, rec: RunRecord, sources: tuple[Source, ...],
              compose: Mapping[str, object] | None) -> tuple[TimelineBundle, ...]:
    listing = list_bundles(dd.backup_root)
    names = {s.bundle for s in sources}
    passed = compose.get("passed") if compose else None
    passed_over: Mapping[str, object] = passed if isinstance(passed, Mapping) else {}
    started = _parse(rec.started_at) or datetime.now(UTC)
    ended = _parse(rec.ended_at) or started
    times = [b.time for b in listing.bundles if b.name in names]
    oldest = min(times) if times else started
    older = [b for b in listing.bundles if b.time < oldest][:WINDOW_OLDER]
    window = [b for b in listing.bundles if (b.time >= oldest and b.time <= ended + timedelta(minutes=1))
              or b in older or b.name in names]
    out: list[TimelineBundle] = []
    for b in window[:MAX_TIMELINE]:
        roles: list[str] = []
        subs = [s.substrate for s in sources if s.bundle == b.name]
        if subs:
            roles.append("source of " + ", ".join(subs))
        for sub, reasons in passed_over.items():
            if isinstance(reasons, Mapping) and b.name in reasons:
                roles.append(f"passed over for {sub}: {reasons[b.name]}")
        if b.time > started:
            roles.append("taken during or after the run" if str(b.path) != rec.safety_bundle
                         else "the run's pre-restore safety bundle")
        out.append(TimelineBundle(name=b.name, time=iso_ms(b.time), rows=_rows(b),
                                  restorable={s: b.restorable(s) for s in RECOVERY_SUBSTRATES},
                                  role="; ".join(roles)))
    return tuple(out)


def _overrides(dd: DataDir, start: datetime, end: datetime) -> tuple[Mapping[str, object], ...]:
    path = dd.state_dir / OVERRIDE_JOURNAL
    out: list[Mapping[str, object]] = []
    if not path.is_file():
        return ()
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                entry = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            t = _parse(entry.get("time")) if isinstance(entry, dict) else None
            if t is not None and start <= t <= end and isinstance(entry, dict):
                out.append(entry)
    return tuple(out)


def build_report(dd: DataDir, run_id: str, *, now: datetime | None = None) -> IncidentReport:
    """The report of one run (a run id or a unique prefix of one), from what the data dir holds now."""
    rec = get_run(dd, run_id)
    now = now or datetime.now(UTC)
    compose = read_json(rec.path / COMPOSE_FILE)
    sources = _sources(rec, compose)
    started = _parse(rec.started_at) or now
    expected = read_json(rec.path / EXPECTED_FILE)
    opts = options_from_record(rec.options)
    again = restore_command(dd, None if opts.sources else rec.bundle, opts)
    commands = (again.text, command(dd, "verify-run", rec.run_id).text,
                *((command(dd, "undo", rec.run_id).text,) if rec.undoable else ()),
                command(dd, "report", rec.run_id).text)
    planned = expected.get("planned") if expected else None
    return IncidentReport(
        run_id=rec.run_id, generated_at=iso_ms(now), generated_by=f"{current_user()}@{socket.gethostname()}",
        data_dir=str(dd.root), host=rec.host,
        locations={"graph": str(dd.graph_db), "chroma": dd.chroma_label, "bundles": str(dd.backup_root),
                   "journal": str(rec.path)},
        user=rec.user, started_at=rec.started_at, ended_at=rec.ended_at, status=rec.status, mode=rec.mode,
        error=rec.error, options=rec.options, sources=sources, timeline=_timeline(dd, rec, sources, compose),
        plan=planned if isinstance(planned, dict) else None, applied=rec.counts,
        verification=last_verification(rec.path),
        guard_overrides=_overrides(dd, started - OVERRIDE_WINDOW, now),
        safety_bundle=rec.safety_bundle, undo=rec.undo, commands=commands, command_notes=again.problems)


# ------------------------------------------------------------------------------------------------ Markdown

_MD = re.compile(r"([\\`*_\[\]|~])")


def md(value: object) -> str:
    """A string from data, safe in Markdown prose and table cells: terminal controls visible, markup escaped."""
    s = visible("" if value is None else value)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD.sub(r"\\\1", s)
    if s[:1] in ("#", "-", "+", "=", ">"):
        return "\\" + s
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", s)  # `1.` would start an ordered list


def _fence(text: str, lang: str = "") -> list[str]:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + lang, text, fence]


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(_cell(c) for c in r) + " |")
    return out


def _cell(c: object) -> str:
    if isinstance(c, bool):
        return "yes" if c else "no"
    if isinstance(c, int):
        return f"{c:,}"
    return md(c)


def _list(value: object) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else ""


def _num(v: object) -> object:
    return v if isinstance(v, int) else ("?" if v is None else str(v))


def _counts_rows(obj: object, prefix: str = "") -> list[tuple[str, str]]:
    """A nested counters object flattened to (what, value) rows."""
    rows: list[tuple[str, str]] = []
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            key = f"{prefix}{k}"
            if isinstance(v, Mapping):
                rows += _counts_rows(v, key + ".")
            else:
                rows.append((key, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)))
    return rows


def _applied(counts: Mapping[str, object]) -> list[tuple[object, ...]]:
    """The run record's counters as one row per substrate."""
    rows: list[tuple[object, ...]] = []
    for sub, c in counts.items():
        if not isinstance(c, Mapping):
            if sub == "failures":
                rows.append(("rows failed (all substrates)", "", "", _num(c), ""))
            continue
        if sub == "graph":
            fs = c.get("filterStats") if isinstance(c.get("filterStats"), Mapping) else {}
            assert isinstance(fs, Mapping)
            for kind in ("nodes", "edges"):
                k = c.get(kind) if isinstance(c.get(kind), Mapping) else {}
                assert isinstance(k, Mapping)
                other = (f"filtered {_num(fs.get('filteredNodes'))}" if kind == "nodes" else
                         f"filtered {_num(fs.get('filteredEdges'))}, orphaned {_num(fs.get('orphanEdges'))}")
                rows.append((f"graph {kind}", _num(k.get("inserted")), _num(k.get("skippedExisting")),
                             _num(k.get("failed")), other))
        elif "copied" in c:
            copied, skipped = c.get("copied"), c.get("skipped")
            rows.append((sub, f"copied {_num(copied)}" if not isinstance(copied, bool) else
                         ("copied" if copied else ""), "", "", f"skipped {_num(skipped)}" if not isinstance(
                             skipped, bool) else ("skipped (present live)" if skipped else "")))
        else:
            rows.append((sub, _num(c.get("inserted")), _num(c.get("skippedExisting", c.get("idAlreadyPresent"))),
                         _num(c.get("failed")), ""))
    return rows


def to_markdown(r: IncidentReport) -> str:
    """The report as GitHub-flavoured Markdown (see the module docstring for the escaping)."""
    v = r.verification or {}
    verdict = str(v.get("status", "not verified")).upper()
    out: list[str] = [f"# Recovery report: run {md(r.run_id)}", ""]
    out += [f"**{md(r.status)}** {md(r.mode)} restore into {md(r.data_dir)} · verification **{md(verdict)}**", ""]
    out += ["## Where, who, when", ""]
    out += _table(["", ""], [
        ("data dir", r.data_dir), ("host", r.host), ("run by", r.user or "not recorded"),
        ("started", r.started_at), ("ended", r.ended_at or "—"), ("status", r.status),
        *(("error", r.error),) * bool(r.error),
        *((f"{k} location", v2) for k, v2 in r.locations.items()),
        ("report generated", f"{r.generated_at} by {r.generated_by}")])
    out += ["", "## Sources and why", ""]
    out += _table(["substrate", "bundle", "why"], [(s.substrate, s.bundle, s.why) for s in r.sources])
    out += ["", "## Bundles around the incident", "",
            "Rows per substrate as each bundle's meta counts them; ✗ marks a substrate that is not restorable there.",
            ""]
    out += _table(["bundle", *RECOVERY_SUBSTRATES, "role"], [
        (b.name, *(f"{_cell(_num(b.rows.get(s)))}{'' if b.restorable.get(s) else ' ✗'}" for s in RECOVERY_SUBSTRATES),
         b.role) for b in r.timeline])
    out += ["", "## Filters and options", ""]
    opts = r.options
    filters = opts.get("filters")
    f: Mapping[str, object] = filters if isinstance(filters, Mapping) else {}
    only = opts.get("onlySubstrate")
    out += _table(["option", "value"], [
        ("mode", opts.get("mode")), ("labels left out", _list(f.get("labels")) or "none"),
        ("edge types left out", _list(f.get("edgeTypes")) or "none"),
        ("only substrates", _list(only) if isinstance(only, list) else "all"),
        ("force", opts.get("force")), ("post-restore hook", opts.get("postRestoreHook") or "none"),
        ("force topology mismatch", opts.get("forceTopologyMismatch"))])
    out += ["", "## Plan, applied, present", ""]
    keyed = v.get("counts") if isinstance(v.get("counts"), list) else None
    if isinstance(keyed, list) and keyed:
        out += ["Per node label, edge type and collection: what the plan predicted, what the run reported inserting, "
                "and how many of those rows the verification found.", ""]
        out += _table(["kind", "name", "planned", "inserted", "present"], [
            (k.get("kind"), k.get("key"), _num(k.get("planned")), _num(k.get("reported")), _num(k.get("present")))
            for k in keyed if isinstance(k, Mapping)])
    elif r.plan is not None:
        out += _table(["planned inserts", "rows"], _counts_rows(r.plan))
    if r.plan is None:
        out += ["", "No plan was recorded for this run (a `--json` restore does not plan first)."]
    out += ["", "Applied, per substrate:", ""]
    out += _table(["substrate", "inserted", "already present", "failed", "other"], _applied(r.applied))
    out += ["", f"## Verification: {md(verdict)}", ""]
    if v:
        out += [f"Checked {md(v.get('checkedAt'))} ({'as the run ended' if v.get('atRun') else 'later, by verify-run'}); "
                f"vectors: {md(v.get('sampleSize'))} rows sampled per collection.", ""]
        checks = v.get("checks") if isinstance(v.get("checks"), list) else []
        assert isinstance(checks, list)
        out += _table(["check", "result", "what it found"],
                      [(c.get("name"), c.get("status"), c.get("summary")) for c in checks if isinstance(c, Mapping)])
        for c in checks:
            if isinstance(c, Mapping) and c.get("details"):
                out += ["", f"{md(c.get('name'))}:", ""] + [f"- {md(d)}" for d in c["details"][:20]]
    else:
        out += ["This run has no verification (it did not complete; `verify-run` checks it now).", ""]
    out += ["", "## Guard overrides in the window", ""]
    if r.guard_overrides:
        out += _table(["time", "who", "reason", "would have passed"],
                      [(g.get("time"), g.get("user"), g.get("reason"), g.get("wouldHavePassed"))
                       for g in r.guard_overrides])
    else:
        out += ["None from 24 hours before the run until this report."]
    out += ["", "## Undo", ""]
    if r.undo:
        out += [f"Undo {md(r.undo.get('status'))}, started {md(r.undo.get('startedAt'))}, ended "
                f"{md(r.undo.get('endedAt') or '—')}.", ""]
        out += _table(["undo", "value"], [
            (k.removeprefix("result."), v2) for k, v2 in _counts_rows(r.undo) if v2 not in ("[]", "{}", "0")
            and k not in ("status", "startedAt", "endedAt", "result.runId", "result.status")])
    elif r.mode == "replace":
        out += [f"A replace cannot be undone row by row: its pre-restore safety bundle is "
                f"{md(Path(r.safety_bundle).name) if r.safety_bundle else 'not recorded'}."]
    else:
        out += ["Not undone. `undo` below removes exactly the rows this run inserted."]
    out += ["", "## Commands that reproduce it", ""]
    text = "\n".join(visible(c) for c in r.commands)
    out += _fence(text, "sh")
    out += [f"- {md(n)}" for n in r.command_notes]
    if any(visible(c) != c for c in r.commands):
        out += ["- A command holds characters a terminal would act on (a newline, an escape), shown here as "
                "`\\n`, `\\x1b`: take the exact one from `report --format json`."]
    return "\n".join(out).rstrip() + "\n"
