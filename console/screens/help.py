"""Help: every key of every screen, what the symbols mean, and the safety rules the console follows."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from console.screens.base import BaseScreen

SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Everywhere", [
        ("?", "this help"),
        ("ctrl+p", "command palette (back up, verify, retention, theme, screenshot...)"),
        ("q / ctrl+q", "quit (asks first while a backup or restore is running)"),
        ("esc", "back to the previous screen"),
        ("tab / shift+tab", "move between panes"),
    ]),
    ("Bundles (home)", [
        ("up / down", "select a bundle; the pane below shows its meta"),
        ("enter", "diff the bundle against the live stores (the restore plan)"),
        ("b", "back up now, with progress (esc cancels; nothing is published unless complete)"),
        ("v", "verify the selected bundle: every line, ids, vectors, counts, checksums"),
        ("V", "verify every unverified (✓?) bundle, newest first, in the background; esc stops it"),
        ("t", "retention: policy, verdicts, coverage timeline, prune"),
        ("c", "compose: each substrate from its newest restorable bundle, none newer than the selected one"),
        ("T", "timeline: every bundle's counts over time, drops marked where they happened"),
        ("/", "search inside the selected bundle"),
        ("r", "read the backup root again"),
    ]),
    ("Timeline", [
        ("s c l e", "series: substrates, collections, node labels, edge types (labels are counted once per bundle)"),
        ("enter", "diff the bundle against the live stores"),
        ("space / d", "mark up to two bundles / diff them, bundle against bundle (the newer is A)"),
    ]),
    ("Bundle diff", [
        ("[ / ]", "previous / next tab (labels, edge types, collections)"),
        ("enter", "the ids of a row: a b x i pick the cell, n p page, enter shows one row field by field"),
    ]),
    ("Search", [
        ("/", "type a query: words, label:L, type:T, collection:C, field:K=V; enter searches"),
        ("space / R", "mark hits / restore just the marked (with their edges and memories; asks first)"),
    ]),
    ("Diff / plan", [
        ("[ / ]", "previous / next tab (labels, edge types, filters, chroma & files, options)"),
        ("space", "tick or untick the highlighted filter, substrate or option"),
        ("1 2 3 0", "presets: filesystem mirror, gap noise, incident default, none"),
        ("m", "switch merge / replace"),
        ("enter", "on a label or edge type: its present rows that differ from live, n p page, enter one row live "
                  "beside the bundle, field by field"),
        ("y", "copy the equivalent headless command, whole (OSC 52: works over SSH; in tmux set-clipboard on)"),
        ("R", "restore with this plan (asks first; focus starts on No)"),
    ]),
    ("Compose", [
        ("3 / 0", "incident default filters / none"),
        ("y", "copy the pinned `restore --compose --source …` command"),
        ("R", "restore every substrate from its chosen bundle: one run, one undo (asks first)"),
    ]),
    ("Restore", [
        ("c", "cancel (asks first); stops after the current batch"),
        ("r", "resume a cancelled or failed restore: the same restore again (merge skips what is in)"),
        ("u", "undo this run (asks first): removes exactly the rows it inserted"),
        ("i", "write the incident report (Markdown) of this run under the state dir's reports/"),
        ("l", "show the event log instead of the verification (and back)"),
        ("esc", "back to the bundles when the restore has ended"),
    ]),
    ("Retention", [
        ("p", "prune: a dry-run preview first, then a confirm"),
        ("esc", "back"),
    ]),
]

SYMBOLS: list[tuple[str, str]] = [
    ("✓ / ✓?", "verified restorable (a full verify passed for these files) / claimed by the meta, not yet read"),
    ("✗ word", "failed (torn, symlink, unlisted file, invalid...) or not restorable (empty, collapsed...)"),
    ("STALE, NONE!", "the newest restorable backup is older than the guard's max age / there is none"),
    ("READ-ONLY", "started with --readonly: backup, restore, prune and undo are disabled (dimmed)"),
    ("red badges", "neo's receipt: NEO BACKUP FAILED, OFF-HOST COPY UNMET / FAILED (list says more)"),
    ("NEO LEASE: owner", "neo's heavy job holds its lease: backup and restore wait (CLI: --ignore-neo-lease)"),
    ("█ ▒ ░ ×", "bar segments: would insert, already present, filtered, orphaned"),
    ("▼ ▁▂▃▅▇█ _ ·", "timeline: a drop beyond the threshold / a sparkline (oldest left), zero, no count"),
    ("= / ≠", "a result counter equals / differs from the plan's prediction"),
    ("✓ ✗ -", "a verification check passed / failed / was skipped (and says why)"),
    ("$ … ", "the equivalent headless command; … stands for the data dir's location flags"),
    ("▐X▌ / ▐ ▌", "a ticked / unticked box (filters: left out; substrates: restored)"),
    ("▐●▌ / ▐ ▌", "the chosen / another option (mode, hook)"),
    ("\\x1b \\u202e", "a control or bidi character in a bundle's text, shown escaped: it never acts"),
]

SAFETY = (
    "Merge never touches a live row: graph rows are inserted only when their id is absent, Chroma rows only "
    "when their id is missing. Replace asks you to type the data dir's name and first takes a safety bundle "
    "(reason pre-restore) of everything it will replace. A cancelled or interrupted merge leaves every store "
    "consistent; running the same restore again finishes it. Every run is journaled; undo removes exactly "
    "what a merge inserted. Every completed restore is verified (rows present, live rows untouched, integrity, "
    "vectors, flat files); a failed verification rolls nothing back. Long restores over SSH: run the console "
    "inside tmux or screen."
)


def help_renderable(readonly: bool) -> Group:
    parts: list[RenderableType] = []
    if readonly:
        parts.append(Text.assemble((" READ-ONLY ", "bold reverse cyan"),
                                   " every action that writes is disabled in this session.\n"))

    def table(rows: list[tuple[str, str]]) -> Table:
        t = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        t.add_column(width=16, no_wrap=True, style="bold")
        t.add_column(ratio=1)
        for key, what in rows:
            t.add_row(Text(key), Text(what))
        return t

    for title, keys in SECTIONS:
        parts.append(Text(title, style="bold underline"))
        parts.append(table(keys))
        parts.append(Text(""))
    parts.append(Text("Symbols", style="bold underline"))
    parts.append(table(SYMBOLS))
    parts.append(Text(""))
    parts.append(Text("Safety", style="bold underline"))
    parts.append(Text(SAFETY))
    return Group(*parts)


class HelpScreen(BaseScreen):
    SCREEN_TITLE = "Help"

    BINDINGS = [
        Binding("escape", "dismiss_help", "Back", id="back"),
        Binding("question_mark", "dismiss_help", "Close help", key_display="?", show=False),
    ]

    def __init__(self, *, readonly: bool = False) -> None:
        super().__init__()
        self._readonly = readonly

    def compose(self) -> ComposeResult:
        yield self.make_header()
        with VerticalScroll(id="help-scroll"):
            yield Static(help_renderable(self._readonly), id="help-text")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#help-scroll").focus()

    def action_dismiss_help(self) -> None:
        self.app.pop_screen()
