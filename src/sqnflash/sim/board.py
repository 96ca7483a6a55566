"""A simulated Pycom GPy/FiPy/G01: MicroPython's REPL on USB, the modem behind its ESP32.

`sim://?board=fipy&release=1.18.1.r4&version=38638` opens the board's USB serial port; the modem
settings are those of a plain `sim://` modem. What the board does, and the choices made where the
public record is silent:

- The REPL runs at 115200 baud (UART0). The port starts at the friendly `>>>` prompt with nothing
  pending, as a board that booted before the port was opened. Raw REPL follows MicroPython's
  framing (Ctrl-A, Ctrl-B, Ctrl-C, Ctrl-D; `OK`, output, 0x04, traceback, 0x04, `>`), without the
  raw-paste extension, which Pycom's MicroPython (1.8.6 to 1.11) predates. A soft reset prints
  `MPY: soft reboot`.
- It runs a small part of Python, enough for what users and tools type to update a modem:
  imports, assignments, calls, attributes, literals, `+`; `print`, `repr`, `str`, `dir`, `len`,
  `hasattr`, `getattr`. Unknown names and attributes raise MicroPython's `NameError` ("name 'x'
  isn't defined") and `AttributeError` ("'module' object has no attribute 'uart'"), missing
  modules `ImportError` ("no module named 'x'"). Anything else (loops, definitions) raises a
  `NotImplementedError` that says so: the simulator does not pretend to run it.
- Modules: `os` (`uname()`), `time` (`sleep`, `sleep_ms`, `ticks_ms`), `machine` (`UART`,
  `reset()`), `pycom` (`heartbeat`, `rgbled`), `network.LTE` (from 1.17.0; its
  `modem_upgrade_mode` from 1.18.1) and `sqnsupgrade`. The G01 runs the GPy's firmware (Pycom's
  firmware tree has no G01 board), so it reports `sysname='GPy'` and uses the GPy's modem pins.
- `sqnsupgrade` is built in from 1.18.1 (1.20.0.rc0 on the 1.20 branch; 1.19.x has none). Which
  version a release carries follows protocol-reference §5.1: the first module (no `VERSION`) on
  1.18.1 to 1.18.1.r2 and 1.20.0.rc0/rc1; 1.2.0 from 1.18.1.r3; 1.2.1 on 1.20.0.rc2; 1.2.2 from
  1.18.2 and 1.20.0.rc7; 1.2.3 from 1.18.2.r2 and 1.20.0.rc8; 1.2.5 from 1.18.2.r4 and
  1.20.0.rc9; 1.2.6 from 1.20.0.rc13. Releases without it import an uploaded copy when
  `uploaded=script` (the March-July 2018 pycom-libraries script: `run()` only) or
  `uploaded=folder` (the library folder uploaded whole: an empty package); the built-in module
  wins over uploads, as Pycom's documentation says.
- `sqnsupgrade.uart(ffh_mode)` talks to the simulated modem over UART1 the way Pycom's module
  does: detect the mode (`+++`, `AT` at 921600 then 115200, `AT+SMOD?`); with `ffh_mode` on a
  modem in the application flash the board's own bootrom package (a synthetic one of the size the
  release carries) ON_THE_FLY from RECOVERY, `AT+SMSWBOOT=0,1` (with the `=0,0` + `AT^RESET`
  fallback from 1.2.1; 1.2.0 gives up on ERROR; the first module sends the bootrom in the
  application without switching and does not read the reply), then negotiate 115200 -> 921600
  with `AT+IPR`; module 1.2.6 first reads `AT!="showver"` and skips all that when the bootrom is
  not 33080. Then it prints `Going into MIRROR mode...`, waits 0.5 s and bridges: both UARTs at
  921600, every byte copied across, the REPL gone until `machine.reset()` can no longer be typed,
  i.e. until the port is closed and the simulator restarted (a power cycle). The bridge forwards
  each chunk once it has fully arrived (store and forward), so a bridged transfer takes up to
  twice the wire time of a direct one; the ESP32's task copies bytes as they come.
- `run()`/`load()` on the board need firmware files on the board's flash or SD card; the
  simulated board has no file system, so they fail as Pycom's module does on a missing file.
  `info()`, `state()`, `imei()` and (first module) `version()` work.
- `sys.exit()` in Pycom's module (up to 1.2.5) soft-resets a board in raw REPL; the simulated
  module returns instead, after printing the same message.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from sqnflash.protocol import at, repl, stp
from sqnflash.sim.config import SimConfig
from sqnflash.sim.engine import Engine, Timer
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.modem import SimModem
from sqnflash.sim.simulator import Simulator
from sqnflash.sim.wire import Wire
from sqnflash.timing import Clock

Gen = Generator[float, None, Any]

REPL_BAUD = 115200
MIRROR_BAUD = 921600
UART_RX_LIMIT = 8192  # bytes the board keeps from the modem when nobody reads them
POLL_S = 0.005  # how often the board's own code looks at its UART
BOARDS = {"fipy": "FiPy", "gpy": "GPy", "g01": "GPy"}
LTE_PINS = {"FiPy": ("P20", "P18", "P19", "P17"), "GPy": ("P5", "P98", "P7", "P99")}
DEFAULT_RELEASE = "1.20.2.r4"
UPLOADS = ("", "script", "folder")
_STAGE = {"b": 0, "rc": 1, "": 2, "r": 3}
_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:\.(b|rc|r)(\d+))?$", re.IGNORECASE)
# (first release, module version) per branch; "" is the first module, which had no VERSION.
_MODULES = {
    (1, 18): [("1.18.1", ""), ("1.18.1.r3", "1.2.0"), ("1.18.2", "1.2.2"),
              ("1.18.2.r2", "1.2.3"), ("1.18.2.r4", "1.2.5")],
    (1, 20): [("1.20.0.rc0", ""), ("1.20.0.rc2", "1.2.1"), ("1.20.0.rc7", "1.2.2"),
              ("1.20.0.rc8", "1.2.3"), ("1.20.0.rc9", "1.2.5"), ("1.20.0.rc13", "1.2.6")],
}
# The bootrom package each module carries (sqnsbr.py / sqnsbrz.py): build and size.
_BOOTROMS = {"": (38638, 54_854), "1.2.0": (39529, 55_498), "1.2.1": (39529, 55_498)}
_LATEST_BOOTROM = (41065, 55_570)


def release_key(text: str) -> tuple[int, int, int, int, int]:
    match = _RELEASE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a Pycom firmware release (like 1.20.2.r4)")
    return (int(match.group(1)), int(match.group(2)), int(match.group(3)),
            _STAGE[(match.group(4) or "").lower()], int(match.group(5) or 0))


def module_version(release: str) -> str | None:
    """The built-in sqnsupgrade's version ("" for the first one), None if there is none."""
    key = release_key(release)
    branch = _MODULES.get(key[:2])
    if branch is None:
        return "1.2.6" if key[:2] > (1, 20) else None
    found = None
    for first, version in branch:
        if release_key(first) <= key:
            found = version
    return found


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")) if version else (0,)


