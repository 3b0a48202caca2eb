"""Start the Textual console (what `recovery-console` with no subcommand runs)."""

from __future__ import annotations

from console.commands.common import Context


def run_tui(ctx: Context) -> int:
    from console.factory import make_app

    app = make_app(ctx.dd, readonly=ctx.readonly)
    app.run()
    return int(app.return_code or 0)
