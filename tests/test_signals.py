"""An SSH drop (SIGHUP) or a SIGTERM in the middle of a restore: the run stops between batches, the journal says
`cancelled`, the process exits 130, and the same restore run again ends exactly where an uninterrupted run does.

Real processes, real signals: the headless CLI with a signal sent mid-restore, and the TUI (the installed
`recovery-console`) in a tmux pane whose session is killed, which is what a dropped SSH link does to a terminal.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from core.datadir import DataDir, resolve
from core.journal import list_runs
from tests.builders import edge, live_graph, live_vectors, node, vec, write_bundle
from tests.test_restore_kill import same, snapshot

CLI = [sys.executable, "-m", "console"]
TMUX = shutil.which("tmux")
N = 60_000  # graph lines of each kind: six 20,000-row batches after the first commit (the memories)


def build(root: Path) -> None:
    rng = random.Random(5)
    dd = resolve(root, env={})
    nodes = [node(f"n{i:07d}", ("CONCEPT", "FILE", "ISSUE", "KB_GAP")[i % 4]) for i in range(N)]
    edges = [edge(f"e{i:07d}", f"n{rng.randrange(N):07d}", f"n{rng.randrange(N):07d}",
                  ("RELATES_TO", "CONTAINS")[i % 2]) for i in range(N)]
    live_graph(dd, nodes[::3], [])
    memories = [vec(f"m{i:05d}", dim=16) for i in range(600)]
    live_vectors(dd, "memories", memories[::5])
    write_bundle(dd.backup_root, nodes=nodes, edges=edges, memories=memories, dimension=16,
                 concepts={"nodes.jsonl": '{"id":"c"}\n'}, trajectories='{"t":1}\n')


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("signals") / "base"
    build(root)
    return root


@pytest.fixture(scope="module")
def reference(base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The state after an uninterrupted `restore latest`."""
    dd = copy(base, tmp_path_factory.mktemp("ref") / "dd")
    out = subprocess.run([*CLI, "--data-dir", str(dd.root), "restore", "latest", "--json"], capture_output=True,
                         check=True, timeout=600)
    assert orjson.loads(out.stdout)["status"] == "completed"
    return snapshot(dd)


def copy(base: Path, dest: Path) -> DataDir:
    shutil.copytree(base, dest)
    return resolve(dest, env={})


def wait_for_first_commit(dd: DataDir, proc_alive: object, timeout: float = 300) -> None:
    """Until a run has journaled a committed batch: the restore is writing, with graph batches still to come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ids in dd.runs_dir.glob("*/ids.jsonl") if dd.runs_dir.exists() else []:
            if b'"ok"' in ids.read_bytes():
                return
        assert callable(proc_alive) and proc_alive(), "the console ended before it wrote anything"
        time.sleep(0.01)
    raise AssertionError("the restore never committed a batch")


def finish_and_compare(dd: DataDir, reference: tuple, *, may_have_finished: bool = False) -> None:
    (run,) = list_runs(dd)
    if not (may_have_finished and run.status == "completed"):
        assert run.status == "cancelled", run.status  # stopped between batches, not killed in one
        assert snapshot(dd) != reference, "the signal came too late to test anything"
    out = subprocess.run([*CLI, "--data-dir", str(dd.root), "restore", "latest", "--json"], capture_output=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["status"] == "completed"
    assert same(snapshot(dd), reference)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_headless_restore_stops_between_batches_on_a_signal(base: Path, reference: tuple, tmp_path: Path,
                                                            sig: signal.Signals) -> None:
    dd = copy(base, tmp_path / "dd")
    proc = subprocess.Popen([*CLI, "--data-dir", str(dd.root), "restore", "latest", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_first_commit(dd, lambda: proc.poll() is None)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    partial = orjson.loads(out)  # exactly one object: the partial result
    assert partial["status"] == "cancelled" and partial["runId"]
    assert b"re-run the same command" in err
    finish_and_compare(dd, reference)


# ------------------------------------------------------------------------------------------------ in a terminal

# Stands in for the login shell of an SSH session: when the terminal hangs up it passes SIGHUP on to its
# foreground job, as bash does (after a delay, if asked: the console meanwhile writes to the dead terminal),
# and records the job's exit code where the test can read it.
SHELL = r"""
import signal, subprocess, sys, time
child = None
def hangup(signum, frame):
    time.sleep(float(sys.argv[2]))
    if child is not None:
        child.send_signal(signal.SIGHUP)
signal.signal(signal.SIGHUP, hangup)
child = subprocess.Popen(sys.argv[3:])
with open(sys.argv[1] + ".pid", "w") as fh:
    fh.write(str(child.pid))
code = child.wait()
with open(sys.argv[1], "w") as fh:
    fh.write(str(code))
