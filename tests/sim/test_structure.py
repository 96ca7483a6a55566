"""The simulator stays in parts a newcomer can read: short functions, small classes, and no
imports hidden inside functions (where the import contracts cannot see a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import sqnflash.sim

MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 300
SIM = Path(sqnflash.sim.__file__).parent


def _trees() -> list[tuple[str, ast.Module]]:
    return [(path.name, ast.parse(path.read_text(encoding="utf-8")))
            for path in sorted(SIM.glob("*.py"))]


def _too_long(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append(f"{node.name} ({length} lines, at most {limit})")
    return found


def _imports_in_functions(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [f"{node.name} line {inner.lineno}" for inner in ast.walk(node)
                      if isinstance(inner, (ast.Import, ast.ImportFrom))]
    return found


def test_the_simulator_package_is_found() -> None:
    names = [name for name, _ in _trees()]
    assert "modem.py" in names and "board.py" in names


def test_no_function_or_class_in_the_simulator_is_too_long() -> None:
    offenders = {name: found for name, tree in _trees() if (found := _too_long(tree))}
    assert offenders == {}


def test_no_module_of_the_simulator_imports_inside_a_function() -> None:
    offenders = {name: found for name, tree in _trees() if (found := _imports_in_functions(tree))}
    assert offenders == {}


def test_the_checks_see_what_they_look_for() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    long_function = ast.parse(f"def f():\n{body}\n")
    hidden_import = ast.parse("def f():\n    import os\n")
    assert _too_long(long_function) == [f"f ({MAX_FUNCTION_LINES + 1} lines, at most 60)"]
    assert _imports_in_functions(hidden_import) == ["f line 2"]
