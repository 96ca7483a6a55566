"""The upgrade workflow: plan the steps from what the modem and the files are, then run them."""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

from sqnflash.errors import NothingToDo
from sqnflash.events import EventSink, Note, discard
from sqnflash.firmware import FirmwareFile
from sqnflash.modem import Modem, ModemInfo
from sqnflash.modem.rescue import wake_or_end_session
from sqnflash.upgrade import resume
from sqnflash.upgrade.journal import Journal
from sqnflash.upgrade.line_plan import LineSeen, is_monarch2, see_line
from sqnflash.upgrade.plan import Flow, Method, Plan, Step, make_plan
from sqnflash.upgrade.runner import Runner, Settings, UpgradeResult
from sqnflash.upgrade.steps import StepId

__all__ = ["Choices", "Flow", "Method", "Plan", "Runner", "Settings", "Step", "StepId",
           "UpgradeResult", "make_plan", "plan_for", "plan_upgrade", "upgrade"]


class Choices(TypedDict):
    """What a caller chooses for one upgrade beside the modem and the image, as `plan_upgrade`,
    `plan_for` and `upgrade` take it (`upgrade(modem, image, **choices)`), so that planning and
    upgrading with the same choices cannot drift apart."""

    updater: FirmwareFile | None
    bootrom: FirmwareFile | None
    method: Method | None
    force: bool
    allow_downgrade: bool
    allow_family_change: bool
    settings: Settings


def plan_upgrade(modem: Modem, image: FirmwareFile, *, updater: FirmwareFile | None = None,
                 bootrom: FirmwareFile | None = None, method: Method | None = None,
                 force: bool = False, allow_downgrade: bool = False,
                 allow_family_change: bool = False, settings: Settings | None = None,
                 journal: Journal | None = None) -> tuple[ModemInfo, Plan]:
    """Wake the modem, read its state and plan; nothing on the modem is changed (only `AT`,
    `AT+SMOD?`, `AT!="showver"`, `ATI1`, `AT+CGSN`, `ATI` and, with `--baud auto`,
    `AT+IPR=?` are sent). With a `journal`, what it remembers of this modem's line is planned
    with, as the upgrade would."""
    modem.wake()
    info = modem.info()
    chosen, remembered = settings or Settings(), ""
    if journal is not None:
        chosen, remembered = with_line_memory(chosen, journal.line_memory(info.imei,
                                                                          modem.link.name))
    plan = plan_for(info, image, updater=updater, bootrom=bootrom, method=method, force=force,
                    allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                    settings=chosen)
    # Once every check passed: `AT+IPR=?` too, where the run would ask it, so that the plan
    # says which rate it expects.
    seen = see_line(modem, info, chosen.rate_policy, is_monarch2(info.family, image.family))
    if seen.asked or seen.rtscts:
        plan = plan_for(info, image, updater=updater, bootrom=bootrom, method=method,
                        force=force, allow_downgrade=allow_downgrade,
                        allow_family_change=allow_family_change, settings=chosen, seen=seen)
    if remembered:
        plan.notes.append(remembered)
    return info, plan


def plan_for(info: ModemInfo, image: FirmwareFile, *, updater: FirmwareFile | None = None,
             bootrom: FirmwareFile | None = None, method: Method | None = None,
             force: bool = False, allow_downgrade: bool = False,
             allow_family_change: bool = False, settings: Settings | None = None,
             seen: LineSeen | None = None) -> Plan:
    """The plan for a modem already read (also how a Pycom board's modem is checked before the
    board bridges it); `seen` is what was seen of the line (line_plan.see_line)."""
    if (not force and info.in_application and image.build is not None
            and info.software_build == image.build):
        raise NothingToDo(f"the modem already runs build {image.build}",
                          modem_state="unchanged")
    return make_plan(info, image, updater=updater, bootrom=bootrom, method=method,
                     allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                     force=force, settings=settings or Settings(), seen=seen)


def upgrade(modem: Modem, image: FirmwareFile, *, updater: FirmwareFile | None = None,
            bootrom: FirmwareFile | None = None, method: Method | None = None,
            settings: Settings | None = None, force: bool = False,
            allow_downgrade: bool = False, allow_family_change: bool = False,
            emit: EventSink = discard, journal: Journal | None = None) -> UpgradeResult:
    """Take the modem from whatever state it is in to `image`.

    With a `journal`, every step and every transfer exchange is recorded, and an unfinished
    upgrade of the same image on the same modem continues where it stopped (upgrade/resume.py).
    """
    # the driver's own notes (fallbacks, baud changes) go to the same place as the run's
    with modem.reporting_to(emit):
        return _upgrade(modem, image, updater=updater, bootrom=bootrom, method=method,
                        settings=settings, force=force, allow_downgrade=allow_downgrade,
                        allow_family_change=allow_family_change, emit=emit, journal=journal)


