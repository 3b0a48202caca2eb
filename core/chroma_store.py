"""Chroma, the vector store: every call the console makes to it is in this file.

Chroma never fetches an embedding model here and never phones home: every collection is opened with
``embedding_function=None``, every write passes stored embeddings, telemetry is off. Merge writes with ``add``,
which skips an id that exists (a live row is never rewritten); only replace deletes, by recreating a
collection, and undo deletes by id.

chromadb is imported when a client is opened, not when this module is: ``--help`` and ``list`` never load it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from core.datadir import DataDir

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.config import Settings

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# chroma's get() fails above 32,766 rows ("too many SQL variables"); stay well under it.
MAX_GET_IDS = 30_000
# a request to a Chroma server should stay far below its 40 MiB payload limit.
REQUEST_BUDGET_BYTES = 8 << 20
# a Chroma metadata row as stored (str/int/float/bool/None values, or neo's own shapes)
Metadata = Mapping[str, Any]


def _settings() -> Settings:
    from chromadb.config import Settings  # chromadb loads in about a second: only when a store is opened

    return Settings(anonymized_telemetry=False, allow_reset=False)


def open_client(dd: DataDir, *, create: bool = True) -> ClientAPI | None:
    """An embedded PersistentClient on the data dir, or an HttpClient when a server URL is set; None when
    there is no embedded store and ``create`` is False."""
    import chromadb  # as in _settings: only when a store is opened

    if dd.chroma_url:
        url = urlparse(dd.chroma_url)
        return chromadb.HttpClient(host=url.hostname or "127.0.0.1", port=url.port or 8000,
                                   ssl=url.scheme == "https", settings=_settings())
    if not create and not (dd.chroma_path / "chroma.sqlite3").exists():
        return None
    dd.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(dd.chroma_path), settings=_settings())


def get_collection(client: ClientAPI | None, name: str, *, create: bool = False,
                   space: str | None = None) -> Collection | None:
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


def recreate(client: ClientAPI, name: str) -> Collection:
    """Replace's truncation: drop the collection and create it empty, keeping its metadata (its distance)."""
    old = get_collection(client, name)
    metadata = dict(old.metadata) if old is not None and old.metadata else None
    if old is not None:
        client.delete_collection(name)
    return client.create_collection(name, metadata=metadata, embedding_function=None)


def count(col: Collection | None) -> int:
    return col.count() if col is not None else 0


def collection_id(col: Collection | None) -> str | None:
    return str(col.id) if col is not None else None


def max_batch(client: ClientAPI) -> int:
    try:
        return int(client.get_max_batch_size())
    except Exception:
        return 5461


