"""What a modem says about itself, gathered into one value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqnflash.protocol.at import Ati1, ShowVer
from sqnflash.protocol.modes import Mode

OLD_BOOTROM_BUILD = 33080  # the factory bootrom: it cannot switch to FFH by AT+SMSWBOOT=0,x


def family_of_lr(lr: str | None) -> str | None:
    """LR 5.x is CAT-M1, LR 6.x NB-IoT, LR 8.x Monarch 2."""
    if not lr:
        return None
    major = lr.split(".", 1)[0]
    return {"5": "CAT-M1", "6": "NB-IoT", "8": "Monarch 2"}.get(major)


@dataclass(frozen=True)
class ModemInfo:
    mode: Mode
    baud: int
    software_build: int | None = None
    software_version: str | None = None  # e.g. 5.1.1.0
    bootrom_build: int | None = None
    lr_version: str | None = None
    ue_version: str | None = None
    imei: str | None = None

    @property
    def family(self) -> str | None:
        return family_of_lr(self.lr_version or self.software_version)

    @property
    def old_bootrom(self) -> bool:
        return self.bootrom_build is not None and self.bootrom_build <= OLD_BOOTROM_BUILD

    @property
    def in_application(self) -> bool:
        return self.mode == Mode.APPLICATION

    def describe_state(self) -> str:
        """A sentence for error messages: where the modem is and what that means."""
        text = f"the modem is in {self.mode.label} (AT+SMOD? {int(self.mode)})"
        if self.software_build is not None:
            text += f", firmware build {self.software_build}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.name.lower(),
            "mode_label": self.mode.label,
            "smod": int(self.mode),
            "baud": self.baud,
            "software_build": self.software_build,
            "software_version": self.software_version,
            "bootrom_build": self.bootrom_build,
            "old_bootrom": self.old_bootrom,
            "lr_version": self.lr_version,
            "ue_version": self.ue_version,
            "family": self.family,
            "imei": self.imei,
        }

    @classmethod
    def build(cls, mode: Mode, baud: int, showver: ShowVer | None, ati1: Ati1 | None,
              imei: str | None) -> ModemInfo:
        software_build = showver.software_build if showver else None
        if software_build is None and ati1 is not None:
            software_build = ati1.build
        ue = ati1.ue if ati1 and ati1.ue else (showver.ue if showver else None)
        return cls(
            mode=mode,
            baud=baud,
            software_build=software_build,
            software_version=showver.software_version if showver else None,
            bootrom_build=showver.bootrom_build if showver else None,
            lr_version=ati1.lr if ati1 else None,
            ue_version=ue if ue and ue.lower() != "unknown" else None,
            imei=imei,
        )
