"""The board's UART bridge: `sqnsupgrade.uart()` started and followed until it mirrors the modem.

Once the board says it goes into MIRROR mode, its USB UART runs at 921600 baud and copies bytes
to and from the modem until the board is reset. A `uart()` that a run cut short left running is
recognised by its lines and followed to its bridge, since a Ctrl-C would cut the board's own
work on the modem (its bootrom, in `uart(True)`).
"""

from __future__ import annotations

import re

from sqnflash.board.info import BRIDGE_BAUD
from sqnflash.board.modem_uart import ModemUart
from sqnflash.board.repl import RawRepl, readable_lines
from sqnflash.errors import BoardError, BoardFirmwareTooOld, BoardModemSilent, BridgeFailed
from sqnflash.events import Narrator
from sqnflash.link import Link
from sqnflash.protocol import repl
from sqnflash.timing import Deadline

BRIDGE_IDLE_S = 330.0  # Pycom's module waits up to 300 s for a rebooting modem, silently
BRIDGE_TIMEOUT_S = 900.0
MIRROR_MARK = "MIRROR mode"  # "Going into MIRROR mode... please close this terminal ..."
# Lines of Pycom's uart() (every released version) that say it still runs: a run cut short left
# it going, and a Ctrl-C now would cut the board's own work on the modem (its bootrom, in
# uart(True)).
# Only its own wording: a user's program printing "Sending ..." must still be interrupted.
_UART_RUNNING = re.compile(
    rb"SQN3330 firmware updater|with firmware version|Preparing modem for upgrade|"
    rb"Attempting AT (?:wakeup|auto-negotiation)|Sending \d+ bytes|Session opened: version|"
    rb"FFH mode is not necessary|Your modem is in \w+ mode|" + MIRROR_MARK.encode())
IDLE_PROBE_S = 1.0  # a board at a prompt answers Ctrl-B with its banner within milliseconds
PROMPT_SETTLE_S = 0.05  # after a `>>> `: at 115200 baud the rest of a line would follow at once
QUIET_UART_S = 6.0  # a silent board is listened to this long for a uart() between two lines
# What uart() prints when it gives up (every released version), and what it means.
_FAILURES: tuple[tuple[str, type[BoardError]], ...] = (
    ("Could not detect your modem", BoardModemSilent),
    ("does not support LTE.modem_upgrade_mode", BoardFirmwareTooOld),
    ("Unable to upgrade bootrom", BridgeFailed),
    ("auto-negotiation failed", BridgeFailed),
    ("Aborting", BridgeFailed),
    ("Code download failed", BridgeFailed),
    ("Failed to start STP", BridgeFailed),
)


def _uart_running(heard: bytes | bytearray) -> bool:
    return _UART_RUNNING.search(heard) is not None


def _failure(text: str) -> tuple[str, type[BoardError]] | None:
    """The first of uart()'s ways of giving up that `text` shows."""
    return next(((mark, error) for mark, error in _FAILURES if mark in text), None)


class _BoardLines:
    """uart()'s output as it arrives: each complete line said once as a note."""

    def __init__(self, narrator: Narrator) -> None:
        self.narrator = narrator
        self.lines: list[str] = []
        self._pending = ""

    def add(self, text: str) -> None:
        *complete, self._pending = (self._pending + text.replace("\r", "")).split("\n")
        for line in complete:
            if line.strip():
                self.narrator.note(f"board: {line.strip()}")
        self.lines += complete

    def finish(self) -> None:
        """The last line, without its line end: the output stops there."""
        if self._pending.strip():
            self.narrator.note(f"board: {self._pending.strip()}")

    @property
    def complete(self) -> str:
        return "\n".join(self.lines)

    def ended(self) -> bool:
        """uart() said, in a complete line, that it bridges or that it gave up."""
        complete = self.complete
        return MIRROR_MARK in complete or _failure(complete) is not None


