"""neo runs on this suite's data dir and server only: what it resolves from its own environment variables."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.interop.conftest import World
from tests.interop.data import DIM

pytestmark = pytest.mark.interop


def test_neo_resolves_the_suites_data_dir_server_and_dimension(world: Callable[..., World]) -> None:
    w = world("p")
    resolved = w.resolved_config()
    assert resolved["graph"] == str(w.graph_db), "NEO_MEMORY_DB_PATH"
    assert (resolved["chromaHost"], str(resolved["chromaPort"])) == tuple(w.chroma_url[7:].split(":")), \
        "NEO_CHROMA_HOST / NEO_CHROMA_PORT"
    assert resolved["vectorDimension"] == DIM, "NEO_VECTOR_DIMENSION"
    # NEO_BACKUP_PATH is where neo's importer sweeps loose *.jsonl; 13.1.0's backup.mjs always writes its
    # bundle under <project>/.neo-ai-data/backups, which is the same dir here (and the console's default)
    assert resolved["backupPath"] == str(w.backup_root)
    bundle = w.backup()
    assert bundle.parent == w.backup_root
