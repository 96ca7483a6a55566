"""Finding a modem on the line and moving it between modes: wake-up, reboots, boot waits."""

from __future__ import annotations

from collections.abc import Collection

from sqnflash.errors import CommandFailed, ModeSwitchFailed, NoResponse, UnexpectedReply
from sqnflash.events import Narrator
from sqnflash.link import Link
from sqnflash.modem import at_driver
from sqnflash.modem.at_driver import AtDriver
from sqnflash.modem.identify import Identification
from sqnflash.modem.rates import APP_BAUD, BOOT_BAUD, BaudRates
from sqnflash.protocol.modes import Mode
from sqnflash.timing import Deadline

WAKE_TIMEOUT_S = 10.0  # a modem that is powered and booted answers within a second
REBOOT_TIMEOUT_S = 80.0  # Pycom allows 300 s; a Monarch reboots in a few seconds, and a
# modem that never comes back gets its verdict (with the rollback) within 90 s
SHUTDOWN_WAIT_S = 2.0  # +SHUTDOWN follows the OK of a reboot command at once
PLUS_GUARD_S = 1.1  # Hayes escape: silence before and after "+++"
EXTENDED_EVERY = 4  # waiting for a reboot, every this many passes also tries OTHER_BAUDS
WRONG_MODE_GRACE_S = 20.0  # a modem answering in another mode this long is not switching
SWITCHED_GRACE_S = 3.0  # ...after a reboot it was told to do (it may answer before it goes)
WRONG_MODE_POLL_S = 0.5  # meanwhile, asked again this often (or at once when it reboots)
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


class BootControl:
    """Waits for a modem to answer (in the mode wanted) and the commands that make it reboot."""

    def __init__(self, link: Link, at_driver: AtDriver, narrator: Narrator, rates: BaudRates,
                 identity: Identification) -> None:
        self.link = link
        self.at = at_driver
        self.narrator = narrator
        self.rates = rates
        self.identity = identity

    # ------------------------------------------------------------------ waking up
    def wake(self, timeout_s: float = WAKE_TIMEOUT_S) -> int:
        """Find a rate at which the modem answers `AT`; returns it. Tries the current rate, then
        921600 and 115200, then the `+++` escape in case a PPP session holds the line."""
        heard: dict[int, int] = {}
        deadline = Deadline(self.link.clock, timeout_s)
        escaped = False
        rounds = 0
        while True:
            rounds += 1
            for baud in self.rates.candidates(extended=rounds > 1):
                self.link.set_baud(baud)
                before = self.at.noise_bytes
                if self.at.probe():
                    if heard:
                        self.narrator.note(f"the modem answers at {baud} baud")
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
            self.narrator.note("the modem was in data mode; left it with +++")
            return True
        return False

    def wait_ready(self, expected: Expected = None, timeout_s: float = REBOOT_TIMEOUT_S, *,
                   grace_s: float = WRONG_MODE_GRACE_S) -> Mode:
        """Wait until the modem answers again (at whichever rate) and, if `expected` is given, runs
        that mode (or one of those modes). Returns the mode it runs."""
        wanted = _modes(expected)
        deadline = Deadline(self.link.clock, timeout_s)
        first = self.rates.candidates(BOOT_BAUD if wanted == frozenset({Mode.FFH})
                                      else APP_BAUD)[0]
        last: Mode | None = None
        wrong_since: float | None = None
        passes = 0
        while not deadline.expired():
            passes += 1
            found = self._look(first, extended=passes % EXTENDED_EVERY == 0)
            if found is None:
                wrong_since = None  # silent again: rebooting, maybe into the expected mode
                continue
            last = found
            if wanted is None or found in wanted:
                return found
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

    def _look(self, first: int, *, extended: bool) -> Mode | None:
        """One pass over the rates: the mode of the first modem that answers, None if none."""
        others = self.rates.candidates(first, extended=extended)[1:]
        # The rate the mode boots at is tried three times as often as the others, so a modem
        # that comes back where expected is noticed within one short probe.
        for baud in [first, first, first, *others]:
            self.link.set_baud(baud)
            if not self.at.probe():
                continue
            try:
                return self.identity.mode()
            except (CommandFailed, UnexpectedReply):
                continue
        return None

    # ------------------------------------------------------------------ changing state
    def prepare(self, *, monarch2: bool = False) -> None:
        """What Pycom does before an upgrade: AT channel, echo off, tell the application, radio
        off. Every one of them may answer ERROR (Pycom ignores the answers). A Monarch 2 gets
        what pysequans sends: echo off and `AT+CFUN=5` (its `AT+CFUN=5,1` fails)."""
        if monarch2:
            self.at.try_command("ATE0")
            reply = self.at.try_command("AT+CFUN=5", timeout_s=10.0)
            if reply is None or not reply.ok:
                self.narrator.note("AT+CFUN=5 was not accepted; switching to RECOVERY anyway",
                                   "warning")
            return
        self.at.try_command("AT+BIND=AT")
        # pysequans ignores ATE0's answer ("not necessarily supported"); echo is recognised
        # and dropped anyway.
        echo = self.at.try_command("ATE0")
        if echo is None or not echo.ok:
            self.narrator.note(f"ATE0 answered {echo.final_line if echo else 'nothing'}; the "
                               "modem's echo, if any, is read and dropped")
        self.at.try_command('AT+SQNSUPGRADENTF="started"')
        self.at.try_command("AT+CFUN=4", timeout_s=10.0)

    def reboot_into(self, target: Mode, timeout_s: float = REBOOT_TIMEOUT_S) -> None:
        """Reboot into `target` with `AT+SMSWBOOT=m,1`, falling back to `=m,0` + `AT^RESET`."""
        number = target.boot_number
        self.at.forget_urcs()
        reply = self.at.command(f"AT+SMSWBOOT={number},1", check=False)
        if not reply.ok:
            self.narrator.note(f"AT+SMSWBOOT={number},1 answered {reply.final_line}; trying "
                               f"AT+SMSWBOOT={number},0 and AT^RESET instead", "warning")
            self._reboot_without_switch(target)
        self.at.wait_urc("+SHUTDOWN", SHUTDOWN_WAIT_S)
        # It was told to reboot: once it answers, it answers from the image it booted. RECOVERY
        # is wanted for the ON_THE_FLY transfer, which every upgrade mode takes.
        wanted = UPGRADE_MODES if target == Mode.RECOVERY else target
        came = self.wait_ready(wanted, timeout_s, grace_s=SWITCHED_GRACE_S)
        if came != target:
            self.narrator.note(f"after AT+SMSWBOOT={number} the modem answers AT+SMOD? with "
                               f"{int(came)} ({came.label}), which takes an image as well")

    def _reboot_without_switch(self, target: Mode) -> None:
        """`AT+SMSWBOOT=m,0` (set the mode, no reboot) and `AT^RESET`, once `=m,1` was refused."""
        number = target.boot_number
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