def _upgrade(modem: Modem, image: FirmwareFile, *, updater: FirmwareFile | None,
             bootrom: FirmwareFile | None, method: Method | None, settings: Settings | None,
             force: bool, allow_downgrade: bool, allow_family_change: bool,
             emit: EventSink, journal: Journal | None) -> UpgradeResult:
    settings = settings or Settings()
    port = modem.link.name
    journaled = None
    if journal is not None:
        record = journal.unfinished(image_sha256=image.sha256, port=port)
        if record is not None:
            journaled = resume.rebuild(record, image, updater=updater, bootrom=bootrom,
                                       settings=settings, allow_downgrade=allow_downgrade,
                                       allow_family_change=allow_family_change)
    if journal is not None and journaled is not None:
        runner = _resume_held(modem, port, journal, journaled, image, settings, emit)
        if runner is not None:
            return runner.run()
    wake_or_end_session(modem)  # an upgrade may end a session an earlier run left open
    info = modem.info()
    if info.imei:  # one owner per modem, also when it is reachable through another port
        modem.link.claim_modem(info.imei)
    if journal is not None and journaled is not None:
        runner = _resume_from(info, modem, port, journal, journaled, image, settings, emit)
        if runner is not None:
            return runner.run()
    if journal is not None:
        settings, remembered = with_line_memory(settings, journal.line_memory(info.imei, port))
        if remembered:
            emit(Note(remembered))
    plan = plan_for(info, image, updater=updater, bootrom=bootrom, method=method, force=force,
                    allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                    settings=settings)
    record = None if journal is None else journal.begin(
        imei=info.imei, port=port, image_name=image.name, image_sha256=image.sha256,
        image_size=image.size, updater_sha256=updater.sha256 if updater else None,
        flow=plan.flow.value, method=plan.method.value, steps=[s.id for s in plan.steps],
        plan=plan.to_dict(), before=info.to_dict())
    return Runner(modem, plan, info, emit=emit, settings=settings, record=record).run()


def _resume_held(modem: Modem, port: str, journal: Journal, journaled: resume.Journaled,
                 image: FirmwareFile, settings: Settings, emit: EventSink) -> Runner | None:
    """The interrupted upgrade continued inside the transfer session the modem still holds;
    None when it holds none (nothing has been sent to the modem but STP probes)."""
    record = journaled.record
    if record.imei:  # before a byte goes to it: is that modem in use elsewhere?
        modem.link.claim_modem(record.imei)
    # A Monarch 2 session left at a faster rate goes on only with RTS/CTS (modem/flow.py).
    modem.use_flow_control_of(image.family, check=False)
    held = resume.held_transfer(modem, journaled, settings)
    if held is None:
        if record.transfer is not None and record.transfer.in_session:
            emit(Note(f"the modem no longer holds the transfer session the interrupted upgrade "
                      f"left at byte {record.transfer.offset}: that transfer restarts cleanly "
                      "from the start", "warning"))
        return None
    upload = held.upload
    emit(Note(f"continuing the interrupted upgrade to {image.name}: the modem still "
              f"holds the transfer session, so the transfer goes on from byte "
              f"{upload.sent_from} of {upload.master.total} (at most one block is sent "
              "again)"))
    step = journaled.plan.steps[journaled.index(held.step)]
    found = {"mode_label": f"inside the transfer session of '{step.title}' that the "
                           "interrupted run left open", "imei": record.imei}
    return Runner(modem, journaled.plan, journaled.before, emit=emit, settings=settings,
                  record=journal.resume(record, port=port, imei=None),
                  start_at=journaled.index(held.step), held=held, found=found)


def _resume_from(info: ModemInfo, modem: Modem, port: str, journal: Journal,
                 journaled: resume.Journaled, image: FirmwareFile, settings: Settings,
                 emit: EventSink) -> Runner | None:
    """The interrupted upgrade continued from the step the modem's state `info` shows it
    stopped at; None when it must be planned again."""
    record = journaled.record
    same_modem = not (info.imei and record.imei and info.imei != record.imei)
    going_on = resume.continuation(journaled, info, modem) if same_modem else None
    if going_on is not None:
        step = journaled.plan.steps[going_on.start_at]
        done = going_on.start_at
        emit(Note(f"continuing the interrupted upgrade to {image.name} from step "
                  f"{done + 1} of {len(journaled.plan.steps)}, '{step.title}' (the modem is "
                  f"in {info.mode.label}; {done} step(s) already done)"))
        return Runner(modem, journaled.plan, journaled.before, emit=emit, settings=settings,
                      record=journal.resume(record, port=port, imei=info.imei),
                      start_at=going_on.start_at, found=info.to_dict(),
                      apply_in_progress=going_on.apply_in_progress)
    if same_modem:
        emit(Note(f"an interrupted upgrade to {image.name} is in the journal, but the modem "
                  f"is in {info.mode.label}, not where it stopped: planning again from its "
                  "current state"))
    return None


def with_line_memory(settings: Settings, facts: dict[str, Any]) -> tuple[Settings, str]:
    """`settings` with what the journal remembers of the line to this modem (Settings), and
    what that is in words ("" when it remembers nothing that counts)."""
    failed = frozenset(int(b) for b in facts.get("failed_bauds", ()) if isinstance(b, int))
    block = facts.get("largest_block")
    said: list[str] = []
    if failed and settings.auto_baud:
        said.append(f"{', '.join(str(b) for b in sorted(failed))} baud failed on it before "
                    "and is not tried again")
    known = block if isinstance(block, int) and settings.block_size is None else None
    if known is not None:
        said.append(f"it answered blocks of {known} bytes"
                    + (" and no larger" if facts.get("block_ceiling") else ""))
    text = "the journal remembers this modem's line: " + "; ".join(said) if said else ""
    return dataclasses.replace(settings, avoid_bauds=failed, known_block=known,
                               block_ceiling=bool(facts.get("block_ceiling"))), text
