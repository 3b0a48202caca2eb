"""Reading a bundle's payload: every line restore, plan, verify, backup's counts and the listing read comes
through here, whatever the substrate.

A payload file is opened by ``open_payload``, the one place that knows how its bytes are stored: the decoder is
chosen by the file name (``core.codec``: ``.jsonl`` plain, ``.jsonl.br`` brotli, ``.jsonl.gz`` gzip), never by
the meta. A torn or mislabelled compressed payload raises ``codec.PayloadUnreadable`` (BUNDLE_INVALID, naming
the file) while it is read. Nothing here reads a file whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import orjson

from core import codec

BUFFER = 1 << 20
PAYLOAD_SUFFIXES = tuple(codec.SUFFIXES)  # .jsonl.br, .jsonl.gz, .jsonl
# the flat substrates (concepts, trajectories, mailbox, ledgers) are verbatim copies: plain JSONL only
PLAIN_SUFFIXES = (".jsonl",)


def is_payload(path: Path) -> bool:
    """A file of records (one JSON value per line, in any encoding), not a fixed member such as a ledger's JSON."""
    return codec.is_payload_name(path.name)


def payload_files(folder: Path, *, compressed: bool = True) -> list[Path]:
    """The payload files directly in ``folder``, sorted by name (neo's order); ``compressed=False`` for a flat
    substrate's folder, whose members neo copies verbatim (``*.jsonl`` only)."""
    suffixes = PAYLOAD_SUFFIXES if compressed else PLAIN_SUFFIXES
    return sorted(p for suffix in suffixes for p in folder.glob(f"*{suffix}")
                  if codec.payload_encoding(p.name) == codec.SUFFIXES[suffix] and p.is_file())


@contextmanager
def open_payload(path: Path) -> Iterator[BinaryIO]:
    """The decoded bytes of a bundle file, streamed; a fixed member (a ledger's JSON) as it is."""
    if codec.payload_encoding(path.name) in (None, codec.PLAIN):
        with open(path, "rb", buffering=BUFFER) as fh:
            yield fh
        return
    with codec.open_decoded(path) as fh:
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
