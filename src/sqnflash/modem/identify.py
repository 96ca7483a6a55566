"""What a modem is and reports: its mode, versions and identity, its upgrade state."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqnflash.errors import UnexpectedReply, UnknownMode
from sqnflash.link import Link
from sqnflash.modem.at_driver import AtDriver
from sqnflash.modem.info import ModemInfo
from sqnflash.modem.rates import POLL_TIMEOUT_S
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode

T = TypeVar("T")


class Identification:
    """The modem's answers about itself. `mode_seen` is the last mode it reported."""

    def __init__(self, link: Link, at_driver: AtDriver) -> None:
        self.link = link
        self.at = at_driver
        self.mode_seen: Mode | None = None

    def mode(self) -> Mode:
        reply = self.at.command("AT+SMOD?")
        try:
            number = at.parse_smod(reply.lines)
        except at.ReplyFormatError as exc:
            raise UnexpectedReply(str(exc)) from exc
        try:
            mode = Mode(number)
        except ValueError:
            raise UnknownMode(f"AT+SMOD? answered {number}, which is no known mode") from None
        self.mode_seen = mode
        return mode

    def info(self) -> ModemInfo:
        mode = self.mode()
        showver = ati1 = imei = model = None
        if mode != Mode.FFH:  # the bare boot loader knows only AT, AT+SMOD, AT+IPR and AT+STP
            showver = self.query('AT!="showver"', at.parse_showver)
            ati1 = self.query("ATI1", at.parse_ati1)
            imei = self.query("AT+CGSN", at.parse_cgsn)
            # The product line tells a Monarch 2 (GM02S) from a Monarch 1 (VZM20Q) where the LR
            # version cannot be read.
            model = self.query("ATI", at.parse_ati_model)
        return ModemInfo.build(mode, self.link.baud, showver, ati1, imei, model)

    def query(self, command: str, parse: Callable[[tuple[str, ...]], T]) -> T | None:
        """A report the modem may not give in every mode: None when it answers ERROR, nothing,
        or something that does not parse."""
        reply = self.at.try_command(command)
        if reply is None or not reply.ok:
            return None
        try:
            return parse(reply.lines)
        except at.ReplyFormatError:
            return None

    def upgrade_report(self) -> at.UpgradeReport:
        """`AT+SMUPGRADE?`; a modem that does not answer (still rebooting) reports NONE."""
        reply = self.at.try_command("AT+SMUPGRADE?", timeout_s=POLL_TIMEOUT_S,
                                    resend_on_boot=True)
        if reply is None or not reply.ok:
            return at.UpgradeReport(at.UpgradeState.NONE, "")
        return at.parse_smupgrade(reply.lines)
