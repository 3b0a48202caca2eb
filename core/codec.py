"""How a bundle payload's bytes are stored: plain ``.jsonl``, brotli ``.jsonl.br`` or gzip ``.jsonl.gz``.

The file name is the contract (neo's ``bundlePayload.mjs``): the decoder is chosen by the name's suffix, never
by the meta, whose ``payloadEncoding`` is only a receipt. Reading streams with bounded memory whatever the
payload's size (an input chunk and a bounded output buffer at a time, also for data that compresses 1000:1).

A compressed payload that does not decode to its end is refused with ``PayloadUnreadable`` (BUNDLE_INVALID)
naming the file, never read as a shorter valid file:
- cut short (including a 0-byte ``.br`` / ``.gz``): the stream has no end marker;
- not brotli / not gzip under that name, or corrupt inside;
- bytes after the end of the brotli stream (trailing garbage, or a second concatenated stream). neo's Node
  reader ignores them and reads only the first stream; neo never writes them, so their presence means the
  file is not what neo wrote, and reading either way would give figures that differ from one reader to the
  next. The console refuses instead;
- gzip: several members one after the other are one file (RFC 1952, and Node reads them all); bytes after the
  last member that are not another complete member are refused (Node refuses them too).
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

import brotli

from core.errors import BundleInvalid

PLAIN, BROTLI, GZIP = "jsonl", "jsonl+br", "jsonl+gz"
# suffix -> neo's payloadEncoding token, longest suffix first (neo's classification order)
SUFFIXES = {".jsonl.br": BROTLI, ".jsonl.gz": GZIP, ".jsonl": PLAIN}
SUFFIX_OF = {token: suffix for suffix, token in SUFFIXES.items()}
# the operator's names (backup --payload-encoding, [backup] payload_encoding) -> neo's token
CHOICES = {"jsonl": PLAIN, "br": BROTLI, "gz": GZIP}
BROTLI_QUALITY = 4  # neo's BUNDLE_PAYLOAD_BROTLI_QUALITY
BROTLI_LGWIN = 22  # Node's default window, which neo keeps
GZIP_LEVEL = 6

BUFFER = 1 << 20
IN_CHUNK = 1 << 18  # compressed bytes fed to a decoder at a time
OUT_LIMIT = 1 << 22  # decoded bytes a decoder may hand back at a time (bigger calls decode faster)
WRITE_BATCH = 1 << 18  # decoded bytes gathered before one compressor call


class PayloadUnreadable(BundleInvalid):
    """A payload's bytes do not decode as its file name says (torn, mislabelled, trailing bytes)."""


def payload_encoding(name: str) -> str | None:
    """neo's token for a payload file name (``jsonl``, ``jsonl+br``, ``jsonl+gz``), None for anything else.

    neo's rule: the base name ends with the suffix (case-sensitive) and is longer than it, so a file named
    exactly ``.jsonl`` is not a payload, nor are ``rows.br``, ``rows.jsonlbr`` or ``rows.jsonl.tmp``.
    """
    base = os.path.basename(name)
    for suffix, token in SUFFIXES.items():
        if base.endswith(suffix) and len(base) > len(suffix):
            return token
    return None


def is_payload_name(name: str) -> bool:
    return payload_encoding(name) is not None


def strip_suffix(name: str) -> str:
    """The file name without its payload suffix (``memory-backup-<ts>.jsonl.br`` -> ``memory-backup-<ts>``)."""
    token = payload_encoding(name)
    return name[: -len(SUFFIX_OF[token])] if token else name


def choice_token(choice: str) -> str:
    """neo's token for an operator's ``jsonl|br|gz`` (neo's own tokens are accepted too)."""
    if choice in CHOICES:
        return CHOICES[choice]
    if choice in SUFFIX_OF:
        return choice
    raise ValueError(f"unknown payload encoding {choice!r} (choose from {', '.join(CHOICES)})")


class _Decoder(Protocol):
    def step(self) -> bytes | None:
        """Some decoded bytes (possibly none yet); None at the clean end of the payload."""


