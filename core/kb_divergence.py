"""neo's KB_MERGE_NATURAL_KEY_DIVERGENCE: bundle KB rows whose natural key (source, path, chunk, ...) is live
under another id. A merge would add the row beside the live one, so the plan reports them and validation refuses."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import orjson

from core import chroma_store as cs
from core.progress import check_cancel
from core.records import NaturalKey, natural_key
from core.scan import iter_lines

DIVERGENT_EXAMPLES = 10


@dataclass(frozen=True, kw_only=True)
class DivergentExample:
    """A bundle KB row whose natural key is live under another id (neo's KB_MERGE_NATURAL_KEY_DIVERGENCE)."""

    file: str
    line: str  # a string on the wire, as it always was
    id: str
    live_id: str
    key: str



def kb_divergence(col: cs.Collection, files: list[Path], bundle: Path, *, cancel: threading.Event | None = None,
                  limit: int = DIVERGENT_EXAMPLES) -> tuple[int, list[DivergentExample]]:
    """Bundle KB rows whose natural key exists live under a different id (neo's KB_MERGE_NATURAL_KEY_DIVERGENCE)."""
    live: dict[NaturalKey, set[str] | str] = {}
    for i, (rid, meta) in enumerate(cs.iter_metadata(col, page=2000)):
        if i % 2000 == 0:
            check_cancel(cancel)
        k = natural_key(meta)
        if k is None:
            continue
        have = live.get(k)
        if have is None:
            live[k] = rid  # one id per key is the norm: keep a str, not a set
        elif isinstance(have, str):
            live[k] = {have, rid}
        else:
            have.add(rid)
    count = 0
    examples: list[DivergentExample] = []
    for path, number, raw in iter_lines(files):
        if number % 2000 == 0:
            check_cancel(cancel)
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        k = natural_key(obj.get("metadata")) if isinstance(obj, dict) else None
        have = live.get(k) if k is not None else None
        if k is None or have is None:
            continue
        rid = obj.get("id")
        if rid == have or (isinstance(have, set) and rid in have):
            continue
        count += 1
        if len(examples) < limit:
            other = have if isinstance(have, str) else sorted(have)[0]
            examples.append(DivergentExample(file=str(path.relative_to(bundle)), line=str(number), id=str(rid),
                                             live_id=other, key="/".join("" if v is None else str(v) for v in k)))
    return count, examples
