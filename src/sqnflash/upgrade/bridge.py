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

Before the REPL is interrupted, the board is asked whether it is idle (Ctrl-B, see board/pycom.py):
a `uart()` still running from a run cut short is followed to its bridge. A board found already
bridging has no REPL any more: the modem answers AT at 921600 baud where the REPL should be, and
the session goes on with it through the bridge. A modem that an interrupted transfer left inside
its STP session answers neither; for `upgrade` and `recover` the bridge is then assumed, and the
upgrade's own look for a held or abandoned transfer session decides (nothing having answered at
all means the port is not the board's, or the board is stuck: `BoardUnreachable`). `info` and
plans, which must change nothing, stop there with that error instead of ending the session.

Ctrl-C once the board runs `uart()` leaves it bridging (or about to): the error's state line says
so, and that the same command again continues through the bridge.

Without a board option, a port whose answers show a MicroPython REPL is given up on before another
byte is sent to it (`ReplGuard`): the error says to add `--board pycom`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from serial.serialutil import SerialBase

from sqnflash.board import (
    BRIDGE_BAUD,
    REPL_BAUD,
    BoardInfo,
    ModemProbe,
    PycomBoard,
    looks_like_repl,
)
from sqnflash.board.repl import readable_lines
from sqnflash.errors import (
    BoardNoRepl,
    BoardUnreachable,
    BridgeSilent,
    Interrupted,
    NoResponse,
    ReplNotModem,
)
from sqnflash.events import EventSink, Note, discard
from sqnflash.link import Link, Tracer, open_link
from sqnflash.modem import APP_BAUD, Modem, ModemInfo
from sqnflash.protocol.modes import Mode
from sqnflash.timing import Clock

BRIDGE_WAKE_S = 10.0  # the board switches its USB UART to 921600 half a second after saying so
BRIDGED_PROBE_S = 2.0  # a modem awake behind a bridge answers AT within milliseconds
HEARD_TAIL = 4096  # bytes of what the port said kept to recognise a REPL in it
BRIDGING_STATE = ("The board still bridges its USB port to the modem: run the same command again "
                  "(it finds the bridge and continues through it), or power-cycle the board "
                  "(unplug it) to get its MicroPython REPL back.")
LEAVE_BRIDGE = ("The board still bridges its USB port to the modem: press its reset button (or "
                "unplug it and plug it in again) to get the MicroPython REPL back. sqnflash cannot "
                "do it for you: while bridged the board runs no REPL, so machine.reset() cannot "
                "be sent, and every byte goes to the modem.")

Check = Callable[[ModemInfo], object]  # raises to stop before the bridge


