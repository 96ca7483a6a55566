"""What a Pycom board is, from its REPL's answers, and whether it can bridge its modem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqnflash.board.releases import (
    MIN_BRIDGE_RELEASE,
    MIN_FFH_RELEASE,
    Release,
    ReleaseError,
    UpgraderModule,
)
from sqnflash.errors import BoardFirmwareTooOld, BoardWithoutModem

REPL_BAUD = 115200  # UART0 of a Pycom board, the USB serial port
BRIDGE_BAUD = 921600  # both UARTs once LTE.modem_upgrade_mode() runs
# machine.UART pins of the modem: TX, RX, RTS, CTS (Pycom's sqnsupgrade, mpconfigboard.h).
LTE_PINS = {"fipy": ("P20", "P18", "P19", "P17"), "gpy": ("P5", "P98", "P7", "P99")}
BOARDS_WITH_MODEM = ("fipy", "gpy", "g01")


def parse_release(text: str) -> Release | None:
    """The release `os.uname()` reports, None when it is not a Pycom release name."""
    try:
        return Release.parse(text)
    except ReleaseError:
        return None


@dataclass(frozen=True)
class BoardInfo:
    port: str
    sysname: str
    release: str
    machine: str
    micropython: str
    module: UpgraderModule | None  # the sqnsupgrade the board imports, None if none
    module_file: str | None
    module_names: tuple[str, ...]
    has_upgrade_mode: bool

    @property
    def kind(self) -> str | None:
        """fipy, gpy or g01; None for a board without the modem."""
        name = self.sysname.lower()
        for kind in BOARDS_WITH_MODEM:
            if kind in name:
                return kind
        return None

    @property
    def parsed_release(self) -> Release | None:
        return parse_release(self.release)

    @property
    def has_uart(self) -> bool:
        return "uart" in self.module_names

    @property
    def pins(self) -> tuple[str, ...]:
        # The G01 module runs the GPy's firmware and wiring.
        return LTE_PINS["fipy" if self.kind == "fipy" else "gpy"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "sysname": self.sysname,
            "release": self.release,
            "machine": self.machine,
            "micropython": self.micropython,
            "sqnsupgrade": self.module.version if self.module else None,
            "sqnsupgrade_file": self.module_file,
            "uart": self.has_uart,
            "uart_signature": self.module.uart_signature if self.module and self.has_uart
            else None,
            "modem_upgrade_mode": self.has_upgrade_mode,
        }


def check_bridge(info: BoardInfo) -> None:
    """Refuse, before the modem is touched, a board that cannot bridge it."""
    if info.kind is None:
        raise BoardWithoutModem(
            f"os.uname() on {info.port} reports a {info.sysname or 'board'} "
            f"({info.machine or 'unknown machine'}), which has no LTE modem",
            modem_state="untouched")
    minimum = MIN_BRIDGE_RELEASE
    if not info.module_names and info.module is None:
        raise BoardFirmwareTooOld(
            f"the {info.sysname} runs firmware {info.release}, which has no built-in "
            f"sqnsupgrade module; bridging the modem to USB (sqnsupgrade.uart) needs "
            f"firmware {minimum} or later", modem_state="untouched",
            details={"release": info.release, "minimum": minimum})
    if not info.has_uart:
        raise _without_uart(info)
    if not info.has_upgrade_mode:
        raise BoardFirmwareTooOld(
            f"firmware {info.release} on the {info.sysname} has sqnsupgrade.uart but no "
            "LTE.modem_upgrade_mode(), which makes the bridge", modem_state="untouched",
            details={"release": info.release, "minimum": minimum})


def _without_uart(info: BoardInfo) -> BoardFirmwareTooOld:
    """A sqnsupgrade without uart(): an uploaded copy that hides the firmware's own module, or
    the module of a firmware older than the bridge."""
    minimum = MIN_BRIDGE_RELEASE
    where = f" (the module the board imports is {info.module_file})" if info.module_file else ""
    release = info.parsed_release
    if release is not None and release >= Release.parse(minimum):
        cause = (f"sqnsupgrade on the {info.sysname} (firmware {info.release}) has no "
                 f"uart(){where}: an uploaded copy hides the firmware's own module")
        advice: str | None = ("Delete the uploaded sqnsupgrade (file or folder) from /flash and "
                              "/flash/lib, reset the board and run the same command again.")
    else:
        cause = (f"the {info.sysname} runs firmware {info.release}, whose sqnsupgrade "
                 f"has no uart() (AttributeError: 'module' object has no attribute "
                 f"'uart'){where}; the UART bridge needs firmware {minimum} or later")
        advice = None
    return BoardFirmwareTooOld(cause, advice=advice, modem_state="untouched",
                               details={"release": info.release, "minimum": minimum,
                                        "sqnsupgrade_file": info.module_file})


def check_ffh(info: BoardInfo) -> None:
    """The board's bootrom step (uart(True)) is trusted from sqnsupgrade 1.2.1 on."""
    module = info.module
    if module is not None and module.has_ffh_fallback:
        return
    version = module.version if module else "unknown"
    raise BoardFirmwareTooOld(
        f"this modem needs the board's bootrom and boot loader step (sqnsupgrade.uart(True)), "
        f"and the sqnsupgrade {version} in firmware {info.release} gives up when the modem "
        f"answers ERROR to AT+SMSWBOOT=0,1, leaving a factory modem half upgraded; that "
        f"step needs firmware {MIN_FFH_RELEASE} or later",
        modem_state="untouched", details={"release": info.release,
                                          "minimum": MIN_FFH_RELEASE})
