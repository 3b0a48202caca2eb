"""The recovery console: Textual app, screens and the `recovery-console` CLI."""
