"""Reach the modem of a Pycom board through the board: check, decide, bridge, hand back a Modem.

The order matters because a bridge cannot be undone without resetting the board, and the board's
`uart(True)` changes the modem (it flashes a bootrom and boots the boot loader):

1. the board must be able to bridge (else stop: the modem is untouched);
2. the modem is read through the board's UART, and the caller checks that the job can be done from
   that state (files, versions), still before anything changes;
3. only then the bridge starts, `uart(True)` if the modem needs the board's bootrom / boot loader
   step (factory bootrom 33080 in the application, or already in the boot loader), `uart()`
   otherwise;
4. the modem must answer through the bridge at 921600 baud.

A board found already bridging (from an earlier run cut short) answers AT instead of a REPL: the
session continues with the modem directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from serial.serialutil import SerialBase

from sqnflash.board import BRIDGE_BAUD, REPL_BAUD, BoardInfo, ModemProbe, PycomBoard
from sqnflash.errors import BoardNoRepl, BridgeSilent, NoResponse
from sqnflash.events import EventSink, Note, discard
from sqnflash.link import Link, Tracer, open_link
from sqnflash.modem import APP_BAUD, Modem, ModemInfo
from sqnflash.protocol.modes import Mode

BRIDGE_WAKE_S = 10.0  # the board switches its USB UART to 921600 half a second after saying so
LEAVE_BRIDGE = ("The board still bridges its USB port to the modem: press its reset button (or "
                "unplug it and plug it in again) to get the MicroPython REPL back. sqnflash cannot "
                "do it for you: while bridged the board runs no REPL, so machine.reset() cannot "
                "be sent, and every byte goes to the modem.")

Check = Callable[[ModemInfo], object]  # raises to stop before the bridge


@dataclass
class BoardSession:
    modem: Modem
    board: BoardInfo | None  # None when the board was found already bridging
    before: ModemInfo | None  # the modem as read through the board's REPL
    bridged_now: bool
    ffh: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"board": self.board.to_dict() if self.board else None,
                "bridge": "uart(True)" if self.ffh else "uart()" if self.bridged_now
                else "already bridged",
                "before": self.before.to_dict() if self.before else None}


def modem_info(probe: ModemProbe) -> ModemInfo:
    return ModemInfo.build(probe.mode, probe.baud, probe.showver, probe.ati1, probe.imei)


def needs_ffh(info: ModemInfo) -> bool:
    """The board's bootrom / boot loader step: the bridge cannot change the modem's baud rate,
    so a modem that must be (or already is) in the boot loader at 115200 needs the board to
    negotiate 921600 first."""
    return info.mode == Mode.FFH or (info.mode == Mode.APPLICATION and info.old_bootrom)


def board_note(info: ModemInfo) -> str:
    """What changes in a plan made from the board's REPL once the board bridges the modem."""
    if needs_ffh(info):
        return ("Through a Pycom board, the board's sqnsupgrade.uart(True) flashes its own "
                "bootrom copy, boots the boot loader and negotiates 921600 baud; sqnflash then "
                "loads updater.elf and writes the image through the bridge.")
    return ("Through a Pycom board, the board's sqnsupgrade.uart() bridges the modem first; "
            "the steps run through the bridge at 921600 baud.")


def _open(port: str | SerialBase, tracer: Tracer | None) -> Link:
    # The board's USB serial port carries no flow control.
    return open_link(port, baud=REPL_BAUD, rtscts=False, tracer=tracer)


def _already_bridged(link: Link, emit: EventSink) -> Modem | None:
    modem = Modem(link, emit=emit, fixed_baud=BRIDGE_BAUD)
    link.set_baud(BRIDGE_BAUD)
    try:
        modem.wake(timeout_s=2.0)
    except NoResponse:
        return None
    return modem


def inspect_board(port: str | SerialBase, *, tracer: Tracer | None = None,
                  emit: EventSink = discard) -> tuple[BoardInfo, ModemInfo]:
    """What the board is and what its modem says, through the REPL only: no bridge, the board is
    left at its prompt."""
    link = _open(port, tracer)
    board = PycomBoard(link, emit=emit)
    try:
        info = board.identify()
        if info.kind is None:
            board.check_bridge(info)  # says which board it is and that it has no modem
        probe = board.probe_modem()
        return info, modem_info(probe)
    finally:
        board.close()
        link.close()


def open_through_board(port: str | SerialBase, *, tracer: Tracer | None = None,
                       emit: EventSink = discard, check: Check | None = None) -> BoardSession:
    """A Modem on the far side of the board's bridge (see the module's docstring)."""
    link = _open(port, tracer)
    board = PycomBoard(link, emit=emit)
    try:
        try:
            info = board.identify()
        except BoardNoRepl:
            modem = _already_bridged(link, emit)
            if modem is None:
                raise
            emit(Note("the board already bridges its modem (from an earlier run): talking to "
                      "the modem directly"))
            return BoardSession(modem, None, None, bridged_now=False)
        board.check_bridge(info)
        before = modem_info(board.probe_modem())
        if check is not None:
            check(before)
        ffh = needs_ffh(before)
        if ffh:
            board.check_ffh(info)
        board.start_bridge(ffh=ffh)
    except BaseException:
        board.close()
        link.close()
        raise
    modem = Modem(link, emit=emit, fixed_baud=BRIDGE_BAUD)
    try:
        modem.wake(timeout_s=BRIDGE_WAKE_S)
    except NoResponse as exc:
        link.close()
        raise BridgeSilent(f"after {'uart(True)' if ffh else 'uart()'} the modem does not answer "
                           f"AT through {link.name} at {BRIDGE_BAUD} baud",
                           modem_state="unknown: behind a bridge that does not answer") from exc
    return BoardSession(modem, info, before, bridged_now=True, ffh=ffh)


@contextlib.contextmanager
def modem_session(port: str | SerialBase, *, baud: int = APP_BAUD, rtscts: bool = False,
                  tracer: Tracer | None = None, emit: EventSink = discard,
                  board: str | None = None, check: Check | None = None) -> Iterator[Modem]:
    """The modem on `port`, closed afterwards; with `board`, the modem behind that board's bridge,
    after `check` accepted what the modem reported through the board (nothing is bridged if it
    raises)."""
    if board is not None:
        with board_session(port, tracer=tracer, emit=emit, check=check) as session:
            yield session.modem
        return
    modem = Modem.open(port, baud=baud, rtscts=rtscts, tracer=tracer, emit=emit)
    try:
        yield modem
    finally:
        modem.close()


@contextlib.contextmanager
def board_session(port: str | SerialBase, *, tracer: Tracer | None = None,
                  emit: EventSink = discard, check: Check | None = None
                  ) -> Iterator[BoardSession]:
    """`open_through_board`, closed afterwards, with the note on how to leave bridge mode."""
    session = open_through_board(port, tracer=tracer, emit=emit, check=check)
    try:
        yield session
    finally:
        session.modem.close()
        emit(Note(LEAVE_BRIDGE, "warning"))
