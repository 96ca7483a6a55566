"""Execute a plan step by step, reporting only through events.

Each step is one method here. Waits are for the modem's answer or a deadline, never fixed sleeps:
the apply phase polls `AT+SMUPGRADE?` twice a second and reports a heartbeat while it waits. An
error raised in a step carries the modem's state as that step leaves it, so the user always
knows what to do next; Ctrl-C is turned into `Interrupted` with the same information.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqnflash.errors import (
    ApplyFailed,
    ApplyInterrupted,
    ApplyTimeout,
    BaudNegotiationFailed,
    CommandFailed,
    CommandTimeout,
    Interrupted,
    LineTooNoisy,
    ModeSwitchFailed,
    NoResponse,
    SessionLost,
    SqnflashError,
    TransferFailed,
    TransferRefused,
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
from sqnflash.modem import APP_BAUD, BOOT_BAUD, Modem, ModemInfo, StpUpload, TransferResult
from sqnflash.modem.rescue import close_session, read_cfun, wait_not_applying
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP, Checkpoint, SessionOpened
from sqnflash.timing import Deadline
from sqnflash.upgrade.plan import Flow, Plan, Step
from sqnflash.upgrade.safety import (
    START_MODES,
    point_of_no_return,
    restart_index,
    retry_index,
)

APPLY_TIMEOUT_S = 600.0  # Pycom's docs: "unless hanging for more than 5 minutes do not interrupt"
APPLY_POLL_S = 0.5  # how often AT+SMUPGRADE? is asked: the modem's answer costs it nothing
HEARTBEAT_S = 5.0  # a waiting event at least this often, even when nothing changes
SILENT_RATE_CHECK_S = 5.0  # no answer to polls for this long: look for the modem at other rates
PROGRESS_STEP = 0.01  # a progress event per 1 % of a transfer
SWITCH_ATTEMPTS = 3  # a modem that boots into the wrong mode is asked this many times
MAX_RESTARTS = 3  # times a run goes back to an earlier step (the modem rebooted, apply failed)
FALLBACK_BAUDS = (921600, 460800, 230400, 115200)  # a noisy line is tried at these rates
# After Ctrl-C the user wants out: a modem silent this long (inside the transfer the interrupt
# cut, or rebooting) is left where the step's state line says rather than waited for.
INTERRUPTED_ANSWER_S = 3.0
_ON_THE_FLY_APPLIES = ("apply", "send-bootrom")  # the modem is not expected to reboot in these
_IN_FFH = "in the boot loader (FFH): run the same command again with --updater"


@dataclass
class Settings:
    baud: int = APP_BAUD  # the rate the transfers run at (negotiated in the boot loader)
    block_size: int = PYCOM_BLOCK_CAP
    retries: int = 4
    apply_timeout_s: float = APPLY_TIMEOUT_S
    reboot_timeout_s: float = 90.0
    max_restarts: int = MAX_RESTARTS
    min_baud: int = BOOT_BAUD  # a noisy line falls back to lower rates down to this one


class StepRecorder(Protocol):
    """Where the runner records its progress (the journal's record of this upgrade)."""

    def step_started(self, step: str) -> None: ...

    def step_done(self, step: str) -> None: ...

    def step_undone(self, step: str) -> None: ...

    def checkpoint(self, step: str, point: Checkpoint, baud: int) -> None: ...

    def forget_transfer(self) -> None: ...

    def finish(self, outcome: str, *, error: Any = None,
               after: dict[str, Any] | None = None) -> None: ...


@dataclass
class HeldTransfer:
    """A transfer whose session the modem still held when the run began (see
    modem/rescue.py): `upload` has been answered and continues from its checkpoint."""

    step: str
    upload: StpUpload


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
                 settings: Settings | None = None, record: StepRecorder | None = None,
                 start_at: int = 0, held: HeldTransfer | None = None) -> None:
        """`record` journals the progress; `start_at` and `held` continue an interrupted
        upgrade (see upgrade/resume.py)."""
        self.modem = modem
        self.plan = plan
        self.before = before
        self.emit = emit
        self.settings = settings or Settings()
        self.clock = modem.link.clock
        self.result: UpgradeResult | None = None
        self.record = record
        self.start_at = start_at
        self._held = held
        self._transfers: dict[str, TransferResult] = {}
        self._after: ModemInfo | None = None
        self._ponr = point_of_no_return(plan)
        self._ponr_announced = False
        self._restarts = 0
        self._retried: set[str] = set()
        self._cfun_before: int | None = None
        self._fallback_baud: int | None = None  # a noisy line made the transfers slower
        self.apply_in_progress = False
        self._actions: dict[str, Callable[[Step], None]] = {
            "prepare": self._prepare,
            "switch-recovery": lambda s: self._switch(Mode.RECOVERY),
            "send-bootrom": self._send_bootrom,
            "switch-ffh": lambda s: self._switch(Mode.FFH),
            "negotiate-baud": self._negotiate,
            "send-updater": self._send_updater,
            "store-image": self._store_image,
            "apply-stored": self._apply_stored,
            "send-image": self._send_image,
            "apply": self._apply,
            "switch-application": lambda s: self._switch(Mode.APPLICATION),
            "verify": self._verify,
        }

    @property
    def _reboot_s(self) -> float:
        return self.settings.reboot_timeout_s

    def run(self) -> UpgradeResult:
        plan = self.plan
        self.emit(PlanReady(plan.method.value, tuple(s.to_dict() for s in plan.steps),
                            self.before.to_dict()))
        for text in plan.notes:  # after the plan: they are about it
            self.emit(Note(text))
        start = self.clock.now()
        times: dict[str, float] = {}
        index = self.start_at
        while index < len(plan.steps):
            step = plan.steps[index]
            try:
                self._announce(index, step)
                t0 = self.clock.now()
                self._actions[step.id](step)
                elapsed = self.clock.now() - t0
                times[step.id] = times.get(step.id, 0.0) + elapsed
                if self.record is not None:
                    self.record.step_done(step.id)
                self.emit(StepFinished(step.id, step.title, elapsed))
            except KeyboardInterrupt:
                interrupted = Interrupted(f"interrupted during '{step.title}'",
                                          modem_state=step.if_interrupted)
                self._stopped(index, step, interrupted)
                raise interrupted from None
            except SqnflashError as error:
                back = self._go_back(index, error)
                if back is not None:
                    index = back
                    continue
                self._stopped(index, step, error)
                raise
            index += 1
        if self._after is None:  # a plan without a final check (a part of `recover`'s work)
            self._after = self.modem.info()
        self.result = UpgradeResult(self.before, self._after, plan, times, self._transfers,
                                    self.clock.now() - start)
        if self.record is not None:
            self.record.finish("completed", after=self._after.to_dict())
        return self.result

    def _announce(self, index: int, step: Step) -> None:
        if (index == self._ponr and not self._ponr_announced
                and self.plan.flow in (Flow.APPLICATION, Flow.OLD_BOOTROM)):
            self._ponr_announced = True
            self.emit(Note(f"point of no return: '{step.title}' changes what the modem keeps; "
                           "if anything stops the upgrade from here on, the same command (or "
                           "`sqnflash recover`) finishes the job", "warning"))
        self.emit(StepStarted(step.id, step.title, step.reason))
        if self.record is not None:
            self.record.step_started(step.id)

    # ------------------------------------------------------------------ when things go wrong
    def _go_back(self, index: int, error: SqnflashError) -> int | None:
        """The step to continue from after `error` in step `index`, when going back can still
        finish the upgrade: the modem rebooted under the run (a new session, from the step its
        mode allows), or applying failed (send once more). None: stop with `error`."""
        if self._restarts >= self.settings.max_restarts or isinstance(error, Interrupted):
            return None
        step = self.plan.steps[index]
        back: int | None = None
        # (NoResponse is not among these: it comes after a long wait for the modem already.)
        if isinstance(error, (SessionLost, CommandTimeout, TransferFailed, TransferRefused,
                              BaudNegotiationFailed, CommandFailed)):
            mode = self._mode_now()
            if isinstance(error, CommandFailed) and mode in START_MODES[step.id]:
                return None  # refused where it should have been accepted: not a reboot
            back = restart_index(self.plan, mode, index) if mode is not None else None
            why = f"{error.cause}; the modem is in {mode.label if mode else '?'}"
        elif isinstance(error, (ApplyFailed, ApplyInterrupted, ModeSwitchFailed)):
            if isinstance(error, ModeSwitchFailed) and step.id != "send-updater":
                return None
            if step.id in self._retried:
                return None  # once: a second failure is the image's, not the line's
            target = retry_index(self.plan, index)
            mode = self._mode_now()
            if target is None or mode is None:
                return None
            if mode not in START_MODES[self.plan.steps[target].id]:
                target = restart_index(self.plan, mode, index)
            self._retried.add(step.id)
            back, why = target, error.cause
        if back is None:
            return None
        self._restarts += 1
        redo = self.plan.steps[back]
        self.emit(Note(f"{why}: going back to '{redo.title}'", "warning"))
        if self.record is not None:
            for undone in self.plan.steps[back:index + 1]:
                self.record.step_undone(undone.id)
            self.record.forget_transfer()
        return back

    def _mode_now(self) -> Mode | None:
        """The mode the modem answers in, once it answers (it may be rebooting)."""
        try:
            return self.modem.wait_ready(None, self._reboot_s)
        except SqnflashError:
            return None

    def _stopped(self, index: int, step: Step, error: SqnflashError) -> None:
        """The run ends with `error` in step `index`: say where the modem is, put it back as it
        was when the point of no return is still ahead, and journal the outcome."""
        if error.modem_state is None:
            error.modem_state = step.if_interrupted
        error.details.setdefault("step", step.id)
        before_ponr = index < self._ponr
        error.details["past_point_of_no_return"] = not before_ponr
        if before_ponr:
            self._rollback(error)
        if self.record is not None:
            outcome = "interrupted" if isinstance(error, Interrupted) else "failed"
            self.record.finish(outcome, error=error)

    def _rollback(self, error: SqnflashError) -> None:
        """Before the point of no return: back into the application, radio as it was."""
        interrupted = isinstance(error, Interrupted)
        try:
            mode = self.modem.wait_ready(
                None, INTERRUPTED_ANSWER_S if interrupted else self._reboot_s)
            if mode != Mode.APPLICATION:
                self.emit(Note(f"putting the modem back into its application (it is in "
                               f"{mode.label})"))
                self._switch(Mode.APPLICATION)
            if self._cfun_before is not None and self._cfun_before != 4:
                self.modem.at.try_command(f"AT+CFUN={self._cfun_before}", timeout_s=10.0)
            error.modem_state = ("unchanged: the modem runs its old firmware in the "
                                 "application, as before")
        except KeyboardInterrupt:
            return  # a second Ctrl-C: leave it where it is; modem_state says where
        except SqnflashError as problem:
            if interrupted and isinstance(problem, NoResponse):
                return  # left where the step's state line says (INTERRUPTED_ANSWER_S)
            error.modem_state = (f"{error.modem_state}; it could not be put back into its "
                                 f"application ({problem.cause}): run `sqnflash recover`")

    def _switch(self, target: Mode) -> None:
        """Reboot into `target`; a modem that comes back elsewhere is asked again."""
        for attempt in range(SWITCH_ATTEMPTS):
            try:
                self.modem.reboot_into(target, self._reboot_s)
                return
            except ModeSwitchFailed as error:
                came = error.details.get("mode")
                if came is None or attempt == SWITCH_ATTEMPTS - 1:
                    raise  # refused outright: asking again gets the same answer
                self.emit(Note(f"the modem came back in {Mode[str(came).upper()].label}, not "
                               f"in {target.label}: asking again", "warning"))

    def _back_to_application(self) -> None:
        """Wait for the application; a modem that boots elsewhere is switched to it."""
        try:
            self.modem.wait_ready(Mode.APPLICATION, self._reboot_s)
        except ModeSwitchFailed as error:
            self.emit(Note(f"{error.cause}: switching it to the application", "warning"))
            self._switch(Mode.APPLICATION)

    def _lower_baud(self) -> int | None:
        """The next lower rate for a noisy line, if there is one (not behind a bridge that
        runs at one fixed rate)."""
        if self.modem.fixed_baud is not None:
            return None
        current = self.modem.link.baud
        for baud in FALLBACK_BAUDS:
            if baud < current and baud >= self.settings.min_baud:
                return baud
        return None

    # ------------------------------------------------------------------ steps
    def _prepare(self, step: Step) -> None:
        # The radio is switched back on if the upgrade stops before the point of no return.
        self._cfun_before = read_cfun(self.modem)
        self.modem.prepare()

    def _negotiate(self, step: Step) -> None:
        self.modem.wait_ready(Mode.FFH, self._reboot_s)
        self.modem.negotiate_baud(min(self.settings.baud, self._fallback_baud or
                                      self.settings.baud))

    def _send(self, step: Step, command: str, source: BlockSource, what: str, *,
              terminator: str = "\r\n") -> TransferResult:
        """Send `source`; a line that loses most frames is tried again at lower rates."""
        try:
            while True:
                try:
                    result = self._send_once(step, command, source, what, terminator)
                    break
                except LineTooNoisy as noisy:
                    lower = self._lower_baud()
                    if lower is None:
                        raise
                    self.emit(Note(f"{noisy.cause}: ending the session and sending {what} "
                                   f"again from the start at {lower} baud", "warning"))
                    close_session(self.modem)
                    wait_not_applying(self.modem)
                    self.modem.negotiate_baud(lower)
                    self._fallback_baud = lower
                    if self.record is not None:
                        self.record.forget_transfer()
        finally:
            if isinstance(source, FileSource):
                source.close()
        self._transfers[step.id] = result
        self.emit(TransferFinished(step.id, source.size, result.elapsed_s, result.bytes_per_s,
                                   result.retries))
        return result

    def _send_once(self, step: Step, command: str, source: BlockSource, what: str,
                   terminator: str) -> TransferResult:
        total = source.size
        start = self.clock.now()
        last = [-1.0]
        link = self.modem.link
        held, self._held = self._held, None
        if held is not None and held.step != step.id:
            held = None
        sent_from = held.upload.sent_from if held is not None else 0

        def opened(session: SessionOpened) -> None:
            self.emit(TransferStarted(step.id, what, total, session.block_size,
                                      session.max_transfer, link.baud))

        def progress(done: int, size: int) -> None:
            fraction = done / size if size else 1.0
            if fraction - last[0] >= PROGRESS_STEP or done == size:
                last[0] = fraction
                elapsed = self.clock.now() - start
                self.emit(TransferProgress(step.id, done, size, (done - sent_from) / elapsed
                                           if elapsed > 0 else 0.0))

        def checkpoint(point: Checkpoint) -> None:
            if self.record is not None:
                self.record.checkpoint(step.id, point, link.baud)

        if held is not None:
            upload = held.upload
            upload.on_progress, upload.on_checkpoint = progress, checkpoint
            master = upload.master
            self.emit(TransferStarted(step.id, what, total, master.block_size,
                                      master.max_transfer, link.baud))
            try:
                return upload.run()
            except (TransferFailed, TransferRefused) as exc:
                raise self.modem.session_lost_or(exc) from exc
            finally:
                self.modem.at.discard_input()
                if isinstance(upload.source, FileSource):
                    upload.source.close()
        if self._fallback_baud is not None and link.baud > self._fallback_baud:
            self.modem.negotiate_baud(self._fallback_baud)  # the line was too noisy faster
        return self.modem.upload(command, source, block_cap=self.settings.block_size,
                                 retries=self.settings.retries, terminator=terminator,
                                 on_progress=progress, on_opened=opened,
                                 on_checkpoint=checkpoint)

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
        if not self.apply_in_progress:  # a resumed run finds the modem applying already
            self.modem.at.command("AT+SMUPGRADE", timeout_s=10.0)
        self.apply_in_progress = False
        self._wait_apply(step)
        self._back_to_application()

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
        # Applying ON_THE_FLY, the modem does not reboot unless something cut it short.
        boots, answered, rebooted = self.modem.at.boots_seen, False, False
        while True:
            report = self.modem.upgrade_report()
            rebooted = rebooted or self.modem.at.boots_seen != boots or (
                answered and report.state == at.UpgradeState.NONE)
            answered = answered or report.state != at.UpgradeState.NONE
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
                what = "the bootrom" if step.id == "send-bootrom" else self.plan.image.name
                if rebooted and step.id in _ON_THE_FLY_APPLIES:
                    raise ApplyInterrupted(
                        f"the modem restarted while applying {what} and then reported "
                        f"'{report.text}'", details={"report": report.text})
                raise ApplyFailed(f"the modem reported '{report.text}' after applying {what}",
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
                        if self.modem.wait_ready(None, APPLY_POLL_S * 2) == Mode.FFH:
                            # No image is applied from the boot loader: the power went, and
                            # with it the updater the image was being applied by.
                            raise ApplyInterrupted(
                                f"the modem restarted into the boot loader while applying "
                                f"{self.plan.image.name}", modem_state=_IN_FFH)
                continue  # the unanswered poll already waited for its timeout
            silent_since = None
            # Until the next poll: a URC (the modem rebooting) ends the wait early.
            self.modem.at.wait_urc("+SYSSTART", APPLY_POLL_S)

    def _verify(self, step: Step) -> None:
        self._back_to_application()
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
