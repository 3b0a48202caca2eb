"""The headless command that does what a plan in the console would do, as one shell-quoted line.

Every plan the console shows (the diff, the confirm dialog, a composite restore) carries the exact
``recovery-console`` command that would do the same from a shell, with this data dir's location flags, so an
operator can read what will run, copy it (the console copies it over SSH with OSC 52) and run it headless or in
a script, as lazygit shows its git commands. ``diff`` prints the same line.

The line is built here and only here, from the restore's options. What the CLI's flags cannot say exactly is
listed in ``problems`` rather than printed wrong: neo's CSV flags split on commas and trim spaces, so a label
holding a comma, or starting or ending with a space, has no spelling on the command line.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.datadir import DataDir
from core.plan import Filters
from core.restore_model import RestoreOptions
from core.substrates import SUBSTRATES

PROGRAM = "recovery-console"


@dataclass(frozen=True, kw_only=True)
class CommandLine:
    location: tuple[str, ...]  # the global flags that name the data dir and its stores
    args: tuple[str, ...]  # the command and its own arguments
    problems: tuple[str, ...] = ()  # what the line cannot say exactly (it is then not the same restore)

    @property
    def argv(self) -> tuple[str, ...]:
        return (PROGRAM, *self.location, *self.args)

    @property
    def text(self) -> str:
        """The line, quoted for a POSIX shell (data in it is not yet made terminal-safe: see safetext)."""
        return shlex.join(self.argv)

    @property
    def short(self) -> str:
        """The line with its location flags shown as ``…`` (a screen that already names the data dir shows
        this where space is short; the copy is always ``text``)."""
        return f"{PROGRAM} … {shlex.join(self.args)}" if self.location else self.text

    @property
    def exact(self) -> bool:
        return not self.problems


def bundle_arg(dd: DataDir, bundle: Path | str) -> str:
    """A bundle as a command names it: its name when it sits in this data dir's backup root, else its path."""
    path = Path(bundle)
    if not path.is_absolute() and len(path.parts) == 1:
        return str(bundle)  # already a name (or `latest`)
    try:
        if path.resolve().parent == dd.backup_root.resolve():
            return path.name
    except OSError:
        pass
    return str(path)


def _csv(flag: str, names: Iterable[str], problems: list[str]) -> list[str]:
    values = sorted(names)
    for v in values:
        if "," in v or v != v.strip() or not v:
            problems.append(f"{flag} cannot name {v!r}: the CSV flag splits on commas and trims spaces")
    return [f"{flag}={','.join(values)}"] if values else []


def restore_argv(opts: RestoreOptions) -> tuple[list[str], list[str]]:
    """The restore flags of ``opts`` (after the bundle), and what they cannot say."""
    problems: list[str] = []
    args = [*_csv("--filter-labels", opts.filters.labels, problems),
            *_csv("--filter-edge-types", opts.filters.edge_types, problems)]
    if opts.only_substrate is not None:
        args.append("--only-substrate=" + ",".join(opts.only_substrate))  # as given: the plan records the order
    if opts.mode != "merge":
        args += ["--mode", opts.mode]
    if opts.force:
        args.append("--force")
    if opts.post_restore_hook:
        args += ["--post-restore-hook", opts.post_restore_hook]
    if opts.workspace is not None:
        args += ["--workspace", str(opts.workspace)]
    if opts.force_topology_mismatch:
        args.append("--force-topology-mismatch")
    if opts.dry_run:
        args.append("--dry-run")
    return args, problems


def restore_command(dd: DataDir, bundle: Path | str | None, opts: RestoreOptions) -> CommandLine:
    """``recovery-console --data-dir … restore BUNDLE --filter-labels=… …``: the restore ``opts`` describe.

    A composite restore (``opts.sources``) names every substrate's bundle with ``--compose --source``, so the
    line repeats exactly this choice even after newer bundles appear. ``--yes`` is never printed: a replace run
    from this line asks for the data dir's name at the terminal, as the console's dialog did.
    """
    flags, problems = restore_argv(opts)
    if opts.sources:
        pairs = [(sub, bundle_arg(dd, opts.sources[sub])) for sub in SUBSTRATES if sub in opts.sources]
        for sub, name in pairs:
            if "," in name or "=" in name or name != name.strip():
                problems.append(f"--source cannot name the {sub} bundle {name!r}: the flag splits on commas")
        # one flag per substrate: each stays short enough to read on a line of its own
        target = ["--compose", *(f"--source={sub}={name}" for sub, name in pairs)]
    else:
        assert bundle is not None, "a restore from one bundle names it"
        target = [bundle_arg(dd, bundle)]
    return CommandLine(location=tuple(dd.location_args()), args=("restore", *target, *flags),
                       problems=tuple(problems))


def command(dd: DataDir, *args: str) -> CommandLine:
    """Any other command for this data dir: ``recovery-console --data-dir … ARGS``."""
    return CommandLine(location=tuple(dd.location_args()), args=args)


def _names(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def options_from_record(options: Mapping[str, object]) -> RestoreOptions:
    """A journaled run's options (``run.json``'s ``options``, as the wire wrote them) as the options again."""
    filters = options.get("filters")
    f = filters if isinstance(filters, Mapping) else {}
    only = options.get("onlySubstrate")
    sources = options.get("sources")
    workspace = options.get("workspace")
    hook = options.get("postRestoreHook")
    return RestoreOptions(
        mode=str(options.get("mode") or "merge"), force=bool(options.get("force")),
        filters=Filters.of(_names(f.get("labels")), _names(f.get("edgeTypes"))),
        only_substrate=_names(only) if isinstance(only, list) else None,
        post_restore_hook=str(hook) if hook else None, workspace=Path(str(workspace)) if workspace else None,
        force_topology_mismatch=bool(options.get("forceTopologyMismatch")),
        sources={str(k): Path(str(v)) for k, v in sources.items()} if isinstance(sources, Mapping) else None)
