"""AT commands to the modem behind a Pycom board, through the board's `machine.UART(1)`.

Each command is a few REPL statements: write it to the UART, then read what came back every
`AT_POLL_MS` until a final result code or a deadline, never a fixed read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqnflash.board.info import BRIDGE_BAUD
from sqnflash.board.repl import RawRepl, literal
from sqnflash.errors import BoardModemSilent
from sqnflash.events import Narrator
from sqnflash.link import Link
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.timing import Deadline

T = TypeVar("T")

MODEM_BAUDS = (921600, 115200)  # the application's rate, then the boot loader's
AT_TIMEOUT_S = 2.0  # one AT command through the board (showver is the longest reply)
AT_POLL_MS = 60  # how long the board waits between two reads of its UART
PLUS_GUARD_MS = 1150  # Pycom's LTE_PPP_BACK_OFF_TIME_MS around "+++"
_READ_AGAIN = f"time.sleep_ms({AT_POLL_MS})\nprint(repr(_sqf.read()))\n"


@dataclass(frozen=True)
class ModemProbe:
    """What the modem answered through the board's UART."""

    baud: int
    mode: Mode
    showver: at.ShowVer | None = None
    ati1: at.Ati1 | None = None
    imei: str | None = None
    replies: dict[str, str] = field(default_factory=dict)

    @property
    def bootrom_build(self) -> int | None:
        return self.showver.bootrom_build if self.showver else None


def _final_in(data: bytes) -> bool:
    return any(line.strip() in (b"OK", b"ERROR") or line.strip().startswith(b"+CME ERROR")
               for line in data.replace(b"\r", b"\n").split(b"\n"))


class ModemUart:
    """The modem on the board's UART. `pins` gives the board's LTE pins once it is known."""

    def __init__(self, repl: RawRepl, link: Link, narrator: Narrator,
                 pins: Callable[[], tuple[str, ...]]) -> None:
        self.repl = repl
        self.link = link
        self.narrator = narrator
        self.pins = pins
        self._baud: int | None = None  # the rate the board's UART is open at, None: closed

    def _open(self, baud: int) -> None:
        if self._baud == baud:
            return
        pins = ", ".join(repr(p) for p in self.pins())
        self.repl.run_checked(
            "from machine import UART\nimport time\n"
            f"_sqf = UART(1, baudrate={baud}, pins=({pins}), timeout_chars=10)\n"
            "_sqf.read()\n")
        self._baud = baud

    def release(self) -> None:
        """Give the modem's UART back (the board's uart() opens it its own way)."""
        if self._baud is not None:
            self.repl.run("_sqf.deinit()\n")
            self._baud = None

    def _read_reply(self, first: str, deadline: Deadline) -> bytes:
        data = bytearray()
        code = first
        while True:
            for line in self.repl.run_checked(code).splitlines():
                value = literal(line)
                if isinstance(value, bytes):
                    data += value
            if deadline.expired() or _final_in(bytes(data)):
                return bytes(data)
            code = _READ_AGAIN

    def command(self, command: str, *, baud: int | None = None,
                timeout_s: float = AT_TIMEOUT_S) -> at.AtResponse | None:
        """Send one AT command to the modem; its reply, or None on silence."""
        self._open(baud or self._baud or MODEM_BAUDS[0])
        raw = (command + "\r\n").encode("ascii")
        deadline = Deadline(self.link.clock, timeout_s)
        data = self._read_reply(f"_sqf.write({raw!r})\n" + _READ_AGAIN, deadline)
        reader = at.AtReader()
        reader.begin(command)
        for event in reader.feed(data):
            if isinstance(event, at.Final):
                return event.response
        return None

    def _escape(self) -> bool:
        data = self._read_reply(
            f"time.sleep_ms({PLUS_GUARD_MS})\n_sqf.write(b'+++')\ntime.sleep_ms({PLUS_GUARD_MS})\n"
            "print(repr(_sqf.read()))\n", Deadline(self.link.clock, 0))
        return b"OK" in data

    def find(self) -> int:
        """The rate at which the modem answers AT on the board's UART."""
        for baud in MODEM_BAUDS:
            self._open(baud)
            for _ in range(2):
                if self.command("AT", timeout_s=1.0) is not None:
                    return baud
            if baud == BRIDGE_BAUD and self._escape():
                self.narrator.note("the modem was in a data session; the board left it with +++")
                if self.command("AT", timeout_s=1.0) is not None:
                    return baud
        raise BoardModemSilent(
            f"the modem behind the board on {self.link.name} does not answer AT at 921600 or "
            "115200 baud", modem_state="unknown: it did not answer")

    def probe(self, *, details: bool = True) -> ModemProbe:
        """Mode (and in the application: version table, ATI1, IMEI)."""
        baud = self.find()
        reply = self.command("AT+SMOD?")
        if reply is None or not reply.ok:
            raise BoardModemSilent(f"the modem answers AT but not AT+SMOD? "
                                   f"({reply.final_line if reply else 'silence'})")
        try:
            mode = Mode(at.parse_smod(reply.lines))
        except (at.ReplyFormatError, ValueError) as exc:
            raise BoardModemSilent(f"AT+SMOD? through the board answered {list(reply.lines)}: "
                                   f"{exc}") from exc
        if mode != Mode.APPLICATION or not details:
            self.narrator.note(f"modem behind the board: {mode.label} at {baud} baud")
            return ModemProbe(baud, mode)
        replies: dict[str, str] = {}
        showver = self._query('AT!="showver"', at.parse_showver, replies)
        ati1 = self._query("ATI1", at.parse_ati1, replies)
        imei = self._query("AT+CGSN", at.parse_cgsn, replies)
        probe = ModemProbe(baud, mode, showver, ati1, imei, replies)
        build = showver.software_build if showver else None
        self.narrator.note(f"modem behind the board: {mode.label} at {baud} baud"
                           + (f", firmware build {build}" if build else "")
                           + (f", bootrom {probe.bootrom_build}" if probe.bootrom_build else ""))
        return probe

    def _query(self, command: str, parse: Callable[[tuple[str, ...]], T],
               replies: dict[str, str]) -> T | None:
        """A report the modem may not give: None when it answers ERROR, nothing, or something
        that does not parse; what it answered goes to `replies` all the same."""
        answer = self.command(command)
        if answer is None or not answer.ok:
            return None
        replies[command] = "\n".join(answer.lines)
        try:
            return parse(answer.lines)
        except at.ReplyFormatError:
            return None
