"""Bring a modem back to a working application, from whatever state it was left in.

What Pycom users call a bricked modem is almost always a modem waiting in RECOVERY or in the boot
loader after an upgrade was cut short. `recover` finds out which, and does only what that state
needs, saying why at each step:

1. Find the modem: `AT` at every rate, the `+++` escape, and an abandoned STP session (closed, so
   that the modem takes commands again). A modem still applying an image is left to finish.
2. In the application there is nothing to bring back (a radio an interrupted upgrade switched off
   is switched on again).
3. In the boot loader (FFH), only an ELF gets the modem out: `updater.elf` is loaded.
4. From RECOVERY or the updater, the application is tried first (`AT+SMSWBOOT=1,1`): an upgrade
   stopped before the image was written left it intact, and then nothing has to be sent.
5. If the modem comes back in RECOVERY, the application is gone: the full image is written
   ON_THE_FLY, applied, and the modem switched back to it, exactly as a resumed upgrade does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqnflash.errors import (
    ModeSwitchFailed,
    RecoverNeedsImage,
    SqnflashError,
    UpdaterRequired,
)
from sqnflash.events import EventSink, Note, StepFinished, StepStarted, discard
from sqnflash.firmware import FileKind, FirmwareFile
from sqnflash.firmware.names import family_of_lr
from sqnflash.modem import Modem, ModemInfo
from sqnflash.modem.rescue import read_cfun, wait_not_applying, wake_or_end_session
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.upgrade.journal import Journal
from sqnflash.upgrade.plan import (
    Flow,
    Method,
    Plan,
    Step,
    make_plan,
    monarch2_boot_loader_steps,
)
from sqnflash.upgrade.runner import Runner, Settings
from sqnflash.upgrade.steps import StepId

_RESTART = "the modem is where it was: run the same command again"
STEP_FINISH = Step(StepId.FINISH_APPLY, "Let the modem finish applying",
                   "it is still applying an image; interrupting that would damage it", _RESTART)
STEP_NEGOTIATE = Step(StepId.NEGOTIATE_BAUD, "Negotiate the baud rate",
                      "the boot loader starts at 115200 baud; the updater loads faster", _RESTART)
STEP_UPDATER = Step(StepId.SEND_UPDATER, "Load updater.elf",
                    "the boot loader (FFH) runs nothing else: only an ELF gets the modem out",
                    _RESTART)
STEP_TRY_APP = Step(StepId.TRY_APPLICATION, "Reboot into the application",
                    "an upgrade stopped before the image was written leaves the application "
                    "intact: then nothing has to be sent", _RESTART)
STEP_RADIO = Step(StepId.RADIO_ON, "Switch the radio back on",
                  "an interrupted upgrade leaves it off (AT+CFUN=4)", _RESTART)


@dataclass
class RecoverResult:
    before: ModemInfo
    after: ModemInfo
    actions: list[str] = field(default_factory=list)
    reflashed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"type": "result", "ok": True, "before": self.before.to_dict(),
                "after": self.after.to_dict(), "actions": list(self.actions),
                "reflashed": self.reflashed}


class Recovery:
    def __init__(self, modem: Modem, image: FirmwareFile | None, updater: FirmwareFile | None, *,
                 settings: Settings | None, emit: EventSink, journal: Journal | None) -> None:
        self.modem = modem
        self.image = image
        self.updater = updater
        self.settings = settings or Settings()
        self.emit = emit
        self.journal = journal
        self.actions: list[str] = []

    def _step(self, step: Step) -> float:
        self.emit(StepStarted(step.id, step.title, step.reason))
        self.actions.append(step.id)
        return self.modem.link.clock.now()

    def _done(self, step: Step, since: float, outcome: str = "done") -> None:
        self.emit(StepFinished(step.id, step.title, self.modem.link.clock.now() - since,
                               outcome))

    def run(self) -> RecoverResult:
        modem = self.modem
        wake_or_end_session(modem)
        before = modem.info()
        if before.imei:  # one owner per modem, also when it is reachable through another port
            modem.link.claim_modem(before.imei)
        self.emit(Note(f"found the modem: {before.describe_state()}"))
        mode = before.mode
        if mode == Mode.APPLICATION:
            self._radio_on()
            after = modem.info()
            self.emit(Note(f"the modem runs its application (build {after.software_build}): "
                           "nothing to recover"))
            return RecoverResult(before, after, self.actions)
        if mode != Mode.FFH and modem.upgrade_report().state == at.UpgradeState.ONGOING:
            since = self._step(STEP_FINISH)
            mode = wait_not_applying(modem, self.settings.apply_timeout_s)
            self._done(STEP_FINISH, since)
            if mode == Mode.APPLICATION:
                after = modem.info()
                return RecoverResult(before, after, self.actions)
        if mode == Mode.FFH:
            self._load_updater(before)
        if self._try_application():
            self._radio_on()
            after = modem.info()
            self.emit(Note(f"the application was intact: the modem runs build "
                           f"{after.software_build} again"))
            return RecoverResult(before, after, self.actions)
        return self._reflash(before)

    def _radio_on(self) -> None:
        if read_cfun(self.modem) != 4:
            return
        since = self._step(STEP_RADIO)
        self.modem.at.try_command("AT+CFUN=1", timeout_s=10.0)
        self._done(STEP_RADIO, since)

    def _load_updater(self, before: ModemInfo) -> None:
        if self.updater is None:
            # The boot loader does not say its chip; only an image given tells which ELF.
            family = self.image.family if self.image is not None else None
            if family == "Monarch 2":
                elf, advice = "mtools.elf", ("Pass --updater mtools.elf from the Monarch 2 "
                                             "firmware package of the image.")
            elif family is not None:
                elf, advice = "updater.elf", ("Pass --updater updater.elf from the firmware "
                                              "package (zip) of the image.")
            else:
                elf, advice = "an ELF", ("Pass --updater with updater.elf (Monarch 1, from the "
                                         "zip of the image) or mtools.elf (Monarch 2).")
            pycom = "" if family == "Monarch 2" else ", Pycom's 'recovery mode'"
            raise UpdaterRequired(
                f"the modem is in the boot loader (FFH{pycom}), which runs nothing but an ELF: "
                f"{elf} is needed to get it out",
                advice=advice, modem_state="in the boot loader (FFH); nothing was changed")
        placeholder = self.image or self.updater
        steps = [STEP_NEGOTIATE, STEP_UPDATER]
        if family_of_lr(self.updater.lr_version) == "Monarch 2":  # the ELF says the chip
            steps = monarch2_boot_loader_steps(steps, self.updater.name)
        plan = Plan(Flow.RESUME_FFH, Method.ON_THE_FLY, steps, placeholder, self.updater)
        Runner(self.modem, plan, before, emit=self.emit, settings=self.settings).run()
        self.actions += [StepId.NEGOTIATE_BAUD, StepId.SEND_UPDATER]

    def _try_application(self) -> bool:
        since = self._step(STEP_TRY_APP)
        try:
            self.modem.reboot_into(Mode.APPLICATION, self.settings.reboot_timeout_s)
        except ModeSwitchFailed as error:
            self.emit(Note(f"{error.cause}: the application is gone and has to be written "
                           "again", "warning"))
            self._done(STEP_TRY_APP, since, "failed")
            return False
        self._done(STEP_TRY_APP, since)
        return True

    def _reflash(self, before: ModemInfo) -> RecoverResult:
        image = self.image
        if image is None or image.kind != FileKind.FULL:
            what = "no image was given" if image is None else \
                f"{image.name} is a differential image, which patches an application"
            mode = self.modem.mode_seen or before.mode
            raise RecoverNeedsImage(
                f"the modem's application is gone ({what})",
                modem_state=f"in {mode.label}, waiting for a full image")
        info = self.modem.info()
        plan = make_plan(info, image, updater=None, method=Method.ON_THE_FLY,
                         allow_downgrade=True, allow_family_change=True,
                         settings=self.settings)
        record = None
        if self.journal is not None:
            record = self.journal.begin(
                imei=before.imei, port=self.modem.link.name, image_name=image.name,
                image_sha256=image.sha256, image_size=image.size, updater_sha256=None,
                flow=plan.flow.value, method=plan.method.value,
                steps=[s.id for s in plan.steps], plan=plan.to_dict(), before=info.to_dict())
        result = Runner(self.modem, plan, info, emit=self.emit, settings=self.settings,
                        record=record).run()
        self.actions += [s.id for s in plan.steps]
        return RecoverResult(before, result.after, self.actions, reflashed=True)


def recover(modem: Modem, image: FirmwareFile | None = None, *,
            updater: FirmwareFile | None = None, settings: Settings | None = None,
            emit: EventSink = discard, journal: Journal | None = None) -> RecoverResult:
    """Bring `modem` back to a working application (see the module docstring)."""
    try:
        with modem.reporting_to(emit):
            return Recovery(modem, image, updater, settings=settings, emit=emit,
                            journal=journal).run()
    except SqnflashError as error:
        error.details.setdefault("command", "recover")
        raise
