"""The equivalent command under a plan: one line, never wrapped, and the key that copies it whole.

The line starts ``$`` and shows the command with its location flags as ``…`` (the header names the data dir);
what does not fit ends in an ellipsis rather than wrapping onto a second line, because a command broken over
lines is not one command any more. The copy key puts the exact, whole command on the clipboard (OSC 52, so it
reaches the operator's own machine over SSH). Text from data is made visible and is never markup.
"""

from __future__ import annotations

import shlex

from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from core.command_line import CommandLine
from core.safetext import visible


class CommandBar(Horizontal):
    DEFAULT_CSS = """
    CommandBar {
        height: 1;
        padding: 0 1;
        background: $boost;
    }
    CommandBar > #command-text {
        width: 1fr;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    CommandBar > #command-hint {
        width: auto;
        height: 1;
        padding: 0 0 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, *, hint: str = "y copies", id: str | None = None) -> None:
        super().__init__(id=id)
        self._hint = hint
        self.command: CommandLine | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(""), id="command-text")
        yield Static(Text(self._hint), id="command-hint")

    def copied(self) -> None:
        """Say the whole command is on the clipboard (until the command changes)."""
        hint = self.query_one("#command-hint", Static)
        hint.update(Text("✓ copied", style="bold green"))
        hint.display = True

    def show(self, command: CommandLine | None, *, note: str = "") -> None:
        """The command to show (None: no plan yet, nothing to copy)."""
        if command != self.command:
            self.query_one("#command-hint", Static).update(Text(self._hint))
        self.command = command
        line = Text()
        if command is None:
            line.append(note or "no command: no plan yet", style="dim")
        else:
            line.append("$ ", style="bold")
            line.append(visible(command.short))
            if command.problems:
                line.append("  (not exact: " + visible(command.problems[0]) + ")", style="yellow")
        self.query_one("#command-text", Static).update(line)
        self.query_one("#command-hint", Static).display = command is not None and bool(self._hint)


def command_block(command: CommandLine) -> Text:
    """The whole command for a dialog: the exact line, broken only between arguments with a shell line
    continuation (`` \\``), so the lines copied together still run as one command."""
    out = Text()
    out.append("$ ", style="bold")
    width = 64  # a dialog's text width at 80 columns, less the continuation
    column = 2
    words = [shlex.quote(arg) for arg in command.argv]  # what shlex.join joins with spaces
    for i, word in enumerate(words):
        shown = visible(word)
        if i and column + 1 + len(shown) > width:
            out.append(" \\\n    ")
            column = 4
        elif i:
            out.append(" ")
            column += 1
        out.append(shown)
        column += len(shown)
    return out


def copy_command(app: App[object], command: CommandLine | None, bar: CommandBar | None = None) -> None:
    """The whole, exact command to the clipboard, over SSH too (OSC 52; inside tmux: `set-clipboard on`). The
    bar that shows it says so where the eye already is (no toast: it would cover the plan)."""
    if command is None:
        return
    try:
        app.copy_to_clipboard(command.text)
    except UnicodeEncodeError:  # a lone surrogate in a label: no terminal can take it
        app.notify("The command holds text no terminal can encode: it was not copied.", title="Clipboard",
                   severity="error", markup=False)
        return
    if bar is not None:
        bar.copied()
