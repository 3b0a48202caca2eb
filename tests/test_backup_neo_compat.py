"""Defects neo's real restore found in the console's bundles (issue 11, "Write what every neo can read").

Each test here failed before its fix. The interop suite (tests/interop) proves the same points against neo's
released code; these stay fast and run without Node.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from core import backup as backup_mod
from core import graph_store as g
from core.backup import NEO_DEFAULT_DIMENSION, run_backup
from core.bundle import META_FILE, list_bundles
from core.datadir import DataDir, resolve
from core.errors import ConsoleError
from core.verify import RESTORABLE, verify_bundle
from tests.builders import add_rows, chain_graph, insert_graph, node

# What a non-neo writer can leave in the `data` column: JSON that parses, laid out with CR/LF whitespace.
# Inside a JSON string a raw CR/LF is illegal, so between tokens is the only place one can sit.
CRLF_DATA = ('{"id":"crlf-node",\r\n  "label":"FILE",\r  "properties":{"name":"a\\rb\\u2028c",\n'
             '"big":9007199254740993,"neg":-0,"long":"' + "x" * 5000 + '"}}')


def _raw_rows(dd: DataDir, rows: list[tuple[str, str]]) -> None:
    conn = g.connect(dd.graph_db)
    try:
        conn.executemany("INSERT INTO Nodes (id, user_id, data) VALUES (?, NULL, ?)", rows)
    finally:
        conn.close()


def test_graph_data_with_raw_cr_and_lf_is_written_on_one_line_with_exact_values(data_dir: DataDir) -> None:
    insert_graph(data_dir, [node("plain", "CONCEPT", name="plain")], [])
    _raw_rows(data_dir, [("crlf-node", CRLF_DATA)])
    result = run_backup(data_dir)
    [graph_file] = (Path(result.path) / "graph").glob("*.jsonl")
    raw = graph_file.read_bytes()
    assert b"\r" not in raw, "neo's line reader splits on a raw CR: no bundle line may hold one"
    lines = raw.split(b"\n")[:-1]
    assert len(lines) == 2, "one row, one line"
    [line] = [ln for ln in lines if b"crlf-node" in ln]
    data = json.loads(line)["data"]
    assert data == json.loads(CRLF_DATA), "parsed values identical"
    assert data["properties"]["name"] == "a\rb\u2028c"
    # exact through the console: the integer text and the sign of zero are kept, not re-serialised
    assert b'"big":9007199254740993' in line and b'"neg":-0' in line
    assert verify_bundle(Path(result.path)).verdict == RESTORABLE


def test_a_raw_lf_row_among_thousands_costs_none_of_the_others_their_bytes(data_dir: DataDir) -> None:
    """Backup reads the graph a page at a time and passes a clean page through whole; a page holding a raw
    CR/LF is rewritten row by row. Either way every row is in the bundle once, in rowid order, `data` byte for
    byte (only the CR/LF between tokens become spaces), and the graph counts match."""
    insert_graph(data_dir, *chain_graph(6_000))  # > one page of nodes and of edges
    _raw_rows(data_dir, [("crlf-node", CRLF_DATA)])
    insert_graph(data_dir, [node(f"late{i}", "FILE") for i in range(6_000)], [])  # the CR/LF row mid-page
    conn = sqlite3.connect(data_dir.graph_db)
    rows = [(b'{"type":"node","data":', d) for (d,) in conn.execute("SELECT CAST(data AS BLOB) FROM Nodes ORDER BY rowid")]
    rows += [(b'{"type":"edge","data":', d) for (d,) in conn.execute("SELECT CAST(data AS BLOB) FROM Edges ORDER BY rowid")]
    conn.close()
    result = run_backup(data_dir)
    [graph_file] = (Path(result.path) / "graph").glob("*.jsonl")
    want = [p + d.replace(b"\r", b" ").replace(b"\n", b" ") + b"}" for p, d in rows]
    assert graph_file.read_bytes().split(b"\n")[:-1] == want
    assert result.counts["graph"] == len(want) == 12_001 + 5_999
    assert verify_bundle(Path(result.path)).verdict == RESTORABLE


def _meta(path: str) -> dict[str, Any]:
    return json.loads((Path(path) / META_FILE).read_text())


def test_a_store_with_no_vectors_declares_neos_default_dimension(data_dir: DataDir) -> None:
    insert_graph(data_dir, [node("only-graph", "CONCEPT")], [])
    meta = _meta(run_backup(data_dir).path)
    assert meta["embedding"]["dimension"] == NEO_DEFAULT_DIMENSION == 4096
    assert meta["embedding"]["counts"] == {"kb": 0, "memories": 0, "summaries": 0}


def test_a_store_with_no_vectors_declares_the_configured_dimension(tmp_path: Path) -> None:
    cfg = tmp_path / "console.toml"
    cfg.write_text('[paths]\ndata_dir = ".neo-ai-data"\n\n[embedding]\ndimension = 16\n')
    dd = resolve(config=cfg, env={})
    insert_graph(dd, [node("only-graph", "CONCEPT")], [])
    assert _meta(run_backup(dd).path)["embedding"]["dimension"] == 16


def test_topology_coords_use_neos_keys_for_an_embedded_store(data_dir: DataDir) -> None:
    insert_graph(data_dir, [node("n", "CONCEPT")], [])
    topo = _meta(run_backup(data_dir).path)["topology"]
    assert topo["kbChromaCoords"] == {"host": None, "port": None, "path": str(data_dir.chroma_path)}
    # neo writes `dataDir` for the Memory Core coords (backup.mjs buildTopologyDescriptor), `path` for KB
    assert topo["mcChromaCoords"] == {"host": None, "port": None, "dataDir": str(data_dir.chroma_path)}


def test_topology_coords_carry_host_and_port_of_a_chroma_url(tmp_path: Path) -> None:
    dd = resolve(tmp_path / ".neo-ai-data", chroma_url="http://127.0.0.1:8123", env={})
    insert_graph(dd, [node("n", "CONCEPT")], [])
    # a server's persist dir is not observable over HTTP: null with neo's reason, never a guess
    topo = backup_mod.build_topology(dd)
    assert topo["kbChromaCoords"] == {"host": "127.0.0.1", "port": 8123, "path": None,
                                      "storageReason": "physical-storage-not-observed"}
    assert topo["mcChromaCoords"] == {"host": "127.0.0.1", "port": 8123, "dataDir": None,
                                      "storageReason": "physical-storage-not-observed"}


class _NullEmbedding:
    """A real collection whose rows come back as a damaged store returns them: one embedding is null."""

    def __init__(self, col: Any, bad_id: str) -> None:
        self._col = col
        self._bad = bad_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._col, name)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        got = self._col.get(*args, **kwargs)
        embs = got.get("embeddings")
        if embs is not None and self._bad in got["ids"]:
            embs = list(embs)
            embs[got["ids"].index(self._bad)] = None
            got["embeddings"] = embs
        return got


@pytest.mark.parametrize("bad", ["memories-0", "memories-7"], ids=["first-row", "later-row"])
def test_a_row_whose_embedding_comes_back_null_is_a_clean_error_and_nothing_is_published(
    data_dir: DataDir, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    add_rows(data_dir, "memories", 10, dim=8)
    insert_graph(data_dir, [node("n", "CONCEPT")], [])
    real = backup_mod.cs.get_collection

    def damaged(client: Any, name: str, **kw: Any) -> Any:
        col = real(client, name, **kw)
        return _NullEmbedding(col, bad) if col is not None and name == "neo-agent-memory" else col

    monkeypatch.setattr(backup_mod.cs, "get_collection", damaged)
    with pytest.raises(ConsoleError) as err:
        run_backup(data_dir)
    assert "neo-agent-memory" in str(err.value) and repr(bad) in str(err.value)
    assert not list_bundles(data_dir.backup_root).bundles
    assert [p.name for p in data_dir.backup_root.iterdir()] == [], "no staging residue either"


def test_sqlite_sanity_of_the_crlf_fixture() -> None:
    """The fixture is what SQLite really holds: JSON text that parses, with raw CR/LF between tokens."""
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT json_valid(?)", (CRLF_DATA,)).fetchone()[0] == 1
    assert "\r" in CRLF_DATA and "\n" in CRLF_DATA


def _without_checksums(bundle: Path) -> None:
    meta = json.loads((bundle / META_FILE).read_text())
    meta.pop("checksums", None)  # neo's own bundles carry none: isolate the finding under test
    (bundle / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def test_verify_flags_a_line_holding_a_raw_carriage_return(data_dir: DataDir) -> None:
    insert_graph(data_dir, [node(f"n{i}", "CONCEPT", name=f"n{i}") for i in range(3)], [])
    bundle = Path(run_backup(data_dir).path)
    _without_checksums(bundle)
    [graph_file] = (bundle / "graph").glob("*.jsonl")
    lines = graph_file.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"label":', b'\r"label":')  # legal JSON whitespace, split by neo's reader
    graph_file.write_bytes(b"\n".join(lines))
    res = verify_bundle(bundle)
    assert res.verdict == "BUNDLE_INVALID"
    [finding] = [f for f in res.errors if f.code == "raw-carriage-return"]
    assert (finding.file, finding.line) == (f"graph/{graph_file.name}", 2)


def test_verify_accepts_crlf_line_endings_which_neos_reader_treats_as_one_break(data_dir: DataDir) -> None:
    insert_graph(data_dir, [node(f"n{i}", "CONCEPT", name=f"n{i}") for i in range(3)], [])
    bundle = Path(run_backup(data_dir).path)
    _without_checksums(bundle)
    [graph_file] = (bundle / "graph").glob("*.jsonl")
    graph_file.write_bytes(graph_file.read_bytes().replace(b"\n", b"\r\n"))
    res = verify_bundle(bundle)
    assert [f.code for f in res.errors] == [] and res.verdict == RESTORABLE


def test_a_raw_carriage_return_in_a_flat_file_is_a_warning(data_dir: DataDir) -> None:
    """neo copies flat files verbatim (its importers never split them), so the bundle stays restorable."""
    insert_graph(data_dir, [node("n", "CONCEPT")], [])
    data_dir.trajectories_file.parent.mkdir(parents=True)
    data_dir.trajectories_file.write_bytes(b'{"a":1}\n{"b":\r2}\n')
    bundle = Path(run_backup(data_dir).path)
    res = verify_bundle(bundle)
    assert res.verdict == RESTORABLE
    [warning] = [f for f in res.warnings if f.code == "raw-carriage-return"]
    assert (warning.file, warning.line) == ("trajectories/trajectories.jsonl", 2)
