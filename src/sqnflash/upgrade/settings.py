"""What a run is told about the line and its patience (the CLI's options, the journal's memory)."""

from __future__ import annotations

from dataclasses import dataclass

from sqnflash.modem import APP_BAUD, BOOT_BAUD
from sqnflash.modem.modem import REBOOT_TIMEOUT_S
from sqnflash.upgrade.line_rate import RatePolicy

APPLY_TIMEOUT_S = 600.0  # Pycom's docs: "unless hanging for more than 5 minutes do not interrupt"
MAX_RESTARTS = 3  # times a run goes back to an earlier step (the modem rebooted, apply failed)


@dataclass
class Settings:
    baud: int = APP_BAUD  # the rate the transfers run at (negotiated in the boot loader)
    # None: adaptive, from PYCOM_BLOCK_CAP up to what the session reports (modem/line.py);
    # a number forces that size.
    block_size: int | None = None
    retries: int = 4
    apply_timeout_s: float = APPLY_TIMEOUT_S
    reboot_timeout_s: float = REBOOT_TIMEOUT_S
    max_restarts: int = MAX_RESTARTS
    min_baud: int = BOOT_BAUD  # a noisy line falls back to lower rates down to this one
    # Monarch 2: send the image as a zlib stream (data type CABA + 1) when the session allows it;
    # its blocks are max_transfer - 16 from the start unless a block size was asked for.
    compress: bool = True
    # Before each transfer outside the boot loader, move the line to the fastest rate the modem
    # lists (AT+IPR=?), the port carries and `max_baud` allows. The boot loader lists none: it
    # is moved to `baud`, as the field-proven flow does.
    auto_baud: bool = False
    max_baud: int | None = None
    # What earlier runs on this modem found (the journal's line memory): rates not to try again,
    # and the largest block it answered (adaptive transfers start there) and whether it refused
    # larger ones (they then stay there).
    avoid_bauds: frozenset[int] = frozenset()
    known_block: int | None = None
    block_ceiling: bool = False

    @property
    def rate_policy(self) -> RatePolicy:
        return RatePolicy(auto=self.auto_baud, baud=self.baud, max_baud=self.max_baud,
                          min_baud=self.min_baud)
