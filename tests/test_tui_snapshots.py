"""SVG snapshots of every screen at 80x24 (over SSH) and 120x40, with a MockClock and a fixed `now`.

The scenes are the `recovery-console screenshots` scenes, so the README's pictures and these baselines show the
same states: every scene at 80x24, and at least one scene of every screen at 120x40. Each test's assertion
message is the scene's description of what the picture must show. Regenerate with
`pytest tests/test_tui_snapshots.py --snapshot-update`, then look at the pictures.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import console.screens.diff as diff_screen
from console.scenes import Scene, app_environment, scenes
from tests.tui_support import copy_demo, demo_cache, make

CASES = [(scene, (80, 24)) for scene in scenes()] + [(scene, (120, 40)) for scene in scenes() if scene.wide]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def shared_copy(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_demo(demo, tmp_path_factory.mktemp("snap")).root


@pytest.fixture(scope="module", autouse=True)
def scan_once() -> Iterator[None]:
    """The shared copy never changes in these tests, so its one slow scan is done once and reused (the
    scenes that write scan their own copy for real)."""
    real = diff_screen.scan_bundle
    cache: dict[tuple[str, str], Any] = {}

    def cached(dd: Any, bundle: Any, **kwargs: Any) -> Any:
        key = (str(dd.root), str(bundle))
        if key not in cache:
            cache[key] = real(dd, bundle, **kwargs)
        return cache[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(diff_screen, "scan_bundle", cached)
        yield


@pytest.mark.parametrize(("scene", "size"), CASES, ids=[f"{s.name}-{w}x{h}" for s, (w, h) in CASES])
def test_screen(scene: Scene, size: tuple[int, int], snap_compare: Any, demo: Path, shared_copy: Path,
                tmp_path: Path) -> None:
    from core.datadir import resolve

    # a scene that writes gets its own copy, at a path that is the same on every run and machine: the confirm
    # dialogs print the whole command, --data-dir included, and a picture must not depend on pytest's tmp dir
    if scene.writes or scene.shows_path:
        fixed = Path(tempfile.gettempdir()) / f"rc-snapshot-{scene.name}-{size[0]}x{size[1]}"
        shutil.rmtree(fixed, ignore_errors=True)
        dd = copy_demo(demo, fixed)
    else:
        dd = resolve(shared_copy, env={})
    with app_environment(scene):
        app = make(dd, readonly=scene.readonly)
    assert app.no_color == scene.no_color and "NO_COLOR" not in os.environ  # nothing leaks to other tests
    assert snap_compare(app, run_before=scene.run_before, terminal_size=size), scene.doc