class UartBridge:
    """Starting the board's bridge, or following one already under way."""

    def __init__(self, link: Link, repl_session: RawRepl, narrator: Narrator,
                 uart: ModemUart) -> None:
        self.link = link
        self.repl = repl_session
        self.narrator = narrator
        self.uart = uart
        self.bridged = False
        # uart() was sent and has not ended: the board takes no REPL input meanwhile, and goes
        # on to bridge even if sqnflash stops following it.
        self.running = False
        self._heard = bytearray()  # what the board said before sqnflash interrupted anything

    def _bridging(self) -> None:
        # The board stops its REPL: nothing more may be sent to it as REPL input.
        self.repl.handed_over()
        self.running = False
        self.bridged = True
        self.link.set_baud(BRIDGE_BAUD)
        self.narrator.note("the board now bridges its USB port to the modem at 921600 baud")

    def start(self, *, ffh: bool) -> None:
        """`sqnsupgrade.uart(True)` (ffh) or `uart()`, until the board says it is bridging.

        From then on the link carries the modem at BRIDGE_BAUD; the REPL is gone until the board
        is reset."""
        call = "sqnsupgrade.uart(True)" if ffh else "sqnsupgrade.uart()"
        self.narrator.note(f"starting the board's bridge: {call}"
                           + (" (the board flashes its bootrom copy and boots the modem's boot "
                              "loader)" if ffh else ""))
        self.uart.release()
        self.running = True
        self.repl.submit(f"import sqnsupgrade\n{call}\n")
        collected: list[str] = []
        lines = _BoardLines(self.narrator)

        def relay(text: str) -> None:
            collected.append(text)
            lines.add(text)

        done = self.repl.follow(BRIDGE_TIMEOUT_S, idle_s=BRIDGE_IDLE_S, on_output=relay,
                                stop=lambda _out: lines.ended())
        self.running = False
        output = "".join(collected) + (done.stderr if done is not None else "")
        lines.finish()
        if done is None and MIRROR_MARK in output:
            self._bridging()
            return
        text = output.strip().splitlines()
        failure = _failure(output)
        if failure is not None:
            mark, error = failure
            line = next((t for t in text if mark in t), mark)
            raise error(f"the board's {call} stopped: {line.strip()!r}",
                        details={"board_output": output})
        exception = done.exception if done is not None else None
        what = str(exception) if exception else (text[-1] if text else "no output")
        raise BridgeFailed(f"the board's {call} ended without starting the bridge ({what})",
                           details={"board_output": output})

    def is_idle(self) -> bool | None:
        """Before anything else is sent: may the board be interrupted (True: at a prompt, or
        running a program that prints other things than uart()), is it still running uart()
        from a run cut short (None), or is it silent (False: busy with a program that prints
        nothing, bridging, or not there)? Only Ctrl-B is sent: a board at a prompt answers it
        with its banner and `>>>`; code that runs leaves it in the input buffer."""
        self._heard = bytearray()
        self.link.write(repl.LEAVE_RAW)
        deadline = Deadline(self.link.clock, IDLE_PROBE_S)
        while not deadline.expired():
            self._heard += self.link.read_some(deadline.remaining())
            if _uart_running(self._heard):
                return None
            # A prompt is the last thing an idle board prints (uart()'s second line starts
            # with `>>> ` too): it must end what was heard, and nothing follow it.
            if self._heard.endswith(repl.FRIENDLY_PROMPT):
                more = self.link.read_some(PROMPT_SETTLE_S)
                if not more:
                    return True
                self._heard += more
        if _uart_running(self._heard):
            return None
        # Lines of text: a program of the user's (a bridge at the wrong rate makes no text).
        return bool(readable_lines(bytes(self._heard)))

    def hears_uart(self, listen_s: float = QUIET_UART_S) -> bool:
        """Listen, sending nothing, for lines of a uart() still running."""
        deadline = Deadline(self.link.clock, listen_s)
        while not _uart_running(self._heard) and not deadline.expired():
            self._heard += self.link.read_some(deadline.remaining())
        return _uart_running(self._heard)

    def await_running(self) -> bool:
        """Follow the uart() a run cut short left running (`is_idle` or `hears_uart` found it)
        instead of interrupting it. True once it bridges (the link is then at BRIDGE_BAUD);
        False when it gave up (its REPL prompt is back then) or went silent."""
        self.narrator.note("the board still runs sqnsupgrade.uart() from a run cut short: "
                           "waiting for it to bridge the modem instead of interrupting it",
                           "warning")
        self.running = True
        lines = _BoardLines(self.narrator)
        lines.add(self._heard.decode("utf-8", "replace"))
        idle = Deadline(self.link.clock, BRIDGE_IDLE_S)
        total = Deadline(self.link.clock, BRIDGE_TIMEOUT_S)
        while not total.expired() and not idle.expired():
            if MIRROR_MARK in lines.complete:
                self._bridging()
                return True
            if _failure(lines.complete) is not None:
                self.running = False
                return False
            data = self.link.read_some(total.earlier(idle.remaining()).remaining())
            if data:
                idle = Deadline(self.link.clock, BRIDGE_IDLE_S)
                lines.add(data.decode("utf-8", "replace"))
        self.running = False
        return False