class BoardException(Exception):
    """An exception raised by code running on the simulated board."""

    def __init__(self, name: str, message: str = "",
                 frames: tuple[tuple[str, int, str], ...] = ()) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.frames = frames


class _Bridged(Exception):
    """The running code handed the board to the UART bridge: it never returns."""


# --------------------------------------------------------------------------- board objects


class SimObject:
    """Something on the board with attributes: a module, a class, an instance."""

    type_name = "object"

    def __init__(self, name: str, attrs: dict[str, Any] | None = None) -> None:
        self.name = name
        self.attrs = dict(attrs or {})

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


_SAFE_METHODS: dict[type, set[str]] = {
    str: {"startswith", "endswith", "strip", "split", "upper", "lower", "replace", "find",
          "encode", "format", "join"},
    bytes: {"decode", "startswith", "endswith", "strip", "split", "find"},
}


# --------------------------------------------------------------------------- the interpreter


class Interpreter:
    """Runs the part of Python the board understands, as a generator of waits (seconds)."""

    def __init__(self, board: SimBoard) -> None:
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
        except (BoardException, _Bridged):
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise BoardException(type(exc).__name__, str(exc)) from None
        if inspect.isgenerator(result):
            result = yield from result
        return result


# --------------------------------------------------------------------------- the board


