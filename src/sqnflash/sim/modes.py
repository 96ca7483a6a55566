"""The simulated modem's boot modes and what survives a reboot (its flash)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from sqnflash.sim.images import Family


class Smod(IntEnum):
    """`AT+SMOD?` numbers."""

    FFH = 0
    FFH_TOOL = 1
    FFF = 2
    UPDATER = 3
    RECOVERY = 4


class Boot(IntEnum):
    """`AT+SMSWBOOT` numbers."""

    FFH = 0
    FFF = 1
    UPDATER = 2
    RECOVERY = 3


BOOT_TO_SMOD = {Boot.FFH: Smod.FFH, Boot.FFF: Smod.FFF, Boot.UPDATER: Smod.UPDATER,
                Boot.RECOVERY: Smod.RECOVERY}
MODE_NAMES = {Smod.FFH: "FFH", Smod.FFH_TOOL: "FFH", Smod.FFF: "FFF", Smod.UPDATER: "UPDATER",
              Smod.RECOVERY: "RECOVERY"}
CONFIG_MODES = {"app": Smod.FFF, "recovery": Smod.RECOVERY, "updater": Smod.UPDATER,
                "ffh": Smod.FFH}
# The modes that run the updater image (RECOVERY is the same image, started from flash).
UPDATER_MODES = frozenset({Smod.FFH_TOOL, Smod.UPDATER, Smod.RECOVERY})
# Which `echo` setting a mode follows: an updater that reports SMOD 1 or 4 is still the updater.
ECHO_MODES = {Smod.FFH: "ffh", Smod.FFH_TOOL: "updater", Smod.FFF: "app",
              Smod.UPDATER: "updater", Smod.RECOVERY: "recovery"}


class StpPurpose(Enum):
    STORE = "store"  # AT+SMSTPU: into the /upgrade file system
    ON_THE_FLY = "on-the-fly"  # AT+SMSTPU="ON_THE_FLY": straight to flash
    LOAD_ELF = "load-elf"  # AT+STP in the boot loader: an ELF into RAM


@dataclass
class Flash:
    """What survives a reboot."""

    software: int
    family: Family
    bootrom: int  # Bootloader0: changed only by flashing a bootrom package
    # Bootloader1 and 2 (LR version, build): an upgrade writes the slot that is not active and
    # activates it; a factory modem has neither (NA) and the first upgrade writes both.
    bootloaders: list[tuple[str, int] | None]
    active_bootloader: int  # 0, 1 or 2: the `*` in showver
    boot: Boot
    app_ok: bool
    imei: str
    report: str = "No report"
    # Bootloader0 as showver names it, when that is not `bootrom` (`bootloader0_after_otf=kept`).
    shown_bootrom: int | None = None
    stored: bytearray | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def install(self, version: int, lr: str, family: Family | None, *,
                on_the_fly: bool) -> None:
        """A full or differential image applied: new software, boot loader and maybe family."""
        if family is not None:
            self.family = family  # a full image of the other family switches it
        self.software = version
        written = (lr, version)
        if self.bootloaders == [None, None]:
            # From the factory state both slots are written; which one starts differs between
            # the observed normal (store) and recovery (ON_THE_FLY) upgrades (docs/protocol.md §4).
            self.bootloaders = [written, written]
            self.active_bootloader = 2 if on_the_fly else 1
        else:
            slot = 2 if self.active_bootloader == 1 else 1
            self.bootloaders[slot - 1] = written
            self.active_bootloader = slot
        self.app_ok = True

    def install_bootrom(self, build: int, *, showver_lags: bool) -> None:
        """A bootrom package written; with `showver_lags` showver keeps naming the Bootloader0
        it named before until a store apply rewrites it."""
        shown = self.bootrom if self.shown_bootrom is None else self.shown_bootrom
        self.bootrom = build
        self.shown_bootrom = shown if showver_lags else None
