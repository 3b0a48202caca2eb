"""Chroma access that never fetches an embedding model and never phones home.

Every collection is opened with ``embedding_function=None`` and every write passes stored embeddings.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from core.datadir import DataDir

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# chroma's get() fails above 32,766 rows ("too many SQL variables"); stay well under it.
MAX_GET_IDS = 30_000
# a request to a Chroma server should stay far below its 40 MiB payload limit.
REQUEST_BUDGET_BYTES = 8 << 20


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


def open_client(dd: DataDir, *, create: bool = True) -> Any:
    """An embedded PersistentClient on the data dir, or an HttpClient when a server URL is set."""
    import chromadb

    if dd.chroma_url:
        url = urlparse(dd.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            settings=_settings(),
        )
    if not create and not (dd.chroma_path / "chroma.sqlite3").exists():
        return None
    dd.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(dd.chroma_path), settings=_settings())


def get_collection(client: Any, name: str, *, create: bool = False, space: str | None = None) -> Any:
    """The collection, or None when it does not exist and ``create`` is False."""
    if client is None:
        return None
    if create:
        metadata = {"hnsw:space": space} if space else None
        return client.get_or_create_collection(name, embedding_function=None, metadata=metadata)
    try:
        return client.get_collection(name, embedding_function=None)
    except Exception as exc:  # chroma raises NotFoundError / ValueError depending on the transport
        if "does not exist" in str(exc) or "not found" in str(exc).lower():
            return None
        raise


def max_batch(client: Any) -> int:
    try:
        return int(client.get_max_batch_size())
    except Exception:
        return 5461


def rows_per_request(client: Any, dimension: int | None, *, extra_bytes: int = 4096) -> int:
    """Rows per write: the client's max batch, and a request size a server accepts.

    A 4096-d row is ~40 KB of JSON on the wire, so neo's fixed 250 is this rule at that dimension.
    """
    per_row = (dimension or 1024) * 20 + extra_bytes
    return max(1, min(max_batch(client), REQUEST_BUDGET_BYTES // per_row, 5000))


def detect_dimension(collection: Any) -> int | None:
    if collection is None or collection.count() == 0:
        return None
    got = collection.get(limit=1, include=["embeddings"])
    emb = got.get("embeddings")
    if emb is None or len(emb) == 0 or emb[0] is None:  # a damaged row: the export names it
        return None
    return len(emb[0])


@dataclass(frozen=True)
class Record:
    id: str
    embedding: Any  # numpy array or list of floats
    metadata: dict | None
    document: str | None

    def to_line(self) -> dict:
        # neo's exporter key order: id, embedding, metadata, document
        return {"id": self.id, "embedding": self.embedding, "metadata": self.metadata, "document": self.document}


def iter_records(collection: Any, *, page: int) -> Iterator[list[Record]]:
    """Pages of records in insertion order, with embeddings, metadatas and documents."""
    offset = 0
    page = max(1, min(page, 30_000))
    while True:
        got = collection.get(
            limit=page, offset=offset, include=["embeddings", "metadatas", "documents"]
        )
        ids = got["ids"]
        if not ids:
            return
        embs = got["embeddings"] if got["embeddings"] is not None else [None] * len(ids)
        metas = got["metadatas"] or [None] * len(ids)
        docs = got["documents"] or [None] * len(ids)
        yield [Record(ids[i], embs[i], metas[i], docs[i]) for i in range(len(ids))]
        if len(ids) < page:
            return
        offset += len(ids)


def existing_ids(collection: Any, ids: list[str]) -> set[str]:
    """The subset of ``ids`` present in the collection (chroma returns them unordered)."""
    found: set[str] = set()
    for i in range(0, len(ids), MAX_GET_IDS):
        got = collection.get(ids=ids[i : i + MAX_GET_IDS], include=[])
        found.update(got["ids"])
    return found


def export_page_size(dimension: int | None) -> int:
    return max(50, min(2000, (16 << 20) // (((dimension or 1024) * 20) + 4096)))
