"""What a modem says about itself, gathered into one value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqnflash.protocol.at import Ati1, ShowVer
from sqnflash.protocol.modes import Mode

OLD_BOOTROM_BUILD = 33080  # the factory bootrom: it cannot switch to FFH by AT+SMSWBOOT=0,x
MONARCH2 = "Monarch 2"
# pysequans' FULL_UPGRADE_MIN_VERSION: a Monarch 2 below it needs a raster upgrade first.
MONARCH2_MIN_FULL_UPGRADE = (8, 0, 4, 0)


def family_of_model(model: str | None) -> str | None:
    """`ATI`'s product line: GM02S (GM02SP too) is a Monarch 2; VZM20Q a Monarch 1, whose
    radio (CAT-M1 or NB-IoT) only its LR version tells."""
    return MONARCH2 if model and model.upper().startswith("GM02") else None


def version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


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
    model: str | None = None  # ATI's product line: VZM20Q (Monarch 1), GM02S (Monarch 2)

    @property
    def family(self) -> str | None:
        return family_of_lr(self.lr_version or self.software_version) or family_of_model(
            self.model)

    @property
    def monarch2(self) -> bool:
        return self.family == MONARCH2

    @property
    def full_upgrade_allowed(self) -> bool | None:
        """Monarch 2: whether the running version (pysequans reads ATI1's UE line) is at least
        8.0.4.0, below which a full upgrade needs a raster upgrade first; None when unknown or
        not a Monarch 2."""
        version = self.ue_version or self.lr_version
        if not self.monarch2 or not version or not version_tuple(version):
            return None
        return version_tuple(version) >= MONARCH2_MIN_FULL_UPGRADE

    @property
    def old_bootrom(self) -> bool:
        return self.bootrom_build is not None and self.bootrom_build <= OLD_BOOTROM_BUILD

    @property
    def in_application(self) -> bool:
        return self.mode == Mode.APPLICATION

    def mode_numbers(self, *, monarch2: bool = False) -> str:
        """What goes in brackets after the mode's label in `info` and `plan`: the AT+SMOD? number
        and, where it helps to match forum posts, Pycom's name (meaningless on a Monarch 2, and
        RECOVERY's label already carries it). `monarch2`: the files say what the modem (in its
        boot loader) does not."""
        pycom = "" if monarch2 or self.monarch2 or self.mode.pycom_name in self.mode.label \
            else f"; Pycom: {self.mode.pycom_name}"
        return f"AT+SMOD? {int(self.mode)}{pycom}"

    def mode_text(self) -> str:
        return f"{self.mode.label} ({self.mode_numbers()})"

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
            # null, not false, when the bootrom was not read (RECOVERY, FFH, a Monarch 2)
            "old_bootrom": self.old_bootrom if self.bootrom_build is not None else None,
            "lr_version": self.lr_version,
            "ue_version": self.ue_version,
            "family": self.family,
            "imei": self.imei,
            "model": self.model,
            "full_upgrade_allowed": self.full_upgrade_allowed,
        }

    @classmethod
    def build(cls, mode: Mode, baud: int, showver: ShowVer | None, ati1: Ati1 | None,
              imei: str | None, model: str | None = None) -> ModemInfo:
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
            model=model,
        )
