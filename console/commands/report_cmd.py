"""`report RUN_ID`: the incident report of a restore run, as Markdown (for a ticket or a PR) or JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.commands.common import Context, add_json
from core.jsonl import write_atomic
from core.report import build_report, to_markdown
from core.safetext import visible
from core.wire import encode

NAME = "report"
HELP = "the incident report of a restore run: where, who, when, sources and why, plan, counters, verification"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID", help="a run id from `recovery-console runs`, or any unique prefix of one")
    p.add_argument("--format", choices=("md", "json"), default="md", help="Markdown (default) or JSON")
    p.add_argument("--out", type=Path, metavar="FILE", help="write the report to FILE (owner-only) instead of stdout")
    add_json(p)


def run(args: argparse.Namespace, ctx: Context) -> int:
    report = build_report(ctx.dd, args.run_id)
    as_json = ctx.json or args.format == "json"
    if args.out is not None:
        import json

        data = (json.dumps(encode(report), indent=2, ensure_ascii=False) + "\n") if args.format == "json" \
            else to_markdown(report)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out, data.encode(), mode=0o600)  # it names ids and paths of agent memory
        if ctx.json:
            ctx.emit_json({"runId": report.run_id, "format": args.format, "out": str(args.out)})
        else:  # one plain line: the path is never wrapped
            sys.stdout.write(visible(f"Report of run {report.run_id} written to {args.out}") + "\n")
        return 0
    if as_json:
        ctx.emit_json(encode(report))
    else:
        sys.stdout.write(to_markdown(report))
    return 0