@dataclass
class _Uart:
    board: SimBoard
    baud: int
    pins: tuple[str, ...]

    def object(self) -> SimObject:
        obj = SimObject("UART")
        obj.type_name = "UART"
        obj.attrs.update({
            "read": SimFunction("read", self.read),
            "write": SimFunction("write", self.write),
            "any": SimFunction("any", lambda: len(self.board.uart_rx)),
            "deinit": SimFunction("deinit", lambda: None),
        })
        return obj

    @property
    def wired(self) -> bool:
        return self.pins == LTE_PINS[self.board.sysname]

    def read(self, size: int | None = None) -> bytes | None:
        if not self.wired or not self.board.uart_rx:
            return None
        take = len(self.board.uart_rx) if size is None else size
        data = bytes(self.board.uart_rx[:take])
        del self.board.uart_rx[:take]
        return data

    def write(self, data: bytes) -> int:
        if not isinstance(data, (bytes, str)):
            raise BoardException("TypeError", "object with buffer protocol required")
        raw = data.encode() if isinstance(data, str) else data
        if self.wired:
            self.board.modem_send(raw)
        return len(raw)


class SimBoard:
    """The ESP32 of a Pycom board: REPL on `usb`, the modem on UART1."""

    def __init__(self, config: SimConfig, engine: Engine, modem: SimModem) -> None:
        self.config = config
        self.engine = engine
        self.modem = modem
        self.kind = config.board.lower()
        self.sysname = BOARDS[self.kind]
        self.release = config.release
        self.uploaded = config.uploaded
        self.module = module_version(self.release)
        self.usb = Wire(engine, self._usb_receive, host_baud=config.host_baud,
                        modem_baud=REPL_BAUD, turnaround_s=config.turnaround_s,
                        paced=config.paced)
        modem.wire.on_modem_write = self._modem_wrote
        modem.wire.host_baud = MIRROR_BAUD  # the LTE driver's setting after boot
        self.server = repl.RawReplServer()
        self.interp = Interpreter(self)
        self.uart_rx = bytearray()
        self.mirror = False
        self.led = 0
        self._task: Gen | None = None
        self._timer: Timer | None = None
        self._raw_task = False
        self._err = ""
        self._queued = bytearray()
        self.executed: list[str] = []
        self.calls: list[str] = []  # sqnsupgrade functions called, with their arguments
        self.bootrom_sent = 0

    # ------------------------------------------------------------------ identity
    @property
    def micropython(self) -> str:
        return "v1.11-ffb0e1c" if release_key(self.release)[:2] >= (1, 20) else "v1.8.6-849-83e2f7f"

    @property
    def banner(self) -> str:
        date = "2021-01-12" if release_key(self.release)[:2] >= (1, 20) else "2018-11-08"
        return (f"Pycom MicroPython {self.release} [{self.micropython}] on {date}; "
                f"{self.sysname} with ESP32\r\nType \"help()\" for more information.\r\n")

    def summary(self) -> dict[str, Any]:
        return {
            "board": self.kind,
            "sysname": self.sysname,
            "release": self.release,
            "sqnsupgrade": None if self.module is None else (self.module or "first"),
            "uploaded": self.uploaded or None,
            "bridged": self.mirror,
            "executed": len(self.executed),
            "calls": list(self.calls),
            "bootrom_sent": self.bootrom_sent,
        }

    # ------------------------------------------------------------------ output
    def write(self, data: bytes) -> None:
        self.usb.modem_write(data)

    def stdout(self, text: str) -> None:
        self.write(text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))

    # ------------------------------------------------------------------ input
    def _usb_receive(self, data: bytes) -> None:
        if self.mirror:
            self.modem_send(data)
            return
        if self._task is not None:
            if repl.CTRL_C in data:
                self._interrupt()
                data = data[data.rfind(repl.CTRL_C) + 1 :]
            self._queued += data
            return
        self._handle(data)

    def _handle(self, data: bytes) -> None:
        for event in self.server.feed(data):
            if self._task is not None:
                continue  # what follows code that runs waits in the UART buffer
            if isinstance(event, repl.EnterRaw):
                self.write(repl.RAW_READY)
            elif isinstance(event, repl.ExitRaw):
                self.write(b"\r\n" + self.banner.encode() + repl.FRIENDLY_PROMPT)
            elif isinstance(event, repl.Interrupt):
                if not self.server.raw:
                    self.write(b"\r\n" + repl.FRIENDLY_PROMPT)
            elif isinstance(event, repl.SoftReset):
                self._soft_reset()
            elif isinstance(event, repl.Execute):
                self.write(repl.EXEC_ACCEPTED)
                self._start(event.code, raw=True)
            elif isinstance(event, repl.Typed):
                self.write(event.text.encode("utf-8"))
            elif isinstance(event, repl.Erase):
                self.write(b"\x08 \x08")
            elif isinstance(event, repl.Line):
                self.write(b"\r\n")
                if event.text.strip():
                    self._start(event.text, raw=False)
                else:
                    self.write(repl.FRIENDLY_PROMPT)

    def _soft_reset(self) -> None:
        self.interp.globals.clear()
        self.write(b"MPY: soft reboot\r\n")
        if self.server.raw:
            self.write(repl.RAW_READY)
        else:
            self.write(self.banner.encode() + repl.FRIENDLY_PROMPT)

    # ------------------------------------------------------------------ running code
    def _start(self, code: str, *, raw: bool) -> None:
        self.executed.append(code)
        self._raw_task = raw
        self._err = ""
        self._task = self.interp.run(code, single=not raw)
        self._step()

    def _step(self) -> None:
        task = self._task
        if task is None:
            return
        self._timer = None
        try:
            delay = next(task)
        except StopIteration:
            self._finish()
            return
        except _Bridged:
            self._task = None  # the REPL is gone: no end of output, no prompt
            return
        except BoardException as exc:
            self._err = repl.format_traceback(exc.name, exc.message, line=self.interp.line,
                                              frames=exc.frames)
            self._finish()
            return
        self._timer = self.engine.after(max(0.0, delay), self._step)

    def _interrupt(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.close()
        self._err = repl.format_traceback("KeyboardInterrupt", "", line=self.interp.line)
        self._finish()

    def _finish(self) -> None:
        self._task = None
        self._timer = None
        if self._raw_task:
            self.write(repl.CTRL_D + self._err.encode("utf-8") + repl.CTRL_D + repl.RAW_PROMPT)
        else:
            if self._err:
                self.write(self._err.encode("utf-8"))
            self.write(repl.FRIENDLY_PROMPT)
        self._err = ""
        if self._queued:
            queued = bytes(self._queued)
            self._queued.clear()
            self._handle(queued)

    # ------------------------------------------------------------------ the modem's UART
    def modem_send(self, data: bytes) -> None:
        self.modem.wire.host_write(data)

    def _modem_wrote(self, arrives: float) -> None:
        self.engine.at(arrives, self._pump)

    def _pump(self) -> None:
        wire = self.modem.wire
        data = wire.host_read(wire.host_available())
        if not data:
            return
        if self.mirror:
            self.usb.modem_write(data, latency=0.0001)
            return
        self.uart_rx += data
        if len(self.uart_rx) > UART_RX_LIMIT:
            del self.uart_rx[: len(self.uart_rx) - UART_RX_LIMIT]

    def set_uart1(self, baud: int) -> None:
        self.modem.wire.host_baud = baud
        self.uart_rx.clear()

    def start_mirror(self) -> None:
        self.set_uart1(MIRROR_BAUD)
        self.usb.modem_baud = MIRROR_BAUD
        self.mirror = True

    # ------------------------------------------------------------------ modules
    def import_module(self, name: str) -> SimModule:
        builders: dict[str, Callable[[], SimModule | None]] = {
            "os": self._os, "uos": self._os, "time": self._time, "utime": self._time,
            "machine": self._machine, "pycom": self._pycom, "network": self._network,
            "sqnsupgrade": self._sqnsupgrade,
        }
        build = builders.get(name)
        module = build() if build is not None else None
        if module is None:
            raise BoardException("ImportError", f"no module named '{name}'")
        return module

    def _os(self) -> SimModule:
        def uname() -> Uname:
            fields: dict[str, Any] = {
                "sysname": self.sysname, "nodename": self.sysname, "release": self.release,
                "version": f"{self.micropython} on 2018-11-08", "machine":
                f"{self.sysname} with ESP32"}
            if self.sysname == "FiPy":
                fields.update(lorawan="1.0.2", sigfox="1.0.1")
            return Uname("uname", fields)

        return SimModule("os", {"uname": SimFunction("uname", uname)})

    def _time(self) -> SimModule:
        def sleep_ms(ms: int) -> Gen:
            yield ms / 1000

        def sleep(seconds: float) -> Gen:
            yield float(seconds)

        return SimModule("time", {
            "sleep_ms": SimFunction("sleep_ms", sleep_ms),
            "sleep": SimFunction("sleep", sleep),
            "ticks_ms": SimFunction("ticks_ms", lambda: int(self.engine.time * 1000)),
        })

    def _machine(self) -> SimModule:
        def uart(bus: int, baudrate: int = 9600, bits: int = 8, parity: Any = None,
                 stop: int = 1, *, pins: tuple[str, ...] | None = None,
                 timeout_chars: int = 2, **options: Any) -> SimObject:
            if bus != 1:
                raise BoardException("NotImplementedError",
                                     "the simulated board only wires UART 1 (the modem)")
            self.set_uart1(int(baudrate))
            return _Uart(self, int(baudrate), tuple(pins or ())).object()

        def reset() -> None:
            raise BoardException("NotImplementedError",
                                 "machine.reset(): restart the simulator (a power cycle)")

        uart_class = SimClass("UART", {"__call__": SimFunction("UART", uart)})
        return SimModule("machine", {"UART": uart_class, "reset": SimFunction("reset", reset)})

    def _pycom(self) -> SimModule:
        def rgbled(color: int) -> None:
            self.led = int(color)

        return SimModule("pycom", {"heartbeat": SimFunction("heartbeat", lambda on=None: None),
                                   "rgbled": SimFunction("rgbled", rgbled)})

    def _network(self) -> SimModule:
        attrs: dict[str, Any] = {}
        if release_key(self.release) >= release_key("1.17.0"):
            def construct(*args: Any, **kwargs: Any) -> None:
                raise BoardException("NotImplementedError",
                                     "the simulated board has no LTE stack, only the modem's UART")

            lte = SimClass("LTE", {"__call__": SimFunction("LTE", construct)})
            if self.module is not None:
                lte.attrs["modem_upgrade_mode"] = SimFunction("modem_upgrade_mode",
                                                              self.start_mirror)
                lte.attrs["reconnect_uart"] = SimFunction("reconnect_uart", lambda: None)
            attrs["LTE"] = lte
        return SimModule("network", attrs)

    def _sqnsupgrade(self) -> SimModule | None:
        if self.module is not None:
            return Upgrader(self, self.module).module()
        if self.uploaded == "script":
            def run(file_path: str, baudrate: int = 921600, port: Any = None,
                    resume: bool = False) -> None:
                self.stdout("<<< Welcome to the SQN3330 firmware updater >>>\n")
                raise BoardException("OSError", "[Errno 2] ENOENT",
                                     (("/flash/lib/sqnsupgrade.py", 106, "run"),))

            return SimModule("sqnsupgrade", {"run": SimFunction("run", run)},
                             file="/flash/lib/sqnsupgrade.py")
        if self.uploaded == "folder":
            return SimModule("sqnsupgrade", path="/flash/lib/sqnsupgrade")
        return None


# --------------------------------------------------------------------------- sqnsupgrade


class Upgrader:
    """The board's built-in `sqnsupgrade` of one version, talking to the modem over UART1."""

    def __init__(self, board: SimBoard, version: str) -> None:
        self.board = board
        self.version = version
        self.v = _vt(version)

    def module(self) -> SimModule:
        attrs: dict[str, Any] = {"run": SimFunction("run", self.run),
                                 "uart": SimFunction("uart", self._uart_signature())}
        if self.version:
            attrs["VERSION"] = self.version
        if self.v >= (1, 2, 0):
            attrs["info"] = SimFunction("info", self.info)
        else:
            attrs["version"] = SimFunction("version", self.show_version)
        if self.v >= (1, 2, 3):
            attrs["load"] = SimFunction("load", self.load)
            attrs["state"] = SimFunction("state", self.state)
            attrs["imei"] = SimFunction("imei", self.imei)
        return SimModule("sqnsupgrade", attrs, file="sqnsupgrade.py")

    def _uart_signature(self) -> Callable[..., Gen]:
        if not self.version:
            def first(ffh_mode: bool = False, mfile: str | None = None, retry: bool = False,
                      resume: bool = False, color: int = 0x050505, debug: bool = False) -> Gen:
                return self.uart(ffh_mode, mfile, color)
            return first
        if self.v < (1, 2, 3):
            def middle(ffh_mode: bool = False, mfile: str | None = None, color: int = 0x050505,
                       verbose: bool = False, debug: bool = False) -> Gen:
                return self.uart(ffh_mode, mfile, color)
            return middle

        def late(ffh_mode: bool = False, mfile: str | None = None, color: int = 0x050505,
                 verbose: bool = False, debug: bool = False, hangup: bool = True) -> Gen:
            return self.uart(ffh_mode, mfile, color)
        return late

    # ------------------------------------------------------------------ printing
    def print(self, text: str) -> None:
        self.board.stdout(text + "\n")

    def welcome(self) -> None:
        self.print("<<< Welcome to the SQN3330 firmware updater"
                   + (f" [{self.version}] >>>" if self.version else " >>>"))
        if self.version:
            self.print(f">>> {self.board.sysname} with firmware version {self.board.release}")

    def _missing_file(self, path: str) -> None:
        self.print(f"Exception when checking file {path}... wrong file name?")
        self.print("[Errno 2] ENOENT")

    # ------------------------------------------------------------------ talking to the modem
    def command(self, command: str, timeout_s: float = 1.0, terminator: str = "\r\n") -> Gen:
        board = self.board
        board.uart_rx.clear()
        reader = at.AtReader()
        reader.begin(command)
        board.modem_send(at.encode_command(command, terminator))
        waited = 0.0
        while waited < timeout_s:
            yield POLL_S
            waited += POLL_S
            data = bytes(board.uart_rx)
            board.uart_rx.clear()
            for event in reader.feed(data):
                if isinstance(event, at.Final):
                    return event.response
        return None

    def wakeup(self, tries: int = 10, message: str | None = "Attempting AT wakeup...") -> Gen:
        if message:
            self.print(message)
        for attempt in range(tries + 1):
            reply = yield from self.command("AT", 0.5)
            if reply is not None and reply.ok:
                return True
            if attempt < tries:
                yield 1.0
        return False

    def detect_state(self) -> Gen:
        board = self.board
        for attempt in range(1, 4):
            board.set_uart1(921600)
            if attempt == 1:
                board.modem_send(b"+++")
                yield 1.15
            for baud in (921600, 115200):
                board.set_uart1(baud)
                for _ in range(2):
                    reply = yield from self.command("AT", 0.25 * attempt + 0.25)
                    if reply is None:
                        continue
                    smod = yield from self.command("AT+SMOD?", 1.0 * attempt)
                    if smod is not None and smod.ok:
                        try:
                            return at.parse_smod(smod.lines)
                        except at.ReplyFormatError:
                            pass
            yield 1.0 * attempt
        return None

    def old_bootrom(self) -> Gen:
        reply = yield from self.command('AT!="showver"', 2.0)
        if reply is None or not reply.ok:
            return False
        for line in reply.lines:
            if "Bootloader0" in line:
                return "[33080]" in line
        return False

    def switch(self, mode: int) -> Gen:
        """AT+SMSWBOOT=<mode>,1 as each version does it; False when the module gives up."""
        reply = yield from self.command(f"AT+SMSWBOOT={mode},1", 2.0)
        if not self.version:
            return True  # the first module did not read this reply
        if reply is not None and not reply.ok:
            if self.v < (1, 2, 1):
                self.print(f"Received ERROR from AT+SMSWBOOT={mode},1! Aborting!")
                return False
            yield 5.0
            second = yield from self.command(f"AT+SMSWBOOT={mode},0", 2.0)
            if second is None or not second.ok:
                self.print(f"Received ERROR from AT+SMSWBOOT={mode},0! Aborting!")
                return False
            yield from self.command("AT^RESET", 2.0)
        return True

    def upload(self, blob: bytes) -> Gen:
        board = self.board
        master = stp.StpMaster(len(blob), block_cap=stp.PYCOM_BLOCK_CAP)
        self.print(f"Sending {len(blob)} bytes")
        failures = 0
        while not master.done:
            request = master.request()
            data = blob[request.offset : request.offset + request.length] \
                if request.needs_data else b""
            board.modem_send(master.encode(request, data))
            moved = False
            waited = 0.0
            while not moved and waited < 5.0:
                yield POLL_S
                waited += POLL_S
                chunk = bytes(board.uart_rx)
                board.uart_rx.clear()
                for event in master.feed(chunk):
                    if isinstance(event, stp.SessionOpened):
                        self.print(f"Session opened: version {event.version}, max transfer "
                                   f"{event.max_transfer} bytes")
                    if isinstance(event, (stp.SessionOpened, stp.BlockAccepted, stp.Advanced)):
                        moved = True
            failures = 0 if moved else failures + 1
            if failures > 4:
                return False
        board.bootrom_sent += len(blob)
        return True

    def bootrom_stage(self) -> Gen:
        """Flash the board's bootrom copy, then boot the modem's boot loader (FFH)."""
        if not (yield from self.wakeup()):
            return False
        yield from self.command("ATE0")
        yield from self.command("AT+SMOD?")
        yield from self.command('AT+SQNSUPGRADENTF="started"')
        if self.version:
            if not (yield from self.switch(3)):
                return False
            yield 3.0
            if not (yield from self.wakeup(300, None)):
                return False
        yield 1.0
        yield from self.command("AT+CFUN=4")
        reply = yield from self.command('AT+SMSTPU="ON_THE_FLY"')
        if reply is None or not reply.ok:
            self.print("Code download failed, aborting!")
            return False
        build, size = _BOOTROMS.get(self.version, _LATEST_BOOTROM)
        blob = make_image(ImageKind.BOOTROM, Family.CATM1, build, size=size)
        if not (yield from self.upload(blob)):
            self.print("Code download failed, aborting!")
            return False
        yield 1.5
        return (yield from self.switch(0))

    def at_negotiation(self) -> Gen:
        board = self.board
        self.print("Attempting AT auto-negotiation...")
        board.set_uart1(115200)
        for attempt in range(11):
            reply = yield from self.command("AT", 0.5)
            if reply is not None and reply.ok:
                break
            if attempt == 10:
                self.print("ERROR sending AT command... no response? b''")
                return False
            yield 1.0
        reply = yield from self.command("AT+IPR=921600", 1.0, terminator="\n")
        if reply is None or not reply.ok:
            self.print("ERROR in AT+IPR=921600 returned b''")
            return False
        board.set_uart1(921600)
        smod = yield from self.command("AT+SMOD?", 1.0)
        if smod is None or not smod.lines or smod.lines[0].strip() != "0":
            self.print(f"ERROR in AT+SMOD returned {list(smod.lines) if smod else []}")
            return False
        return True

    # ------------------------------------------------------------------ public functions
    def uart(self, ffh_mode: bool = False, mfile: str | None = None,
             color: int = 0x050505) -> Gen:
        board = self.board
        board.calls.append(f"uart({'True' if ffh_mode else ''})")
        self.welcome()
        state = yield from self.detect_state()
        retry = False
        if state is None:
            self.print("Could not detect your modem!")
            self.print("Please try to power off your device and restart in safeboot mode.")
            return False
        if state == 0:
            self.print("Your modem is in recovery mode. You will need to use firmware.dup and "
                       "updater.elf file to upgrade.")
            retry = True
            ffh_mode = True
        self.print("Preparing modem for upgrade...")
        if ffh_mode and not retry:
            if self.v >= (1, 2, 6) and not (yield from self.old_bootrom()):
                self.print("FFH mode is not necessary... ignoring!")
                self.print("Do not specify updater.elf when updating!")
                ffh_mode = False
                mfile = None
            elif not (yield from self.bootrom_stage()):
                self.print("Unable to upgrade bootrom.")
                return None
            else:
                yield 1.0
        if mfile is not None:
            raise BoardException("OSError", "[Errno 2] ENOENT", (("sqnsupgrade.py", 1, "uart"),))
        if ffh_mode:
            board.set_uart1(115200)
            yield from self.command("AT+SMOD?")
            yield 1.0
            if not (yield from self.at_negotiation()):
                self.print("AT auto-negotiation failed! Exiting.")
                return False
        else:
            if not (yield from self.wakeup()):
                return False
            yield from self.command("AT+SMOD?")
            yield 1.0
        yield 0.5
        self.print("Going into MIRROR mode... please close this terminal to resume the upgrade "
                   "via UART")
        yield 0.5
        board.led = color
        board.start_mirror()
        raise _Bridged()

    def info(self, verbose: bool = False, debug: bool = False, *args: Any,
             **kwargs: Any) -> Gen:
        self.board.calls.append("info()")
        self.welcome()
        state = yield from self.detect_state()
        sentences = {
            1: "Your modem is in mTools mode.",
            0: "Your modem is in recovery mode! Use firmware.dup and updater.elf to flash new "
               "firmware.",
            4: "Your modem is in upgrade mode! Use firmware.dup to flash new firmware.",
        }
        if state == 2:
            self.print("Your modem is in application mode. Here is the current version:")
            reply = yield from self.command('AT!="showver"' if verbose else "ATI1", 2.0)
            for line in reply.lines if reply is not None else ():
                if line.strip():
                    self.print(line)
            if self.v >= (1, 2, 3):
                imei = yield from self.command("AT+CGSN")
                if imei is not None and imei.lines:
                    self.print(f"IMEI: {imei.lines[0].strip()}")
        elif state in sentences:
            self.print(sentences[state])
        else:
            self.print("Cannot determine modem state!")
        return None

    def show_version(self, debug: bool = False) -> Gen:
        self.board.calls.append("version()")
        reply = yield from self.command("ATI1", 2.0)
        for line in reply.lines if reply is not None else ():
            self.print(line)
        return None

    def state(self, retry: int = 5, hangup: bool = False, debug: bool = False) -> Gen:
        self.board.calls.append("state()")
        return (yield from self.detect_state())

    def imei(self, retry: int = 5, hangup: bool = False, debug: bool = False) -> Gen:
        self.board.calls.append("imei()")
        if (yield from self.detect_state()) != 2:
            return None
        reply = yield from self.command("AT+CGSN")
        return reply.lines[0].strip() if reply is not None and reply.lines else None

    def run(self, ffile: str, mfile: str | None = None, *args: Any, **kwargs: Any) -> Gen:
        self.board.calls.append("run()")
        self.welcome()
        self._missing_file(mfile or ffile)
        yield 0.0
        return False

    def load(self, mfile: str, *args: Any, **kwargs: Any) -> Gen:
        self.board.calls.append("load()")
        self.welcome()
        self._missing_file(mfile)
        yield 0.0
        return None


# --------------------------------------------------------------------------- host end


class BoardSimulator(Simulator):
    """A simulated board with its modem; the host end is the board's USB serial port."""

    def __init__(self, config: SimConfig | None = None, *, clock: Clock | None = None) -> None:
        super().__init__(config, clock=clock)
        self.board = SimBoard(self.config, self.engine, self.modem)
        self.wire = self.board.usb

    def summary(self) -> dict[str, Any]:
        return {**self.modem.summary(), "board": self.board.summary()}
