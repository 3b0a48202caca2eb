"""The engine is headless, small-filed and layered, and the CLI stays light: proved on the source and in fresh
interpreters. (import-linter checks the layers' import directions; these check what it cannot.)"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parent.parent
MAX_CORE_FILE_LINES = 500
# imported inside a function on purpose: chromadb takes about a second to load, and `--help`, `list` and every
# command that does not open a store must not pay for it
LAZY_IMPORTS = {"chromadb", "chromadb.config"}


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core."))


def core_files() -> list[Path]:
    return sorted((ROOT / "core").rglob("*.py"))


def loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_loads_neither_textual_nor_rich() -> None:
    mods = loaded_after("\n".join(f"import {m}" for m in core_modules()))
    assert not {m for m in mods if m.split(".")[0] in ("textual", "rich", "console", "widgets")}


def test_cli_help_and_list_do_not_load_textual(tmp_path: Path) -> None:
    mods = loaded_after(f"from console.cli import main\nmain(['--data-dir', '{tmp_path}', 'list', '--json'])")
    assert "textual" not in mods and "textual.app" not in mods
    assert "chromadb" not in mods  # listing bundles opens no store


def test_every_core_file_is_small_enough_to_read_in_one_sitting() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in core_files()}
    too_big = {p: n for p, n in sizes.items() if n > MAX_CORE_FILE_LINES}
    assert not too_big, f"core files over {MAX_CORE_FILE_LINES} lines (split them by what they own): {too_big}"


def _layered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c.get("containers") == ["core"])
    return {f"core.{m.strip()}" for layer in contract["layers"] for m in layer.replace(":", "|").split("|")}


def test_every_engine_module_sits_in_a_layer() -> None:
    engine = {m for m in core_modules() if m != "core.demo" and not m.startswith("core.demo.")}
    assert engine == _layered(), "add a new core module to the layers contract in pyproject.toml"


def test_core_imports_at_module_level_only() -> None:
    """No import placed inside a function to dodge a circle: the layers make circles impossible instead."""
    late: list[str] = []
    for path in core_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import):
                        names = {a.name for a in inner.names}
                    elif isinstance(inner, ast.ImportFrom):
                        names = {inner.module or ""}
                    else:
                        continue
                    if names - LAZY_IMPORTS:
                        late.append(f"{path.relative_to(ROOT)}:{inner.lineno}: {', '.join(sorted(names))}")
    assert not late, f"function-level imports in core: {late}"


# ---------------------------------------------------------------- the console: one seam, no circle

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