class _BrotliDecoder:
    def __init__(self, path: Path, fh: IO[bytes]) -> None:
        self.path, self.fh = path, fh
        self.d = brotli.Decompressor()
        self.offset = 0  # compressed bytes fed so far

    def _fail(self, what: str) -> PayloadUnreadable:
        return PayloadUnreadable(f"{what} (.jsonl.br payload)", path=self.path)

    def step(self) -> bytes | None:
        if not self.d.can_accept_more_data():  # output held back by the limit: drain before feeding more
            return bytes(self.d.process(b"", output_buffer_limit=OUT_LIMIT))
        chunk = self.fh.read(IN_CHUNK)
        if not chunk:
            if self.d.is_finished():
                return None
            # all input consumed, but a long copy may still owe output
            out = bytes(self.d.process(b"", output_buffer_limit=OUT_LIMIT))
            if out:
                return out
            if self.offset == 0:
                raise self._fail("cut short: the file is empty, not a brotli stream")
            raise self._fail(f"cut short: the brotli stream ends after {self.offset} bytes without its end "
                             "marker (a torn copy or an interrupted write)")
        if self.d.is_finished():
            raise self._fail(f"bytes after the end of the brotli stream at byte {self.offset} (trailing garbage "
                             "or a second stream: not what neo writes)")
        start = self.offset
        self.offset += len(chunk)
        try:
            return bytes(self.d.process(chunk, output_buffer_limit=OUT_LIMIT))
        except brotli.error:
            what = "not brotli" if start == 0 else f"corrupt brotli data between bytes {start} and {self.offset}"
            raise self._fail(f"{what}: the decoder failed (a mislabelled file, damage, or bytes after the "
                             "end of the stream)") from None


class _GzipDecoder:
    def __init__(self, path: Path, fh: IO[bytes]) -> None:
        self.path, self.fh = path, fh
        self.d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self.member = 1
        self.offset = 0

    def _fail(self, what: str) -> PayloadUnreadable:
        return PayloadUnreadable(f"{what} (.jsonl.gz payload)", path=self.path)

    def _decompress(self, data: bytes) -> bytes:
        try:
            return self.d.decompress(data, OUT_LIMIT)
        except zlib.error as exc:
            if self.member > 1:
                raise self._fail(f"bytes after gzip member {self.member - 1} are not a gzip member ({exc})") from None
            raise self._fail(f"not gzip or corrupt near byte {self.offset}: {exc}") from None

    def step(self) -> bytes | None:
        if self.d.unconsumed_tail:
            return self._decompress(self.d.unconsumed_tail)
        if self.d.eof:
            rest = self.d.unused_data or self._read()
            if not rest:
                return None
            self.d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            self.member += 1
            return self._decompress(rest)
        chunk = self._read()
        if not chunk:
            if self.offset == 0:
                raise self._fail("cut short: the file is empty, not a gzip stream")
            raise self._fail(f"cut short: gzip member {self.member} ends after {self.offset} bytes without its "
                             "trailer (a torn copy, an interrupted write, or stray bytes after the last member)")
        return self._decompress(chunk)

    def _read(self) -> bytes:
        chunk = self.fh.read(IN_CHUNK)
        self.offset += len(chunk)
        return chunk


