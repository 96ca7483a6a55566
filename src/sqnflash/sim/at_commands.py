"""The simulated modem's AT command handlers; the command set of each mode (which of these it
knows) is part of the modem's profile (sim/profile.py, filled in by sim/modem.py)."""

from __future__ import annotations

import re

from sqnflash.protocol import at
from sqnflash.sim.images import ImageSink
from sqnflash.sim.modem_core import ModemCore
from sqnflash.sim.modes import MODE_NAMES, UPDATER_MODES, Boot, Smod, StpPurpose
from sqnflash.sim.profile import Handler
from sqnflash.sim.reports import info_lines, showver_lines


class AtCommands(ModemCore):
    """`handler(modem, args)`: args is what follows the command name (`?`, `=...`, or nothing)."""

    def _cmd_at(self, args: str) -> None:
        if args:
            self._error()
        else:
            self._reply()

    def _cmd_echo(self, args: str) -> None:
        if args in ("", "0"):
            self.echo = False
        elif args == "1":
            self.echo = True
        else:
            self._error()
            return
        self._reply()

    def _cmd_ok(self, args: str) -> None:
        self._reply()

    def _cmd_smod(self, args: str) -> None:
        if args != "?":
            self._error()
            return
        assert self.mode is not None
        if self.profile.smod_reply == "blank":
            self._reply([str(int(self.mode))])
        else:
            self._reply_tight([str(int(self.mode))])

    def _cmd_bmod(self, args: str) -> None:
        if args != "?":
            self._error()
            return
        assert self.mode is not None
        self._reply([f"+BMOD: {MODE_NAMES[self.mode]}"])

    def _cmd_smswboot(self, args: str) -> None:
        if args == "?":
            name = self.flash.boot.name
            self._reply([name if self.profile.smswboot_reply == "bare" else f"+SMSWBOOT: {name}"])
            return
        match = re.fullmatch(r"=\s*(\d+)\s*(?:,\s*(\d+))?", args)
        if not match:
            self._error()
            return
        mode, reboot = int(match.group(1)), int(match.group(2) or 1)
        if mode not in set(Boot) or reboot not in (0, 1):
            self._error("Requested mode is not supported.")
            return
        if self._applying:
            self._error("an upgrade is being applied")
            return
        if mode == Boot.FFH and self.flash.bootrom <= self.profile.old_bootrom_build:
            self._error("This feature is more recent than the bootloader. Update the bootloader "
                        "to be able to switch.")
            return
        if self.faults.smswboot_error_for(mode, reboot):
            self._error(f"fault: AT+SMSWBOOT={mode},{reboot} refused")
            return
        if reboot and self.profile.swboot_error:
            self._error(f"swboot_error: AT+SMSWBOOT={mode},1 refused")
            return
        self.flash.boot = Boot(mode)
        self._note(f"next boot: {Boot(mode).name}")
        self._reply()
        if reboot:
            self.reboot("AT+SMSWBOOT", announce=True)

    def _cmd_reset(self, args: str) -> None:
        if args:
            self._error()
            return
        self._reply()
        self.reboot("AT^RESET", announce=True)

    def _cmd_cfun(self, args: str) -> None:
        if args == "?":
            self._reply([f"+CFUN: {self.cfun}"])
            return
        match = re.fullmatch(r"=\s*(\d+)(?:,\s*\d+)?", args)
        if not match or int(match.group(1)) not in (0, 1, 4, 5):
            self._error()
            return
        self.cfun = int(match.group(1))
        self._reply()

    def _cmd_ipr(self, args: str) -> None:
        if args == "?":
            self._reply([f"+IPR: {self.wire.modem_baud}"])
            return
        if re.fullmatch(r"=\s*\?", args):
            rates = self.profile.ipr_rates
            if self.mode == Smod.FFH or rates is None:
                self._error("AT+IPR=? is not answered here")
                return
            self._reply([f"+IPR: (),({','.join(str(rate) for rate in rates)})"])
            return
        if self.mode == Smod.FFH and self.profile.ffh_only_115200 == "error":
            self._error("this boot loader cannot change its baud rate")
            return
        match = re.fullmatch(r"=\s*(\d+)", args)
        listed = self.profile.ipr_rates or self.profile.supported_bauds
        if not match or int(match.group(1)) not in listed:
            self._reply(["+IPR: invalid baudrate"] if match else [], at.FINAL_ERROR)
            return
        baud = int(match.group(1))
        self._reply()  # at the old rate
        if self.mode == Smod.FFH and self.profile.ffh_only_115200 == "ignore":
            self._note(f"AT+IPR={baud} ignored: the boot loader stays at {self.wire.modem_baud}")
            return
        self.wire.modem_baud = baud
        self._note(f"baud rate now {baud}")

    def _cmd_smstpu(self, args: str) -> None:
        if self._applying:
            self._error("an upgrade is being applied")
            return
        if args == "":
            self._stpu_ok()
            self.flash.stored = bytearray()
            self._enter_stp(StpPurpose.STORE, self.profile.store_max_transfer)
        elif args.upper() in ('="ON_THE_FLY"', "=ON_THE_FLY"):
            self._stpu_ok()
            self._enter_stp(StpPurpose.ON_THE_FLY, self.profile.otf_max_transfer)
        else:
            self._error()

    def _stpu_ok(self) -> None:
        if self.profile.stpu_reply == "bare":
            self._send_at(b"OK\r\n")  # the first shape Pycom's 4-byte check accepts
        elif self.profile.stpu_reply == "open":
            self._send_at(b"\r\nOK")  # the line end never comes: STP from here on
        else:
            self._reply()

    def _cmd_smupgrade(self, args: str) -> None:
        if args == "?":
            self._report_upgrade()
            return
        if args:
            self._error()
            return
        if self._applying:
            self._error("an upgrade is being applied")
            return
        if self.flash.stored is None:
            self._error("no upgrade file stored")
            return
        sink = ImageSink()
        sink.feed(bytes(self.flash.stored))
        verdict = sink.judge()
        self.flash.stored = None
        if self.profile.smupgrade_ok:
            self._reply()
        else:
            self._note("smupgrade_reply=none: no OK, straight into the reboot")
        self.flash.report = "on-going"
        self._pending_apply = verdict
        self._note(f"AT+SMUPGRADE: applying a stored {verdict.size}-byte file via the updater")
        self.reboot("AT+SMUPGRADE", announce=True)

    def _report_upgrade(self) -> None:
        """`AT+SMUPGRADE?`: the last word, unless a variant withholds it."""
        if self.report_withheld == "none":
            self._reply()
        elif self.report_withheld == "error":
            self._error("bootrom_report=error")
        elif not self.profile.upgrade_reported and self.mode in UPDATER_MODES:
            self._reply(["+SMUPGRADE: No report"])
        else:
            self._reply([f"+SMUPGRADE: {self.flash.report}"])

    def _cmd_notify(self, args: str) -> None:
        self._reply()

    def _cmd_sqnwl(self, args: str) -> None:
        if self.flash.software <= self.profile.old_bootrom_build:
            self._error()
        else:
            self._reply()

    def _cmd_smlog(self, args: str) -> None:
        if args == "?":
            self._reply_tight(["+SMLOG: LOG_INHERIT"])
        else:
            self._reply()

    def _cmd_fsrdfile(self, args: str) -> None:
        self._send_at(b"\r\n\r\nERROR\r\n")  # no crash dump: as observed, an extra blank line

    def _cmd_showver(self, args: str) -> None:
        if args.replace(" ", "").lower() != '="showver"':
            self._error()
            return
        self._reply(self.showver_lines())

    def showver_lines(self) -> list[str]:
        return showver_lines(self.flash)

    def _cmd_info(self, args: str) -> None:
        lines = info_lines(self.flash, self.profile.model, args)
        if lines is None:
            self._error()
        else:
            self._reply(lines)

    def _cmd_cgsn(self, args: str) -> None:
        if args not in ("", "=1"):
            self._error()
            return
        self._reply([self.flash.imei])


    def _cmd_stp(self, args: str) -> None:
        """The boot loader's `AT+STP`: an ELF into RAM, started as the updater."""
        if args:
            self._error()
            return
        self._reply()
        self._enter_stp(StpPurpose.LOAD_ELF, self.profile.ffh_max_transfer)


# The boot loader (FFH) of every family knows only these (its image holds no other command
# name); it never echoes.
FFH_COMMANDS: dict[str, Handler] = {
    "": AtCommands._cmd_at,
    "+SMOD": AtCommands._cmd_smod,
    "+IPR": AtCommands._cmd_ipr,
    "+STP": AtCommands._cmd_stp,
}