"""


class Session:
    """A tmux server of our own running SHELL -> the command, in an 80x24 window."""

    def __init__(self, tmp: Path, command: list[str], *, hangup_delay: float = 0.0) -> None:
        assert TMUX is not None
        self.socket = f"rc-sig-{os.getpid()}-{random.randrange(1 << 30):x}"
        self.code_file = tmp / "exit-code"
        (tmp / "shell.py").write_text(SHELL)
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_ANIMATIONS")}
        env["TERM"] = "xterm-256color"
        line = " ".join([sys.executable, str(tmp / "shell.py"), str(self.code_file), str(hangup_delay), *command])
        subprocess.run([TMUX, "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "s", "-x", "80",
                        "-y", "24", line], check=True, env=env)

    def tmux(self, *args: str) -> str:
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True).stdout

    def send(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "s", key)
            time.sleep(0.2)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.tmux("capture-pane", "-p", "-t", "s")
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")

    def alive(self) -> bool:
        return not self.code_file.exists()

    def pid(self) -> int:
        return int(self.code_file.with_name(self.code_file.name + ".pid").read_text())

    def hang_up(self) -> None:
        """Kill the session: the pane's terminal goes away, its shell gets SIGHUP."""
        self.tmux("kill-server")

    def exit_code(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while not self.code_file.exists():
            assert time.monotonic() < deadline, "the console did not exit after the hangup"
            time.sleep(0.1)
        time.sleep(0.05)
        return int(self.code_file.read_text())


@pytest.fixture
def session(tmp_path: Path) -> Iterator[list[Session]]:
    opened: list[Session] = []
    yield opened
    for s in opened:
        s.hang_up()


@pytest.mark.slow
@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.parametrize("how,delay", [("hangup", 0.0), ("hangup", 4.0), ("sigterm", 0.0)],
                         ids=["hangup", "hangup-after-writes-to-the-dead-terminal", "sigterm"])
def test_tui_restore_over_a_dropped_ssh_link_stops_cleanly_and_resumes(
        base: Path, reference: tuple, tmp_path: Path, session: list[Session], how: str, delay: float) -> None:
    """With a delay, Textual's output thread may die writing to the dead terminal before SIGHUP arrives, and the
    app then cannot shut down by itself: the process must still end, with 130, once its restore has stopped."""
    exe = Path(sys.executable).parent / "recovery-console"
    assert exe.exists(), f"the installed entry point is missing: {exe}"
    dd = copy(base, tmp_path / "dd")
    term = Session(tmp_path, [str(exe), "--data-dir", str(dd.root)], hangup_delay=delay)
    session.append(term)
    term.wait_for("restorable", timeout=120)
    term.send("Enter")  # the diff of the newest bundle
    term.wait_for("would insert", timeout=300)
    term.send("R")
    term.wait_for("Restore with this plan?")
    term.send("Tab", "Enter")
    wait_for_first_commit(dd, term.alive)
    if how == "sigterm":  # e.g. systemd or an operator's kill: the terminal stays, and is given back intact
        os.kill(term.pid(), signal.SIGTERM)
    else:
        term.hang_up()
    assert term.exit_code() == 130
    # with the delay the restore may have finished on a fast machine; what matters then is that the process ended
    finish_and_compare(dd, reference, may_have_finished=delay > 0)


@pytest.mark.slow
@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_headless_restore_in_a_terminal_that_hangs_up(base: Path, reference: tuple, tmp_path: Path,
                                                       session: list[Session]) -> None:
    """The headless command with its progress bar on the terminal: the hangup is a clean cancel (130), not a
    crash on writing the closing message to a terminal that is gone."""
    dd = copy(base, tmp_path / "dd")
    term = Session(tmp_path, [*CLI, "--data-dir", str(dd.root), "restore", "latest"])
    session.append(term)
    wait_for_first_commit(dd, term.alive)
    term.hang_up()
    assert term.exit_code() == 130
    finish_and_compare(dd, reference)


STUCK = """
import sys, threading, time
from pathlib import Path
from core import lock
from console.tui import exit_when_stuck

state = Path(sys.argv[1])

def engine():  # a restore finishing its last batch after the cancel
    with lock.exclusive(state, "restore"):
        time.sleep(1.0)
        (state / "journal-finished").write_text("cancelled")

threading.Thread(target=engine).start()
time.sleep(0.2)
threading.Thread(target=exit_when_stuck, args=(130, threading.Event(), 0.5), daemon=True).start()
threading.Event().wait()  # the main thread wedged, as Textual's is when its output thread died
"""


def test_a_wedged_console_ends_only_after_its_engine_stopped(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", STUCK, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert (tmp_path / "journal-finished").read_text() == "cancelled"  # not killed in the middle of the batch


async def test_sigterm_during_a_tui_backup_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console's handler in this process: the backup worker stops, the staging dir goes, the app ends 130."""
    import core.graph_store
    from console.scenes import settle, wait_for
    from console.tui import stop_on_signals
    from core.bundle import PARTIAL_PREFIX, list_bundles
    from tests.builders import chain_graph, insert_graph
    from tests.tui_support import make

    dd = resolve(tmp_path / ".neo-ai-data", env={})
    insert_graph(dd, *chain_graph(5_000))
    real_pages = core.graph_store.export_pages

    def slow_disk(*args: object, **kwargs: object) -> Iterator[object]:
        for page in real_pages(*args, page=500):  # type: ignore[arg-type, call-arg]
            time.sleep(0.5)
            yield page

    monkeypatch.setattr(core.graph_store, "export_pages", slow_disk)

    def staging() -> bool:
        return dd.backup_root.is_dir() and any(p.name.startswith(PARTIAL_PREFIX) for p in dd.backup_root.iterdir())

    app = make(dd)
    with stop_on_signals(app) as received:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("b")
            await wait_for(pilot, lambda: staging() and len(app.workers) > 0, timeout=60)
            os.kill(os.getpid(), signal.SIGTERM)
            await wait_for(pilot, lambda: app._exit, timeout=60)
    from core import lock

    deadline = time.monotonic() + 60
    while lock.writing():  # the worker thread outlives the app here (the real process waits for it on exit)
        assert time.monotonic() < deadline, "the backup did not stop"
        await asyncio.sleep(0.05)
    assert received == [signal.SIGTERM] and app.return_code == 130
    listing = list_bundles(dd.backup_root)
    assert listing.bundles == () and listing.residue == (), "a cancelled backup leaves nothing behind"
