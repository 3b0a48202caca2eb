"""The engine is headless and the CLI stays light: proved in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys

CORE_MODULES = ["core.backup", "core.verify", "core.bundle", "core.demo", "core.datadir", "core.chroma",
                "core.graph", "core.jsonl", "core.writer", "core.lock", "core.progress", "core.safetext"]


def loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_loads_neither_textual_nor_rich() -> None:
    import importlib.util

    extra = [m for m in ("core.plan", "core.restore", "core.journal", "core.retention", "core.hooks")
             if importlib.util.find_spec(m) is not None]
    mods = loaded_after("\n".join(f"import {m}" for m in CORE_MODULES + extra))
    assert not {m for m in mods if m.split(".")[0] in ("textual", "rich", "console", "widgets")}


def test_cli_help_and_list_do_not_load_textual(tmp_path) -> None:
    mods = loaded_after(f"from console.cli import main\nmain(['--data-dir', '{tmp_path}', 'list', '--json'])")
    assert "textual" not in mods and "textual.app" not in mods
