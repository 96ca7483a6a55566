"""Execute a plan step by step, reporting only through events.

Each step is one method here. Waits are for the modem's answer or a deadline, never fixed sleeps:
the apply phase polls `AT+SMUPGRADE?` once a second and reports a heartbeat while it waits. An
error raised in a step carries the modem's state as that step leaves it, so the user always
knows what to do next; Ctrl-C is turned into `Interrupted` with the same information.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqnflash.errors import (
    ApplyFailed,
    ApplyTimeout,
    Interrupted,
    NoResponse,
    SqnflashError,
    VersionMismatch,
)
from sqnflash.events import (
    EventSink,
    Note,
    PlanReady,
    StepFinished,
    StepStarted,
    TransferFinished,
    TransferProgress,
    TransferStarted,
    Waiting,
)
from sqnflash.firmware import BlockSource, FileSource
from sqnflash.modem import APP_BAUD, Modem, ModemInfo, TransferResult
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP, SessionOpened
from sqnflash.timing import Deadline
from sqnflash.upgrade.plan import Plan, Step

APPLY_TIMEOUT_S = 600.0  # Pycom's docs: "unless hanging for more than 5 minutes do not interrupt"
APPLY_POLL_S = 0.5  # how often AT+SMUPGRADE? is asked: the modem's answer costs it nothing
HEARTBEAT_S = 5.0  # a waiting event at least this often, even when nothing changes
SILENT_RATE_CHECK_S = 5.0  # no answer to polls for this long: look for the modem at other rates
PROGRESS_STEP = 0.01  # a progress event per 1 % of a transfer


@dataclass
class Settings:
    baud: int = APP_BAUD  # the rate the transfers run at (negotiated in the boot loader)
    block_size: int = PYCOM_BLOCK_CAP
    retries: int = 4
    apply_timeout_s: float = APPLY_TIMEOUT_S
    reboot_timeout_s: float = 90.0


@dataclass
class UpgradeResult:
    before: ModemInfo
    after: ModemInfo
    plan: Plan
    step_times: dict[str, float] = field(default_factory=dict)
    transfers: dict[str, TransferResult] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "result",
            "ok": True,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "flow": self.plan.flow.value,
            "method": self.plan.method.value,
            "image": self.plan.image.name,
            "step_times_s": {k: round(v, 3) for k, v in self.step_times.items()},
            "transfers": {k: {"bytes": t.total - t.sent_from, "elapsed_s": round(t.elapsed_s, 3),
                              "bytes_per_s": round(t.bytes_per_s), "retries": t.retries,
                              "block_size": t.block_size, "max_transfer": t.max_transfer}
                          for k, t in self.transfers.items()},
            "elapsed_s": round(self.elapsed_s, 3),
        }


class Runner:
    def __init__(self, modem: Modem, plan: Plan, before: ModemInfo, *, emit: EventSink,
                 settings: Settings | None = None) -> None:
        self.modem = modem
        self.plan = plan
        self.before = before
        self.emit = emit
        self.settings = settings or Settings()
        self.clock = modem.link.clock
        self.result: UpgradeResult | None = None
        self._transfers: dict[str, TransferResult] = {}
        self._after: ModemInfo | None = None
        self._actions: dict[str, Callable[[Step], None]] = {
            "prepare": self._prepare,
            "switch-recovery": lambda s: self.modem.reboot_into(Mode.RECOVERY, self._reboot_s),
            "send-bootrom": self._send_bootrom,
            "switch-ffh": lambda s: self.modem.reboot_into(Mode.FFH, self._reboot_s),
            "negotiate-baud": self._negotiate,
            "send-updater": self._send_updater,
            "store-image": self._store_image,
            "apply-stored": self._apply_stored,
            "send-image": self._send_image,
            "apply": self._apply,
            "switch-application": lambda s: self.modem.reboot_into(Mode.APPLICATION,
                                                                    self._reboot_s),
            "verify": self._verify,
        }

    @property
    def _reboot_s(self) -> float:
        return self.settings.reboot_timeout_s

    def run(self) -> UpgradeResult:
        plan = self.plan
        for text in plan.notes:
            self.emit(Note(text))
        self.emit(PlanReady(plan.method.value, tuple(s.to_dict() for s in plan.steps),
                            self.before.to_dict()))
        start = self.clock.now()
        times: dict[str, float] = {}
        for step in plan.steps:
            self.emit(StepStarted(step.id, step.title, step.reason))
            t0 = self.clock.now()
            try:
                self._actions[step.id](step)
            except KeyboardInterrupt:
                raise Interrupted(f"interrupted during '{step.title}'",
                                  modem_state=step.if_interrupted) from None
            except SqnflashError as error:
                if error.modem_state is None:
                    error.modem_state = step.if_interrupted
                error.details.setdefault("step", step.id)
                raise
            times[step.id] = self.clock.now() - t0
            self.emit(StepFinished(step.id, step.title, times[step.id]))
        assert self._after is not None
        self.result = UpgradeResult(self.before, self._after, plan, times, self._transfers,
                                    self.clock.now() - start)
        return self.result

    # ------------------------------------------------------------------ steps
    def _prepare(self, step: Step) -> None:
        self.modem.prepare()

    def _negotiate(self, step: Step) -> None:
        self.modem.wait_ready(Mode.FFH, self._reboot_s)
        self.modem.negotiate_baud(self.settings.baud)

    def _send(self, step: Step, command: str, source: BlockSource, what: str, *,
              terminator: str = "\r\n") -> TransferResult:
        total = source.size
        start = self.clock.now()
        last = [-1.0]

        def opened(session: SessionOpened) -> None:
            self.emit(TransferStarted(step.id, what, total, session.block_size,
                                      session.max_transfer, self.modem.link.baud))

        def progress(done: int, size: int) -> None:
            fraction = done / size if size else 1.0
            if fraction - last[0] >= PROGRESS_STEP or done == size:
                last[0] = fraction
                elapsed = self.clock.now() - start
                self.emit(TransferProgress(step.id, done, size,
                                           done / elapsed if elapsed > 0 else 0.0))

        try:
            result = self.modem.upload(command, source, block_cap=self.settings.block_size,
                                       retries=self.settings.retries, terminator=terminator,
                                       on_progress=progress, on_opened=opened)
        finally:
            if isinstance(source, FileSource):
                source.close()
        self._transfers[step.id] = result
        self.emit(TransferFinished(step.id, total, result.elapsed_s, result.bytes_per_s,
                                   result.retries))
        return result

    def _send_bootrom(self, step: Step) -> None:
        assert self.plan.bootrom is not None
        self._send(step, 'AT+SMSTPU="ON_THE_FLY"', self.plan.bootrom,
                   f"bootrom package ({self.plan.bootrom_source})")
        self._wait_apply(step)

    def _send_updater(self, step: Step) -> None:
        assert self.plan.updater is not None
        # The boot loader wants AT+STP ended by a bare line feed.
        self._send(step, "AT+STP", self.plan.updater.source(), self.plan.updater.name,
                   terminator="\n")
        self.modem.wait_ready(Mode.UPDATER, self._reboot_s)

    def _store_image(self, step: Step) -> None:
        self._send(step, "AT+SMSTPU", self.plan.image.source(), self.plan.image.name)

    def _apply_stored(self, step: Step) -> None:
        self.modem.at.command("AT+SMUPGRADE", timeout_s=10.0)
        self._wait_apply(step)
        self.modem.wait_ready(Mode.APPLICATION, self._reboot_s)

    def _send_image(self, step: Step) -> None:
        self._send(step, 'AT+SMSTPU="ON_THE_FLY"', self.plan.image.source(), self.plan.image.name)

    def _apply(self, step: Step) -> None:
        self._wait_apply(step)

    def _wait_apply(self, step: Step) -> None:
        """Poll `AT+SMUPGRADE?` until success or fail, with a heartbeat event meanwhile."""
        start = self.clock.now()
        deadline = Deadline(self.clock, self.settings.apply_timeout_s)
        last_beat = -HEARTBEAT_S
        last_status = ""
        silent_since: float | None = None
        while True:
            report = self.modem.upgrade_report()
            now = self.clock.now()
            status = {
                at.UpgradeState.NONE: "rebooting (no answer)",
                at.UpgradeState.NO_REPORT: "starting",
                at.UpgradeState.ONGOING: "on-going",
            }.get(report.state, report.state.value)
            if status != last_status or now - last_beat >= HEARTBEAT_S:
                self.emit(Waiting(step.id, now - start, status))
                last_beat, last_status = now, status
            if report.state == at.UpgradeState.SUCCESS:
                return
            if report.state == at.UpgradeState.FAIL:
                raise ApplyFailed(
                    f"the modem reported '{report.text}' after applying "
                    f"{self.plan.image.name if step.id != 'send-bootrom' else 'the bootrom'}",
                    details={"report": report.text})
            if deadline.expired():
                raise ApplyTimeout(f"no result after {self.settings.apply_timeout_s:g} s "
                                   f"(last status: {status})")
            if report.state == at.UpgradeState.NONE:
                silent_since = now if silent_since is None else silent_since
                if now - silent_since >= SILENT_RATE_CHECK_S:
                    # The modem may have come back at another rate (the updater, a reboot).
                    silent_since = None
                    with contextlib.suppress(NoResponse):
                        self.modem.wait_ready(None, APPLY_POLL_S * 2)
                continue  # the unanswered poll already waited for its timeout
            silent_since = None
            # Until the next poll: a URC (the modem rebooting) ends the wait early.
            self.modem.at.wait_urc("+SYSSTART", APPLY_POLL_S)

    def _verify(self, step: Step) -> None:
        self.modem.wait_ready(Mode.APPLICATION, self._reboot_s)
        self.modem.at.try_command('AT+SQNSUPGRADENTF="success"')
        after = self.modem.info()
        self._after = after
        expected = self.plan.expected_build
        if expected is not None and after.software_build != expected:
            raise VersionMismatch(
                f"the modem reports build {after.software_build}, not {expected} as "
                f"{self.plan.image.name} should have installed",
                modem_state=f"in the application, build {after.software_build}")
        if expected is None:
            self.emit(Note(f"the modem now reports build {after.software_build}; the image's "
                           "name does not say which build it installs, so this was not checked",
                           "warning"))
