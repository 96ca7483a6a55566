"""A drop-in for the PC side of Pycom's `sqnsupgrade`, built on sqnflash.

Scripts written for Pycom's module keep working::

    import sqnsupgrade
    sqnsupgrade.run('/dev/ttyACM0', 'CATM1-41065.dup', 'updater.elf')
    sqnsupgrade.version('/dev/ttyACM0')

`run`, `version`, `info`, `state` and `imei` take the arguments of Pycom's functions (1.2.6) and
return the same kinds of values; they print progress the way Pycom's did, and when something goes
wrong they print sqnflash's error (code, cause, the modem's state, what to do) instead of a
traceback. Underneath, sqnflash reads the modem's mode and plans the upgrade itself, so:

- `resume` is accepted and not needed: a modem in RECOVERY ("upgrade mode") or in the boot loader
  ("recovery mode") is found as such and the upgrade continues from there;
- `mfile` (updater.elf) is used only when the modem needs it, and refused before anything changes
  when it belongs to another release than the image;
- `load_fff=False` forces the ON_THE_FLY method, `force_fff=True` the FFF method; `fc=True` turns on
  RTS/CTS (Pycom's PC script accepted it and never used it);
- `debug=True` prints sqnflash's wire trace (every AT line and STP frame) to stderr;
- every function also takes `board='pycom'`: the port is then a Pycom board's USB port, and the
  board is checked and made to bridge its modem first (what `sqnsupgrade.uart()` on the board and
  closing the terminal did by hand). A call cut short (Ctrl-C) leaves the board bridging and says
  so; the same call again finds the bridge and goes on through it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import sqnflash
from sqnflash.errors import Interrupted, NoResponse, SqnflashError
from sqnflash.events import (
    Event,
    Note,
    StepStarted,
    TransferFinished,
    TransferProgress,
    TransferStarted,
    Waiting,
)
from sqnflash.firmware import load_image, load_updater
from sqnflash.link import WireTrace
from sqnflash.modem import Modem, ModemInfo
from sqnflash.protocol.modes import Mode
from sqnflash.timing import REAL_CLOCK
from sqnflash.upgrade import Method, UpgradeResult, plan_for, upgrade
from sqnflash.upgrade.bridge import inspect_board, modem_session

VERSION = "1.2.6"  # the Pycom API this module answers to; sqnflash's own is __version__
__version__ = sqnflash.__version__
BAR_WIDTH = 25
_STATE_SENTENCES = {
    Mode.FFH_TOOL: "Your modem is in mTools mode.",
    Mode.FFH: "Your modem is in recovery mode! Use firmware.dup and updater.elf to flash new "
              "firmware.",
    Mode.RECOVERY: "Your modem is in upgrade mode! Use firmware.dup to flash new firmware.",
    Mode.UPDATER: "Your modem is in updater mode! Use firmware.dup to flash new firmware.",
}


def print_welcome(out: TextIO | None = None) -> None:
    print(f"<<< Welcome to the SQN3330 firmware updater [sqnflash {__version__}] >>>",
          file=out or sys.stdout)


class _Printer:
    """Renders sqnflash's events as Pycom's script printed its progress."""

    def __init__(self, verbose: bool, out: TextIO | None = None) -> None:
        self.verbose = verbose
        self.out = out or sys.stdout
        self._shown = -1
        self._waiting_for: str | None = None

    def _print(self, text: str = "", end: str = "\n") -> None:
        print(text, end=end, file=self.out, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Note):
            if self.verbose or event.level == "warning" or event.text.startswith("board:") \
                    or "not needed" in event.text:
                self._print(event.text)
        elif isinstance(event, StepStarted):
            if self.verbose:
                self._print(f"{event.title}: {event.reason}")
            if event.step == "switch-application":
                self._print("Resetting.")
        elif isinstance(event, TransferStarted):
            self._shown = -1
            self._print(f"Session opened: max transfer {event.max_transfer} bytes")
            self._bar(0, event.total)
        elif isinstance(event, TransferProgress):
            self._bar(event.done, event.total)
        elif isinstance(event, TransferFinished):
            if self._shown != 100:
                self._bar(event.total, event.total)
            self._print()
        elif isinstance(event, Waiting) and self._waiting_for != event.step:
            self._waiting_for = event.step
            self._print("Waiting for modem to finish the update...")
            self._print("This might take several minutes!")
            self._print("<<<=== DO NOT DISCONNECT POWER ===>>>")

    def _bar(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent // 5 == self._shown // 5 and percent != 100:
            return
        self._shown = percent
        filled = BAR_WIDTH * percent // 100
        self._print(f"\rSending {total} bytes: [{'#' * filled}{' ' * (BAR_WIDTH - filled)}] "
                    f"{percent}%", end="")


def _print_error(error: SqnflashError, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    print(f"{error.code}: {error.cause}", file=stream)
    if error.modem_state:
        print(f"  modem: {error.modem_state}", file=stream)
    print(f"  what to do: {error.hint}", file=stream)


@contextlib.contextmanager
def _tracer(debug: bool) -> Iterator[WireTrace | None]:
    if not debug:
        yield None
        return
    tracer = WireTrace(sys.stderr, REAL_CLOCK)
    try:
        yield tracer
    finally:
        tracer.close()


@contextlib.contextmanager
def _modem(port: Any, *, fc: bool, debug: bool, emit: _Printer, board: str | None,
           check: Any = None) -> Iterator[Modem]:
    with _tracer(debug) as tracer, modem_session(port, rtscts=fc, tracer=tracer, emit=emit,
                                                 board=board, check=check) as modem:
        yield modem


def _read(port: Any, *, fc: bool, debug: bool, board: str | None,
          printer: _Printer) -> ModemInfo:
    """The modem's state: through a board's REPL (no bridge) or on the port itself."""
    if board is not None:
        with _tracer(debug) as tracer:
            return inspect_board(port, tracer=tracer, emit=printer)[1]
    with _modem(port, fc=fc, debug=debug, emit=printer, board=None) as modem:
        modem.wake()
        return modem.info()


def _guarded(action: Any, failed: Any) -> Any:
    try:
        return action()
    except SqnflashError as error:
        _print_error(error)
    except KeyboardInterrupt:
        _print_error(Interrupted())
    return failed


def _version_lines(info: ModemInfo) -> list[str]:
    lines = []
    if info.ue_version:
        lines.append(f"UE{info.ue_version}")
    if info.lr_version or info.software_build:
        lines.append(f"LR{info.lr_version or info.software_version or '?'}"
                     f"-{info.software_build or '?'}")
    return lines


def _show_info(info: ModemInfo) -> None:
    for line in _version_lines(info):
        print(line)
    if info.imei:
        print(f"IMEI: {info.imei}")


def run(port: Any, ffile: str, mfile: str | None = None, resume: bool = False,
        debug: bool = False, verbose: bool = False, load_fff: bool = True, fc: bool = False,
        force_fff: bool = False, *, board: str | None = None) -> bool:
    """Upgrade the modem on `port` to `ffile` (with `mfile`, updater.elf, when it is needed).

    True once the modem runs the new firmware; False after printing what went wrong."""
    print_welcome()
    printer = _Printer(verbose)
    method = Method.FFF if force_fff else None if load_fff else Method.ON_THE_FLY

    def go() -> UpgradeResult:
        image = load_image(Path(ffile))
        updater = load_updater(Path(mfile)) if mfile else None

        def check(before: ModemInfo) -> object:
            return plan_for(before, image, updater=updater, method=method)

        with _modem(port, fc=fc, debug=debug, emit=printer, board=board,
                    check=check) as modem:
            return upgrade(modem, image, updater=updater, method=method, emit=printer)

    result: UpgradeResult | None = _guarded(go, None)
    if result is None:
        return False
    print("Your modem has been successfully updated.")
    print("Here is the current firmware version:\n")
    _show_info(result.after)
    return True


def version(port: Any, verbose: bool = False, debug: bool = False, fc: bool = False, *,
            board: str | None = None) -> None:
    """Print the modem's versions (ATI1) and IMEI, as Pycom's `version(port)` did."""
    info_ = _guarded(lambda: _read(port, fc=fc, debug=debug, board=board,
                                   printer=_Printer(verbose)), None)
    if info_ is None:
        return
    if info_.mode != Mode.APPLICATION:
        print(_STATE_SENTENCES.get(info_.mode, "Cannot determine modem state!"))
        return
    _show_info(info_)


def info(port: Any, verbose: bool = False, debug: bool = False, fc: bool = False, *,
         board: str | None = None) -> None:
    """Print the modem's state and, in the application, its versions and IMEI (Pycom's
    on-board `info()`, here for a modem on `port`)."""
    print_welcome()
    info_ = _guarded(lambda: _read(port, fc=fc, debug=debug, board=board,
                                   printer=_Printer(verbose)), None)
    if info_ is None:
        print("Cannot determine modem state!")
        return
    if info_.mode == Mode.APPLICATION:
        print("Your modem is in application mode. Here is the current version:")
        _show_info(info_)
        if info_.old_bootrom:
            print(f"Its bootrom is the factory one ({info_.bootrom_build}): an upgrade needs the "
                  "full image and its updater.elf.")
        return
    print(_STATE_SENTENCES.get(info_.mode, "Cannot determine modem state!"))


def state(port: Any, debug: bool = False, fc: bool = False, *,
          board: str | None = None) -> int | None:
    """`AT+SMOD?`: 0 boot loader, 1 mtools, 2 application, 3 updater, 4 recovery; None when
    the modem does not answer."""
    def read() -> int | None:
        try:
            return int(_read(port, fc=fc, debug=debug, board=board,
                             printer=_Printer(False)).mode)
        except NoResponse:
            return None

    result: int | None = _guarded(read, None)
    return result


def imei(port: Any, debug: bool = False, fc: bool = False, *,
         board: str | None = None) -> str | None:
    """The IMEI (`AT+CGSN`) of a modem in the application; None otherwise."""
    info_: ModemInfo | None = _guarded(
        lambda: _read(port, fc=fc, debug=debug, board=board, printer=_Printer(False)), None)
    return info_.imei if info_ is not None and info_.mode == Mode.APPLICATION else None


__all__ = ["VERSION", "imei", "info", "print_welcome", "run", "state", "version"]
