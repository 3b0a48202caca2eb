"""A helper process for a pass that reads a big file in two parts at once (the restore's staging, the plan's
scan): a fresh interpreter running one function of `core`, never a fork (the TUI runs these passes from a thread
of a multi-threaded process). The helper ignores Ctrl-C (its caller cancels, then stops it) and dies with its
caller (Linux's PR_SET_PDEATHSIG), so a killed restore or plan leaves no process reading on for nothing."""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent  # the directory holding the `core` package, for the helper's imports
# the helper's program: argv[1] is ROOT, argv[2] "module:function", argv[3] the caller's pid, the rest its args
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from core.helper_process import run_child; run_child(sys.argv[2:])"


class HelperProcess:
    """``target`` ("module:function") called with ``args`` in a helper process; its stdout a pipe, its stderr
    kept for the error that names what it last said. ``program`` replaces the boot code (a test's stand-in)."""

    def __init__(self, target: str, args: Sequence[str], program: str = BOOT) -> None:
        self.err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close(), after the process
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", program, str(ROOT), target, str(os.getpid()), *args],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err, bufsize=0)
        except BaseException:
            self.err.close()
            raise
        assert self.proc.stdout is not None
        self.stdout: IO[bytes] = self.proc.stdout

    def exit_code(self, wait: float = 0.0) -> int:
        """Its exit code, after waiting up to ``wait`` seconds for it to end by itself; killed if it has not."""
        if wait:
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait)
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def last_word(self) -> str:
        """The last line it wrote to stderr ('' for none)."""
        self.err.seek(0, os.SEEK_END)
        self.err.seek(max(0, self.err.tell() - 4096))
        said = [ln for ln in self.err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return said[-1].strip() if said else ""

    def close(self, wait: float = 0.0) -> None:
        """Stop it (after ``wait`` seconds to end by itself) and reap it."""
        self.exit_code(wait)
        self.stdout.close()
        self.err.close()


def run_child(argv: Sequence[str]) -> None:
    """The helper's side of `BOOT`: ``module:function parent-pid args...``."""
    target, parent, args = argv[0], int(argv[1]), list(argv[2:])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the caller died before the signal was armed
        os._exit(1)
    module, function = target.split(":")
    getattr(importlib.import_module(module), function)(args)


def line_start_at(path: Path, offset: int) -> int:
    """The first line start at or after byte ``offset`` (> 0) of a file; its size when no line starts there."""
    with open(path, "rb") as fh:
        fh.seek(offset - 1)
        return fh.tell() + len(fh.readline())
