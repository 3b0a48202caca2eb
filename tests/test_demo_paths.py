"""A generated demo is the same bytes wherever it is built: no picture or test may depend on the build dir.

(A meta that held the absolute Chroma path, then was torn at a third of its length, moved an error column on
screen with the length of pytest's temporary path.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core import chroma_store as ch
from core.datadir import resolve
from core.demo import build_demo
from core.substrates import COLLECTIONS

NOW = datetime(2026, 5, 10, 10, 0, 0, tzinfo=UTC)
# Chroma's own files (chroma/unified/**) hold collection and segment UUIDs and creation times that Chroma
# draws itself, so they differ between any two builds, even in the same dir; they are compared by content.
CHROMA = Path("chroma") / "unified"


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and CHROMA not in p.relative_to(root).parents}


def chroma_content(root: Path) -> dict[str, Any]:
    client = ch.open_client(resolve(root, env={}), create=False)
    out: dict[str, Any] = {}
    for key, name in COLLECTIONS.items():
        col = ch.get_collection(client, name)
        if col is None:  # the demo has no temporal summaries
            out[key] = None
            continue
        got = col.get(include=["embeddings", "metadatas", "documents"])
        order = sorted(range(len(got["ids"])), key=lambda i: got["ids"][i])
        out[key] = [(got["ids"][i], [float(x) for x in got["embeddings"][i]], got["metadatas"][i],
                     got["documents"][i]) for i in order]
    return out


def test_the_demo_is_byte_identical_whatever_dir_it_is_built_in(tmp_path: Path) -> None:
    short = tmp_path / "a"
    long = tmp_path / ("a-much-longer-base-directory-" * 4) / "and" / "deeper" / ".neo-ai-data"
    for root in (short, long):
        build_demo(root, scale=0.05, now=NOW, seed=5)
    a, b = files(short), files(long)
    assert sorted(a) == sorted(b)
    assert any(name.endswith("bundle-meta.json") for name in a) and any(name.endswith(".sqlite") for name in a)
    differ = [name for name in a if a[name] != b[name]]
    assert differ == []
    for content in a.values():
        assert str(short).encode() not in content
    assert chroma_content(short) == chroma_content(long)
