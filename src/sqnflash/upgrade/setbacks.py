"""What a run does when a step fails: go back to a step that can still finish the upgrade, or put
the modem back as it was while the point of no return is still ahead."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqnflash.errors import (
    ApplyInterrupted,
    BaudNegotiationFailed,
    CommandFailed,
    CommandTimeout,
    Interrupted,
    ModeSwitchFailed,
    NoResponse,
    SessionLost,
    SqnflashError,
    TransferError,
    TransferFailed,
    TransferRefused,
)
from sqnflash.events import EventSink, Note
from sqnflash.modem import Modem
from sqnflash.modem.rescue import close_session
from sqnflash.protocol.modes import Mode
from sqnflash.upgrade.moves import Moves
from sqnflash.upgrade.plan import Plan
from sqnflash.upgrade.recorder import StepRecorder
from sqnflash.upgrade.safety import START_MODES, restart_index, retry_index
from sqnflash.upgrade.steps import StepId

# A transfer the modem stopped answering (neither STP nor AT): its session is ended with this many
# RESET frames, then the modem is looked for this long, so the run ends within 90 s of the silence.
SILENT_CLOSE_ATTEMPTS = 3
SILENT_LOOK_S = 15.0
ROLLBACK_LOOK_S = 5.0  # a modem that was just waited for in vain is looked for this long again
_SILENT_STATE = ("not answering STP or AT at any rate: still inside the transfer session (it "
                 "leaves it by itself after a while) or without power")
TRANSFER_STEPS = (StepId.STORE_IMAGE, StepId.SEND_IMAGE, StepId.SEND_BOOTROM,
                  StepId.SEND_UPDATER)
# After Ctrl-C the user wants out: a modem silent this long (inside the transfer the interrupt
# cut, or rebooting) is left where the step's state line says rather than waited for.
INTERRUPTED_ANSWER_S = 3.0
# Errors after which the modem may have rebooted under the run (not NoResponse: it comes after a
# long wait for the modem already).
_REBOOT_SIGNS = (SessionLost, CommandTimeout, TransferFailed, TransferRefused,
                 BaudNegotiationFailed, CommandFailed)


@dataclass
class Setbacks:
    modem: Modem
    plan: Plan
    moves: Moves
    emit: EventSink
    max_restarts: int
    record: StepRecorder | None = None
    restarts: int = 0
    retried: set[str] = field(default_factory=set)
    cfun_before: int | None = None  # the radio as the run found it (read by `prepare`)

    def radio_was(self, cfun: int | None) -> None:
        self.cfun_before = cfun

    def go_back(self, index: int, error: SqnflashError) -> int | None:
        """The step to continue from after `error` in step `index`, when going back can still
        finish the upgrade: the modem rebooted under the run (a new session, from the step its
        mode allows), or applying failed (send once more). None: stop with `error`."""
        if self.restarts >= self.max_restarts or isinstance(error, Interrupted):
            return None
        found: tuple[int | None, str] | None = None
        if isinstance(error, _REBOOT_SIGNS):
            found = self._after_reboot(index, error)
        elif isinstance(error, (ApplyInterrupted, ModeSwitchFailed)):
            found = self._once_more(index, error)
        back, why = found if found is not None else (None, "")
        if back is None:
            return None
        self.restarts += 1
        redo = self.plan.steps[back]
        self.emit(Note(f"{why}: going back to '{redo.title}'", "warning"))
        if self.record is not None:
            for undone in self.plan.steps[back:index + 1]:
                self.record.step_undone(undone.id)
            self.record.forget_transfer()
        return back

    def _after_reboot(self, index: int, error: SqnflashError) -> tuple[int | None, str] | None:
        step = self.plan.steps[index]
        if error.details.get("answers_at") is False:
            # Nothing answered STP or AT: the modem may still hold the session, which keeps it
            # from taking commands. End it, then look for the modem once more.
            close_session(self.modem, attempts=SILENT_CLOSE_ATTEMPTS)
            mode = self.moves.mode_now(SILENT_LOOK_S)
        else:
            mode = self.moves.mode_now()
        if mode is None:
            error.details["silent"] = True
            if error.modem_state is None and isinstance(error, TransferError):
                error.modem_state = _SILENT_STATE
            return None
        if isinstance(error, CommandFailed) and mode in START_MODES[step.id]:
            return None  # refused where it should have been accepted: not a reboot
        return (restart_index(self.plan, mode, index),
                f"{error.cause}; the modem is in {mode.label}")

    def _once_more(self, index: int, error: SqnflashError) -> tuple[int | None, str] | None:
        # (Not ApplyFailed: a modem that checked the image and said no says it again.)
        step = self.plan.steps[index]
        if isinstance(error, ModeSwitchFailed) and step.id != StepId.SEND_UPDATER:
            return None
        if step.id in self.retried:
            return None  # once: a second failure is the image's, not the line's
        target = retry_index(self.plan, index)
        mode = self.moves.mode_now()
        if target is None or mode is None:
            return None
        if mode not in START_MODES[self.plan.steps[target].id]:
            target = restart_index(self.plan, mode, index)
        self.retried.add(step.id)
        return target, error.cause

    def rollback(self, error: SqnflashError) -> None:
        """Before the point of no return: back into the application, radio as it was."""
        # A modem that was just waited for in vain is not waited for as long again, and after
        # Ctrl-C the user wants out.
        interrupted = isinstance(error, Interrupted)
        if interrupted:
            look = INTERRUPTED_ANSWER_S
        elif isinstance(error, NoResponse) or error.details.get("silent"):
            look = ROLLBACK_LOOK_S
        else:
            look = self.moves.reboot_s
        try:
            if error.details.get("step") in TRANSFER_STEPS and not error.details.get("silent"):
                # A transfer cut short may leave the modem inside its STP session, where it
                # answers no AT command: end it first (a modem in AT mode ignores the frames).
                close_session(self.modem, attempts=1 if interrupted else SILENT_CLOSE_ATTEMPTS)
            mode = self.modem.wait_ready(None, look)
            if mode != Mode.APPLICATION:
                self.emit(Note(f"putting the modem back into its application (it is in "
                               f"{mode.label})"))
                self.moves.switch(Mode.APPLICATION)
            if self.cfun_before is not None and self.cfun_before != 4:
                self.modem.at.try_command(f"AT+CFUN={self.cfun_before}", timeout_s=10.0)
            error.modem_state = ("unchanged: the modem runs its old firmware in the "
                                 "application, as before")
        except KeyboardInterrupt:
            return  # a second Ctrl-C: leave it where it is; modem_state says where
        except SqnflashError as problem:
            if interrupted and isinstance(problem, NoResponse):
                return  # left where the step's state line says (INTERRUPTED_ANSWER_S)
            error.modem_state = (f"{error.modem_state}; it could not be put back into its "
                                 f"application ({problem.cause}): run `sqnflash recover`")