def rows_per_request(client: ClientAPI, dimension: int | None, *, extra_bytes: int = 4096) -> int:
    """Rows per write: the client's max batch, and a request size a server accepts.

    A 4096-d row is ~40 KB of JSON on the wire, so neo's fixed 250 is this rule at that dimension.
    """
    per_row = (dimension or 1024) * 20 + extra_bytes
    return max(1, min(max_batch(client), REQUEST_BUDGET_BYTES // per_row, 5000))


def detect_dimension(col: Collection | None) -> int | None:
    if col is None:
        return None
    got = col.get(limit=1, include=["embeddings"])  # nothing from an empty collection (no count: it scans)
    emb = got.get("embeddings")
    if emb is None or len(emb) == 0 or emb[0] is None:  # a damaged row: the export names it
        return None
    return len(emb[0])


@dataclass(frozen=True)
class Record:
    id: str
    embedding: Sequence[float] | np.ndarray | None
    metadata: Metadata | None
    document: str | None

    def to_line(self) -> dict[str, object]:
        return bundle_line(self.id, self.embedding, self.metadata, self.document)


def bundle_line(rid: str, embedding: object, metadata: Metadata | None, document: str | None) -> dict[str, object]:
    # neo's exporter key order: id, embedding, metadata, document
    return {"id": rid, "embedding": embedding, "metadata": metadata, "document": document}


Page = tuple[Sequence[str], Sequence[Any] | np.ndarray, Sequence[Metadata | None], Sequence[str | None]]


def iter_pages(col: Collection, *, page: int) -> Iterator[Page]:
    """Pages of (ids, embeddings, metadatas, documents) in insertion order: a column per field, no object per row
    (backup's export runs through 50k rows beside the graph's)."""
    offset = 0
    page = max(1, min(page, 30_000))
    while True:
        got = col.get(limit=page, offset=offset, include=["embeddings", "metadatas", "documents"])
        ids = got["ids"]
        if not ids:
            return
        none: list[None] = [None] * len(ids)
        yield (ids, got["embeddings"] if got["embeddings"] is not None else none, got["metadatas"] or none,
               got["documents"] or none)
        if len(ids) < page:
            return
        offset += len(ids)


def iter_records(col: Collection, *, page: int) -> Iterator[list[Record]]:
    """Pages of records in insertion order, with embeddings, metadatas and documents."""
    for ids, embs, metas, docs in iter_pages(col, page=page):
        yield [Record(ids[i], embs[i], metas[i], docs[i]) for i in range(len(ids))]


def iter_metadata(col: Collection, *, page: int = 2000) -> Iterator[tuple[str, Metadata | None]]:
    """(id, metadata) of every row, a page at a time (the KB natural-key index)."""
    offset = 0
    while True:
        got = col.get(limit=page, offset=offset, include=["metadatas"])
        ids = got["ids"]
        if not ids:
            return
        metas: Sequence[Metadata | None] = got["metadatas"] or [None] * len(ids)
        yield from zip(ids, metas, strict=True)
        offset += len(ids)
        if len(ids) < page:
            return


def existing_ids(col: Collection, ids: list[str]) -> set[str]:
    """The subset of ``ids`` present in the collection (chroma returns them unordered)."""
    found: set[str] = set()
    for i in range(0, len(ids), MAX_GET_IDS):
        got = col.get(ids=ids[i : i + MAX_GET_IDS], include=[])
        found.update(got["ids"])
    return found


def documents(col: Collection, ids: list[str]) -> list[tuple[str, str | None, Metadata | None]]:
    """(id, document, metadata) of the rows with these ids that exist (what undo compares before deleting)."""
    got = col.get(ids=ids, include=["metadatas", "documents"])
    none: list[None] = [None] * len(got["ids"])
    docs: Sequence[str | None] = got.get("documents") or none
    metas: Sequence[Metadata | None] = got.get("metadatas") or none
    return list(zip(got["ids"], docs, metas, strict=True))


def add(col: Collection, ids: list[str], embeddings: np.ndarray, metadatas: Sequence[object],
        documents: Sequence[object]) -> None:
    """Add rows (an id that exists is skipped by Chroma: never an overwrite). Metadatas and documents are a
    bundle's values as they are: Chroma validates them, and a bad one refuses its row. Chroma refuses an
    all-None metadata or document list, so those go as None."""
    col.add(ids=ids, embeddings=embeddings,
            metadatas=list(metadatas) if any(m is not None for m in metadatas) else None,  # type: ignore[arg-type]
            documents=list(documents) if any(d is not None for d in documents) else None)  # type: ignore[arg-type]


def delete(col: Collection, ids: list[str]) -> None:
    col.delete(ids=ids)


def export_page_size(dimension: int | None) -> int:
    return max(50, min(2000, (16 << 20) // (((dimension or 1024) * 20) + 4096)))


def records_by_id(col: Collection, ids: list[str]) -> list[Record]:
    """The rows with these ids that exist, with embeddings, metadatas and documents (a search hit's live copy)."""
    out: list[Record] = []
    for i in range(0, len(ids), MAX_GET_IDS):
        got = col.get(ids=ids[i : i + MAX_GET_IDS], include=["embeddings", "metadatas", "documents"])
        n = len(got["ids"])
        none: list[None] = [None] * n
        embs = got["embeddings"] if got["embeddings"] is not None else none
        metas: Sequence[Metadata | None] = got["metadatas"] or none
        docs: Sequence[str | None] = got["documents"] or none
        out += [Record(got["ids"][j], embs[j], metas[j], docs[j]) for j in range(n)]
    return out


def stored(col: Collection, ids: list[str]) -> dict[str, tuple[str | None, Metadata | None]]:
    """id -> (document, metadata) of the rows with these ids that exist, in chunks under chroma's get limit."""
    out: dict[str, tuple[str | None, Metadata | None]] = {}
    for i in range(0, len(ids), MAX_GET_IDS):
        for rid, doc, meta in documents(col, ids[i : i + MAX_GET_IDS]):
            out[rid] = (doc, meta)
    return out


def embeddings(col: Collection, ids: list[str]) -> dict[str, np.ndarray]:
    """id -> stored vector of the rows with these ids that exist."""
    got = col.get(ids=ids, include=["embeddings"])
    vectors = got.get("embeddings")
    if vectors is None:
        return {}
    return {rid: np.asarray(v, dtype=np.float32) for rid, v in zip(got["ids"], vectors, strict=True) if v is not None}


def nearest(col: Collection, vectors: Sequence[np.ndarray], k: int) -> list[list[tuple[str, float]]]:
    """For each vector, the ``k`` nearest rows as (id, distance), nearest first (the collection's own space)."""
    if not vectors:
        return []
    got = col.query(query_embeddings=np.stack(vectors), n_results=k, include=["distances"])
    dists = got.get("distances") or [[0.0] * len(ids) for ids in got["ids"]]
    return [list(zip(ids, map(float, ds), strict=True)) for ids, ds in zip(got["ids"], dists, strict=True)]


def space(col: Collection) -> str:
    """The collection's distance (chroma's default is l2)."""
    meta = col.metadata or {}
    value = meta.get("hnsw:space") if isinstance(meta, Mapping) else None
    if value is None and getattr(col, "configuration_json", None):
        hnsw = (col.configuration_json or {}).get("hnsw") or {}
        value = hnsw.get("space")
    return str(value or "l2")
