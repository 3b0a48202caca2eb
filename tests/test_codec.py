"""Payload encodings: the decoder follows the file name, streams with bounded memory, and a torn or mislabelled
compressed payload is BUNDLE_INVALID naming the file, never a shorter valid file."""

from __future__ import annotations

import gzip
import hashlib
import tracemalloc
from pathlib import Path

import brotli
import pytest

from core import codec
from core.errors import BundleInvalid

TEXT = b"".join(b'{"id":"m-%d","document":"row %d \\u2028 caf\xc3\xa9"}\n' % (i, i) for i in range(5000))


def lines_of(path: Path) -> list[bytes]:
    with codec.open_decoded(path) as fh:
        return list(fh)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(("name", "token"), [
    ("memory-backup-2026-09-20T03-05-11.002Z.jsonl.br", "jsonl+br"),
    ("graph-backup-x.jsonl.gz", "jsonl+gz"),
    ("knowledge-base-backup-x.jsonl", "jsonl"),
    ("/abs/dir/rows.jsonl.br", "jsonl+br"),
    # neo's spec pins these as not payloads
    ("bundle-meta.json", None), ("heal-attempts.json", None), ("rows.jsonl.tmp", None), ("rows.br", None),
    ("rows.jsonlbr", None), ("jsonl", None), ("", None), (".jsonl", None), (".jsonl.br", None),
    ("ROWS.JSONL.BR", None),
])
def test_the_file_name_picks_the_encoding_exactly_as_neo_classifies_it(name: str, token: str | None) -> None:
    assert codec.payload_encoding(name) == token


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.br", "rows.jsonl.gz"])
def test_every_encoding_decodes_to_the_same_lines(tmp_path: Path, name: str) -> None:
    data = {".jsonl": TEXT, ".br": brotli.compress(TEXT, quality=4), ".gz": gzip.compress(TEXT)}[Path(name).suffix]
    assert lines_of(write(tmp_path, name, data)) == TEXT.splitlines(keepends=True)


def test_a_multi_member_gzip_reads_every_member_like_node(tmp_path: Path) -> None:
    half = len(TEXT) // 2
    cut = TEXT.rindex(b"\n", 0, half) + 1
    p = write(tmp_path, "rows.jsonl.gz", gzip.compress(TEXT[:cut]) + gzip.compress(TEXT[cut:]))
    assert b"".join(lines_of(p)) == TEXT


@pytest.mark.parametrize("suffix", [".jsonl.br", ".jsonl.gz"])
@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, -1])
def test_a_torn_compressed_payload_is_refused_naming_the_file(tmp_path: Path, suffix: str, keep: float) -> None:
    full = brotli.compress(TEXT, quality=4) if suffix == ".jsonl.br" else gzip.compress(TEXT)
    size = len(full) - 1 if keep == -1 else int(len(full) * keep)
    p = write(tmp_path, f"memory-backup-x{suffix}", full[:size])
    with pytest.raises(BundleInvalid) as err:
        lines_of(p)
    assert err.value.code == "BUNDLE_INVALID"
    assert err.value.path == str(p)
    assert "cut short" in err.value.reason


@pytest.mark.parametrize("suffix", [".jsonl.br", ".jsonl.gz"])
def test_plain_text_under_a_compressed_name_is_refused(tmp_path: Path, suffix: str) -> None:
    p = write(tmp_path, f"rows{suffix}", TEXT)
    with pytest.raises(codec.PayloadUnreadable) as err:
        lines_of(p)
    assert err.value.path == str(p)
    assert ("not brotli" if suffix == ".jsonl.br" else "not gzip") in err.value.reason


def test_brotli_then_gzip_name_mixup_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "rows.jsonl.gz", brotli.compress(TEXT, quality=4))
    with pytest.raises(codec.PayloadUnreadable):
        lines_of(p)
    p = write(tmp_path, "rows.jsonl.br", gzip.compress(TEXT))
    with pytest.raises(codec.PayloadUnreadable):
        lines_of(p)


@pytest.mark.parametrize("tail", [b"x", b"\x00" * 3, b"garbage after the stream\n" * 10_000, "second"])
def test_bytes_after_the_brotli_stream_are_refused_not_ignored(tmp_path: Path, tail: bytes | str) -> None:
    """Node reads only the first stream and drops the rest; the console refuses rather than give other figures."""
    first = brotli.compress(TEXT, quality=4)
    extra = brotli.compress(TEXT, quality=4) if tail == "second" else tail
    assert isinstance(extra, bytes)
    p = write(tmp_path, "rows.jsonl.br", first + extra)
    with pytest.raises(codec.PayloadUnreadable) as err:
        lines_of(p)
    assert err.value.path == str(p)


def test_bytes_after_the_brotli_stream_on_a_chunk_boundary_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = brotli.compress(TEXT, quality=4)
    monkeypatch.setattr(codec, "IN_CHUNK", len(first))
    p = write(tmp_path, "rows.jsonl.br", first + b"tail")
    with pytest.raises(codec.PayloadUnreadable, match="bytes after the end of the brotli stream at byte"):
        lines_of(p)


@pytest.mark.parametrize("tail", [b"x", b"\x00\x00", b"not gzip at all"])
def test_bytes_after_the_last_gzip_member_are_refused(tmp_path: Path, tail: bytes) -> None:
    p = write(tmp_path, "rows.jsonl.gz", gzip.compress(TEXT) + tail)
    with pytest.raises(codec.PayloadUnreadable) as err:
        lines_of(p)
    assert err.value.path == str(p)


