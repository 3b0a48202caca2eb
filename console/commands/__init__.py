"""One module per subcommand: each has NAME, HELP, add_arguments(parser) and run(args, ctx) -> exit code."""

COMMANDS = (
    "list",
    "timeline",
    "backup",
    "verify",
    "diff",
    "search",
    "restore",
    "runs",
    "undo",
    "verify-run",
    "report",
    "retention",
    "prune",
    "guard",
    "demo",
    "screenshots",
)
