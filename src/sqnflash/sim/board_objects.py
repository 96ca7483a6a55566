"""What code on the simulated Pycom board sees: its objects, its exceptions, and the board.

`BoardPort` is the part of the board (sim/board.py) that the interpreter, the UART object, the
built-in modules and `sqnsupgrade` use; they depend on it, not on the board class, so that the
board can build them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Protocol

from sqnflash.firmware.pycom_releases import UpgraderModule

Gen = Generator[float, None, Any]  # code that takes board time yields the seconds it waits
REPL_BAUD = 115200
MIRROR_BAUD = 921600
POLL_S = 0.005  # how often the board's own code looks at its UART
LTE_PINS = {"FiPy": ("P20", "P18", "P19", "P17"), "GPy": ("P5", "P98", "P7", "P99")}


class BoardPort(Protocol):
    """The board as its own code sees it."""

    sysname: str
    release: str
    uploaded: str
    module: UpgraderModule | None  # the built-in sqnsupgrade, None when the release has none
    uart_rx: bytearray  # what the modem sent on UART1 and nobody has read yet
    led: int
    calls: list[str]  # sqnsupgrade functions called
    bootrom_sent: int

    @property
    def micropython(self) -> str: ...

    def now(self) -> float: ...

    def stdout(self, text: str) -> None: ...

    def modem_send(self, data: bytes) -> None: ...

    def set_uart1(self, baud: int) -> None: ...

    def start_mirror(self) -> None: ...

    def import_module(self, name: str) -> SimModule: ...


class BoardException(Exception):
    """An exception raised by code running on the simulated board."""

    def __init__(self, name: str, message: str = "",
                 frames: tuple[tuple[str, int, str], ...] = ()) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.frames = frames


class Bridged(Exception):
    """The running code handed the board to the UART bridge: it never returns."""


# --------------------------------------------------------------------------- board objects


class SimObject:
    """Something on the board with attributes: a module, a class, an instance."""

    type_name = "object"

    def __init__(self, name: str, attrs: dict[str, Any] | None = None, *,
                 type_name: str | None = None) -> None:
        """`type_name`: what MicroPython calls its type, where not the class's own."""
        self.name = name
        self.attrs = dict(attrs or {})
        if type_name is not None:
            self.type_name = type_name

    def mp_repr(self) -> str:
        return f"<{self.type_name} '{self.name}'>"


class SimModule(SimObject):
    type_name = "module"

    def __init__(self, name: str, attrs: dict[str, Any] | None = None, *,
                 file: str | None = None, path: str | None = None) -> None:
        super().__init__(name, attrs)
        self.attrs["__name__"] = name
        if file is not None:
            self.attrs["__file__"] = file
        if path is not None:
            self.attrs["__path__"] = path


class SimClass(SimObject):
    type_name = "type"

    def mp_repr(self) -> str:
        return f"<class '{self.name}'>"


class SimFunction:
    """A callable; its implementation may be a generator (it takes board time)."""

    def __init__(self, name: str, impl: Callable[..., Any]) -> None:
        self.name = name
        self.impl = impl

    def mp_repr(self) -> str:
        return f"<function {self.name}>"


class Uname(SimObject):
    type_name = "uname_result"

    def mp_repr(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())
        return f"({fields})"


def mp_repr(value: Any) -> str:
    if isinstance(value, (SimObject, SimFunction)):
        return value.mp_repr()
    if isinstance(value, tuple):
        inner = ", ".join(mp_repr(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(mp_repr(v) for v in value) + "]"
    return repr(value)


def mp_str(value: Any) -> str:
    return value if isinstance(value, str) else mp_repr(value)


def type_name(value: Any) -> str:
    if isinstance(value, SimObject):
        return value.type_name if not isinstance(value, SimClass) else "type"
    if isinstance(value, SimFunction):
        return "function"
    return {type(None): "NoneType"}.get(type(value), type(value).__name__)

