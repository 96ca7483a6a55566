"""The part of Python the simulated board runs (sim/board.py's docstring says which part).

Code runs as a generator of waits (seconds of board time), so a call that talks to the modem
lets the simulation go on while it waits.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from sqnflash.sim.board_objects import (
    BoardException,
    BoardPort,
    Bridged,
    Gen,
    SimClass,
    SimFunction,
    SimObject,
    mp_repr,
    mp_str,
    type_name,
)

_SAFE_METHODS: dict[type, set[str]] = {
    str: {"startswith", "endswith", "strip", "split", "upper", "lower", "replace", "find",
          "encode", "format", "join"},
    bytes: {"decode", "startswith", "endswith", "strip", "split", "find"},
}


# --------------------------------------------------------------------------- the interpreter


class Interpreter:
    """Runs the part of Python the board understands, as a generator of waits (seconds)."""

    def __init__(self, board: BoardPort) -> None:
        self.board = board
        self.globals: dict[str, Any] = {}
        self.line = 1
        self.builtins: dict[str, Any] = {
            "print": SimFunction("print", self._print),
            "repr": SimFunction("repr", mp_repr),
            "str": SimFunction("str", mp_str),
            "len": SimFunction("len", len),
            "dir": SimFunction("dir", self._dir),
            "hasattr": SimFunction("hasattr", self._hasattr),
            "getattr": SimFunction("getattr", self._getattr),
            "help": SimFunction("help", self._help),
        }

    def _print(self, *args: Any, sep: str = " ", end: str = "\n") -> None:
        self.board.stdout(sep.join(mp_str(a) for a in args) + end)

    def _help(self, *args: Any) -> None:
        self.board.stdout("Welcome to MicroPython! (a simulated Pycom board: see sqnflash's "
                          "sim/board.py for what it runs)\n")

    def _dir(self, obj: Any = None) -> list[str]:
        if obj is None:
            return list(self.globals)
        if isinstance(obj, SimObject):
            return list(obj.attrs)
        return [n for n in dir(obj) if not n.startswith("_")]

    def _hasattr(self, obj: Any, name: str) -> bool:
        try:
            self.attribute(obj, name)
        except BoardException:
            return False
        return True

    def _getattr(self, obj: Any, name: str, *default: Any) -> Any:
        try:
            return self.attribute(obj, name)
        except BoardException:
            if default:
                return default[0]
            raise

    def attribute(self, obj: Any, name: str) -> Any:
        if isinstance(obj, SimObject):
            if name in obj.attrs:
                return obj.attrs[name]
        else:
            allowed = _SAFE_METHODS.get(type(obj), set())
            if name in allowed:
                return SimFunction(name, getattr(obj, name))
        raise BoardException("AttributeError",
                             f"'{type_name(obj)}' object has no attribute '{name}'")

    # ------------------------------------------------------------------ statements
    def run(self, code: str, *, single: bool) -> Gen:
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            self.line = exc.lineno or 1
            raise BoardException("SyntaxError", "invalid syntax") from None
        for stmt in tree.body:
            self.line = stmt.lineno
            yield from self.statement(stmt, single=single)

    def statement(self, stmt: ast.stmt, *, single: bool) -> Gen:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                module = self.board.import_module(alias.name)
                self.globals[alias.asname or alias.name.split(".")[0]] = module
            return
        if isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            module = self.board.import_module(stmt.module)
            for alias in stmt.names:
                if not isinstance(module, SimObject) or alias.name not in module.attrs:
                    raise BoardException("ImportError", f"cannot import name {alias.name}")
                self.globals[alias.asname or alias.name] = module.attrs[alias.name]
            return
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name):
            self.globals[stmt.targets[0].id] = yield from self.evaluate(stmt.value)
            return
        if isinstance(stmt, ast.Expr):
            value = yield from self.evaluate(stmt.value)
            if single and value is not None:
                self.board.stdout(mp_repr(value) + "\n")
            return
        if isinstance(stmt, ast.Pass):
            return
        raise BoardException(
            "NotImplementedError",
            f"the simulated board does not run '{type(stmt).__name__}' statements "
            "(it runs imports, assignments and calls)")

    def evaluate(self, node: ast.expr) -> Gen:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.globals:
                return self.globals[node.id]
            if node.id in self.builtins:
                return self.builtins[node.id]
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            raise BoardException("NameError", f"name '{node.id}' isn't defined")
        if isinstance(node, ast.Attribute):
            obj = yield from self.evaluate(node.value)
            return self.attribute(obj, node.attr)
        if isinstance(node, (ast.Tuple, ast.List)):
            items = []
            for element in node.elts:
                items.append((yield from self.evaluate(element)))
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = yield from self.evaluate(node.operand)
            return -value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = yield from self.evaluate(node.left)
            right = yield from self.evaluate(node.right)
            try:
                return left + right
            except TypeError:
                raise BoardException("TypeError", "unsupported types for __add__: "
                                     f"'{type_name(left)}', '{type_name(right)}'") from None
        if isinstance(node, ast.Call):
            func = yield from self.evaluate(node.func)
            args = []
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    raise BoardException("NotImplementedError", "*args on the simulated board")
                args.append((yield from self.evaluate(arg)))
            kwargs = {}
            for keyword in node.keywords:
                if keyword.arg is None:
                    raise BoardException("NotImplementedError", "**kwargs on the simulated board")
                kwargs[keyword.arg] = yield from self.evaluate(keyword.value)
            return (yield from self.call(func, args, kwargs))
        raise BoardException("NotImplementedError",
                             f"the simulated board does not evaluate '{type(node).__name__}'")

    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Gen:
        if isinstance(func, SimClass) and "__call__" in func.attrs:
            func = func.attrs["__call__"]
        if not isinstance(func, SimFunction):
            raise BoardException("TypeError", f"'{type_name(func)}' object isn't callable")
        try:
            inspect.signature(func.impl).bind(*args, **kwargs)
        except TypeError:
            raise BoardException("TypeError", "function got unexpected arguments") from None
        except ValueError:
            pass  # a C builtin without a signature: let it check its own arguments
        try:
            result = func.impl(*args, **kwargs)
        except (BoardException, Bridged):
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise BoardException(type(exc).__name__, str(exc)) from None
        if inspect.isgenerator(result):
            result = yield from result
        return result
