"""The modules the simulated board imports: `os`, `time`, `machine` (with its UART), `pycom`,
`network` and `sqnsupgrade` (built in, uploaded, or missing, as the release decides)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqnflash.firmware.pycom_releases import Release
from sqnflash.sim.board_objects import (
    LTE_PINS,
    BoardException,
    BoardPort,
    Gen,
    SimClass,
    SimFunction,
    SimModule,
    SimObject,
    Uname,
)
from sqnflash.sim.board_upgrader import Upgrader

FIRST_LTE_RELEASE = Release.parse("1.17.0")  # network.LTE appeared


@dataclass
class BoardUart:
    """`machine.UART(1, ...)`: connected to the modem only on the board's LTE pins."""

    board: BoardPort
    baud: int
    pins: tuple[str, ...]

    def object(self) -> SimObject:
        return SimObject("UART", {
            "read": SimFunction("read", self.read),
            "write": SimFunction("write", self.write),
            "any": SimFunction("any", lambda: len(self.board.uart_rx)),
            "deinit": SimFunction("deinit", lambda: None),
        }, type_name="UART")

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


class BuiltinModules:
    """Builds each module the board's code imports, fresh for each import."""

    def __init__(self, board: BoardPort) -> None:
        self.board = board
        self.builders: dict[str, Callable[[], SimModule | None]] = {
            "os": self._os, "uos": self._os, "time": self._time, "utime": self._time,
            "machine": self._machine, "pycom": self._pycom, "network": self._network,
            "sqnsupgrade": self._sqnsupgrade,
        }

    def load(self, name: str) -> SimModule:
        build = self.builders.get(name)
        module = build() if build is not None else None
        if module is None:
            raise BoardException("ImportError", f"no module named '{name}'")
        return module

    def _os(self) -> SimModule:
        board = self.board

        def uname() -> Uname:
            fields: dict[str, Any] = {
                "sysname": board.sysname, "nodename": board.sysname, "release": board.release,
                "version": f"{board.micropython} on 2018-11-08", "machine":
                f"{board.sysname} with ESP32"}
            if board.sysname == "FiPy":
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
            "ticks_ms": SimFunction("ticks_ms", lambda: int(self.board.now() * 1000)),
        })

    def _machine(self) -> SimModule:
        board = self.board

        def uart(bus: int, baudrate: int = 9600, bits: int = 8, parity: Any = None,
                 stop: int = 1, *, pins: tuple[str, ...] | None = None,
                 timeout_chars: int = 2, **options: Any) -> SimObject:
            if bus != 1:
                raise BoardException("NotImplementedError",
                                     "the simulated board only wires UART 1 (the modem)")
            board.set_uart1(int(baudrate))
            return BoardUart(board, int(baudrate), tuple(pins or ())).object()

        def reset() -> None:
            raise BoardException("NotImplementedError",
                                 "machine.reset(): restart the simulator (a power cycle)")

        uart_class = SimClass("UART", {"__call__": SimFunction("UART", uart)})
        return SimModule("machine", {"UART": uart_class, "reset": SimFunction("reset", reset)})

    def _pycom(self) -> SimModule:
        def rgbled(color: int) -> None:
            self.board.led = int(color)

        return SimModule("pycom", {"heartbeat": SimFunction("heartbeat", lambda on=None: None),
                                   "rgbled": SimFunction("rgbled", rgbled)})

    def _network(self) -> SimModule:
        attrs: dict[str, Any] = {}
        if Release.parse(self.board.release) >= FIRST_LTE_RELEASE:
            def construct(*args: Any, **kwargs: Any) -> None:
                raise BoardException("NotImplementedError",
                                     "the simulated board has no LTE stack, only the modem's UART")

            lte = SimClass("LTE", {"__call__": SimFunction("LTE", construct)})
            if self.board.module is not None:
                lte.attrs["modem_upgrade_mode"] = SimFunction("modem_upgrade_mode",
                                                              self.board.start_mirror)
                lte.attrs["reconnect_uart"] = SimFunction("reconnect_uart", lambda: None)
            attrs["LTE"] = lte
        return SimModule("network", attrs)

    def _sqnsupgrade(self) -> SimModule | None:
        board = self.board
        if board.module is not None:
            return Upgrader(board, board.module).module()
        if board.uploaded == "script":
            def run(file_path: str, baudrate: int = 921600, port: Any = None,
                    resume: bool = False) -> None:
                board.stdout("<<< Welcome to the SQN3330 firmware updater >>>\n")
                raise BoardException("OSError", "[Errno 2] ENOENT",
                                     (("/flash/lib/sqnsupgrade.py", 106, "run"),))

            return SimModule("sqnsupgrade", {"run": SimFunction("run", run)},
                             file="/flash/lib/sqnsupgrade.py")
        if board.uploaded == "folder":
            return SimModule("sqnsupgrade", path="/flash/lib/sqnsupgrade")
        return None
