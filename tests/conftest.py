"""Shared fixtures: temporary data dirs, a real Chroma server, environment guards for snapshots."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["ANONYMIZED_TELEMETRY"] = "False"
# No test may reach a model hub: chroma's default embedding function would try to download one.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from core.datadir import DataDir, resolve


def pytest_configure(config: pytest.Config) -> None:
    bad = [k for k in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_ANIMATIONS") if os.environ.get(k)]
    if bad:
        raise pytest.UsageError(f"unset {', '.join(bad)} before running the tests: they change the snapshots")


@pytest.fixture(autouse=True, scope="session")
def never_fetch_an_embedding_model() -> Iterator[None]:
    """Chroma's default embedding function downloads an ONNX model; any call to it fails the test run."""
    from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2 as onnx

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("an embedding model was about to be fetched: pass stored embeddings instead")

    mp = pytest.MonkeyPatch()
    mp.setattr(onnx.ONNXMiniLM_L6_V2, "_download_model_if_not_exists", refuse)
    mp.setattr(onnx.ONNXMiniLM_L6_V2, "__call__", refuse)
    yield
    mp.undo()


@pytest.fixture
def data_dir(tmp_path: Path) -> DataDir:
    """An empty data dir in neo's layout (nothing created yet)."""
    return resolve(tmp_path / ".neo-ai-data", env={})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_chroma_server(path: Path) -> Iterator[str]:
    """A real `chroma run` on 127.0.0.1 on a free port, persisting under `path`; stopped on exit, also on error."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    assert exe, "the chroma CLI ships with the chromadb package"
    path.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = open(path / "server.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen([exe, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"chroma server did not start: {(path / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` on 127.0.0.1, started once per test session (xdist worker) and stopped at the end."""
    with running_chroma_server(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url