class _DecodedRaw(io.RawIOBase):
    """A decoder as a raw stream, so ``io.BufferedReader`` gives fast ``readline`` / line iteration over it."""

    def __init__(self, fh: IO[bytes], decoder: _Decoder) -> None:
        self._fh, self._decoder = fh, decoder
        self._out = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while self._pos >= len(self._out):
            if self._done:
                return 0
            step = self._decoder.step()
            if step is None:
                self._done = True
                return 0
            self._out, self._pos = step, 0
        n = min(len(buffer), len(self._out) - self._pos)
        buffer[:n] = self._out[self._pos:self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        try:
            self._fh.close()
        finally:
            super().close()


def open_decoded(path: Path) -> BinaryIO:
    """The decoded bytes of a payload, streamed, decoder chosen by the file name. Close it (or use ``with``).

    Iterating it gives lines with their ``\\n``, like a plain binary file. Decoding errors surface while reading,
    as ``PayloadUnreadable`` naming ``path``; a missing file raises FileNotFoundError at once.
    """
    token = _token(path)
    fh = open(path, "rb", buffering=BUFFER if token == PLAIN else 0)  # noqa: SIM115 - owned by the returned stream
    return wrap_decoded(fh, path)


def wrap_decoded(fh: IO[bytes], path: Path) -> BinaryIO:
    """``open_decoded`` for a file the caller opened itself (e.g. safely, inside a bundle); closing the result
    closes ``fh``. ``path`` names the file: its suffix picks the decoder, and errors name it."""
    token = _token(path)
    if token == PLAIN:
        return fh  # type: ignore[return-value]
    decoder: _Decoder = _BrotliDecoder(path, fh) if token == BROTLI else _GzipDecoder(path, fh)
    return io.BufferedReader(_DecodedRaw(fh, decoder), buffer_size=BUFFER)


def _token(path: Path) -> str:
    token = payload_encoding(path.name)
    if token is None:
        raise PayloadUnreadable("not a bundle payload (expected one of .jsonl, .jsonl.br, .jsonl.gz)", path=path)
    return token


def drain(path: Path) -> int:
    """Decode a whole payload and return its decoded size: proves it is complete (raises PayloadUnreadable)."""
    size = 0
    with open_decoded(path) as fh:
        while chunk := fh.read(BUFFER):
            size += len(chunk)
    return size


class PayloadWriter:
    """Writes one record per line to a new payload, encoded as its file name says (brotli at neo's quality 4).

    Counts lines and decoded bytes; ``sha256`` and ``bytes`` cover the bytes on disk (what a checksum of the
    file gives). ``close`` ends the stream and fsyncs; ``discard`` removes the file.
    """

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        token = payload_encoding(path.name)
        if token is None:
            raise ValueError(f"not a payload file name: {path.name}")
        self.path = path
        self.encoding = token
        self._compress: Any = None  # brotli.Compressor or zlib's compressobj
        if token == BROTLI:
            self._compress = brotli.Compressor(mode=brotli.MODE_GENERIC, quality=BROTLI_QUALITY, lgwin=BROTLI_LGWIN)
        elif token == GZIP:
            self._compress = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        self._fh: IO[bytes] = os.fdopen(fd, "wb", buffering=BUFFER)
        self._sha = hashlib.sha256()
        self._pending = bytearray()
        self.lines = 0
        self.bytes = 0  # on disk
        self.decoded_bytes = 0

    def write_raw(self, line: bytes) -> None:
        """One record, already serialised, without its newline."""
        self.lines += 1
        self.decoded_bytes += len(line) + 1
        if self._compress is None:
            self._emit(line + b"\n")
            return
        self._pending += line
        self._pending += b"\n"
        if len(self._pending) >= WRITE_BATCH:
            self._flush_pending()

    def write_block(self, block: bytes, lines: int) -> None:
        """Whole records already serialised, each ending in its newline (``lines`` of them)."""
        self.lines += lines
        self.decoded_bytes += len(block)
        if self._compress is None:
            self._emit(block)
            return
        self._pending += block
        if len(self._pending) >= WRITE_BATCH:
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._pending:
            assert self._compress is not None
            data = bytes(self._pending)
            self._pending.clear()
            self._emit(self._compress.process(data) if self.encoding == BROTLI else self._compress.compress(data))

    def _emit(self, data: bytes) -> None:
        if data:
            self._fh.write(data)
            self._sha.update(data)
            self.bytes += len(data)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def close(self) -> None:
        if self._fh.closed:
            return
        if self._compress is not None:
            self._flush_pending()
            self._emit(self._compress.finish() if self.encoding == BROTLI else self._compress.flush())
            self._compress = None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def discard(self) -> None:
        """Close without finishing the stream and remove the file."""
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> PayloadWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
