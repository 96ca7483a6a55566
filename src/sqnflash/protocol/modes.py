"""The two numberings of a Monarch modem's boot images.

`AT+SMOD?` reports the running mode with one set of numbers, `AT+SMSWBOOT=<m>,<r>` selects the next
boot image with another. Pycom's messages add a third vocabulary ("recovery mode" for the bare boot
loader, "upgrade mode" for RECOVERY); `Mode.pycom_name` keeps it so users can match forum posts.
"""

from __future__ import annotations

from enum import IntEnum


class Mode(IntEnum):
    """`AT+SMOD?` numbers."""

    FFH = 0  # boot loader waiting for an ELF (Pycom: "recovery mode")
    FFH_TOOL = 1  # boot loader running a tool ELF (mtools)
    APPLICATION = 2  # FFF, the LTE firmware
    UPDATER = 3
    RECOVERY = 4  # accepts a .dup ON_THE_FLY (Pycom: "upgrade mode")

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def pycom_name(self) -> str:
        return _PYCOM[self]

    @property
    def boot_number(self) -> int:
        """The `AT+SMSWBOOT` number that boots this mode."""
        try:
            return _BOOT_NUMBER[self]
        except KeyError:
            raise ValueError(f"{self.label} cannot be selected with AT+SMSWBOOT") from None


_LABELS = {
    Mode.FFH: "boot loader (FFH)",
    Mode.FFH_TOOL: "boot loader with mtools (FFH)",
    Mode.APPLICATION: "application (FFF)",
    Mode.UPDATER: "updater",
    Mode.RECOVERY: "recovery (upgrade mode)",
}
_PYCOM = {
    Mode.FFH: "recovery mode",
    Mode.FFH_TOOL: "mTools mode",
    Mode.APPLICATION: "normal mode",
    Mode.UPDATER: "updater mode",
    Mode.RECOVERY: "upgrade mode",
}
# AT+SMSWBOOT: 0 FFH, 1 FFF, 2 UPDATER, 3 RECOVERY (4 ECOPAGING is not a mode we boot into).
_BOOT_NUMBER = {Mode.FFH: 0, Mode.APPLICATION: 1, Mode.UPDATER: 2, Mode.RECOVERY: 3}
