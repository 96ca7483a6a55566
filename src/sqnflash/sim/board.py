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
  version a release carries, and what each version does, is the table of
  `sqnflash.firmware.pycom_releases` (docs/protocol.md §8), which the board code of sqnflash
  uses too. Releases without it import an uploaded copy when
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

from typing import Any

from sqnflash.firmware.pycom_releases import Release, UpgraderModule, module_of
from sqnflash.protocol import repl
from sqnflash.sim.board_interpreter import Interpreter
from sqnflash.sim.board_modules import BuiltinModules
from sqnflash.sim.board_objects import (
    MIRROR_BAUD,
    REPL_BAUD,
    BoardException,
    Bridged,
    Gen,
    SimModule,
)
from sqnflash.sim.config import BOARDS, SimConfig
from sqnflash.sim.engine import Engine, Timer
from sqnflash.sim.modem import SimModem
from sqnflash.sim.simulator import Simulator
from sqnflash.sim.wire import Wire
from sqnflash.timing import Clock

UART_RX_LIMIT = 8192  # bytes the board keeps from the modem when nobody reads them
DEFAULT_RELEASE = "1.20.2.r4"
NEW_MICROPYTHON = (1, 20)  # the release branch that moved to MicroPython 1.11


def module_version(release: str) -> str | None:
    """The built-in sqnsupgrade's version ("" for the first one), None if there is none."""
    module = module_of(Release.parse(release))
    return None if module is None else _shown_version(module)


def _shown_version(module: UpgraderModule) -> str:
    return "" if module.version_tuple == (0,) else module.version


# --------------------------------------------------------------------------- the board


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
        self.module = module_of(Release.parse(self.release))
        self.modules = BuiltinModules(self)
        self.usb = Wire(engine, self._usb_receive, host_baud=config.host_baud,
                        modem_baud=REPL_BAUD, turnaround_s=config.turnaround_s,
                        paced=config.paced)
        # The LTE driver's settings after boot: RTS/CTS, wired on the board (see SimConfig).
        modem.wire.connect_host(baud=MIRROR_BAUD, rtscts=True, on_modem_write=self._modem_wrote)
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
    def _new_micropython(self) -> bool:
        release = Release.parse(self.release)
        return (release.major, release.minor) >= NEW_MICROPYTHON

    @property
    def micropython(self) -> str:
        return "v1.11-ffb0e1c" if self._new_micropython else "v1.8.6-849-83e2f7f"

    @property
    def banner(self) -> str:
        date = "2021-01-12" if self._new_micropython else "2018-11-08"
        return (f"Pycom MicroPython {self.release} [{self.micropython}] on {date}; "
                f"{self.sysname} with ESP32\r\nType \"help()\" for more information.\r\n")

    def summary(self) -> dict[str, Any]:
        return {
            "board": self.kind,
            "sysname": self.sysname,
            "release": self.release,
            "sqnsupgrade": None if self.module is None else (_shown_version(self.module)
                                                             or "first"),
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
        except Bridged:
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
        return self.modules.load(name)

    def now(self) -> float:
        return self.engine.time


# --------------------------------------------------------------------------- host end


class BoardSimulator(Simulator):
    """A simulated board with its modem; the host end is the board's USB serial port."""

    def __init__(self, config: SimConfig | None = None, *, clock: Clock | None = None) -> None:
        super().__init__(config, clock=clock)
        self.board = SimBoard(self.config, self.engine, self.modem)
        self.wire = self.board.usb

    def summary(self) -> dict[str, Any]:
        return {**self.modem.summary(), "board": self.board.summary()}

