"""Waiting for the modem to apply what it received, and the verdicts on what it says meanwhile.

The apply phase polls `AT+SMUPGRADE?` twice a second and reports a heartbeat while it waits. Every
answer the reference leaves open gets a verdict instead of a long wait: a modem back in its
application after a reboot is done (the version check decides), a `No report` that outlasts
`NO_REPORT_PATIENCE_S` and silence (or garbage) that outlasts `APPLY_SILENCE_S` end the wait with a
coded error saying where the modem is.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from sqnflash.errors import (
    ApplyFailed,
    ApplyInterrupted,
    ApplyNotReported,
    ApplyTimeout,
    NoResponse,
)
from sqnflash.events import EventSink, Waiting
from sqnflash.modem import Modem
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.timing import Deadline
from sqnflash.upgrade.moves import Moves
from sqnflash.upgrade.plan import Step
from sqnflash.upgrade.steps import StepId

APPLY_POLL_S = 0.5  # how often AT+SMUPGRADE? is asked: the modem's answer costs it nothing
HEARTBEAT_S = 5.0  # a waiting event at least this often, even when nothing changes
SILENT_RATE_CHECK_S = 5.0  # no answer to polls for this long: look for the modem at other rates
# `AT+SMUPGRADE?` still says `No report` this long after an apply should have started: it did not
# start (Pycom polls through `No report` for 300 s and then gives up without a diagnosis).
NO_REPORT_PATIENCE_S = 60.0
# Nothing but silence or garbage at every rate this long while applying: a verdict, not a wait
# (a reboot into the updater or the application takes seconds).
APPLY_SILENCE_S = 60.0
# the modem is not expected to reboot in these
_ON_THE_FLY_APPLIES = (StepId.APPLY, StepId.SEND_BOOTROM)
IN_FFH = "in the boot loader (FFH): run the same command again with --updater"
_STATUS = {
    at.UpgradeState.NONE: "rebooting (no answer)",
    at.UpgradeState.NO_REPORT: "starting",
    at.UpgradeState.ONGOING: "on-going",
}


@dataclass(frozen=True)
class ApplyWatcher:
    modem: Modem
    moves: Moves
    emit: EventSink
    timeout_s: float  # no result for this long: ApplyTimeout

    def wait(self, step: Step, what: str) -> None:
        """Poll `AT+SMUPGRADE?` until the modem says success or fail, with a heartbeat event
        meanwhile (see the module's docstring for the verdicts)."""
        _Wait(self, step, what).run()

    def trace_next_boot(self) -> None:
        """docs/protocol.md §6.1 step 12 polls `AT+SMSWBOOT?` for the name of the next boot
        image; its line format is not published. sqnflash only reads it for the trace (by token),
        never waits on it."""
        reply = self.modem.at.try_command("AT+SMSWBOOT?")
        if reply is None or not reply.ok:
            return
        try:
            self.modem.link.note(f"AT+SMSWBOOT? names {at.parse_smswboot(reply.lines)} as the "
                                 "next boot image")
        except at.ReplyFormatError:
            self.modem.link.note(f"AT+SMSWBOOT? answered {list(reply.lines)!r}")

    def failed(self, report: at.UpgradeReport, what: str) -> ApplyFailed:
        """A clean refusal: the modem checked the image and said no. Sending the same image again
        gets the same answer, so the run stops and says what the modem said and where it is."""
        mode, where = self.moves.where()
        advice = None
        if mode == Mode.APPLICATION:
            state = (f"{where}, which reported '{report.text}' for {what}: it runs its "
                     "application again and is not applying anything")
            advice = ("The modem refused the image and still runs its application: check that "
                      "the image is for this modem and its build (`sqnflash check`, `sqnflash "
                      "info`); a full image of the release is the safest choice.")
        else:
            state = (f"{where}, which reported '{report.text}' for {what} and is not applying "
                     "anything any more: its application may be incomplete")
        return ApplyFailed(f"the modem reported '{report.text}' after applying {what}",
                           advice=advice, modem_state=state, details={"report": report.text})

    def not_reported(self, report: at.UpgradeReport, what: str,
                     waited_s: float) -> ApplyNotReported:
        said = f"'{report.text}'" if report.text else "no report"
        return ApplyNotReported(
            f"AT+SMUPGRADE? still answers {said} {waited_s:.0f} s after {what} should have "
            "started to apply", modem_state=f"{self.moves.where()[1]}, reporting {said}",
            details={"report": report.text})


class _Wait:
    """One wait for an apply to end: what has been seen so far, and the verdict on each poll."""

    def __init__(self, watcher: ApplyWatcher, step: Step, what: str) -> None:
        self.watcher, self.step, self.what = watcher, step, what
        self.modem = watcher.modem
        self.clock = self.modem.link.clock
        self.start = self.clock.now()
        self.deadline = Deadline(self.clock, watcher.timeout_s)
        self.last_beat = -HEARTBEAT_S
        self.last_status = ""
        self.silent_since: float | None = None
        self.last_rate_check: float | None = None
        self.no_report_since: float | None = None
        # Applying ON_THE_FLY, the modem does not reboot unless something cut it short.
        self.boots = self.modem.at.boots_seen
        self.answered = self.rebooted = False

    def run(self) -> None:
        while True:
            noise_before = self.modem.at.noise_bytes
            report = self.modem.upgrade_report()
            self.rebooted = self.rebooted or self.modem.at.boots_seen != self.boots or (
                self.answered and report.state == at.UpgradeState.NONE)
            self.answered = self.answered or report.state != at.UpgradeState.NONE
            now = self.clock.now()
            status = _STATUS.get(report.state, report.state.value)
            self._beat(now, status)
            if self._ended(report, status):
                return
            if report.state == at.UpgradeState.NONE:
                self._silent(now, noise_before)
                continue  # the unanswered poll already waited for its timeout
            self.silent_since = self.last_rate_check = None
            if report.state == at.UpgradeState.NO_REPORT:
                if self._no_report(now, report):
                    return
            else:
                self.no_report_since = None
            # Until the next poll: a URC (the modem rebooting) ends the wait early.
            self.modem.at.wait_urc("+SYSSTART", APPLY_POLL_S)

    def _beat(self, now: float, status: str) -> None:
        if status != self.last_status or now - self.last_beat >= HEARTBEAT_S:
            self.watcher.emit(Waiting(self.step.id, now - self.start, status))
            self.last_beat, self.last_status = now, status

    def _ended(self, report: at.UpgradeReport, status: str) -> bool:
        """True on success; raises on a failure or the deadline."""
        if report.state == at.UpgradeState.SUCCESS:
            if self.step.id == StepId.APPLY:
                self.watcher.trace_next_boot()
            return True
        if report.state == at.UpgradeState.FAIL:
            if self.rebooted and self.step.id in _ON_THE_FLY_APPLIES:
                raise ApplyInterrupted(
                    f"the modem restarted while applying {self.what} and then reported "
                    f"'{report.text}'", details={"report": report.text})
            raise self.watcher.failed(report, self.what)
        if self.deadline.expired():
            raise ApplyTimeout(f"no result after {self.watcher.timeout_s:g} s "
                               f"(last status: {status})")
        return False

    def _silent(self, now: float, noise_before: int) -> None:
        """No answer to a poll: a verdict once it lasts, and a look at other rates meanwhile."""
        self.no_report_since = None
        self.silent_since = now if self.silent_since is None else self.silent_since
        if now - self.silent_since >= APPLY_SILENCE_S:
            garbled = self.modem.at.noise_bytes - noise_before
            raise NoResponse(
                f"the modem has not answered AT+SMUPGRADE? for {now - self.silent_since:.0f} "
                f"s while applying {self.what}" + (" (only garbled bytes)" if garbled else ""),
                modem_state=("not answering at any rate: it may still be applying "
                             f"{self.what}, or have lost power"),
                advice=("Leave it powered for a few minutes, then run `sqnflash info` "
                        "(it finds the modem at any rate and says where it is) and the "
                        "same command again."))
        checked = self.last_rate_check if self.last_rate_check is not None else self.silent_since
        if now - checked < SILENT_RATE_CHECK_S:
            return
        # The modem may have come back at another rate (the updater, a reboot).
        self.last_rate_check = now
        with contextlib.suppress(NoResponse):
            if self.modem.wait_ready(None, APPLY_POLL_S * 2) == Mode.FFH:
                # No image is applied from the boot loader: the power went, and with it the
                # updater the image was being applied by.
                raise ApplyInterrupted(
                    f"the modem restarted into the boot loader while applying {self.what}",
                    modem_state=IN_FFH)

    def _no_report(self, now: float, report: at.UpgradeReport) -> bool:
        """`No report`: True when that ends the wait well; raises once it has lasted."""
        if self.step.id == StepId.SEND_BOOTROM:
            # No report is required after a bootrom package (see Runner._after_bootrom).
            self.modem.note("AT+SMUPGRADE? answers 'No report' after 'on-going' for the "
                            "bootrom package; going on")
            return True
        self.no_report_since = now if self.no_report_since is None else self.no_report_since
        if self.rebooted and self.watcher.moves.in_application():
            said = f"'{report.text}'" if report.text else "no report"
            self.modem.note(f"the modem rebooted into its application after {self.what} "
                            f"and AT+SMUPGRADE? answers {said}; the version check decides")
            return True
        if now - self.no_report_since >= NO_REPORT_PATIENCE_S:
            raise self.watcher.not_reported(report, self.what, now - self.no_report_since)
        return False
