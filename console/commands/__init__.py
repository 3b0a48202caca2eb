"""One module per subcommand: each has NAME, HELP, add_arguments(parser) and run(args, ctx) -> exit code."""

COMMANDS = (
    "list",
    "backup",
    "verify",
    "diff",
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
