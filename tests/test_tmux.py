"""The installed `recovery-console` in a real terminal: tmux at 80x24, keys sent as an operator types them,
through a guided merge restore of the May-10 incident, checking the final counters on the screen."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.tui_support import copy_demo, demo_cache

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class Terminal:
    """One tmux server of our own (its own socket), one 80x24 window."""

    def __init__(self, command: str, *, width: int = 80, height: int = 24) -> None:
        self.socket = f"rc-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.session = "console"
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_ANIMATIONS")}
        env["TERM"] = "xterm-256color"
        subprocess.run([TMUX, "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", self.session,
                        "-x", str(width), "-y", str(height), command], check=True, env=env)
        self.socket_path = self.tmux("display-message", "-p", "#{socket_path}").strip()

    def tmux(self, *args: str) -> str:
        out = subprocess.run([TMUX, "-L", self.socket, *args], check=True, capture_output=True, text=True)
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def send(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.session, key)
            time.sleep(0.15)

    def wait_for(self, what: str | Callable[[str], bool], timeout: float = 60.0) -> str:
        test = (lambda s: what in s) if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if test(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what!r}; the screen was:\n{text}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True)
        if self.socket_path:
            Path(self.socket_path).unlink(missing_ok=True)


@pytest.fixture
def terminal_for(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Callable[[], Terminal]]:
    opened: list[Terminal] = []

    def open_console() -> Terminal:
        exe = Path(sys.executable).parent / "recovery-console"
        assert exe.exists(), f"the installed entry point is missing: {exe}"
        dd = copy_demo(demo_cache(tmp_path_factory), tmp_path)
        # the shell line prints the exit code after the app ends, then keeps the pane open to read it
        term = Terminal(f"{exe} --data-dir {dd.root}; echo CONSOLE-EXITED-$?; sleep 60")
        opened.append(term)
        return term

    yield open_console
    for term in opened:
        term.close()


def numbers(pattern: str, screen: str) -> tuple[int, ...]:
    m = re.search(pattern, screen)
    assert m, f"{pattern!r} not on the screen:\n{screen}"
    return tuple(int(g.replace(",", "")) for g in m.groups())


def test_guided_merge_restore_in_a_real_terminal(terminal_for: Callable[[], Terminal]) -> None:
    term = terminal_for()
    # the listing now arrives within the first frames (no row is counted): wait for a whole frame, footer included
    home = term.wait_for(lambda s: "✓ verified ✓? claimed" in s and "Diff" in s.rstrip("\n").splitlines()[-1],
                         timeout=60)
    # ten bundles fill the table at 80x24: the residue row is below them, and the title line counts it
    assert "2026-05-10 09:11" in home and "2026-05-10 01:11" in home and "1 residue" in home and "MALFORMED" in home
    assert "Diff" in home.rstrip("\n").splitlines()[-1]  # the footer keys

    term.send("Down", "Enter")  # the last bundle before the wipe (the newest is the backup taken after it)
    term.wait_for("would insert", timeout=90)
    term.send("3")  # the incident default preset
    plan = term.wait_for("would insert 11,589", timeout=30)
    assert numbers(r"would insert ([\d,]+)\s+already present ([\d,]+)\s+filtered out ([\d,]+)", plan) == (
        11_589, 3_580, 22_756)

    term.send("R")
    dialog = term.wait_for("Restore with this plan?")
    assert "insert 11,589" in dialog
    term.send("Tab", "Enter")  # focus starts on No: tab to Restore
    # the end view is painted over a few refreshes: wait for its comparison rows, not only the status line
    end = term.wait_for(lambda s: ("Restore finished" in s and "graph inserted" in s and "kb inserted" in s) or "FAILED" in s,
                        timeout=240)
    assert "Restore finished" in end, end
    assert "≠" not in end and "DIFFERS" not in end
    assert numbers(r"graph inserted\s+([\d,]+)\s+([\d,]+)\s+= same", end) == (11_589, 11_589)
    assert numbers(r"graph skipped \(present\)\s+([\d,]+)\s+([\d,]+)\s+= same", end) == (3_580, 3_580)
    assert numbers(r"graph left out\s+([\d,]+)\s+([\d,]+)\s+= same", end) == (22_756, 22_756)
    assert numbers(r"graph failed\s+([\d,]+)\s+([\d,]+)\s+= same", end) == (0, 0)
    assert re.search(r"run \d{8}T\d{9}Z-[0-9a-f]{6}", end), end

    term.send("Escape")
    term.wait_for("✓ verified ✓? claimed")
    term.send("q")
    term.wait_for("CONSOLE-EXITED-0", timeout=30)