class HeardTail:
    """A tracer that keeps the last bytes the port said (to recognise who answered) and passes
    everything on to `inner`, the user's wire trace if any."""

    def __init__(self, inner: Tracer | None) -> None:
        self.inner = inner
        self.tail = bytearray()
        self.total = 0

    def sent(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.sent(data)

    def received(self, data: bytes) -> None:
        self.total += len(data)
        self.tail += data
        if len(self.tail) > 2 * HEARD_TAIL:
            del self.tail[:-HEARD_TAIL]
        if self.inner is not None:
            self.inner.received(data)

    def note(self, text: str) -> None:
        if self.inner is not None:
            self.inner.note(text)

    def use_clock(self, clock: Clock) -> None:
        if self.inner is not None:
            self.inner.use_clock(clock)

    def line_changed(self, baud: int) -> None:
        if self.inner is not None:
            self.inner.line_changed(baud)


class ReplGuard(HeardTail):
    """On a port opened for a modem: once what it said shows a MicroPython REPL, the next byte
    sqnflash would send (AT at other rates, STP frames: all of it input to the board's Python,
    where 0x01 enters raw REPL and 0x04 runs it) raises ReplNotModem instead."""

    def __init__(self, inner: Tracer | None, port: str) -> None:
        super().__init__(inner)
        self.port = port
        self.repl_seen = False
        self.modem_seen = False  # a modem's `OK` line: from then on nothing is looked for

    def received(self, data: bytes) -> None:
        super().received(data)
        if not (self.repl_seen or self.modem_seen):
            tail = bytes(self.tail)
            self.modem_seen = b"\r\nOK\r\n" in tail
            self.repl_seen = not self.modem_seen and looks_like_repl(tail)

    def sent(self, data: bytes) -> None:
        if self.repl_seen:
            raise ReplNotModem(
                f"{self.port} answers as a MicroPython REPL, not as a modem (heard "
                f"{readable_lines(bytes(self.tail))!r}): it is a Pycom board's USB port, and "
                "the modem sits behind the board's ESP32",
                modem_state="untouched: nothing reached the modem")
        super().sent(data)


@dataclass
class BoardSession:
    modem: Modem
    board: BoardInfo | None  # None when the board was found already bridging
    before: ModemInfo | None  # the modem as read through the board's REPL
    bridged_now: bool
    ffh: bool = False
    answered: bool = True  # False: bridging assumed, nothing answered yet (see the docstring)
    heard: HeardTail | None = None
    heard_before: int = 0  # bytes the port had said when the bridge was assumed
    no_repl: BoardNoRepl | None = None

    def silent_since_found(self) -> bool:
        return not self.answered and (self.heard is None
                                      or self.heard.total == self.heard_before)

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


def board_note(info: ModemInfo, *, bridging: bool = False) -> str:
    """What changes in a plan made from the board's REPL once the board bridges the modem;
    `bridging`: the board was found bridging already (the plan was read through the bridge)."""
    if bridging:
        return ("The board already bridges its modem (an earlier run was cut short): the steps "
                "run through that bridge at 921600 baud.")
    if needs_ffh(info):
        return ("Through a Pycom board, the board's sqnsupgrade.uart(True) flashes its own "
                "bootrom copy, boots the boot loader and negotiates 921600 baud; sqnflash then "
                "loads updater.elf and writes the image through the bridge.")
    return ("Through a Pycom board, the board's sqnsupgrade.uart() bridges the modem first; "
            "the steps run through the bridge at 921600 baud.")


def with_bridging_state(state: str | None) -> str:
    """The modem's state line of an error that leaves the board bridging."""
    return f"{state.rstrip().rstrip('.')}. {BRIDGING_STATE}" if state else BRIDGING_STATE


def _open(port: str | SerialBase, tracer: Tracer | None) -> Link:
    # The board's USB serial port carries no flow control.
    return open_link(port, baud=REPL_BAUD, rtscts=False, tracer=tracer)


def _bridged_modem(link: Link, emit: EventSink) -> tuple[Modem, bool]:
    """The modem through a bridge an earlier run left, and whether it answered AT."""
    modem = Modem(link, emit=emit, fixed_baud=BRIDGE_BAUD)
    link.set_baud(BRIDGE_BAUD)
    try:
        modem.wake(timeout_s=BRIDGED_PROBE_S)
    except NoResponse:
        return modem, False
    return modem, True


FOUND_BRIDGING = ("the board already bridges its modem (from an earlier run cut short): its REPL "
                  "is gone and the modem answers AT at 921600 baud; going on through the bridge")


@dataclass
class _Before:
    """What the board was doing before sqnflash interrupted anything (`_before_the_repl`)."""

    modem: Modem | None = None  # the modem through a bridge, when the board bridges
    new_bridge: bool = False  # ...just finished by a uart() a run cut short left going
    at_silent: bool = False  # nothing answered AT through a bridge


def _before_the_repl(board: PycomBoard, link: Link, emit: EventSink) -> _Before:
    """A board at its prompt goes on to its REPL (`modem` None). One still running uart() from
    a run cut short is followed until it bridges, never interrupted (in uart(True) it may be
    writing the modem's bootrom). One that answers nothing may already bridge the modem: AT at
    921600 tells, before a Ctrl-C (needed to stop a silent program) is sent."""
    idle = board.is_idle()
    if idle:
        return _Before()
    if idle is False:
        modem, answered = _bridged_modem(link, emit)
        if answered:
            emit(Note(FOUND_BRIDGING))
            return _Before(modem)
        link.set_baud(REPL_BAUD)
        if not board.hears_uart():
            return _Before(at_silent=True)
    if board.await_running_bridge():
        return _Before(_through_new_bridge(link, emit, "uart()"), new_bridge=True)
    return _Before()


def _unreachable(no_repl: BoardNoRepl, port: str) -> BoardUnreachable:
    return BoardUnreachable(
        f"{no_repl.cause}, and no modem answers AT through a bridge at {BRIDGE_BAUD} baud on "
        f"{port}", modem_state="unknown: nothing answered",
        details=dict(no_repl.details))


def inspect_board(port: str | SerialBase, *, tracer: Tracer | None = None,
                  emit: EventSink = discard) -> tuple[BoardInfo | None, ModemInfo]:
    """What the board is and what its modem says, through the REPL only: no bridge is started,
    the board is left at its prompt. A board found bridging already is read through its bridge
    (BoardInfo None); one whose bridged modem does not answer AT is left as it is."""
    link = _open(port, tracer)
    board = PycomBoard(link, emit=emit)
    bridging = False
    try:
        found = _before_the_repl(board, link, emit)
        if found.modem is not None:
            bridging = True
            return None, found.modem.info()
        try:
            info = board.identify()
        except BoardNoRepl as no_repl:
            modem, answered = (None, False) if found.at_silent else _bridged_modem(link, emit)
            if modem is None or not answered:
                raise _unreachable(no_repl, link.name) from None
            bridging = True
            emit(Note(FOUND_BRIDGING))
            return None, modem.info()
        if info.kind is None:
            board.check_bridge(info)  # says which board it is and that it has no modem
        probe = board.probe_modem()
        return info, modem_info(probe)
    except KeyboardInterrupt:
        if bridging or board.bridge_running:
            raise Interrupted(modem_state=with_bridging_state(
                _GOING_ON if board.bridge_running else None)) from None
        raise
    finally:
        board.close()
        link.close()


def open_through_board(port: str | SerialBase, *, tracer: Tracer | None = None,
                       emit: EventSink = discard, check: Check | None = None) -> BoardSession:
    """A Modem on the far side of the board's bridge (see the module's docstring)."""
    heard = HeardTail(tracer)
    link = _open(port, heard)
    board = PycomBoard(link, emit=emit)
    ffh = False
    info: BoardInfo | None = None
    before: ModemInfo | None = None
    try:
        found = _before_the_repl(board, link, emit)
        if found.modem is not None:
            return BoardSession(found.modem, None, None, bridged_now=found.new_bridge,
                                heard=heard, heard_before=heard.total)
        try:
            info = board.identify()
        except BoardNoRepl as no_repl:
            if found.at_silent:
                modem, answered = Modem(link, emit=emit, fixed_baud=BRIDGE_BAUD), False
                link.set_baud(BRIDGE_BAUD)
            else:
                modem, answered = _bridged_modem(link, emit)
            if answered:
                emit(Note(FOUND_BRIDGING))
            else:
                emit(Note("no REPL and no answer to AT: the board may still bridge a modem that "
                          "waits inside the transfer an interrupted run left; looking for that "
                          "transfer through the bridge", "warning"))
            return BoardSession(modem, None, None, bridged_now=False, answered=answered,
                                heard=heard, heard_before=heard.total, no_repl=no_repl)
        board.check_bridge(info)
        before = modem_info(board.probe_modem())
        if check is not None:
            check(before)
        ffh = needs_ffh(before)
        if ffh:
            board.check_ffh(info)
        board.start_bridge(ffh=ffh)
    except KeyboardInterrupt:
        board.close()
        link.close()
        if board.bridge_running or board.bridged:
            # The board's own run is not interrupted: in uart(True) it may be writing the
            # modem's bootrom, which must not be cut.
            raise Interrupted("interrupted while the board started its bridge",
                              modem_state=with_bridging_state(
                                  _GOING_ON_FFH if ffh else _GOING_ON)) from None
        raise
    except BaseException:
        board.close()
        link.close()
        raise
    modem = _through_new_bridge(link, emit, "uart(True)" if ffh else "uart()")
    return BoardSession(modem, info, before, bridged_now=True, ffh=ffh, heard=heard,
                        heard_before=heard.total)


_GOING_ON = ("The board's sqnsupgrade.uart() goes on without sqnflash and ends in bridge mode "
             "(the next command waits for it rather than interrupting it)")
_GOING_ON_FFH = ("The board's sqnsupgrade.uart(True) goes on without sqnflash (it may be writing "
                 "the modem's bootrom: leave the board powered) and ends in bridge mode (the "
                 "next command waits for it rather than interrupting it)")


def _through_new_bridge(link: Link, emit: EventSink, call: str) -> Modem:
    """The modem, once the board said it bridges: it must answer AT through the bridge."""
    modem = Modem(link, emit=emit, fixed_baud=BRIDGE_BAUD)
    try:
        modem.wake(timeout_s=BRIDGE_WAKE_S)
    except NoResponse as exc:
        link.close()
        raise BridgeSilent(f"after {call} the modem does not answer AT through {link.name} at "
                           f"{BRIDGE_BAUD} baud",
                           modem_state="unknown: behind a bridge that does not answer") from exc
    except KeyboardInterrupt:
        link.close()
        raise Interrupted(modem_state=BRIDGING_STATE) from None
    return modem


@contextlib.contextmanager
def modem_session(port: str | SerialBase, *, baud: int = APP_BAUD, rtscts: bool | None = False,
                  tracer: Tracer | None = None, emit: EventSink = discard,
                  board: str | None = None, check: Check | None = None) -> Iterator[Modem]:
    """The modem on `port`, closed afterwards; with `board`, the modem behind that board's bridge,
    after `check` accepted what the modem reported through the board (nothing is bridged if it
    raises). Without `board`, a port that answers as a MicroPython REPL is named as a board's."""
    if board is not None:
        with board_session(port, tracer=tracer, emit=emit, check=check) as session:
            yield session.modem
        return
    guard = ReplGuard(tracer, port if isinstance(port, str) else str(port.port))
    modem = Modem.open(port, baud=baud, rtscts=rtscts, tracer=guard, emit=emit)
    try:
        yield modem
    finally:
        modem.close()


@contextlib.contextmanager
def board_session(port: str | SerialBase, *, tracer: Tracer | None = None,
                  emit: EventSink = discard, check: Check | None = None
                  ) -> Iterator[BoardSession]:
    """`open_through_board`, closed afterwards, with the note on how to leave bridge mode; a run
    cut short says that the board still bridges."""
    session = open_through_board(port, tracer=tracer, emit=emit, check=check)
    try:
        yield session
    except NoResponse as exc:
        if session.no_repl is not None and session.silent_since_found():
            raise _unreachable(session.no_repl, session.modem.link.name) from exc
        exc.modem_state = with_bridging_state(exc.modem_state)
        raise
    except Interrupted as exc:
        exc.modem_state = with_bridging_state(exc.modem_state)
        raise
    except KeyboardInterrupt:
        raise Interrupted(modem_state=BRIDGING_STATE) from None
    finally:
        session.modem.close()
        if not session.silent_since_found():
            emit(Note(LEAVE_BRIDGE, "warning"))
