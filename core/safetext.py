"""Text from a bundle, the live graph or Chroma, made safe to show on a terminal.

A label, id, reason or file name is data: it must never move the cursor, clear the screen, set the window
title, ring the bell or reorder what follows it. ``visible`` escapes every character that could: the C0
controls, DEL, the C1 controls, the bidi overrides, embeddings, isolates and marks, and lone surrogates (which
cannot be encoded for the terminal at all). Everything else, backslashes included, is shown as it is.
JSON output needs none of this: a JSON encoder escapes control characters itself.
"""

from __future__ import annotations

import re

# C0 (with \n handled separately), DEL, C1, lone surrogates, and the bidi formatting characters:
# LRM/RLM, LRE/RLE/PDF/LRO/RLO, LRI/RLI/FSI/PDI, and the Arabic letter mark.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_OR_NEWLINE = re.compile(f"[\n{_UNSAFE.pattern[1:-1]}]")

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object, *, newlines: bool = False) -> str:
    """``text`` with every terminal control made visible: ESC becomes ``\\x1b``, U+202E ``\\u202e``.

    A newline is escaped too (a label never spans two lines), unless ``newlines`` is set for text the caller
    lays out on several lines on purpose, such as a multi-line error message.
    """
    s = text if isinstance(text, str) else str(text)
    pattern = _UNSAFE if newlines else _UNSAFE_OR_NEWLINE
    if pattern.search(s) is None:
        return s
    return pattern.sub(_escape, s)

