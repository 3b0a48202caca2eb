"""Confirmation dialogs: focus starts on No; a destructive one can demand that a name be typed first."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from core.command_line import CommandLine
from core.safetext import visible
from widgets.command_bar import CommandBar, command_block, copy_command


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question. Dismisses with True only on an explicit Yes.

    ``body`` is rendered as text (never markup). With ``require_typed``, Yes stays disabled until the operator
    has typed exactly that string.
    """

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        background: $background 60%;
    }
    ConfirmScreen > #dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $warning 80%;
        background: $surface;
        padding: 0 1;
    }
    ConfirmScreen.-danger > #dialog {
        border: thick $error;
    }
    ConfirmScreen #title {
        text-style: bold;
        width: 100%;
        padding: 0 0 1 0;
    }
    ConfirmScreen #body-scroll {
        height: auto;
        max-height: 70vh;
    }
    ConfirmScreen.-typed #body-scroll {
        max-height: 45vh;
    }
    ConfirmScreen #body {
        width: 100%;
    }
    ConfirmScreen #command-title {
        padding: 1 0 0 0;
    }
    ConfirmScreen #command-bar {
        margin: 1 0 0 0;
    }
    ConfirmScreen #typed-prompt {
        padding: 1 0 0 0;
    }
    ConfirmScreen Input {
        margin: 0;
    }
    ConfirmScreen #buttons {
        height: auto;
        align-horizontal: right;
        padding: 1 0 0 0;
    }
    ConfirmScreen Button {
        margin: 0 0 0 2;
        min-width: 12;
    }
    """

    BINDINGS = [
        Binding("escape", "answer(False)", "No", show=True),
        Binding("n", "answer(False)", "No", show=False),
        Binding("y", "copy_command", "Copy command", show=False),
    ]

    def __init__(
        self,
        title: str,
        body: Text | str,
        *,
        yes_label: str = "Yes",
        no_label: str = "No",
        require_typed: str | None = None,
        danger: bool = False,
        yes_enabled: bool = True,
        command: CommandLine | None = None,
    ) -> None:
        classes = ["-danger"] if danger else []
        if require_typed is not None:
            classes.append("-typed")
        super().__init__(classes=" ".join(classes))
        self._title = title
        self._body = body if isinstance(body, Text) else Text(visible(body, newlines=True))
        self._yes_label = yes_label
        self._no_label = no_label
        self._typed = require_typed
        self._yes_enabled = yes_enabled
        self._command = command

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self._title), id="title")
            with VerticalScroll(id="body-scroll"):
                yield Static(self._body, id="body")
                if self._command is not None:
                    yield Static(Text("The same from a shell, whole:", style="bold"), id="command-title")
                    yield Static(command_block(self._command), id="command")
            if self._command is not None:
                yield CommandBar(id="command-bar")
            if self._typed is not None:
                yield Static(
                    Text.assemble("Type ", (visible(self._typed), "bold"), " to enable the button:"), id="typed-prompt"
                )
                yield Input(placeholder=visible(self._typed), id="typed")
            with Horizontal(id="buttons"):
                yield Button(Text(self._no_label), id="no", variant="primary", compact=True)
                yield Button(
                    Text(self._yes_label),
                    id="yes",
                    variant="error" if (self._typed is not None or self.has_class("-danger")) else "warning",
                    disabled=not self._yes_enabled or self._typed is not None,
                    compact=True,
                )

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()
        if self._command is not None:
            self.query_one("#command-bar", CommandBar).show(self._command)

    def update(self, body: Text, *, yes_enabled: bool) -> None:
        """A new body and Yes state, e.g. when a check the dialog was opened before has answered. Yes still
        needs the typed name, if the dialog asks for one."""
        self._body = body
        self._yes_enabled = yes_enabled
        try:
            self.query_one("#body", Static).update(body)
        except NoMatches:
            return  # not composed yet: compose draws the new body
        typed = self._typed is None or self.query_one("#typed", Input).value == self._typed
        self.query_one("#yes", Button).disabled = not (yes_enabled and typed)

    @on(Input.Changed, "#typed")
    def _typed_changed(self, event: Input.Changed) -> None:
        self.query_one("#yes", Button).disabled = not (self._yes_enabled and event.value == self._typed)

    @on(Input.Submitted, "#typed")
    def _typed_submitted(self, event: Input.Submitted) -> None:
        if self._yes_enabled and event.value == self._typed:
            self.dismiss(True)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        if not self.query_one("#yes", Button).disabled:
            self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    def action_copy_command(self) -> None:
        copy_command(self.app, self._command, self.query_one("#command-bar", CommandBar))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_command":
            # the typed-name field takes a `y` as a letter
            return self._command is not None and not isinstance(self.focused, Input)
        return True


class MessageScreen(ModalScreen[None]):
    """Show a message (an error, a guard refusal) until the operator presses a key."""

    DEFAULT_CSS = """
    MessageScreen {
        align: center middle;
        background: $background 60%;
    }
    MessageScreen > #dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    MessageScreen.-error > #dialog {
        border: thick $error;
    }
    MessageScreen #title {
        text-style: bold;
        padding: 0 0 1 0;
    }
    MessageScreen #body-scroll {
        height: auto;
        max-height: 70vh;
    }
    MessageScreen #buttons {
        height: auto;
        align-horizontal: right;
        padding: 1 0 0 0;
    }
    """

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, body: RenderableType, *, error: bool = False) -> None:
        """``body``: a str is shown as text (control characters made visible, never markup); anything else is
        a Rich renderable built by the caller, whose data it has wrapped in ``Text``."""
        super().__init__(classes="-error" if error else "")
        self._title = title
        self._body = Text(visible(body, newlines=True)) if isinstance(body, str) else body

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self._title), id="title")
            with VerticalScroll(id="body-scroll"):
                yield Static(self._body, id="body")
            with Horizontal(id="buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def action_close(self) -> None:
        self.dismiss(None)
