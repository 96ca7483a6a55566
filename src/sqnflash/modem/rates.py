"""The modem's side of the line rate: where to look for it, and moving it with `AT+IPR`."""

from __future__ import annotations

from sqnflash.errors import BaudNegotiationFailed
from sqnflash.events import Narrator
from sqnflash.link import Link
from sqnflash.modem.at_driver import AtDriver

APP_BAUD = 921600  # the application's rate on Pycom boards
BOOT_BAUD = 115200  # the boot loader's rate after a reset
# Tried once the usual rates fail; the fast ones first: a run cut short after it moved the
# line up leaves the modem there.
OTHER_BAUDS = (3686400, 3000000, 2000000, 1000000, 460800, 230400, 57600, 38400, 19200, 9600)
POLL_TIMEOUT_S = 1.0  # a status poll: an awake modem answers in milliseconds


class BaudRates:
    """Which rates a modem may answer at, and changing the one it runs at.

    `fixed_baud`: behind a bridge (a Pycom board's UART mirror) the line runs at one fixed rate,
    and trying others only feeds the modem garbage."""

    def __init__(self, link: Link, at_driver: AtDriver, narrator: Narrator, *,
                 fixed_baud: int | None = None) -> None:
        self.link = link
        self.at = at_driver
        self.narrator = narrator
        self.fixed_baud = fixed_baud

    def candidates(self, first: int | None = None, *, extended: bool = False) -> list[int]:
        """The rates to look for the modem at; `extended` adds the unusual ones (a modem that
        came back at a rate it should not have)."""
        if self.fixed_baud is not None:
            return [self.fixed_baud]
        rates: list[int] = []
        top = self.link.max_baud
        for baud in (first, self.link.baud, APP_BAUD, BOOT_BAUD,
                     *(OTHER_BAUDS if extended else ())):
            if baud is not None and baud not in rates and (top is None or baud <= top
                                                           or baud == self.link.baud):
                rates.append(baud)
        return rates

    def negotiate(self, target: int) -> None:
        """Move a modem (and the link) from its current rate to `target` with `AT+IPR`."""
        if self.link.baud == target:
            return
        if self.fixed_baud is not None:
            # A bridge copies bytes at its own rate on both sides: the modem must stay there.
            raise BaudNegotiationFailed(
                f"the line runs through a bridge fixed at {self.fixed_baud} baud; the modem "
                f"cannot be moved to {target}", advice="Run again without --baud.")
        old = self.link.baud
        # The boot loader wants a bare line feed here; applications accept it too.
        reply = self.at.try_command(f"AT+IPR={target}", terminator="\n")
        if reply is None or not reply.ok:
            raise BaudNegotiationFailed(
                f"AT+IPR={target} at {old} baud was answered "
                f"{reply.final_line if reply else 'with silence'}")
        if self.answers_at(target):
            self.narrator.note(f"baud rate negotiated: {old} -> {target}")
            return
        raise BaudNegotiationFailed(f"the modem accepted AT+IPR={target} but does not answer at "
                                    f"{target} baud")

    def step_back(self, old: int, tried: int) -> bool:
        """After `AT+IPR=tried` was accepted but the modem is not heard at `tried`: bring it back
        to `old`. The OK may have been the last thing it said at `old` before moving, or the
        line may only be too damaged at `tried` for a probe: `AT+IPR=old` is sent at `tried` a
        few times (short commands may still get through), and the modem is probed at `old`."""
        for _ in range(3):
            self.link.set_baud(old)
            if self.at.probe():
                return True
            self.link.set_baud(tried)
            self.at.discard_input()
            self.link.write(f"AT+IPR={old}\n".encode("ascii"))
            self.link.read(64, POLL_TIMEOUT_S)
        return self.answers_at(old)

    def answers_at(self, baud: int) -> bool:
        """Whether the modem answers `AT` at `baud` (the link is left there): three probes, as a
        line that just changed rate may lose the first."""
        self.link.set_baud(baud)
        return any(self.at.probe() for _ in range(3))
