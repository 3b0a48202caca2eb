"""The engine is headless and the CLI stays light: proved in fresh interpreters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


# ---------------------------------------------------------------- the console: one seam, no circle

ROOT = Path(__file__).resolve().parent.parent
# the console's own modules (the CLI commands are the CLI's): every import at the top of the module
CONSOLE_MODULES = sorted([*ROOT.glob("console/*.py"), *ROOT.glob("console/screens/*.py"), *ROOT.glob("widgets/*.py"),
                          ROOT / "console/commands/screenshots_cmd.py"])
# the only imports inside functions: each keeps Textual (or the scenes, which load it) off the CLI's fast path
LAZY = {("console/cli.py", "console.tui"), ("console/commands/screenshots_cmd.py", "rich.text"),
        ("console/commands/screenshots_cmd.py", "console.scenes")}


def function_level_imports(path: Path) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno) for alias in child.names)
            elif in_function and isinstance(child, ast.ImportFrom):
                found.append((child.module or "", child.lineno))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_the_console_imports_at_the_top_except_to_keep_textual_off_the_cli_path() -> None:
    assert len(CONSOLE_MODULES) > 15
    late = {(str(p.relative_to(ROOT)), module, line) for p in CONSOLE_MODULES
            for module, line in function_level_imports(p)}
    assert {(path, module) for path, module, _ in late} <= LAZY, sorted(late)


def test_function_level_imports_are_found(tmp_path: Path) -> None:
    """The check above can fail: an import in a method, a nested function and an async function are found."""
    code = tmp_path / "m.py"
    code.write_text("import os\nclass A:\n    def f(self):\n        import json\n        def g():\n"
                    "            from x import y\nasync def h():\n    from z import w\n")
    assert [m for m, _ in function_level_imports(code)] == ["json", "x", "z"]


def test_screens_reach_neither_the_app_nor_each_other_at_runtime() -> None:
    """What import-linter checks statically, in a fresh interpreter: importing every screen loads no app, no
    other entry point and no CLI command."""
    screens = sorted(p.stem for p in ROOT.glob("console/screens/*.py") if p.stem != "__init__")
    mods = loaded_after("\n".join(f"import console.screens.{s}" for s in screens))
    assert not {m for m in mods if m in ("console.app", "console.factory", "console.tui", "console.scenes",
                                         "console.cli") or m.startswith("console.commands")}
