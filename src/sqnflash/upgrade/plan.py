"""Decide, before anything is changed, which steps take this modem to this image, and why.

The three flows of docs/protocol.md §6 and the two resumes are each a list of steps; which one
applies follows from the mode the modem is in, its bootrom, the image and the method. Anything that
would make the upgrade fail later is refused here, while the modem is still untouched.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqnflash.errors import (
    BadOption,
    BootromRequired,
    ImageTooLarge,
    UnknownMode,
    UpdaterRequired,
)
from sqnflash.firmware import BlockSource, FileKind, FirmwareFile
from sqnflash.modem import OLD_BOOTROM_BUILD, ModemInfo
from sqnflash.protocol.modes import Mode
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP
from sqnflash.upgrade import estimate
from sqnflash.upgrade.line_plan import LinePlan, LineSeen, is_monarch2, plan_line
from sqnflash.upgrade.preflight import preflight
from sqnflash.upgrade.settings import Settings
from sqnflash.upgrade.steps import StepId


class Method(str, Enum):
    FFF = "fff"  # store the image in the modem's file system, then AT+SMUPGRADE
    ON_THE_FLY = "on-the-fly"  # write the image straight to flash from RECOVERY or the updater


class Flow(str, Enum):
    APPLICATION = "application"
    OLD_BOOTROM = "old-bootrom"
    RESUME_FFH = "resume-from-boot-loader"
    RESUME_RECOVERY = "resume-from-upgrade-mode"


@dataclass(frozen=True)
class Step:
    id: StepId
    title: str
    reason: str
    if_interrupted: str  # the modem's state if this step is cut short
    estimate_s: float = 0.0  # typical duration at the plan's baud rate

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "reason": self.reason,
                "estimate_s": round(self.estimate_s, 1)}


@dataclass
class Plan:
    flow: Flow
    method: Method
    steps: list[Step]
    image: FirmwareFile
    updater: FirmwareFile | None = None
    bootrom: BlockSource | None = None
    bootrom_source: str = ""
    notes: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # the preflight checks that passed
    baud: int = 0  # the rate the estimates assume for the image's transfer
    block_size: int = PYCOM_BLOCK_CAP
    line: LinePlan | None = None  # the line expected, and why

    @property
    def expected_build(self) -> int | None:
        return self.image.expected_build

    @property
    def estimate_s(self) -> float:
        return sum(step.estimate_s for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow.value,
            "method": self.method.value,
            "steps": [s.to_dict() for s in self.steps],
            "image": self.image.to_dict(),
            "updater": self.updater.to_dict() if self.updater else None,
            "bootrom_source": self.bootrom_source or None,
            "expected_build": self.expected_build,
            "notes": list(self.notes),
            "checks": list(self.checks),
            "baud": self.baud,
            "estimate_s": round(self.estimate_s, 1),
            "line": self.line.to_dict() if self.line is not None else None,
        }


_UNCHANGED = "unchanged: the modem still runs its old firmware"
_RESUME = "Run the same sqnflash upgrade command again: it continues from the mode the modem is in."
_IN_RECOVERY = f"in RECOVERY (upgrade mode) waiting for an image. {_RESUME}"
_IN_FFH = ("in the boot loader (FFH) waiting for updater.elf. Run the same command again with "
           "--updater: it continues from there.")


def _steps(*ids: StepId, image: FirmwareFile) -> list[Step]:
    name = image.name
    catalogue = {
        StepId.PREPARE: Step(StepId.PREPARE, "Prepare the modem",
                        "echo off and radio off so nothing interferes with the transfer",
                        _UNCHANGED),
        StepId.SWITCH_RECOVERY: Step(StepId.SWITCH_RECOVERY, "Reboot into RECOVERY",
                                "ON_THE_FLY writes the image to flash from RECOVERY mode",
                                _IN_RECOVERY),
        StepId.SEND_BOOTROM: Step(StepId.SEND_BOOTROM, "Flash the new bootrom",
                             "bootrom 33080 cannot boot the updater; the new one can",
                             _IN_RECOVERY),
        StepId.SWITCH_FFH: Step(StepId.SWITCH_FFH, "Reboot into the boot loader (FFH)",
                           "the updater is loaded into the boot loader", _IN_FFH),
        StepId.NEGOTIATE_BAUD: Step(StepId.NEGOTIATE_BAUD, "Negotiate the baud rate",
                               "the boot loader starts at 115200 baud; the transfer runs faster",
                               _IN_FFH),
        StepId.SEND_UPDATER: Step(StepId.SEND_UPDATER, "Load updater.elf",
                             "the updater writes the full image to flash", _IN_FFH),
        StepId.STORE_IMAGE: Step(StepId.STORE_IMAGE, f"Send {name} to the modem's file system",
                            "images up to 4 MiB are stored first, then applied by the modem "
                            "(FFF method)",
                            "in the application with a partial upgrade file; nothing was "
                            "changed. " + _RESUME),
        StepId.APPLY_STORED: Step(StepId.APPLY_STORED, "Apply the stored image",
                             "AT+SMUPGRADE makes the modem reboot into its updater and apply it",
                             "applying the image: leave it powered for a few minutes, then run "
                             "`sqnflash info`; if it stays in RECOVERY, run the upgrade again"),
        StepId.SEND_IMAGE: Step(StepId.SEND_IMAGE, f"Send {name} ON_THE_FLY",
                           "the image is written to flash as it arrives",
                           "in RECOVERY with a partly written image: the application will not "
                           "start. " + _RESUME),
        StepId.APPLY: Step(StepId.APPLY, "Wait for the modem to finish the upgrade",
                      "the modem checks and installs the image",
                      "finishing the upgrade: leave it powered for a few minutes, then run the "
                      "same command again"),
        StepId.SWITCH_APPLICATION: Step(StepId.SWITCH_APPLICATION, "Reboot into the application",
                                   "the new firmware runs after a reboot into FFF",
                                   "upgraded but still in RECOVERY: run `sqnflash recover`"),
        StepId.VERIFY: Step(StepId.VERIFY, "Check the new version",
                       "the modem must report the build the image installs",
                       "upgraded; the version check did not finish: run `sqnflash info`"),
    }
    return [catalogue[i] for i in ids]


def choose_method(info: ModemInfo, image: FirmwareFile, forced: Method | None) -> Method:
    if image.kind == FileKind.DIFF:
        if forced == Method.ON_THE_FLY:
            raise BadOption("a differential image cannot be sent ON_THE_FLY",
                            advice="Drop --method: differential images use the FFF method.")
        return Method.FFF
    if forced == Method.FFF and not image.fits_store:
        raise ImageTooLarge(f"{image.name} has {image.size} bytes; the FFF method stores at most "
                            "4 MiB")
    if forced is not None:
        return forced
    if image.family == "Monarch 2" and image.kind == FileKind.FULL:
        # Every published Monarch 2 flow (pysequans, Walter) writes a full image ON_THE_FLY in
        # RECOVERY; none stores one in the application.
        return Method.ON_THE_FLY
    if info.mode == Mode.APPLICATION and image.fits_store:
        return Method.FFF
    return Method.ON_THE_FLY


def make_plan(info: ModemInfo, image: FirmwareFile, *, updater: FirmwareFile | None = None,
              bootrom: FirmwareFile | None = None, method: Method | None = None,
              allow_downgrade: bool = False, allow_family_change: bool = False,
              baud: int | None = None, block_size: int | None = PYCOM_BLOCK_CAP,
              force: bool = False, settings: Settings | None = None,
              seen: LineSeen | None = None) -> Plan:
    """The steps that take the modem described by `info` to `image`, each with its reason and
    estimated duration, and the checks that passed; raises when a check refuses.

    The line is the one `settings` asks for (without them: `baud` is the rate transfers from the
    boot loader are negotiated to, the others run at the rate the modem answers at, `info.baud`,
    with blocks of `block_size`), as `seen` before the plan."""
    checked = preflight(info, image, updater=updater, bootrom=bootrom,
                        method=method.value if method else None,
                        allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                        force=force)
    if method is None and checked.required_method is not None:
        method = Method(checked.required_method)
    steps = _choose_steps(info, image, updater=updater, bootrom=bootrom, method=method)
    chosen = settings or Settings(baud=baud or info.baud, block_size=block_size)
    ids = {step.id for step in steps.steps}
    line = plan_line(info, image, policy=chosen.rate_policy, seen=seen or LineSeen(),
                     through_boot_loader=StepId.NEGOTIATE_BAUD in ids,
                     forced_block=chosen.block_size, known_block=chosen.known_block,
                     block_ceiling=chosen.block_ceiling,
                     compress=chosen.compress and StepId.SEND_IMAGE in ids,
                     avoided=chosen.avoid_bauds)
    return _estimated(dataclasses.replace(
        steps, checks=checked.checks, notes=checked.notes + steps.notes,
        block_size=chosen.block_size or PYCOM_BLOCK_CAP, line=line), line)


def _estimated(plan: Plan, line: LinePlan) -> Plan:
    """`plan` with each step's typical duration, at the rates, block sizes and wire sizes the
    line is expected to have (LinePlan)."""
    rate = line.transfer.rate
    first, largest = line.blocks.first, line.blocks.largest
    fixed = {StepId.PREPARE: estimate.PREPARE_S, StepId.SWITCH_RECOVERY: estimate.REBOOT_S,
             StepId.SWITCH_FFH: estimate.REBOOT_S, StepId.SWITCH_APPLICATION: estimate.REBOOT_S,
             StepId.NEGOTIATE_BAUD: estimate.NEGOTIATE_S, StepId.APPLY: estimate.APPLY_S,
             StepId.APPLY_STORED: estimate.APPLY_S + estimate.REBOOT_S,
             StepId.VERIFY: estimate.VERIFY_S}
    steps = []
    for step in plan.steps:
        seconds = fixed.get(step.id, 0.0)
        if step.id == StepId.NEGOTIATE_BAUD and line.boot_loader is not None:
            rate = line.boot_loader.rate
        elif step.id == StepId.SEND_BOOTROM and plan.bootrom is not None:
            seconds = estimate.transfer_s(plan.bootrom.size, rate, largest,
                                          first_block=first) + estimate.BOOTROM_WRITE_S
        elif step.id == StepId.SEND_UPDATER and plan.updater is not None:
            seconds = estimate.transfer_s(plan.updater.size, rate, largest,
                                          estimate.BOOT_LOADER_MAX_TRANSFER,
                                          first_block=first) + estimate.UPDATER_START_S
        elif step.id in (StepId.STORE_IMAGE, StepId.SEND_IMAGE):
            size = line.wire_bytes if step.id == StepId.SEND_IMAGE else plan.image.size
            seconds = estimate.transfer_s(size, line.image.rate, largest, first_block=first)
        steps.append(dataclasses.replace(step, estimate_s=seconds))
    return dataclasses.replace(plan, steps=steps, baud=line.image.rate)


def _choose_steps(info: ModemInfo, image: FirmwareFile, *, updater: FirmwareFile | None,
                  bootrom: FirmwareFile | None, method: Method | None) -> Plan:
    mode = info.mode
    if mode == Mode.APPLICATION and info.old_bootrom:
        return _old_bootrom_plan(info, image, updater, bootrom)
    if mode == Mode.APPLICATION:
        chosen = choose_method(info, image, method)
        ids: tuple[str, ...]
        if chosen == Method.FFF:
            ids = (StepId.PREPARE, StepId.STORE_IMAGE, StepId.APPLY_STORED, StepId.VERIFY)
        else:
            ids = (StepId.PREPARE, StepId.SWITCH_RECOVERY, StepId.SEND_IMAGE, StepId.APPLY,
                   StepId.SWITCH_APPLICATION, StepId.VERIFY)
        plan = Plan(Flow.APPLICATION, chosen, _steps(*ids, image=image), image)
        if updater is not None:
            plan.notes.append(_elf_not_needed(info, image, updater))
        return plan
    if image.kind == FileKind.DIFF:
        raise BadOption(f"the modem is in {mode.label}, where only a full image can be applied",
                        advice="Give the full image (CATM1-<build>.dup or NB1-<build>.dup).")
    if method == Method.FFF:
        raise BadOption(f"the FFF method needs the application; the modem is in {mode.label}",
                        advice="Drop --method: sqnflash sends the image ON_THE_FLY.")
    if mode == Mode.FFH:
        if updater is None and is_monarch2(info.family, image.family):
            # In FFH the modem does not say its chip; a Monarch 2 image says it for it.
            raise UpdaterRequired(
                "the modem is in the boot loader (FFH) and, for a Monarch 2, needs mtools.elf "
                "loaded (AT+STP, SMOD 0 -> 1) before it can take the image ON_THE_FLY",
                advice="Pass --updater mtools.elf from the same Monarch 2 firmware package as "
                       "the image.",
                modem_state="in the boot loader (FFH); nothing was changed")
        if updater is None:
            raise UpdaterRequired(
                "the modem is in the boot loader (FFH, Pycom's 'recovery mode') and needs "
                "updater.elf before it can take an image",
                modem_state="in the boot loader (FFH); nothing was changed")
        ids = (StepId.NEGOTIATE_BAUD, StepId.SEND_UPDATER, StepId.SEND_IMAGE, StepId.APPLY,
               StepId.SWITCH_APPLICATION, StepId.VERIFY)
        steps = _steps(*ids, image=image)
        if is_monarch2(info.family, image.family):
            steps = monarch2_boot_loader_steps(steps, updater.name)
        return Plan(Flow.RESUME_FFH, Method.ON_THE_FLY, steps, image, updater)
    if mode in (Mode.RECOVERY, Mode.UPDATER, Mode.FFH_TOOL):
        ids = (StepId.SEND_IMAGE, StepId.APPLY, StepId.SWITCH_APPLICATION, StepId.VERIFY)
        plan = Plan(Flow.RESUME_RECOVERY, Method.ON_THE_FLY,
                    _steps(*ids, image=image), image)
        if updater is not None:
            plan.notes.append(f"updater.elf is not needed: the modem is in {mode.label} and "
                              "takes the image directly")
        return plan
    raise UnknownMode(f"no upgrade path starts in {mode.label}")


def monarch2_boot_loader_steps(steps: list[Step], elf: str) -> list[Step]:
    """The boot loader's steps as a Monarch 2 takes them (protocol-reference §3.1, Walter's
    example: SMOD 0, AT+STP, mtools.elf, SMOD 1, then the image ON_THE_FLY), at the rate it
    answers at: its published clients never send AT+IPR."""
    interrupted = (f"in the boot loader (FFH) waiting for {elf}. Run the same command again "
                   f"with --updater {elf}: it continues from there.")
    words = {
        StepId.NEGOTIATE_BAUD: ("Wake the boot loader",
                                "a Monarch 2's boot loader stays at the rate it answers at"),
        StepId.SEND_UPDATER: (f"Load {elf}",
                              "mtools runs in the boot loader (SMOD 1) and takes the image "
                              "ON_THE_FLY"),
    }
    return [dataclasses.replace(step, title=words[step.id][0], reason=words[step.id][1],
                                if_interrupted=interrupted) if step.id in words else step
            for step in steps]


def _elf_not_needed(info: ModemInfo, image: FirmwareFile, updater: FirmwareFile) -> str:
    """Why an ELF given for a modem found in its application is left unused."""
    if is_monarch2(info.family, image.family):
        return (f"{updater.name} is not needed: a Monarch 2 in its application reboots into "
                "RECOVERY and takes the image there; mtools.elf is only for one found in its "
                "boot loader (FFH)")
    if info.bootrom_build is None:
        return (f"{updater.name} is not needed: the modem is in its application and its bootrom "
                "was not read, so it is taken to be one that reboots into RECOVERY (only the "
                f"factory bootrom {OLD_BOOTROM_BUILD} needs updater.elf)")
    return (f"{updater.name} is not needed: the modem's bootrom {info.bootrom_build} is recent "
            "enough to reboot into RECOVERY")


def _old_bootrom_plan(info: ModemInfo, image: FirmwareFile, updater: FirmwareFile | None,
                      bootrom: FirmwareFile | None) -> Plan:
    if image.kind == FileKind.DIFF:
        raise BadOption(
            f"this modem has the factory bootrom ({info.bootrom_build}); a differential image "
            "cannot be applied through updater.elf",
            advice="Upgrade with the full image (CATM1-<build>.dup) and its updater.elf first.")
    package = bootrom.source() if bootrom is not None else image.bootrom_package
    if package is None:
        raise BootromRequired(f"{image.name} carries no bootrom package and --bootrom was not "
                              "given")
    if updater is None:
        raise UpdaterRequired(
            f"the modem has the factory bootrom ({info.bootrom_build}), so the image must be "
            "written by updater.elf", modem_state=_UNCHANGED)
    ids = (StepId.PREPARE, StepId.SWITCH_RECOVERY, StepId.SEND_BOOTROM, StepId.SWITCH_FFH,
           StepId.NEGOTIATE_BAUD, StepId.SEND_UPDATER, StepId.SEND_IMAGE, StepId.APPLY,
           StepId.SWITCH_APPLICATION, StepId.VERIFY)
    plan = Plan(Flow.OLD_BOOTROM, Method.ON_THE_FLY,
                _steps(*ids, image=image), image, updater, package,
                bootrom.name if bootrom is not None else f"the bootrom package inside {image.name}")
    return plan
