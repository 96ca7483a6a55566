"""A Pycom GPy/FiPy/G01 between the host and its modem: what it is, what it can do, the bridge.

The modem's UART is wired to the board's ESP32, not to USB. What sqnflash does through the board's
REPL, in order, touching the modem only once the board has proven it can bridge it:

0. Before anything is interrupted, Ctrl-B alone: a board at its prompt answers it with `>>>`, a
   running program leaves it in the input buffer. A `uart()` that a run cut short left running is
   recognised by its lines and followed to its bridge (`await_running_bridge`), since a Ctrl-C
   would cut the board's own work on the modem.
1. `os.uname()`: board type and firmware release.
2. `import sqnsupgrade`, its `VERSION`, where it comes from and what it defines; whether
   `network.LTE.modem_upgrade_mode` exists. A board that cannot bridge stops here.
3. A few AT commands to the modem through `machine.UART(1)` on the board's LTE pins (at 921600,
   after `+++` if a data session holds the line, then at 115200): mode, version table, IMEI.
   Every exchange waits for the final result code or a deadline, never a fixed read.
4. `sqnsupgrade.uart(True)` when the modem needs the board's bootrom / boot loader step,
   `sqnsupgrade.uart()` otherwise. Once the board says it goes into MIRROR mode, its USB UART runs
   at 921600 baud and copies bytes to and from the modem until the board is reset.

Nothing here reads the modem's replies beyond parsing them: deciding what to do with the modem is
the upgrade layer's job.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from sqnflash.board.releases import (
    MIN_BRIDGE_RELEASE,
    MIN_FFH_RELEASE,
    Release,
    ReleaseError,
    UpgraderModule,
    module_by_version,
)
from sqnflash.board.repl import RawRepl, readable_lines
from sqnflash.errors import (
    BoardError,
    BoardFirmwareTooOld,
    BoardModemSilent,
    BoardRemoteError,
    BoardWithoutModem,
    BridgeFailed,
)
from sqnflash.events import EventSink, Note, discard
from sqnflash.link import Link
from sqnflash.protocol import at, repl
from sqnflash.protocol.modes import Mode
from sqnflash.timing import Deadline

REPL_BAUD = 115200  # UART0 of a Pycom board, the USB serial port
BRIDGE_BAUD = 921600  # both UARTs once LTE.modem_upgrade_mode() runs
MODEM_BAUDS = (921600, 115200)  # the application's rate, then the boot loader's
# machine.UART pins of the modem: TX, RX, RTS, CTS (Pycom's sqnsupgrade, mpconfigboard.h).
LTE_PINS = {"fipy": ("P20", "P18", "P19", "P17"), "gpy": ("P5", "P98", "P7", "P99")}
BOARDS_WITH_MODEM = ("fipy", "gpy", "g01")
AT_TIMEOUT_S = 2.0  # one AT command through the board (showver is the longest reply)
AT_POLL_MS = 60  # how long the board waits between two reads of its UART
PLUS_GUARD_MS = 1150  # Pycom's LTE_PPP_BACK_OFF_TIME_MS around "+++"
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


@dataclass(frozen=True)
class BoardInfo:
    port: str
    sysname: str
    release: str
    machine: str
    micropython: str
    module: UpgraderModule | None  # the sqnsupgrade the board imports, None if none
    module_file: str | None
    module_names: tuple[str, ...]
    has_upgrade_mode: bool

    @property
    def kind(self) -> str | None:
        """fipy, gpy or g01; None for a board without the modem."""
        name = self.sysname.lower()
        for kind in BOARDS_WITH_MODEM:
            if kind in name:
                return kind
        return None

    @property
    def parsed_release(self) -> Release | None:
        try:
            return Release.parse(self.release)
        except ReleaseError:
            return None

    @property
    def has_uart(self) -> bool:
        return "uart" in self.module_names

    @property
    def pins(self) -> tuple[str, ...]:
        # The G01 module runs the GPy's firmware and wiring.
        return LTE_PINS["fipy" if self.kind == "fipy" else "gpy"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "sysname": self.sysname,
            "release": self.release,
            "machine": self.machine,
            "micropython": self.micropython,
            "sqnsupgrade": self.module.version if self.module else None,
            "sqnsupgrade_file": self.module_file,
            "uart": self.has_uart,
            "uart_signature": self.module.uart_signature if self.module and self.has_uart
            else None,
            "modem_upgrade_mode": self.has_upgrade_mode,
        }


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


class PycomBoard:
    """One Pycom board on `link` (opened at REPL_BAUD)."""

    def __init__(self, link: Link, *, emit: EventSink = discard) -> None:
        self.link = link
        self.emit = emit
        self.repl = RawRepl(link)
        self.info: BoardInfo | None = None
        self.bridged = False
        # uart() was sent and has not ended: the board takes no REPL input meanwhile, and goes
        # on to bridge even if sqnflash stops following it.
        self.bridge_running = False
        self._uart_baud: int | None = None
        self._heard = bytearray()  # what the board said before sqnflash interrupted anything

    def _note(self, text: str, level: str = "info") -> None:
        self.link.note(text)
        self.emit(Note(text, level))

    # ------------------------------------------------------------------ what the board is
    def identify(self) -> BoardInfo:
        if not self.repl.active:
            self.repl.enter()
        lines = self.repl.run_checked(
            "import os\n_sqf_u = os.uname()\nprint(_sqf_u.sysname)\nprint(_sqf_u.release)\n"
            "print(_sqf_u.machine)\nprint(_sqf_u.version)\n").splitlines()
        sysname, release, machine, version = ([*lines, "", "", "", ""])[:4]
        done = self.repl.run(
            "import sqnsupgrade\n"
            "print(repr(getattr(sqnsupgrade, 'VERSION', None)))\n"
            "print(repr(getattr(sqnsupgrade, '__file__', getattr(sqnsupgrade, '__path__', "
            "None))))\n"
            "print(repr(dir(sqnsupgrade)))\n")
        module_version: str | None = None
        module_file: str | None = None
        names: tuple[str, ...] = ()
        imported = True
        if done.exception is not None:
            if done.exception.name != "ImportError":
                raise BoardRemoteError(f"`import sqnsupgrade` on the board raised "
                                       f"{done.exception}", details={"traceback": done.stderr})
            imported = False
        else:
            values = [_literal(line) for line in done.stdout.splitlines()[:3]]
            values += [None] * (3 - len(values))
            module_version = values[0] if isinstance(values[0], str) else None
            module_file = values[1] if isinstance(values[1], str) else None
            names = tuple(str(n) for n in values[2]) if isinstance(values[2], list) else ()
        upgrade_mode = self.repl.run(
            "from network import LTE\nprint(hasattr(LTE, 'modem_upgrade_mode'))\n")
        has_mode = upgrade_mode.ok and upgrade_mode.stdout.strip() == "True"
        release_parsed = _release(release)
        module = None
        if imported and "uart" in names:
            module = module_by_version(module_version, release_parsed)
            if module is None:  # a module with uart() on a release this table does not know
                module = module_by_version("2018-08", None)
        elif imported:
            module = module_by_version(module_version, None)
        info = BoardInfo(self.link.name, sysname.strip(), release.strip(), machine.strip(),
                         version.strip(), module, module_file, names, has_mode)
        self.info = info
        if module is not None and info.has_uart:
            has = f"sqnsupgrade {module.version}"
        elif imported:
            has = f"a sqnsupgrade without uart() ({module_file or 'unknown file'})"
        else:
            has = "no sqnsupgrade"
        self._note(f"board: {info.machine or info.sysname}, firmware {info.release}, {has}")
        return info

    @staticmethod
    def check_bridge(info: BoardInfo) -> None:
        """Refuse, before the modem is touched, a board that cannot bridge it."""
        if info.kind is None:
            raise BoardWithoutModem(
                f"os.uname() on {info.port} reports a {info.sysname or 'board'} "
                f"({info.machine or 'unknown machine'}), which has no LTE modem",
                modem_state="untouched")
        minimum = MIN_BRIDGE_RELEASE
        if not info.module_names and info.module is None:
            raise BoardFirmwareTooOld(
                f"the {info.sysname} runs firmware {info.release}, which has no built-in "
                f"sqnsupgrade module; bridging the modem to USB (sqnsupgrade.uart) needs "
                f"firmware {minimum} or later", modem_state="untouched",
                details={"release": info.release, "minimum": minimum})
        if not info.has_uart:
            where = f" (the module the board imports is {info.module_file})" \
                if info.module_file else ""
            release = info.parsed_release
            if release is not None and release >= Release.parse(minimum):
                cause = (f"sqnsupgrade on the {info.sysname} (firmware {info.release}) has no "
                         f"uart(){where}: an uploaded copy hides the firmware's own module")
                advice = ("Delete the uploaded sqnsupgrade (file or folder) from /flash and "
                          "/flash/lib, reset the board and run the same command again.")
            else:
                cause = (f"the {info.sysname} runs firmware {info.release}, whose sqnsupgrade "
                         f"has no uart() (AttributeError: 'module' object has no attribute "
                         f"'uart'){where}; the UART bridge needs firmware {minimum} or later")
                advice = None
            raise BoardFirmwareTooOld(cause, advice=advice, modem_state="untouched",
                                      details={"release": info.release, "minimum": minimum,
                                               "sqnsupgrade_file": info.module_file})
        if not info.has_upgrade_mode:
            raise BoardFirmwareTooOld(
                f"firmware {info.release} on the {info.sysname} has sqnsupgrade.uart but no "
                "LTE.modem_upgrade_mode(), which makes the bridge", modem_state="untouched",
                details={"release": info.release, "minimum": minimum})

    @staticmethod
    def check_ffh(info: BoardInfo) -> None:
        """The board's bootrom step (uart(True)) is trusted from sqnsupgrade 1.2.1 on."""
        module = info.module
        if module is not None and module.has_ffh_fallback:
            return
        version = module.version if module else "unknown"
        raise BoardFirmwareTooOld(
            f"this modem needs the board's bootrom and boot loader step (sqnsupgrade.uart(True)), "
            f"and the sqnsupgrade {version} in firmware {info.release} gives up when the modem "
            f"answers ERROR to AT+SMSWBOOT=0,1, leaving a factory modem half upgraded; that "
            f"step needs firmware {MIN_FFH_RELEASE} or later",
            modem_state="untouched", details={"release": info.release,
                                              "minimum": MIN_FFH_RELEASE})

    # ------------------------------------------------------------------ the modem, by AT
    def _uart(self, baud: int) -> None:
        assert self.info is not None
        if self._uart_baud == baud:
            return
        pins = ", ".join(repr(p) for p in self.info.pins)
        self.repl.run_checked(
            "from machine import UART\nimport time\n"
            f"_sqf = UART(1, baudrate={baud}, pins=({pins}), timeout_chars=10)\n"
            "_sqf.read()\n")
        self._uart_baud = baud

    def _read_reply(self, first: str, deadline: Deadline) -> bytes:
        data = bytearray()
        code = first
        while True:
            for line in self.repl.run_checked(code).splitlines():
                value = _literal(line)
                if isinstance(value, bytes):
                    data += value
            if deadline.expired() or self._final_in(bytes(data)):
                return bytes(data)
            code = f"time.sleep_ms({AT_POLL_MS})\nprint(repr(_sqf.read()))\n"

    @staticmethod
    def _final_in(data: bytes) -> bool:
        return any(line.strip() in (b"OK", b"ERROR") or line.strip().startswith(b"+CME ERROR")
                   for line in data.replace(b"\r", b"\n").split(b"\n"))

    def modem_command(self, command: str, *, baud: int | None = None,
                      timeout_s: float = AT_TIMEOUT_S) -> at.AtResponse | None:
        """Send one AT command to the modem through the board; its reply, or None on silence."""
        self._uart(baud or self._uart_baud or MODEM_BAUDS[0])
        raw = (command + "\r\n").encode("ascii")
        deadline = Deadline(self.link.clock, timeout_s)
        data = self._read_reply(f"_sqf.write({raw!r})\ntime.sleep_ms({AT_POLL_MS})\n"
                                "print(repr(_sqf.read()))\n", deadline)
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

    def find_modem(self) -> int:
        """The rate at which the modem answers AT on the board's UART."""
        for baud in MODEM_BAUDS:
            self._uart(baud)
            for _ in range(2):
                if self.modem_command("AT", timeout_s=1.0) is not None:
                    return baud
            if baud == BRIDGE_BAUD and self._escape():
                self._note("the modem was in a data session; the board left it with +++")
                if self.modem_command("AT", timeout_s=1.0) is not None:
                    return baud
        raise BoardModemSilent(
            f"the modem behind the board on {self.link.name} does not answer AT at 921600 or "
            "115200 baud", modem_state="unknown: it did not answer")

    def probe_modem(self, *, details: bool = True) -> ModemProbe:
        """Mode (and in the application: version table, ATI1, IMEI) through the board."""
        baud = self.find_modem()
        reply = self.modem_command("AT+SMOD?")
        if reply is None or not reply.ok:
            raise BoardModemSilent(f"the modem answers AT but not AT+SMOD? "
                                   f"({reply.final_line if reply else 'silence'})")
        try:
            mode = Mode(at.parse_smod(reply.lines))
        except (at.ReplyFormatError, ValueError) as exc:
            raise BoardModemSilent(f"AT+SMOD? through the board answered {list(reply.lines)}: "
                                   f"{exc}") from exc
        probe = ModemProbe(baud, mode)
        if mode != Mode.APPLICATION or not details:
            self._note(f"modem behind the board: {mode.label} at {baud} baud")
            return probe
        showver = ati1 = imei = None
        replies: dict[str, str] = {}
        for command in ('AT!="showver"', "ATI1", "AT+CGSN"):
            answer = self.modem_command(command)
            if answer is None or not answer.ok:
                continue
            replies[command] = "\n".join(answer.lines)
            try:
                if command.startswith("AT!"):
                    showver = at.parse_showver(answer.lines)
                elif command == "ATI1":
                    ati1 = at.parse_ati1(answer.lines)
                else:
                    imei = at.parse_cgsn(answer.lines)
            except at.ReplyFormatError:
                continue
        probe = ModemProbe(baud, mode, showver, ati1, imei, replies)
        build = showver.software_build if showver else None
        self._note(f"modem behind the board: {mode.label} at {baud} baud"
                   + (f", firmware build {build}" if build else "")
                   + (f", bootrom {probe.bootrom_build}" if probe.bootrom_build else ""))
        return probe

    # ------------------------------------------------------------------ the bridge
    def start_bridge(self, *, ffh: bool) -> None:
        """`sqnsupgrade.uart(True)` (ffh) or `uart()`, until the board says it is bridging.

        From then on the link carries the modem at BRIDGE_BAUD; the REPL is gone until the board
        is reset."""
        call = "sqnsupgrade.uart(True)" if ffh else "sqnsupgrade.uart()"
        self._note(f"starting the board's bridge: {call}"
                   + (" (the board flashes its bootrom copy and boots the modem's boot loader)"
                      if ffh else ""))
        if self._uart_baud is not None:
            # Give the modem's UART back: uart() opens it its own way.
            self.repl.run("_sqf.deinit()\n")
            self._uart_baud = None
        self.bridge_running = True
        self.repl.submit(f"import sqnsupgrade\n{call}\n")
        collected: list[str] = []
        pending = [""]

        def relay(text: str) -> None:
            collected.append(text)
            pending[0] += text
            *lines, pending[0] = pending[0].split("\n")
            for line in lines:
                if line.strip():
                    self._note(f"board: {line.strip()}")

        def stop(out: str) -> bool:
            complete = out.split("\n")[:-1]
            return any(mark in line for line in complete
                       for mark in (MIRROR_MARK, *(m for m, _ in _FAILURES)))

        done = self.repl.follow(BRIDGE_TIMEOUT_S, idle_s=BRIDGE_IDLE_S, on_output=relay,
                                stop=stop)
        self.bridge_running = False
        output = "".join(collected) + (done.stderr if done is not None else "")
        if pending[0].strip():
            self._note(f"board: {pending[0].strip()}")
        if done is None and MIRROR_MARK in output:
            # The board stops its REPL: nothing more may be sent to it as REPL input.
            self.repl.active = False
            self.bridged = True
            self.link.set_baud(BRIDGE_BAUD)
            self._note("the board now bridges its USB port to the modem at 921600 baud")
            return
        text = output.strip().splitlines()
        for mark, error in _FAILURES:
            if mark in output:
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

    def await_running_bridge(self) -> bool:
        """Follow the uart() a run cut short left running (`is_idle` or `hears_uart` found it)
        instead of interrupting it, which could cut the board's own work on the modem. True
        once it bridges (the link is then at BRIDGE_BAUD); False when it gave up (its REPL
        prompt is back then) or went silent."""
        self._note("the board still runs sqnsupgrade.uart() from a run cut short: waiting for "
                   "it to bridge the modem instead of interrupting it", "warning")
        self.bridge_running = True
        text = self._heard.decode("utf-8", "replace")
        idle = Deadline(self.link.clock, BRIDGE_IDLE_S)
        total = Deadline(self.link.clock, BRIDGE_TIMEOUT_S)
        shown = 0
        while not total.expired() and not idle.expired():
            *lines, _ = text.replace("\r", "").split("\n")
            for line in lines[shown:]:
                if line.strip():
                    self._note(f"board: {line.strip()}")
            shown = max(shown, len(lines))
            if any(MIRROR_MARK in line for line in lines):
                self.bridge_running = False
                self.bridged = True
                self.link.set_baud(BRIDGE_BAUD)
                self._note("the board now bridges its USB port to the modem at 921600 baud")
                return True
            if any(mark in line for line in lines for mark, _ in _FAILURES):
                self.bridge_running = False
                return False
            data = self.link.read_some(total.earlier(idle.remaining()).remaining())
            if data:
                idle = Deadline(self.link.clock, BRIDGE_IDLE_S)
                text += data.decode("utf-8", "replace")
        self.bridge_running = False
        return False

    def close(self) -> None:
        """Leave raw REPL if the board still runs it (never once it bridges the modem)."""
        if self.repl.active and not self.bridged and not self.bridge_running:
            try:
                self.repl.leave()
            except Exception:  # the board going away at the end changes nothing for the user
                self.link.note("the board did not take Ctrl-B at the end")


def _uart_running(heard: bytes | bytearray) -> bool:
    return _UART_RUNNING.search(heard) is not None


def _literal(line: str) -> Any:
    try:
        return ast.literal_eval(line.strip())
    except (ValueError, SyntaxError):
        return None


def _release(text: str) -> Release | None:
    try:
        return Release.parse(text)
    except ReleaseError:
        return None
