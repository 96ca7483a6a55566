"""The simulator stays in parts a newcomer can read: short functions, small classes, no imports
hidden inside functions (where the import contracts cannot see a cycle), and the modem's parts
composed, not mixed in (a mixin shares one `self` with the others, which no contract sees)."""

from __future__ import annotations

import ast
from pathlib import Path

import sqnflash.sim

MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 300
SIM = Path(sqnflash.sim.__file__).parent
# The simulated modem's core and parts: none may inherit from another (sim/modem.py wires them).
MODEM_PARTS = ("modem_core.py", "at_commands.py", "stp_endpoint.py", "apply_phase.py",
               "boot_cycle.py", "modem.py")


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


def _base_names(node: ast.ClassDef) -> list[str]:
    return [base.id if isinstance(base, ast.Name) else base.attr for base in node.bases
            if isinstance(base, (ast.Name, ast.Attribute))]


def _part_classes(trees: list[tuple[str, ast.Module]]) -> set[str]:
    """The classes of the modem's parts, but not the protocols through which they meet."""
    return {node.name for name, tree in trees if name in MODEM_PARTS for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and "Protocol" not in _base_names(node)}


def _mixed_in(trees: list[tuple[str, ast.Module]]) -> list[str]:
    parts = _part_classes(trees)
    return [f"{node.name}({base})" for _, tree in trees for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) for base in _base_names(node) if base in parts]


def test_the_simulator_package_is_found() -> None:
    names = [name for name, _ in _trees()]
    assert "modem.py" in names and "board.py" in names


def test_no_function_or_class_in_the_simulator_is_too_long() -> None:
    offenders = {name: found for name, tree in _trees() if (found := _too_long(tree))}
    assert offenders == {}


def test_no_module_of_the_simulator_imports_inside_a_function() -> None:
    offenders = {name: found for name, tree in _trees() if (found := _imports_in_functions(tree))}
    assert offenders == {}


def test_no_part_of_the_simulated_modem_inherits_from_another_or_from_the_core() -> None:
    trees = _trees()
    assert {"ModemCore", "AtCommands", "StpEndpoint", "ApplyPhase", "BootCycle",
            "SimModem"} <= _part_classes(trees)
    assert _mixed_in(trees) == []


def test_the_checks_see_what_they_look_for() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    long_function = ast.parse(f"def f():\n{body}\n")
    hidden_import = ast.parse("def f():\n    import os\n")
    assert _too_long(long_function) == [f"f ({MAX_FUNCTION_LINES + 1} lines, at most 60)"]
    assert _imports_in_functions(hidden_import) == ["f line 2"]
    mixins = ast.parse("class ModemCore:\n    pass\nclass Rebooter(Protocol):\n    pass\n"
                       "class BootCycle(core.ModemCore, Rebooter):\n    pass\n")
    assert _mixed_in([("modem_core.py", mixins)]) == ["BootCycle(ModemCore)"]
