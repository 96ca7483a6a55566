"""What the simulated modem says about its firmware: `AT!="showver"` and `ATI`."""

from __future__ import annotations

from sqnflash.sim.config import OLD_BOOTROM_BUILD
from sqnflash.sim.images import Family, build_date, lr_version
from sqnflash.sim.modes import Flash


def ue_version(family: Family, build: int) -> str:
    if family == Family.MONARCH2:
        return lr_version(family, build)  # pysequans reads the M2 version from the UE line
    if build <= OLD_BOOTROM_BUILD:
        return "Unknown"
    return "6.0.0.0" if family == Family.NB1 else "5.0.0.0d"


def showver_lines(flash: Flash) -> list[str]:
    def slot(value: tuple[str, int] | None) -> str:
        return "NA" if value is None else f"{value[0]} [{value[1]}]"

    # Bootloader0 is the bootrom, always a 5.x build (NB1 modems too, as observed).
    bootrom = flash.bootrom if flash.shown_bootrom is None else flash.shown_bootrom
    slots = [(lr_version(None, bootrom), bootrom), *flash.bootloaders]
    rows = [(f"Bootloader{i}{'*' if i == flash.active_bootloader else ''}", slot(value))
            for i, value in enumerate(slots)]
    software = (lr_version(flash.family, flash.software), flash.software)
    rows += [
        ("NV Info", "1.1,0,0"),
        ("Software", f"{slot(software)} by robot-soft at {build_date(flash.software)}"),
        ("UE", ue_version(flash.family, flash.software)),
    ]
    lines = ["SYSTEM VERSION", "==============", "  FIRMWARE VERSION"]
    lines += [f"    {name:<13}: {value}" for name, value in rows]
    lines += ["  COMPONENTS", "    ZSP0         : 1.0.99-13604",
              "    ZSP1         : 1.0.99-12341"]
    return lines


def info_lines(flash: Flash, model: str, args: str) -> list[str] | None:
    """`ATI` (args "") or `ATI1`; None for any other argument (ERROR)."""
    ue = ue_version(flash.family, flash.software)
    if args == "":
        return ["SEQUANS Communications", model, f"UE{ue}"]
    if args == "1":
        return [f"UE{ue}", f"LR{lr_version(flash.family, flash.software)}-{flash.software}"]
    return None
