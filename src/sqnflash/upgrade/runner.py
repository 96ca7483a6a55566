"""Execute a plan step by step, reporting only through events.

Each step is one method here; the parts that several steps share have a module each: the line's
rate (line_rate.py), the transfers (transfer_driver.py), the apply phase (apply_phase.py), where
the modem is and how it is switched (moves.py), and going back or putting the modem back when a
step fails (setbacks.py). Waits are for the modem's answer or a deadline, never fixed sleeps. An
error raised in a step carries the modem's state as that step leaves it, so the user always
knows what to do next; Ctrl-C (and SIGTERM, which the CLI turns into the same) is turned into
`Interrupted` with the same information. Whatever ends a run, its journal record gets an outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqnflash.errors import (
    CommandFailed,
    FamilyMismatch,
    InternalError,
    Interrupted,
    NoResponse,
    PortLost,
    SqnflashError,
    StpProtocolViolation,
    UpdaterDidNotStart,
    VersionMismatch,
)
from sqnflash.events import (
    EventSink,
    Note,
    PlanReady,
    StepFinished,
    StepStarted,
    Waiting,
)
from sqnflash.firmware import BlockSource
from sqnflash.firmware.compress import ZlibSource
from sqnflash.firmware.names import family_of_lr
from sqnflash.modem import OLD_BOOTROM_BUILD, Modem, ModemInfo, TransferResult
from sqnflash.modem.info import MONARCH2
from sqnflash.modem.modem import UPGRADE_MODES
from sqnflash.modem.rescue import close_session, read_cfun
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.protocol.stp import DataType, Monarch2DataType, SessionVersionTooLow
from sqnflash.upgrade.apply_phase import ApplyWatcher
from sqnflash.upgrade.line_plan import is_monarch2
from sqnflash.upgrade.line_rate import LineRate
from sqnflash.upgrade.moves import Moves
from sqnflash.upgrade.plan import Flow, Plan, Step
from sqnflash.upgrade.recorder import StepRecorder
from sqnflash.upgrade.safety import point_of_no_return
from sqnflash.upgrade.setbacks import Setbacks
from sqnflash.upgrade.settings import APPLY_TIMEOUT_S, MAX_RESTARTS, Settings
from sqnflash.upgrade.steps import StepId
from sqnflash.upgrade.transfer_driver import HeldTransfer, TransferDriver

__all__ = ["APPLY_TIMEOUT_S", "MAX_RESTARTS", "HeldTransfer", "Runner", "Settings",
           "StepRecorder", "UpgradeResult"]

BOOTROM_SETTLE_S = 1.5  # docs/protocol.md §6.2 step 2: the wait after the bootrom
UPDATER_START_S = 120.0  # Pycom waits 100 x 1 s for a loaded updater.elf to answer AT
_REFRESH_BOOTROM = Step(StepId.REFRESH_BOOTROM, "Send the bootrom package once more",
                        "showver still names the factory bootrom as Bootloader0",
                        "upgraded; the bootrom refresh did not finish: run `sqnflash info`")


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


def _as_error(exc: BaseException) -> SqnflashError:
    """What the journal records for `exc`."""
    if isinstance(exc, SqnflashError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted.by(exc)
    return InternalError(f"{type(exc).__name__}: {exc}")


class Runner:
    def __init__(self, modem: Modem, plan: Plan, before: ModemInfo, *, emit: EventSink,
                 settings: Settings | None = None, record: StepRecorder | None = None,
                 start_at: int = 0, held: HeldTransfer | None = None,
                 found: dict[str, Any] | None = None, apply_in_progress: bool = False) -> None:
        """`record` journals the progress; `start_at` and `held` continue an interrupted
        upgrade (see upgrade/resume.py), `apply_in_progress` one whose modem is applying the
        stored image already (it is not asked to apply again). `before` is the modem before
        the upgrade began (from the journal, for a continued one); `found` is the modem as this
        run found it, which the plan is shown with (default: `before`)."""
        self.modem = modem
        self.plan = plan
        self.before = before
        self.found = found if found is not None else before.to_dict()
        self.emit = emit
        self.settings = settings or Settings()
        self.clock = modem.link.clock
        self.result: UpgradeResult | None = None
        self.record = record
        self.start_at = start_at
        self._monarch2 = is_monarch2(before.family, _chip_family(plan))
        self.moves = Moves(modem, emit, self.settings.reboot_timeout_s)
        self.line = LineRate(modem, self.settings.rate_policy, self._monarch2,
                             memory=getattr(record, "remember_line", None),
                             failed=set(self.settings.avoid_bauds))
        self.transfer = TransferDriver(modem, self.line, self.settings, emit, record, held)
        self.applying = ApplyWatcher(modem, self.moves, emit, self.settings.apply_timeout_s)
        self.setbacks = Setbacks(modem, plan, self.moves, emit, self.settings.max_restarts,
                                 record)
        self._after: ModemInfo | None = None
        self._ponr = point_of_no_return(plan)
        self._ponr_announced = False
        self._apply_in_progress = apply_in_progress
        self._journaled_end = False  # the record has its outcome
        self._actions: dict[str, Callable[[Step], None]] = {
            StepId.PREPARE: self._prepare,
            StepId.SWITCH_RECOVERY: lambda s: self.moves.switch(Mode.RECOVERY),
            StepId.SEND_BOOTROM: self._send_bootrom,
            StepId.SWITCH_FFH: lambda s: self.moves.switch(Mode.FFH),
            StepId.NEGOTIATE_BAUD: self._negotiate,
            StepId.SEND_UPDATER: self._send_updater,
            StepId.STORE_IMAGE: self._store_image,
            StepId.APPLY_STORED: self._apply_stored,
            StepId.SEND_IMAGE: self._send_image,
            StepId.APPLY: lambda s: self._wait_apply(s),
            StepId.SWITCH_APPLICATION: self._switch_application,
            StepId.VERIFY: self._verify,
        }

    @property
    def _reboot_s(self) -> float:
        return self.settings.reboot_timeout_s

    def run(self) -> UpgradeResult:
        try:
            return self._run()
        except BaseException as exc:
            # Whatever stopped the run outside a step's own handling (a bug, a second Ctrl-C
            # while putting the modem back): the journal must not say it still runs.
            if self.record is not None and not self._journaled_end:
                self._journaled_end = True
                self.record.finish("interrupted", error=_as_error(exc))
            raise

    def _run(self) -> UpgradeResult:
        plan = self.plan
        self.emit(PlanReady(plan.method.value, tuple(s.to_dict() for s in plan.steps),
                            self.found))
        for text in plan.notes:  # after the plan: they are about it
            self.emit(Note(text))
        # RTS/CTS as the family wants it (a Monarch 2 found in RECOVERY: its image tells).
        self.modem.use_flow_control_of(MONARCH2 if self._monarch2 else self.before.family,
                                       check=self.transfer.held is None)
        start = self.clock.now()
        times: dict[str, float] = {}
        index = self.start_at
        while index < len(plan.steps):
            step = plan.steps[index]
            try:
                elapsed = self._do(index, step)
                times[step.id] = times.get(step.id, 0.0) + elapsed
            except KeyboardInterrupt as stop:
                interrupted = Interrupted.by(stop, step.title, modem_state=step.if_interrupted)
                self._stopped(index, step, interrupted)
                raise interrupted from None
            except SqnflashError as error:
                try:
                    back = self.setbacks.go_back(index, error)
                except PortLost as lost:  # looking for the modem found the port gone
                    self._stopped(index, step, lost)
                    raise lost from error
                if back is not None:
                    index = back
                    continue
                self._stopped(index, step, error)
                raise
            index += 1
        if self._after is None:  # a plan without a final check (a part of `recover`'s work)
            self._after = self.modem.info()
        self.result = UpgradeResult(self.before, self._after, plan, times,
                                    self.transfer.transfers, self.clock.now() - start)
        if self.record is not None:
            self._journaled_end = True
            self.record.finish("completed", after=self._after.to_dict())
        return self.result

    def _do(self, index: int, step: Step) -> float:
        """Run step `index`; its duration."""
        self._announce(index, step)
        t0 = self.clock.now()
        self._actions[step.id](step)
        elapsed = self.clock.now() - t0
        if self.record is not None:
            self.record.step_done(step.id)
        self.emit(StepFinished(step.id, step.title, elapsed))
        return elapsed

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

    def _stopped(self, index: int, step: Step, error: SqnflashError) -> None:
        """The run ends with `error` in step `index`: say where the modem is, put it back as it
        was when the point of no return is still ahead, and journal the outcome."""
        if error.modem_state is None:
            error.modem_state = step.if_interrupted
        error.details.setdefault("step", step.id)
        before_ponr = index < self._ponr
        error.details["past_point_of_no_return"] = not before_ponr
        if before_ponr and not isinstance(error, PortLost):  # no port: nothing can be put back
            self.setbacks.rollback(error)
        if self.record is not None:
            # A lost port is an interruption too: the same command continues once it is back.
            outcome = "interrupted" if isinstance(error, (Interrupted, PortLost)) else "failed"
            self._journaled_end = True
            self.record.finish(outcome, error=error)

    def _wait_apply(self, step: Step) -> None:
        what = "the bootrom" if step.id == StepId.SEND_BOOTROM else self.plan.image.name
        self.applying.wait(step, what)

    # ------------------------------------------------------------------ steps
    def _prepare(self, step: Step) -> None:
        # The radio is switched back on if the upgrade stops before the point of no return.
        self.setbacks.radio_was(read_cfun(self.modem))
        self.modem.prepare(monarch2=self._monarch2)

    def _negotiate(self, step: Step) -> None:
        self.modem.wait_ready(Mode.FFH, self._reboot_s)
        self.line.boot_loader()

    def _send_bootrom(self, step: Step) -> None:
        assert self.plan.bootrom is not None
        self.transfer.send(step, 'AT+SMSTPU="ON_THE_FLY"', self.plan.bootrom,
                           f"bootrom package ({self.plan.bootrom_source})")
        self._after_bootrom(step)

    def _after_bootrom(self, step: Step) -> None:
        """docs/protocol.md §6.2 step 2: the field-proven client waits 1.5 s after the bootrom
        package and switches to the boot loader; it never asks for a report there, and modems
        differ in what `AT+SMUPGRADE?` says then (`No report`, `success`, nothing). The report is
        read once for the trace; only a modem saying it is still busy is waited for, and only one
        that says `fail` after having said it was busy has refused the bootrom."""
        self.modem.at.wait_urc("+SYSSTART", BOOTROM_SETTLE_S)
        report = self.modem.upgrade_report()
        if report.state == at.UpgradeState.NONE:  # a modem that restarts after a bootrom
            self.modem.wait_ready(None, self._reboot_s)
            report = self.modem.upgrade_report()
        busy = report.state == at.UpgradeState.ONGOING
        if busy:
            self.emit(Waiting(step.id, 0.0, "writing the bootrom"))
            self._wait_apply(step)
            return
        self.modem.note(_bootrom_report_note(report))

    def _send_updater(self, step: Step) -> None:
        assert self.plan.updater is not None
        # The boot loader wants AT+STP ended by a bare line feed.
        self.transfer.send(step, "AT+STP", self.plan.updater.source(), self.plan.updater.name,
                           terminator="\n")
        # Which number a running updater.elf reports is not documented (Pycom only waits for
        # `AT`, then sends AT+SMSTPU="ON_THE_FLY"): any mode that takes an image will do.
        try:
            mode = self.modem.wait_ready(UPGRADE_MODES, max(self._reboot_s, UPDATER_START_S))
        except NoResponse as error:
            raise UpdaterDidNotStart(
                f"{self.plan.updater.name} was loaded but the modem has not answered since "
                f"({error.cause})", modem_state="not answering; after a power cycle it comes "
                "back in the boot loader (FFH)") from error
        self.modem.note(f"{self.plan.updater.name} runs: AT+SMOD? answers {int(mode)} "
                        f"({mode.label})")

    def _store_image(self, step: Step) -> None:
        self.transfer.send(step, "AT+SMSTPU", self.plan.image.source(), self.plan.image.name)

    def _apply_stored(self, step: Step) -> None:
        if not self._apply_in_progress:  # a resumed run finds the modem applying already
            self._start_stored_apply(self.plan.image.name)
        self._apply_in_progress = False
        self._wait_apply(step)
        self.moves.back_to_application()

    def _start_stored_apply(self, what: str) -> None:
        """`AT+SMUPGRADE`. Pycom does not read its reply and goes straight to waiting for the
        modem, which may reboot into its updater before its OK leaves: only an ERROR (nothing
        stored, a file the modem finds invalid) stops here."""
        reply = self.modem.at.try_command("AT+SMUPGRADE", timeout_s=10.0, resend_on_boot=False)
        if reply is None:
            self.modem.note("no reply to AT+SMUPGRADE (the modem may have rebooted at once); "
                            "waiting for its report")
        elif not reply.ok:
            said = "; ".join(reply.lines)
            raise CommandFailed(
                f"the modem answered {reply.final_line} to AT+SMUPGRADE for {what}"
                + (f" ({said})" if said else ""),
                modem_state="in the application, unchanged: it did not start applying",
                details={"command": "AT+SMUPGRADE", "reply": list(reply.lines)})

    def _send_image(self, step: Step) -> None:
        source: BlockSource = self.plan.image.source()
        data_type: int | None = None
        if self._monarch2:
            source, data_type = _monarch2_stream(source, self.settings.compress,
                                                 chip_said=self.before.family is not None)
        try:
            self.transfer.send(step, 'AT+SMSTPU="ON_THE_FLY"', source, self.plan.image.name,
                               data_type=data_type)
        except StpProtocolViolation as error:
            if not isinstance(error.__cause__, SessionVersionTooLow):
                raise
            close_session(self.modem)  # the modem takes AT commands again
            raise _session_too_old(self.plan.image.name, self.before,
                                   error.__cause__.version) from error

    def _switch_application(self, step: Step) -> None:
        # Some modems reboot into the application by themselves once an ON_THE_FLY image is
        # applied: switching again would only cost another reboot.
        if self.moves.mode_now(2.0) == Mode.APPLICATION:
            self.modem.note("the modem is already back in its application")
            return
        self.moves.switch(Mode.APPLICATION)

    def _verify(self, step: Step) -> None:
        self.moves.back_to_application()
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
        if (self.plan.flow == Flow.OLD_BOOTROM and after.old_bootrom
                and after.software_build is not None
                and after.software_build > OLD_BOOTROM_BUILD
                and self.plan.bootrom is not None):
            self._refresh_bootrom(after)

    def _refresh_bootrom(self, after: ModemInfo) -> None:
        """docs/protocol.md §6.2 step 5: when showver still names the factory bootrom as
        Bootloader0 after the image went in, the field-proven client sends the bootrom package
        once more, stored in the application (`AT+SMSTPU`, `AT+SMUPGRADE`). The upgrade itself is
        done and verified by now, so a failure here is a warning, as long as the modem is back in
        its application."""
        assert self.plan.bootrom is not None
        self.emit(Note(f"showver still names bootrom {after.bootrom_build} as Bootloader0: "
                       "sending the bootrom package once more by the FFF method, as the "
                       "field-proven flow does"))
        step = _REFRESH_BOOTROM
        try:
            self.transfer.send(step, "AT+SMSTPU", self.plan.bootrom, "bootrom package (refresh)")
            self._start_stored_apply("the bootrom package")
            self._wait_apply(step)
        except SqnflashError as error:
            self.emit(Note(f"refreshing the bootrom did not succeed ({error.code}: "
                           f"{error.cause}); the new firmware is installed and verified",
                           "warning"))
        self.moves.back_to_application()
        self._after = self.modem.info()


def _monarch2_stream(source: BlockSource, compress: bool, *, chip_said: bool
                     ) -> tuple[BlockSource, int]:
    """pysequans' full_upgrade: the .dup zipped, announced as CABA + 1; a modem whose session
    reports version 1 gets no data type (Walter sends it raw like that)."""
    data_type = int(DataType.CABA)
    if compress:
        source = ZlibSource(source)
        data_type += 1
    if not chip_said:
        # Found in RECOVERY, the modem did not say its chip: the session's version will (a
        # Monarch 1's is 1), before a block of a Monarch 2 image reaches it.
        data_type = Monarch2DataType(data_type)
    return source, data_type


def _session_too_old(name: str, before: ModemInfo, version: int) -> SqnflashError:
    """The session opened below version 2 for a Monarch 2 image, and was closed before its first
    block: nothing was written."""
    unchanged = (f"in RECOVERY; nothing of {name} was written (the session was closed "
                 "before its first block)")
    if before.family is None:
        return FamilyMismatch(
            f"the modem's STP session is version {version}, as a Monarch 1's is (a Monarch 2 "
            f"opens version 2 or later): the modem is evidently a Monarch 1, and {name} is "
            "a Monarch 2 image",
            advice="Run `sqnflash recover` to take the modem back to its application, where "
                   "`sqnflash info` shows its family and build; then upgrade it with its "
                   "Monarch 1 image (CATM1-<build>.dup or NB1-<build>.dup).",
            modem_state=unchanged, details={"session_version": version})
    return StpProtocolViolation(
        f"the {before.model or 'Monarch 2'} opened an STP session of version {version}, "
        "which takes no data type: the zipped image cannot be announced",
        advice="Send the image raw: run the same command with --no-compress.",
        modem_state=unchanged, details={"session_version": version})


def _bootrom_report_note(report: at.UpgradeReport) -> str:
    """What the report read after the bootrom package means for the run, in its own case: the
    field-proven flow goes on to the boot loader whatever it says (it never asks)."""
    said = f"AT+SMUPGRADE? answers '{report.text}'" if report.text else \
        "AT+SMUPGRADE? answers nothing"
    if report.state == at.UpgradeState.SUCCESS:
        return f"after the bootrom package {said}: the bootrom is in place; going on to the boot " \
               "loader"
    if report.state == at.UpgradeState.FAIL:
        return (f"after the bootrom package {said} without having said it was busy: that may "
                "be the report of an earlier upgrade, and only a 'fail' after 'on-going' is taken "
                "as a refusal of this package; going on to the boot loader, as the field-proven "
                "flow does (it never asks here)")
    return (f"after the bootrom package {said} (no report of it yet); going on to the boot "
            "loader without waiting for one, as the field-proven flow does")


def _chip_family(plan: Plan) -> str | None:
    """The family the files say: the image's, else (an ELF loaded alone, as `recover` does in
    the boot loader, where the modem does not say its chip) the ELF's version's."""
    if plan.image.family is not None:
        return plan.image.family
    return family_of_lr(plan.updater.lr_version) if plan.updater is not None else None

