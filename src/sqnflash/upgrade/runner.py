"""Execute a plan step by step, reporting only through events.

Each step is one method here. Waits are for the modem's answer or a deadline, never fixed sleeps:
the apply phase polls `AT+SMUPGRADE?` twice a second and reports a heartbeat while it waits. An
error raised in a step carries the modem's state as that step leaves it, so the user always
knows what to do next; Ctrl-C (and SIGTERM, which the CLI turns into the same) is turned into
`Interrupted` with the same information. Whatever ends a run, its journal record gets an outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqnflash.errors import (
    ApplyFailed,
    ApplyInterrupted,
    ApplyNotReported,
    ApplyTimeout,
    BaudNegotiationFailed,
    CommandFailed,
    CommandTimeout,
    InternalError,
    Interrupted,
    LineRateLost,
    LineTooNoisy,
    ModeSwitchFailed,
    NoResponse,
    PortLost,
    SessionLost,
    SqnflashError,
    TransferError,
    TransferFailed,
    TransferRefused,
    UpdaterDidNotStart,
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
from sqnflash.firmware.compress import ZlibSource
from sqnflash.modem import (
    APP_BAUD,
    BOOT_BAUD,
    OLD_BOOTROM_BUILD,
    Modem,
    ModemInfo,
    StpUpload,
    TransferResult,
)
from sqnflash.modem.flow import held_at_rate
from sqnflash.modem.modem import REBOOT_TIMEOUT_S, UPGRADE_MODES
from sqnflash.modem.rescue import close_session, read_cfun, wait_not_applying
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.protocol.stp import (
    ADAPTIVE_BLOCK_CAP,
    HEADER_SIZE,
    PYCOM_BLOCK_CAP,
    Checkpoint,
    DataType,
    SessionOpened,
)
from sqnflash.timing import Deadline
from sqnflash.upgrade.plan import Flow, Plan, Step
from sqnflash.upgrade.safety import (
    START_MODES,
    point_of_no_return,
    restart_index,
    retry_index,
)
from sqnflash.upgrade.steps import StepId

APPLY_TIMEOUT_S = 600.0  # Pycom's docs: "unless hanging for more than 5 minutes do not interrupt"
APPLY_POLL_S = 0.5  # how often AT+SMUPGRADE? is asked: the modem's answer costs it nothing
HEARTBEAT_S = 5.0  # a waiting event at least this often, even when nothing changes
SILENT_RATE_CHECK_S = 5.0  # no answer to polls for this long: look for the modem at other rates
PROGRESS_STEP = 0.01  # a progress event per 1 % of a transfer
# `AT+SMUPGRADE?` still says `No report` this long after an apply should have started: it did not
# start (Pycom polls through `No report` for 300 s and then gives up without a diagnosis).
NO_REPORT_PATIENCE_S = 60.0
# Nothing but silence or garbage at every rate this long while applying: a verdict, not a wait
# (a reboot into the updater or the application takes seconds).
APPLY_SILENCE_S = 60.0
BOOTROM_SETTLE_S = 1.5  # docs/protocol.md §6.2 step 2: the wait after the bootrom
UPDATER_START_S = 120.0  # Pycom waits 100 x 1 s for a loaded updater.elf to answer AT
# A transfer the modem stopped answering (neither STP nor AT): its session is ended with this many
# RESET frames, then the modem is looked for this long, so the run ends within 90 s of the silence.
SILENT_CLOSE_ATTEMPTS = 3
SILENT_LOOK_S = 15.0
WHERE_LOOK_S = 20.0  # how long to look for the modem to say where it is in an error's state line
ROLLBACK_LOOK_S = 5.0  # a modem that was just waited for in vain is looked for this long again
_SILENT_STATE = ("not answering STP or AT at any rate: still inside the transfer session (it "
                 "leaves it by itself after a while) or without power")
SWITCH_ATTEMPTS = 3  # a modem that boots into the wrong mode is asked this many times
MAX_RESTARTS = 3  # times a run goes back to an earlier step (the modem rebooted, apply failed)
FALLBACK_BAUDS = (921600, 460800, 230400, 115200)  # a noisy line is tried at these rates
_TRANSFER_STEPS = (StepId.STORE_IMAGE, StepId.SEND_IMAGE, StepId.SEND_BOOTROM,
                   StepId.SEND_UPDATER)
# After Ctrl-C the user wants out: a modem silent this long (inside the transfer the interrupt
# cut, or rebooting) is left where the step's state line says rather than waited for.
INTERRUPTED_ANSWER_S = 3.0
MONARCH2 = "Monarch 2"  # ModemInfo.family
MONARCH2_BLOCK_CAP = 0xFFFF  # no cap of its own: the session's max_transfer - 16 decides
# the modem is not expected to reboot in these
_ON_THE_FLY_APPLIES = (StepId.APPLY, StepId.SEND_BOOTROM)
_IN_FFH = "in the boot loader (FFH): run the same command again with --updater"
_REFRESH_BOOTROM = Step(StepId.REFRESH_BOOTROM, "Send the bootrom package once more",
                        "showver still names the factory bootrom as Bootloader0",
                        "upgraded; the bootrom refresh did not finish: run `sqnflash info`")


@dataclass
class Settings:
    baud: int = APP_BAUD  # the rate the transfers run at (negotiated in the boot loader)
    # None: adaptive, from PYCOM_BLOCK_CAP up to what the session reports (modem/line.py);
    # a number forces that size.
    block_size: int | None = None
    retries: int = 4
    apply_timeout_s: float = APPLY_TIMEOUT_S
    reboot_timeout_s: float = REBOOT_TIMEOUT_S
    max_restarts: int = MAX_RESTARTS
    min_baud: int = BOOT_BAUD  # a noisy line falls back to lower rates down to this one
    # Monarch 2: send the image as a zlib stream (data type CABA + 1) when the session allows it;
    # its blocks are max_transfer - 16 from the start unless a block size was asked for.
    compress: bool = True
    # Before each transfer outside the boot loader, move the line to the fastest rate the modem
    # lists (AT+IPR=?), the port carries and `max_baud` allows. The boot loader lists none: it
    # is moved to `baud`, as the field-proven flow does.
    auto_baud: bool = False
    max_baud: int | None = None
    # What earlier runs on this modem found (the journal's line memory): rates not to try again,
    # and the largest block it answered (adaptive transfers start there) and whether it refused
    # larger ones (they then stay there).
    avoid_bauds: frozenset[int] = frozenset()
    known_block: int | None = None
    block_ceiling: bool = False


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
        self._held = held
        self._transfers: dict[str, TransferResult] = {}
        self._after: ModemInfo | None = None
        self._ponr = point_of_no_return(plan)
        self._ponr_announced = False
        self._restarts = 0
        self._retried: set[str] = set()
        self._cfun_before: int | None = None
        self._fallback_baud: int | None = None  # a noisy line made the transfers slower
        self._failed_bauds = set(self.settings.avoid_bauds)  # rates this modem did not carry
        self._listed: tuple[int, ...] = ()  # what AT+IPR=? listed
        self._rate_said = ""  # the last word on the rate, said once
        self.apply_in_progress = apply_in_progress
        self._journaled_end = False  # the record has its outcome
        self._actions: dict[str, Callable[[Step], None]] = {
            StepId.PREPARE: self._prepare,
            StepId.SWITCH_RECOVERY: lambda s: self._switch(Mode.RECOVERY),
            StepId.SEND_BOOTROM: self._send_bootrom,
            StepId.SWITCH_FFH: lambda s: self._switch(Mode.FFH),
            StepId.NEGOTIATE_BAUD: self._negotiate,
            StepId.SEND_UPDATER: self._send_updater,
            StepId.STORE_IMAGE: self._store_image,
            StepId.APPLY_STORED: self._apply_stored,
            StepId.SEND_IMAGE: self._send_image,
            StepId.APPLY: self._apply,
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
        self.modem.use_flow_control_of(MONARCH2 if self._monarch2 else self.before.family,
                                       check=self._held is None)
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
            except KeyboardInterrupt as stop:
                interrupted = Interrupted.by(stop, step.title, modem_state=step.if_interrupted)
                self._stopped(index, step, interrupted)
                raise interrupted from None
            except SqnflashError as error:
                try:
                    back = self._go_back(index, error)
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
        self.result = UpgradeResult(self.before, self._after, plan, times, self._transfers,
                                    self.clock.now() - start)
        if self.record is not None:
            self._journaled_end = True
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
            if error.details.get("answers_at") is False:
                # Nothing answered STP or AT: the modem may still hold the session, which keeps
                # it from taking commands. End it, then look for the modem once more.
                close_session(self.modem, attempts=SILENT_CLOSE_ATTEMPTS)
                mode = self._mode_now(SILENT_LOOK_S)
            else:
                mode = self._mode_now()
            if mode is None:
                error.details["silent"] = True
                if error.modem_state is None and isinstance(error, TransferError):
                    error.modem_state = _SILENT_STATE
                return None
            if isinstance(error, CommandFailed) and mode in START_MODES[step.id]:
                return None  # refused where it should have been accepted: not a reboot
            back = restart_index(self.plan, mode, index) if mode is not None else None
            why = f"{error.cause}; the modem is in {mode.label if mode else '?'}"
        elif isinstance(error, (ApplyInterrupted, ModeSwitchFailed)):
            # (Not ApplyFailed: a modem that checked the image and said no says it again.)
            if isinstance(error, ModeSwitchFailed) and step.id != StepId.SEND_UPDATER:
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

    def _mode_now(self, timeout_s: float | None = None) -> Mode | None:
        """The mode the modem answers in, once it answers (it may be rebooting)."""
        try:
            return self.modem.wait_ready(None, self._reboot_s if timeout_s is None else timeout_s)
        except PortLost:
            raise  # nothing more can be asked: the run ends with this
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
        if before_ponr and not isinstance(error, PortLost):  # no port: nothing can be put back
            self._rollback(error)
        if self.record is not None:
            # A lost port is an interruption too: the same command continues once it is back.
            outcome = "interrupted" if isinstance(error, (Interrupted, PortLost)) else "failed"
            self._journaled_end = True
            self.record.finish(outcome, error=error)

    def _rollback(self, error: SqnflashError) -> None:
        """Before the point of no return: back into the application, radio as it was."""
        # A modem that was just waited for in vain is not waited for as long again, and after
        # Ctrl-C the user wants out.
        interrupted = isinstance(error, Interrupted)
        if interrupted:
            look = INTERRUPTED_ANSWER_S
        elif isinstance(error, NoResponse) or error.details.get("silent"):
            look = ROLLBACK_LOOK_S
        else:
            look = self._reboot_s
        try:
            if error.details.get("step") in _TRANSFER_STEPS and not error.details.get("silent"):
                # A transfer cut short may leave the modem inside its STP session, where it
                # answers no AT command: end it first (a modem in AT mode ignores the frames).
                close_session(self.modem, attempts=1 if interrupted else SILENT_CLOSE_ATTEMPTS)
            mode = self.modem.wait_ready(None, look)
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
        cap = self._rate_cap()[0]
        for baud in sorted({*FALLBACK_BAUDS, *self._listed}, reverse=True):
            if (baud < current and baud >= self.settings.min_baud and baud <= cap
                    and baud not in self._failed_bauds):
                return baud
        return None

    def _rate_cap(self) -> tuple[int, str]:
        """The fastest rate allowed now, and what limits it."""
        limits = [(self.settings.max_baud, "--max-baud {}"),
                  (self.modem.link.max_baud, "the port's adapter carries at most {} baud"),
                  (self._fallback_baud, "faster rates lost too many frames on this line")]
        known = [(rate, why.format(rate)) for rate, why in limits if rate]
        return min(known) if known else (1 << 30, "")

    def _say_rate(self, text: str, level: str = "info") -> None:
        if text != self._rate_said:
            self._rate_said = text
            self.modem.note(text, level)

    def _speed_up(self) -> None:
        """Move the line to the fastest rate the modem lists and the port carries (--baud auto);
        a rate that fails is remembered and the next lower one tried."""
        current = self.modem.link.baud
        listed = self.modem.listed_rates()
        if listed is None:
            self._say_rate(f"the modem does not answer AT+IPR=?: the transfer runs at {current} "
                           "baud")
            return
        self._listed = listed
        cap, limit = self._rate_cap()
        rates = [r for r in sorted(listed, reverse=True)
                 if current < r <= cap and r not in self._failed_bauds
                 and self.modem.link.carries(r)]
        why = f"the fastest the modem lists (AT+IPR=? up to {max(listed)})"
        if not rates:
            reason = limit if cap < max(listed) else "the modem lists nothing faster"
            self._say_rate(f"the transfer runs at {current} baud: {reason}")
            return
        if cap < max(listed):
            why += f", within {limit}"
        self._climb(rates, why)

    def _climb(self, rates: list[int], why: str) -> None:
        """Negotiate the first of `rates` (fastest first) the modem is heard at."""
        old = self.modem.link.baud
        for rate in rates:
            try:
                self.modem.negotiate_baud(rate)
            except BaudNegotiationFailed as error:
                self._failed_bauds.add(rate)
                self._remember_line()
                if not self.modem.step_back(old, rate):
                    raise LineRateLost(
                        f"{error.cause}, nor at {old} baud again",
                        modem_state=f"at {rate} baud or on its way back to {old}: it answers "
                                    "at neither", details={"rate": rate, "from": old}) from error
                self.modem.note(f"{error.cause}: back at {old} baud; trying a lower rate",
                                "warning")
                continue
            self._say_rate(f"transfers run at {rate} baud: {why}")
            return
        self._say_rate(f"the transfer runs at {old} baud: no faster rate worked "
                       f"({', '.join(str(r) for r in rates)} failed)", "warning")

    # ------------------------------------------------------------------ steps
    def _prepare(self, step: Step) -> None:
        # The radio is switched back on if the upgrade stops before the point of no return.
        self._cfun_before = read_cfun(self.modem)
        self.modem.prepare(monarch2=self._monarch2)

    def _negotiate(self, step: Step) -> None:
        self.modem.wait_ready(Mode.FFH, self._reboot_s)
        if self._monarch2:
            # Walter and the AVR-IoT bridge load mtools.elf at 115200 and never send AT+IPR.
            self.modem.note(f"Monarch 2: the boot loader stays at {self.modem.link.baud} baud")
            return
        old = self.modem.link.baud
        target = min(self.settings.baud, self._fallback_baud or self.settings.baud)
        try:
            self.modem.negotiate_baud(target)
        except BaudNegotiationFailed as error:
            # A boot loader that stays at its own rate still loads the updater, only slower
            # (Pycom 1.2.0-1.2.2 ran the whole FFH stage at 115200).
            if self.modem.fixed_baud is not None or not self._answers_at(old):
                raise
            self.modem.note(f"{error.cause}: the boot loader stays at {old} baud; "
                            f"updater.elf is loaded at that rate", "warning")

    def _answers_at(self, baud: int) -> bool:
        self.modem.link.set_baud(baud)
        return any(self.modem.at.probe() for _ in range(3))

    @property
    def _monarch2(self) -> bool:
        # A modem found in RECOVERY does not say what it is; a Monarch 2 image tells instead (a
        # Monarch 1 would refuse the zipped stream's session before anything is written).
        family = self.before.family or self.plan.image.family
        return family == MONARCH2

    def _send(self, step: Step, command: str, source: BlockSource, what: str, *,
              terminator: str = "\r\n", data_type: int | None = None) -> TransferResult:
        """Send `source`; a line that loses most frames is tried again at lower rates."""
        try:
            while True:
                try:
                    result = self._send_once(step, command, source, what, terminator,
                                             data_type)
                    break
                except LineTooNoisy as noisy:
                    lower = self._lower_baud()
                    if lower is None:
                        raise
                    self.emit(Note(f"{noisy.cause}: ending the session and sending {what} "
                                   f"again from the start at {lower} baud", "warning"))
                    close_session(self.modem)
                    wait_not_applying(self.modem)
                    self._failed_bauds.add(self.modem.link.baud)
                    self.modem.negotiate_baud(lower)
                    self._fallback_baud = lower
                    if self.record is not None:
                        self.record.forget_transfer()
        finally:
            if isinstance(source, (FileSource, ZlibSource)):
                source.close()
        self._transfers[step.id] = result
        self._remember_line(result)
        line = result.line
        if (self.settings.block_size is None and line is not None and line.shrinks
                and 0 < line.largest_block < result.max_transfer - HEADER_SIZE):
            self.emit(Note(f"{what}: blocks grew no further than {line.largest_block} bytes "
                           f"(the session reports {result.max_transfer}): larger ones were "
                           "lost"))
        self.emit(TransferFinished(step.id, source.size, result.elapsed_s, result.bytes_per_s,
                                   result.retries))
        return result

    def _send_once(self, step: Step, command: str, source: BlockSource, what: str,
                   terminator: str, data_type: int | None = None) -> TransferResult:
        # A zipped image is shown in image bytes; the line's throughput stays in wire bytes.
        total = source.image_size if isinstance(source, ZlibSource) else source.size
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
                rate = (done - sent_from) / elapsed if elapsed > 0 else 0.0  # wire bytes
                if isinstance(source, ZlibSource):  # the bar counts image bytes
                    done, size = source.image_bytes_at(done), source.image_size
                self.emit(TransferProgress(step.id, done, size, rate, elapsed))

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
                if isinstance(upload.source, (FileSource, ZlibSource)):
                    upload.source.close()
        if self._fallback_baud is not None and link.baud > self._fallback_baud:
            self.modem.negotiate_baud(self._fallback_baud)  # the line was too noisy faster
        elif (self.settings.auto_baud and self.modem.fixed_baud is None
              and self.modem.mode_seen != Mode.FFH):
            slow = held_at_rate(link, self._monarch2)
            if slow is not None:
                self._say_rate(slow)
            else:
                self._speed_up()
        largest, first = self._block_sizes()
        return self.modem.upload(command, source, block_cap=largest, start_block=first,
                                 retries=self.settings.retries, terminator=terminator,
                                 on_progress=progress, on_opened=opened,
                                 on_checkpoint=checkpoint, data_type=data_type)

    def _block_sizes(self) -> tuple[int, int]:
        """(largest block, first block) of the next transfer."""
        forced, known = self.settings.block_size, self.settings.known_block
        if forced is not None:
            return forced, forced
        if self._monarch2:  # the session's max_transfer - 16 (docs/protocol.md §5)
            return MONARCH2_BLOCK_CAP, MONARCH2_BLOCK_CAP
        if known is not None and known >= PYCOM_BLOCK_CAP:
            return (known if self.settings.block_ceiling else ADAPTIVE_BLOCK_CAP), known
        return ADAPTIVE_BLOCK_CAP, PYCOM_BLOCK_CAP

    def _remember_line(self, result: TransferResult | None = None) -> None:
        remember = getattr(self.record, "remember_line", None)
        if remember is None:
            return
        facts: dict[str, Any] = {"failed_bauds": sorted(self._failed_bauds),
                                 "baud": self.modem.link.baud,
                                 "rtscts": self.modem.link.rtscts}
        line = result.line if result is not None else None
        if (result is not None and line is not None and line.largest_block
                and self.settings.block_size is None):
            facts["largest_block"] = line.largest_block
            facts["block_ceiling"] = (bool(line.shrinks) and
                                      line.largest_block < result.max_transfer - HEADER_SIZE)
        remember(facts)

    def _send_bootrom(self, step: Step) -> None:
        assert self.plan.bootrom is not None
        self._send(step, 'AT+SMSTPU="ON_THE_FLY"', self.plan.bootrom,
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
        said = f"'{report.text}'" if report.text else "nothing"
        self.modem.note(f"after the bootrom package AT+SMUPGRADE? answers {said}; going on to "
                        "the boot loader without waiting for a report, as the field-proven "
                        "flow does")

    def _send_updater(self, step: Step) -> None:
        assert self.plan.updater is not None
        # The boot loader wants AT+STP ended by a bare line feed.
        self._send(step, "AT+STP", self.plan.updater.source(), self.plan.updater.name,
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
        self.modem.note(f"updater.elf runs: AT+SMOD? answers {int(mode)} ({mode.label})")

    def _store_image(self, step: Step) -> None:
        self._send(step, "AT+SMSTPU", self.plan.image.source(), self.plan.image.name)

    def _apply_stored(self, step: Step) -> None:
        if not self.apply_in_progress:  # a resumed run finds the modem applying already
            self._start_stored_apply(self.plan.image.name)
        self.apply_in_progress = False
        self._wait_apply(step)
        self._back_to_application()

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
            # pysequans' full_upgrade: the .dup zipped, announced as CABA + 1; a modem whose
            # session reports version 1 gets no data type (Walter sends it raw like that).
            data_type = int(DataType.CABA)
            if self.settings.compress:
                source = ZlibSource(source)
                data_type += 1
        self._send(step, 'AT+SMSTPU="ON_THE_FLY"', source, self.plan.image.name,
                   data_type=data_type)

    def _apply(self, step: Step) -> None:
        self._wait_apply(step)

    def _switch_application(self, step: Step) -> None:
        # Some modems reboot into the application by themselves once an ON_THE_FLY image is
        # applied: switching again would only cost another reboot.
        if self._mode_now(2.0) == Mode.APPLICATION:
            self.modem.note("the modem is already back in its application")
            return
        self._switch(Mode.APPLICATION)

    def _wait_apply(self, step: Step) -> None:
        """Poll `AT+SMUPGRADE?` until the modem says success or fail, with a heartbeat event
        meanwhile. Every answer the reference leaves open gets a verdict instead of a long wait:
        a modem back in its application after a reboot is done (the version check decides), a
        `No report` that outlasts `NO_REPORT_PATIENCE_S` and silence (or garbage) that outlasts
        `APPLY_SILENCE_S` end the wait with a coded error saying where the modem is."""
        start = self.clock.now()
        deadline = Deadline(self.clock, self.settings.apply_timeout_s)
        what = "the bootrom" if step.id == StepId.SEND_BOOTROM else self.plan.image.name
        last_beat = -HEARTBEAT_S
        last_status = ""
        silent_since: float | None = None
        last_rate_check: float | None = None
        no_report_since: float | None = None
        # Applying ON_THE_FLY, the modem does not reboot unless something cut it short.
        boots, answered, rebooted = self.modem.at.boots_seen, False, False
        while True:
            noise_before = self.modem.at.noise_bytes
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
                if step.id == StepId.APPLY:
                    self._trace_next_boot()
                return
            if report.state == at.UpgradeState.FAIL:
                if rebooted and step.id in _ON_THE_FLY_APPLIES:
                    raise ApplyInterrupted(
                        f"the modem restarted while applying {what} and then reported "
                        f"'{report.text}'", details={"report": report.text})
                raise self._apply_failed(report, what)
            if deadline.expired():
                raise ApplyTimeout(f"no result after {self.settings.apply_timeout_s:g} s "
                                   f"(last status: {status})")
            if report.state == at.UpgradeState.NONE:
                no_report_since = None
                silent_since = now if silent_since is None else silent_since
                if now - silent_since >= APPLY_SILENCE_S:
                    garbled = self.modem.at.noise_bytes - noise_before
                    raise NoResponse(
                        f"the modem has not answered AT+SMUPGRADE? for {now - silent_since:.0f} "
                        f"s while applying {what}" + (" (only garbled bytes)" if garbled else ""),
                        modem_state=("not answering at any rate: it may still be applying "
                                     f"{what}, or have lost power"),
                        advice=("Leave it powered for a few minutes, then run `sqnflash info` "
                                "(it finds the modem at any rate and says where it is) and the "
                                "same command again."))
                if now - (last_rate_check if last_rate_check is not None else silent_since) \
                        >= SILENT_RATE_CHECK_S:
                    # The modem may have come back at another rate (the updater, a reboot).
                    last_rate_check = now
                    with contextlib.suppress(NoResponse):
                        if self.modem.wait_ready(None, APPLY_POLL_S * 2) == Mode.FFH:
                            # No image is applied from the boot loader: the power went, and
                            # with it the updater the image was being applied by.
                            raise ApplyInterrupted(
                                f"the modem restarted into the boot loader while applying "
                                f"{what}", modem_state=_IN_FFH)
                continue  # the unanswered poll already waited for its timeout
            silent_since = last_rate_check = None
            if report.state == at.UpgradeState.NO_REPORT:
                if step.id == StepId.SEND_BOOTROM:
                    # No report is required after a bootrom package (see _after_bootrom).
                    self.modem.note("AT+SMUPGRADE? answers 'No report' after 'on-going' for the "
                                    "bootrom package; going on")
                    return
                no_report_since = now if no_report_since is None else no_report_since
                if rebooted and self._in_application():
                    said = f"'{report.text}'" if report.text else "no report"
                    self.modem.note(f"the modem rebooted into its application after {what} "
                                    f"and AT+SMUPGRADE? answers {said}; the version check "
                                    "decides")
                    return
                if now - no_report_since >= NO_REPORT_PATIENCE_S:
                    raise self._not_reported(report, what, now - no_report_since)
            else:
                no_report_since = None
            # Until the next poll: a URC (the modem rebooting) ends the wait early.
            self.modem.at.wait_urc("+SYSSTART", APPLY_POLL_S)

    def _trace_next_boot(self) -> None:
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

    def _in_application(self) -> bool:
        try:
            return self.modem.mode() == Mode.APPLICATION
        except SqnflashError:
            return False

    def _where(self) -> tuple[Mode | None, str]:
        """The modem's mode, and as a phrase for an error's state line (it may be rebooting: the
        FFF method's updater reboots once it has reported)."""
        mode = self._mode_now(WHERE_LOOK_S)
        return mode, f"in {mode.label}" if mode is not None else "not answering (rebooting?)"

    def _apply_failed(self, report: at.UpgradeReport, what: str) -> ApplyFailed:
        """A clean refusal: the modem checked the image and said no. Sending the same image again
        gets the same answer, so the run stops and says what the modem said and where it is."""
        mode, where = self._where()
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

    def _not_reported(self, report: at.UpgradeReport, what: str,
                      waited_s: float) -> ApplyNotReported:
        said = f"'{report.text}'" if report.text else "no report"
        return ApplyNotReported(
            f"AT+SMUPGRADE? still answers {said} {waited_s:.0f} s after {what} should have "
            "started to apply", modem_state=f"{self._where()[1]}, reporting {said}",
            details={"report": report.text})

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
            self._send(step, "AT+SMSTPU", self.plan.bootrom, "bootrom package (refresh)")
            self._start_stored_apply("the bootrom package")
            self._wait_apply(step)
        except SqnflashError as error:
            self.emit(Note(f"refreshing the bootrom did not succeed ({error.code}: "
                           f"{error.cause}); the new firmware is installed and verified",
                           "warning"))
        self._back_to_application()
        self._after = self.modem.info()
