"""Continue an interrupted upgrade from its journal instead of starting over.

Running the same `sqnflash upgrade` again after a crash, a Ctrl-C, a pulled cable or a power
loss finds the unfinished upgrade of the same image on the same modem in the journal and picks
the step to continue from:

1. If it stopped inside a transfer, the modem may still hold that STP session: the pending
   request is sent again (modem/rescue.py). An answer means the transfer continues from the last
   confirmed byte; at most one block is sent twice.
2. Otherwise the modem is read as usual, and its mode (and, around the apply phase, its
   `AT+SMUPGRADE?` report) says which step of the journaled plan it is ready for: an image that
   was sent completely is not sent again, a modem that finished applying goes on to the switch
   back to the application, a modem found back at an earlier stage goes back to that stage.
3. If the modem is somewhere the journaled plan cannot continue from, a new plan is made from the
   mode it is in, as for any upgrade (and the output says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqnflash.errors import SqnflashError
from sqnflash.firmware import BlockSource, FileSource, FirmwareFile
from sqnflash.firmware.compress import ZlibSource
from sqnflash.modem import Modem, ModemInfo
from sqnflash.modem.rescue import held_session
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP
from sqnflash.upgrade.journal import UpgradeRecord
from sqnflash.upgrade.plan import Method, Plan, make_plan
from sqnflash.upgrade.runner import HeldTransfer, Settings
from sqnflash.upgrade.safety import START_MODES, restart_index
from sqnflash.upgrade.steps import StepId

_UPGRADE_MODES = START_MODES[StepId.SEND_IMAGE]


@dataclass
class Journaled:
    """An unfinished upgrade rebuilt from its journal record with today's files."""

    record: UpgradeRecord
    before: ModemInfo
    plan: Plan

    def index(self, step: StepId | str) -> int:
        """Where `step` (an id, or its value as the journal stores it) is in the plan."""
        return [s.id for s in self.plan.steps].index(StepId(step))

    def first_not_done(self) -> int | None:
        for index, step in enumerate(self.plan.steps):
            if step.id not in self.record.completed:
                return index
        return None


def info_from_dict(data: dict[str, object]) -> ModemInfo:
    def number(key: str) -> int | None:
        value = data.get(key)
        return int(str(value)) if value is not None else None

    def text(key: str) -> str | None:
        value = data.get(key)
        return str(value) if value is not None else None

    return ModemInfo(mode=Mode(int(str(data["smod"]))), baud=int(str(data["baud"])),
                     software_build=number("software_build"),
                     software_version=text("software_version"),
                     bootrom_build=number("bootrom_build"), lr_version=text("lr_version"),
                     ue_version=text("ue_version"), imei=text("imei"))


def rebuild(record: UpgradeRecord, image: FirmwareFile, *, updater: FirmwareFile | None,
            bootrom: FirmwareFile | None, settings: Settings, allow_downgrade: bool,
            allow_family_change: bool) -> Journaled | None:
    """The journaled plan, made again from the journaled modem state and today's files; None
    when the files or the planner changed since (the steps would not be the same)."""
    if record.image_sha256 != image.sha256:
        return None
    if record.updater_sha256 is not None and (updater is None
                                              or updater.sha256 != record.updater_sha256):
        return None
    try:
        before = info_from_dict(record.before)
        plan = make_plan(before, image, updater=updater, bootrom=bootrom,
                         method=Method(record.method), allow_downgrade=allow_downgrade,
                         allow_family_change=allow_family_change, settings=settings)
    except (SqnflashError, ValueError, KeyError):
        return None
    if [step.id for step in plan.steps] != record.steps:
        return None
    return Journaled(record, before, plan)


def held_transfer(modem: Modem, journaled: Journaled, settings: Settings) -> HeldTransfer | None:
    """The interrupted transfer, if the modem still holds its session (nothing else is sent)."""
    record = journaled.record
    point, step_id = record.transfer, record.transfer_step
    if point is None or step_id is None or step_id in record.completed:
        return None
    step_ids = [s.id for s in journaled.plan.steps]
    if step_id not in step_ids:
        return None
    source = _source_of(journaled.plan, step_id)
    if source is None:
        return None
    if (step_id == StepId.SEND_IMAGE and point.total != source.size
            and journaled.plan.image.family == "Monarch 2"):
        # A Monarch 2 image goes as a zlib stream: the checkpoint counts the stream's bytes.
        zipped = ZlibSource(source)
        if zipped.size == point.total:
            source = zipped
    upload = held_session(modem, point, source, baud=record.transfer_baud or modem.link.baud,
                          block_cap=settings.block_size or PYCOM_BLOCK_CAP,
                          retries=settings.retries)
    if upload is None:
        if isinstance(source, (FileSource, ZlibSource)):
            source.close()
        return None
    return HeldTransfer(step_id, upload)


def _source_of(plan: Plan, step_id: str) -> BlockSource | None:
    if step_id in (StepId.SEND_IMAGE, StepId.STORE_IMAGE):
        return plan.image.source()
    if step_id == StepId.SEND_UPDATER and plan.updater is not None:
        return plan.updater.source()
    if step_id == StepId.SEND_BOOTROM:
        return plan.bootrom
    return None


@dataclass(frozen=True)
class Continuation:
    start_at: int
    apply_in_progress: bool = False  # the stored image is being applied: do not ask again


def continuation(journaled: Journaled, info: ModemInfo, modem: Modem) -> Continuation | None:
    """The step to continue from, given the mode the modem is in now; None to plan afresh."""
    first = journaled.first_not_done()
    record = journaled.record
    if first is None or (first == 0 and record.current_step is None):
        return None
    ids = [step.id for step in journaled.plan.steps]
    step, mode = ids[first], info.mode
    expected = journaled.plan.expected_build

    def report() -> at.UpgradeState:
        return modem.upgrade_report().state

    def upgraded() -> bool:
        return mode == Mode.APPLICATION and expected is not None \
            and info.software_build == expected

    if step == StepId.APPLY_STORED:
        # The updater applies a stored image; which number it reports is not documented.
        if mode == Mode.UPDATER or ((mode == Mode.APPLICATION or mode in _UPGRADE_MODES)
                                    and report() == at.UpgradeState.ONGOING):
            return Continuation(first, apply_in_progress=True)
        if upgraded():
            return Continuation(journaled.index(StepId.VERIFY))
        if mode == Mode.APPLICATION:
            return Continuation(journaled.index(StepId.STORE_IMAGE))  # send it again
        return None
    if (step in (StepId.SEND_IMAGE, StepId.APPLY, StepId.SWITCH_APPLICATION)
            and mode in _UPGRADE_MODES):
        state = report()
        sent = step != StepId.SEND_IMAGE or (record.transfer is not None
                                        and record.transfer.state == "close")
        if sent and state in (at.UpgradeState.ONGOING, at.UpgradeState.SUCCESS):
            if step == StepId.SEND_IMAGE or (step == StepId.SWITCH_APPLICATION
                                        and state == at.UpgradeState.ONGOING):
                return Continuation(journaled.index(StepId.APPLY))
            return Continuation(first)
        return Continuation(journaled.index(StepId.SEND_IMAGE))
    if step in (StepId.APPLY, StepId.SWITCH_APPLICATION, StepId.VERIFY) and upgraded():
        return Continuation(journaled.index(StepId.VERIFY))
    if mode in START_MODES[step]:
        return Continuation(first)
    back = restart_index(journaled.plan, mode, first)
    return Continuation(back) if back is not None else None