def test_a_torn_payload_never_yields_a_full_count_before_failing(tmp_path: Path) -> None:
    """The lines read before the error are a prefix: a reader that swallowed the error would undercount."""
    full = brotli.compress(TEXT, quality=4)
    p = write(tmp_path, "rows.jsonl.br", full[: len(full) - 2])
    seen = 0
    with pytest.raises(codec.PayloadUnreadable), codec.open_decoded(p) as fh:
        for _ in fh:
            seen += 1
    assert seen < TEXT.count(b"\n")


def test_a_missing_payload_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        codec.open_decoded(tmp_path / "gone.jsonl.br")


def _peak_reading(path: Path, row_len: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = 0
        with codec.open_decoded(path) as fh:
            for raw in fh:
                count += 1
                assert len(raw) == row_len
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decoding_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    """60 and 120 MB of rows that brotli packs into a few KB: reading them line by line takes the same few MB
    (one decoder step's output, not the file)."""
    row = b'{"id":"x","embedding":[' + b"0.0," * 2000 + b'0.0]}\n'
    peaks = []
    for size in (60_000_000, 120_000_000):
        n = size // len(row) // 1000 * 1000
        comp = brotli.Compressor(quality=4)
        data = b"".join(comp.process(row * 1000) for _ in range(n // 1000)) + comp.finish()
        assert len(data) < 1_000_000
        count, peak = _peak_reading(write(tmp_path, f"rows-{size}.jsonl.br", data), len(row))
        assert count == n
        peaks.append(peak)
    assert peaks[1] < peaks[0] * 1.25 + (1 << 20), f"peaks {peaks}: memory grows with the payload"
    assert peaks[1] < 8 * codec.OUT_LIMIT, f"peak {peaks[1] / 1e6:.1f} MB"


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.br", "rows.jsonl.gz"])
def test_the_writer_counts_lines_and_hashes_the_bytes_on_disk(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    with codec.PayloadWriter(p) as w:
        for raw in TEXT.splitlines():
            w.write_raw(raw)
    disk = p.read_bytes()
    assert w.lines == TEXT.count(b"\n")
    assert w.bytes == len(disk)
    assert w.sha256 == hashlib.sha256(disk).hexdigest()
    assert w.decoded_bytes == len(TEXT)
    decoded = {".jsonl": lambda b: b, ".br": brotli.decompress, ".gz": gzip.decompress}[p.suffix](disk)
    assert decoded == TEXT  # decoded by the plain library, not by the console's reader
    assert lines_of(p) == TEXT.splitlines(keepends=True)
    assert (p.stat().st_mode & 0o777) == 0o600


def test_the_brotli_writer_uses_neos_window(tmp_path: Path) -> None:
    """Node's quality-4 stream starts with 0x1B: WBITS 22 (RFC 7932: bit 0 set, bits 1-3 = 5). Ours too."""
    p = tmp_path / "rows.jsonl.br"
    with codec.PayloadWriter(p) as w:
        w.write_raw(b'{"id":"a"}')
    first = p.read_bytes()[0]
    assert first & 1 == 1 and 17 + ((first >> 1) & 7) == 22
    assert 0x1B & 1 == 1 and 17 + ((0x1B >> 1) & 7) == 22  # what Node writes decodes the same way
    assert len(p.read_bytes()) < 40


def test_the_writer_refuses_a_name_that_is_not_a_payload(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        codec.PayloadWriter(tmp_path / "rows.br")


def test_the_writer_never_overwrites(tmp_path: Path) -> None:
    p = write(tmp_path, "rows.jsonl.br", b"old")
    with pytest.raises(FileExistsError):
        codec.PayloadWriter(p)
    assert p.read_bytes() == b"old"


def test_discard_removes_an_unfinished_payload(tmp_path: Path) -> None:
    p = tmp_path / "rows.jsonl.br"
    w = codec.PayloadWriter(p)
    w.write_raw(b"{}")
    w.discard()
    assert not p.exists()


@pytest.mark.parametrize(("choice", "token"), [("jsonl", "jsonl"), ("br", "jsonl+br"), ("gz", "jsonl+gz"),
                                               ("jsonl+br", "jsonl+br")])
def test_operator_choices_map_to_neos_tokens(choice: str, token: str) -> None:
    assert codec.choice_token(choice) == token
    assert codec.SUFFIX_OF[token] in (".jsonl", ".jsonl.br", ".jsonl.gz")


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown payload encoding"):
        codec.choice_token("zstd")


def test_strip_suffix() -> None:
    assert codec.strip_suffix("memory-backup-x.jsonl.br") == "memory-backup-x"
    assert codec.strip_suffix("memory-backup-x.jsonl") == "memory-backup-x"
    assert codec.strip_suffix("heal-attempts.json") == "heal-attempts.json"


def test_a_file_opened_by_the_caller_decodes_the_same(tmp_path: Path) -> None:
    p = write(tmp_path, "rows.jsonl.br", brotli.compress(TEXT, quality=4))
    fh = open(p, "rb")  # noqa: SIM115
    with codec.wrap_decoded(fh, p) as decoded:
        assert b"".join(decoded) == TEXT
    assert fh.closed
