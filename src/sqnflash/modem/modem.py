"""One Sequans Monarch modem behind one link: wake-up, baud rates, modes, versions, transfers.

Everything the upgrade flows need from a modem, each as one call that waits exactly as long as the
modem needs and says precisely what went wrong when it does not answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator
from typing import TypeVar

from serial.serialutil import SerialBase

from sqnflash.errors import (
    BaudNegotiationFailed,
    CommandFailed,
    CommandTimeout,
    ModeSwitchFailed,
    NoResponse,
    SessionLost,
    TransferError,
    TransferFailed,
    TransferRefused,
    TransferSilent,
    UnexpectedReply,
    UnknownMode,
)
from sqnflash.events import EventSink, Note, discard
from sqnflash.firmware.source import BlockSource
from sqnflash.link import Link, Tracer, open_link
from sqnflash.modem import at_driver
from sqnflash.modem.at_driver import AtDriver
from sqnflash.modem.info import ModemInfo
from sqnflash.modem.transfer import (
    DEFAULT_RETRIES,
    CheckpointCallback,
    OpenedCallback,
    ProgressCallback,
    StpUpload,
)
from sqnflash.modem.transfer import TransferResult as TransferResult
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP
from sqnflash.timing import Deadline

T = TypeVar("T")

APP_BAUD = 921600  # the application's rate on Pycom boards
BOOT_BAUD = 115200  # the boot loader's rate after a reset
WAKE_TIMEOUT_S = 10.0  # a modem that is powered and booted answers within a second
REBOOT_TIMEOUT_S = 80.0  # Pycom allows 300 s; a Monarch reboots in a few seconds, and a
# modem that never comes back gets its verdict (with the rollback) within 90 s
SHUTDOWN_WAIT_S = 2.0  # +SHUTDOWN follows the OK of a reboot command at once
PLUS_GUARD_S = 1.1  # Hayes escape: silence before and after "+++"
POLL_TIMEOUT_S = 1.0  # a status poll: an awake modem answers in milliseconds
# Tried once the usual rates fail; the fast ones first: a run cut short after it moved the
# line up leaves the modem there.
OTHER_BAUDS = (3686400, 3000000, 2000000, 1000000, 460800, 230400, 57600, 38400, 19200, 9600)
EXTENDED_EVERY = 4  # waiting for a reboot, every this many passes also tries OTHER_BAUDS
WRONG_MODE_GRACE_S = 20.0  # a modem answering in another mode this long is not switching
SWITCHED_GRACE_S = 3.0  # ...after a reboot it was told to do (it may answer before it goes)
WRONG_MODE_POLL_S = 0.5  # meanwhile, asked again this often (or at once when it reboots)
SESSION_CHECK_S = 5.0  # after a transfer went silent: how long to look for a rebooted modem
STP_ENTRY_RETRY_S = 1.0  # docs/protocol.md §6.1 step 8: Pycom's pause before AT+SMSTPU
SWBOOT_FALLBACK_WAIT_S = 5.0  # docs/protocol.md §6.1 step 6: ERROR to =m,1, then =m,0
# The modes in which `AT+SMSTPU="ON_THE_FLY"` takes an image. The reference does not say which of
# them a Monarch 1 reports once updater.elf runs, or after `AT+SMSWBOOT=3,1` on every firmware
# (SMOD 4 on the ones observed): any of them is where an image can be sent.
UPGRADE_MODES = frozenset({Mode.FFH_TOOL, Mode.UPDATER, Mode.RECOVERY})

Expected = Mode | Collection[Mode] | None


def _modes(expected: Expected) -> frozenset[Mode] | None:
    if expected is None:
        return None
    if isinstance(expected, Mode):
        return frozenset({expected})
    return frozenset(expected)


def describe_modes(modes: Collection[Mode]) -> str:
    """`recovery (upgrade mode)`, or `updater, recovery (upgrade mode) or ...` for several."""
    labels = [mode.label for mode in sorted(modes)]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


class Modem:
    """Talk to one modem. Open with `Modem.open(port)`; `close()` or use as a context manager."""

    def __init__(self, link: Link, *, emit: EventSink = discard,
                 fixed_baud: int | None = None) -> None:
        """`fixed_baud`: behind a bridge (a Pycom board's UART mirror) the line runs at one
        fixed rate, and trying others only feeds the modem garbage."""
        self.link = link
        self.emit = emit
        self.at = AtDriver(link)
        self.mode_seen: Mode | None = None
        self.fixed_baud = fixed_baud
        for text in link.take_notices():  # e.g. a lock taken over from a run that was killed
            emit(Note(text, "warning"))

    @classmethod
    def open(cls, port: str | SerialBase, *, baud: int = APP_BAUD, rtscts: bool | None = False,
             tracer: Tracer | None = None, emit: EventSink = discard) -> Modem:
        return cls(open_link(port, baud=baud, rtscts=rtscts, tracer=tracer), emit=emit)

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Modem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def reporting_to(self, emit: EventSink) -> Iterator[Modem]:
        """The driver's own notes (fallbacks, baud changes) go to `emit` for the length of one
        operation (an upgrade, a recovery), then back to where they went before."""
        before, self.emit = self.emit, emit
        try:
            yield self
        finally:
            self.emit = before

    def _note(self, text: str, level: str = "info") -> None:
        self.link.note(text)
        self.emit(Note(text, level))

    def note(self, text: str, level: str = "info") -> None:
        """Say `text` in the wire trace and as an event (which answer a variant point got)."""
        self._note(text, level)

    # ------------------------------------------------------------------ waking up
    def _rates(self, first: int | None = None, *, extended: bool = False) -> list[int]:
        """The rates to look for the modem at; `extended` adds the unusual ones (a modem that
        came back at a rate it should not have)."""
        if self.fixed_baud is not None:
            return [self.fixed_baud]
        rates: list[int] = []
        top = self.link.max_baud
        for baud in (first, self.link.baud, APP_BAUD, BOOT_BAUD,
                     *(OTHER_BAUDS if extended else ())):
            if baud is not None and baud not in rates and (top is None or baud <= top
                                                           or baud == self.link.baud):
                rates.append(baud)
        return rates

    def wake(self, timeout_s: float = WAKE_TIMEOUT_S) -> int:
        """Find a rate at which the modem answers `AT`; returns it. Tries the current rate, then
        921600 and 115200, then the `+++` escape in case a PPP session holds the line."""
        heard: dict[int, int] = {}
        deadline = Deadline(self.link.clock, timeout_s)
        escaped = False
        rounds = 0
        while True:
            rounds += 1
            for baud in self._rates(extended=rounds > 1):
                self.link.set_baud(baud)
                before = self.at.noise_bytes
                if self.at.probe():
                    if heard:
                        self._note(f"the modem answers at {baud} baud")
                    return baud
                heard[baud] = heard.get(baud, 0) + self.at.noise_bytes - before
            if not escaped:
                escaped = True
                if self.escape_data_mode():
                    continue
            if deadline.expired():
                break
        what = ", ".join(f"{n} garbled bytes at {b}" if n else f"silence at {b}"
                         for b, n in heard.items())
        raise NoResponse(
            f"no answer to AT on {self.link.name} ({what})",
            details={"heard": {str(b): n for b, n in heard.items()}},
        )

    def escape_data_mode(self) -> bool:
        """Leave a PPP/data session with `+++`; True when the modem answered OK."""
        self.link.set_baud(APP_BAUD)
        self.link.read(65536, PLUS_GUARD_S)  # the guard time before: the line must be quiet
        self.link.write(b"+++")
        reply = self.link.read(64, PLUS_GUARD_S + 0.5)
        if b"OK" in reply:
            self._note("the modem was in data mode; left it with +++")
            return True
        return False

    def wait_ready(self, expected: Expected = None, timeout_s: float = REBOOT_TIMEOUT_S, *,
                   grace_s: float = WRONG_MODE_GRACE_S) -> Mode:
        """Wait until the modem answers again (at whichever rate) and, if `expected` is given, runs
        that mode (or one of those modes). Returns the mode it runs."""
        wanted = _modes(expected)
        deadline = Deadline(self.link.clock, timeout_s)
        first = self._rates(BOOT_BAUD if wanted == frozenset({Mode.FFH}) else APP_BAUD)[0]
        last: Mode | None = None
        wrong_since: float | None = None
        passes = 0
        while not deadline.expired():
            wrong = False
            passes += 1
            others = self._rates(first, extended=passes % EXTENDED_EVERY == 0)[1:]
            # The rate the mode boots at is tried three times as often as the others, so a modem
            # that comes back where expected is noticed within one short probe.
            for baud in [first, first, first, *others]:
                self.link.set_baud(baud)
                if not self.at.probe():
                    continue
                try:
                    last = self.mode()
                except (CommandFailed, UnexpectedReply):
                    continue
                if wanted is None or last in wanted:
                    return last
                wrong = True
                break
            if not wrong:
                wrong_since = None  # silent again: rebooting, maybe into the expected mode
            else:
                # A modem settled in another mode is not coming (an updater that finished may
                # still reboot on its own, hence the grace period).
                now = self.link.clock.now()
                wrong_since = now if wrong_since is None else wrong_since
                if now - wrong_since >= grace_s:
                    break
                self.at.wait_urc(at_driver.BOOT_URC, WRONG_MODE_POLL_S)
        if last is not None and wanted is not None:
            raise ModeSwitchFailed(
                f"the modem came back in {last.label}, not in {describe_modes(wanted)}",
                modem_state=f"in {last.label}", details={"mode": last.name.lower()},
            )
        raise NoResponse(f"the modem did not answer within {timeout_s:g} s"
                         + (f" (waiting for {describe_modes(wanted)})" if wanted else ""))

    # ------------------------------------------------------------------ state
    def mode(self) -> Mode:
        reply = self.at.command("AT+SMOD?")
        try:
            number = at.parse_smod(reply.lines)
        except at.ReplyFormatError as exc:
            raise UnexpectedReply(str(exc)) from exc
        try:
            mode = Mode(number)
        except ValueError:
            raise UnknownMode(f"AT+SMOD? answered {number}, which is no known mode") from None
        self.mode_seen = mode
        return mode

    def info(self) -> ModemInfo:
        mode = self.mode()
        showver = ati1 = imei = model = None
        if mode != Mode.FFH:  # the bare boot loader knows only AT, AT+SMOD, AT+IPR and AT+STP
            showver = self._query('AT!="showver"', at.parse_showver)
            ati1 = self._query("ATI1", at.parse_ati1)
            imei = self._query("AT+CGSN", at.parse_cgsn)
            # The product line tells a Monarch 2 (GM02S) from a Monarch 1 (VZM20Q) where the LR
            # version cannot be read.
            model = self._query("ATI", at.parse_ati_model)
        info = ModemInfo.build(mode, self.link.baud, showver, ati1, imei, model)
        self.use_flow_control_of(info.family)
        return info

    def use_flow_control_of(self, family: str | None, *, check: bool = True) -> None:
        """RTS/CTS as `family` wants it, unless the user chose (see Link.flow_control_for); a
        bridge keeps its own line settings. With `check` (the modem is known to answer AT), a
        modem no longer heard once RTS/CTS is on has its RTS not connected to the adapter's CTS,
        which then holds back every byte: RTS/CTS goes off again, for the rest of the run."""
        if self.fixed_baud is not None:
            return
        said = self.link.flow_control_for(family)
        if said is None:
            return
        if check and self.link.rtscts and not any(self.at.probe() for _ in range(2)):
            self.link.discard_output()
            self.link.set_rtscts(False, "the modem does not answer with RTS/CTS on")
            if any(self.at.probe() for _ in range(2)):
                self.link.flow_control_auto = False
                self._note(f"the {family} answers only without RTS/CTS (the adapter's CTS is "
                           "probably not connected to the modem's RTS): RTS/CTS off, so its "
                           "line stays at its rate", "warning")
                return
            # Silent either way (rebooting): nothing points at the wiring.
            self.link.set_rtscts(True, "the modem is silent without RTS/CTS too")
        self.emit(Note(said))

    def _query(self, command: str, parse: Callable[[tuple[str, ...]], T]) -> T | None:
        """A report the modem may not give in every mode: None when it answers ERROR, nothing,
        or something that does not parse."""
        reply = self.at.try_command(command)
        if reply is None or not reply.ok:
            return None
        try:
            return parse(reply.lines)
        except at.ReplyFormatError:
            return None

    def upgrade_report(self) -> at.UpgradeReport:
        """`AT+SMUPGRADE?`; a modem that does not answer (still rebooting) reports NONE."""
        reply = self.at.try_command("AT+SMUPGRADE?", timeout_s=POLL_TIMEOUT_S,
                                    resend_on_boot=True)
        if reply is None or not reply.ok:
            return at.UpgradeReport(at.UpgradeState.NONE, "")
        return at.parse_smupgrade(reply.lines)

    # ------------------------------------------------------------------ changing state
    def prepare(self, *, monarch2: bool = False) -> None:
        """What Pycom does before an upgrade: AT channel, echo off, tell the application, radio
        off. Every one of them may answer ERROR (Pycom ignores the answers). A Monarch 2 gets
        what pysequans sends: echo off and `AT+CFUN=5` (its `AT+CFUN=5,1` fails)."""
        if monarch2:
            self.at.try_command("ATE0")
            reply = self.at.try_command("AT+CFUN=5", timeout_s=10.0)
            if reply is None or not reply.ok:
                self._note("AT+CFUN=5 was not accepted; switching to RECOVERY anyway", "warning")
            return
        self.at.try_command("AT+BIND=AT")
        # pysequans ignores ATE0's answer ("not necessarily supported"); echo is recognised
        # and dropped anyway.
        echo = self.at.try_command("ATE0")
        if echo is None or not echo.ok:
            self._note(f"ATE0 answered {echo.final_line if echo else 'nothing'}; the modem's "
                       "echo, if any, is read and dropped")
        self.at.try_command('AT+SQNSUPGRADENTF="started"')
        self.at.try_command("AT+CFUN=4", timeout_s=10.0)

    def reboot_into(self, target: Mode, timeout_s: float = REBOOT_TIMEOUT_S) -> None:
        """Reboot into `target` with `AT+SMSWBOOT=m,1`, falling back to `=m,0` + `AT^RESET`."""
        number = target.boot_number
        self.at.forget_urcs()
        reply = self.at.command(f"AT+SMSWBOOT={number},1", check=False)
        if not reply.ok:
            self._note(f"AT+SMSWBOOT={number},1 answered {reply.final_line}; trying "
                       f"AT+SMSWBOOT={number},0 and AT^RESET instead", "warning")
            # Pycom 1.2.1+ waits 5 s before the fallback (a modem busy after the refusal).
            self.at.wait_urc(at_driver.BOOT_URC, SWBOOT_FALLBACK_WAIT_S)
            second = self.at.command(f"AT+SMSWBOOT={number},0", check=False)
            if not second.ok:
                cause = (f"the modem refused to switch to {target.label}: AT+SMSWBOOT={number},1 "
                         f"and AT+SMSWBOOT={number},0 both answered {second.final_line}")
                advice = None
                if target == Mode.FFH:
                    advice = ("The modem's bootrom is probably the factory one (33080), which "
                              "cannot switch to FFH: flash the bootrom package first (sqnflash "
                              "does this when given a full image or --bootrom).")
                raise ModeSwitchFailed(cause, advice=advice,
                                       modem_state="unchanged: still in the mode it was in")
            self.at.command("AT^RESET")
        self.at.wait_urc("+SHUTDOWN", SHUTDOWN_WAIT_S)
        # It was told to reboot: once it answers, it answers from the image it booted. RECOVERY
        # is wanted for the ON_THE_FLY transfer, which every upgrade mode takes.
        wanted = UPGRADE_MODES if target == Mode.RECOVERY else target
        came = self.wait_ready(wanted, timeout_s, grace_s=SWITCHED_GRACE_S)
        if came != target:
            self._note(f"after AT+SMSWBOOT={number} the modem answers AT+SMOD? with "
                       f"{int(came)} ({came.label}), which takes an image as well")

    def negotiate_baud(self, target: int) -> None:
        """Move a modem (and the link) from its current rate to `target` with `AT+IPR`."""
        if self.link.baud == target:
            return
        if self.fixed_baud is not None:
            # A bridge copies bytes at its own rate on both sides: the modem must stay there.
            raise BaudNegotiationFailed(
                f"the line runs through a bridge fixed at {self.fixed_baud} baud; the modem "
                f"cannot be moved to {target}", advice="Run again without --baud.")
        old = self.link.baud
        # The boot loader wants a bare line feed here; applications accept it too.
        reply = self.at.try_command(f"AT+IPR={target}", terminator="\n")
        if reply is None or not reply.ok:
            raise BaudNegotiationFailed(
                f"AT+IPR={target} at {old} baud was answered "
                f"{reply.final_line if reply else 'with silence'}")
        self.link.set_baud(target)
        for _ in range(3):
            if self.at.probe():
                self._note(f"baud rate negotiated: {old} -> {target}")
                return
        raise BaudNegotiationFailed(f"the modem accepted AT+IPR={target} but does not answer at "
                                    f"{target} baud")

    def listed_rates(self) -> tuple[int, ...] | None:
        """The rates `AT+IPR=?` lists, or None where it is not answered (the boot loader, some
        firmware) or answered in a shape that names no rate."""
        reply = self.at.try_command("AT+IPR=?")
        if reply is None or not reply.ok:
            return None
        try:
            return at.parse_ipr_list(reply.lines)
        except at.ReplyFormatError:
            return None

    def step_back(self, old: int, tried: int) -> bool:
        """After `AT+IPR=tried` was accepted but the modem is not heard at `tried`: bring it back
        to `old`. The OK may have been the last thing it said at `old` before moving, or the
        line may only be too damaged at `tried` for a probe: `AT+IPR=old` is sent at `tried` a
        few times (short commands may still get through), and the modem is probed at `old`."""
        for _ in range(3):
            self.link.set_baud(old)
            if self.at.probe():
                return True
            self.link.set_baud(tried)
            self.at.discard_input()
            self.link.write(f"AT+IPR={old}\n".encode("ascii"))
            self.link.read(64, POLL_TIMEOUT_S)
        self.link.set_baud(old)
        return any(self.at.probe() for _ in range(3))

    def upload(self, command: str, source: BlockSource, *, block_cap: int = PYCOM_BLOCK_CAP,
               start_block: int | None = None, retries: int = DEFAULT_RETRIES,
               terminator: str = "\r\n",
               on_progress: ProgressCallback | None = None,
               on_opened: OpenedCallback | None = None,
               on_checkpoint: CheckpointCallback | None = None,
               data_type: int | None = None) -> TransferResult:
        """Start STP with `command` (`AT+SMSTPU`, `AT+SMSTPU="ON_THE_FLY"`, `AT+STP`) and send
        `source`. The line is back in AT mode when this returns. A modem that stops answering
        and is then found answering AT commands has left the session: `SessionLost`."""
        try:
            reply = self.at.command(command, terminator=terminator, check=False)
            if not reply.ok:
                # Pycom waits 1 s after the modem first answers before it sends this: a modem
                # that refuses it straight after its boot is asked once more after that second.
                self._note(f"{command} answered {reply.final_line}; asking once more in "
                           f"{STP_ENTRY_RETRY_S:g} s", "warning")
                self.at.wait_urc(at_driver.BOOT_URC, STP_ENTRY_RETRY_S)
                self.at.command(command, terminator=terminator)
        except CommandTimeout:
            # Pycom takes the first 4 bytes (`OK\r\n`, `\r\nOK` or `\nOK`) and goes on: an OK
            # whose line end never comes (the line is STP's from then on) is an OK.
            if not self.at.unterminated().strip(b"\r\n\x00 ").endswith(b"OK"):
                raise
            self._note(f"{command} answered OK without a line end; starting the transfer")
            self.at.discard_input()
        upload = StpUpload(self.link, source, block_cap=block_cap, start_block=start_block,
                           retries=retries,
                           leftover=self.at.take_leftover(), on_progress=on_progress,
                           on_opened=on_opened, on_checkpoint=on_checkpoint,
                           data_type=data_type)
        try:
            return upload.run()
        except (TransferFailed, TransferRefused) as exc:
            raise self.session_lost_or(exc) from exc
        finally:
            self.at.discard_input()

    def session_lost_or(self, error: TransferError) -> TransferError:
        """After a transfer stopped getting replies: a modem that answers `AT` again rebooted out
        of the session (`SessionLost`, to be started again); otherwise `error` stands."""
        self.at.discard_input()
        try:
            mode = self.wait_ready(None, SESSION_CHECK_S)
        except (NoResponse, ModeSwitchFailed):
            # Still inside the session, or gone: the caller may end the session and look again.
            return TransferSilent(f"{error.cause}; the modem answers no AT command either",
                                  details={**error.details, "answers_at": False})
        return SessionLost(f"the modem left the transfer session and is back in {mode.label} "
                           f"({error.cause})", details=dict(error.details))
