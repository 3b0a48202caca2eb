"""Reading a bundle's payload: every line restore, plan, verify, backup's counts and the listing read comes
through here, whatever the substrate.

A payload file is opened by ``open_payload``, the one place that knows how its bytes are stored. Today that is
plain ``*.jsonl``; a compressed payload (neo's ``.jsonl.br`` / ``.jsonl.gz``) is a decoder added here and a
suffix added to ``PAYLOAD_SUFFIXES``, and every reader follows. Nothing here reads a file whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import orjson

BUFFER = 1 << 20
PAYLOAD_SUFFIXES = (".jsonl",)
PAYLOAD_GLOBS = tuple(f"*{s}" for s in PAYLOAD_SUFFIXES)


def is_payload(path: Path) -> bool:
    """A file of records (one JSON value per line), as opposed to a fixed member such as a ledger's JSON."""
    return path.name.endswith(PAYLOAD_SUFFIXES)


def payload_files(folder: Path) -> list[Path]:
    """The payload files directly in ``folder``, sorted by name (neo's order)."""
    return sorted(p for pattern in PAYLOAD_GLOBS for p in folder.glob(pattern) if p.is_file())


@contextmanager
def open_payload(path: Path) -> Iterator[BinaryIO]:
    """The decoded bytes of a bundle file, streamed."""
    with open(path, "rb", buffering=BUFFER) as fh:
        yield fh


def iter_numbered(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line with its newline) for every line of one file, blank ones included."""
    with open_payload(path) as fh:
        yield from enumerate(fh, start=1)


def iter_lines(files: list[Path]) -> Iterator[tuple[Path, int, bytes]]:
    """(file, 1-based line number, line without its newline) for every non-blank line of ``files``."""
    for path in files:
        for number, raw in iter_numbered(path):
            body = raw.rstrip(b"\r\n")
            if body.strip():
                yield path, number, body


def count_lines(path: Path) -> int:
    """neo's integrity count: the number of non-blank lines (one record = one line)."""
    n = 0
    with open_payload(path) as fh:
        for raw in fh:
            if raw.strip():
                n += 1
    return n


def read_json_member(path: Path, limit: int = 64 << 20) -> object:
    """A bundle's fixed JSON member (a ledger), parsed; at most ``limit`` bytes are read."""
    with open_payload(path) as fh:
        return orjson.loads(fh.read(limit))
