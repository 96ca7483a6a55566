"""The simulated modem's AT command handlers, and the Monarch 1's command set of each mode (which
of these it knows). A mode's set is part of the modem's profile (sim/profile.py); the Monarch 2's
(sim/monarch2.py) is the Monarch 1's without what a GM02S lacks."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqnflash.protocol import at
from sqnflash.sim.images import ImageSink
from sqnflash.sim.modem_core import ModemCore, Rebooter, StpControl
from sqnflash.sim.modes import MODE_NAMES, UPDATER_MODES, Boot, Smod, StpPurpose
from sqnflash.sim.profile import Handler
from sqnflash.sim.reports import info_lines, showver_lines


class AtCommands:
    """The command lines of every mode; a handler of the profile's command sets is called as
    `handler(commands, args)`: args is what follows the command name (`?`, `=...`, or nothing).
    STP sessions are opened through the endpoint it is given, reboots through the `Rebooter`."""

    def __init__(self, core: ModemCore, stp: StpControl, rebooter: Rebooter) -> None:
        self.core = core
        self.stp = stp
        self.rebooter = rebooter

    def dispatch(self, command: str) -> None:
        body = command[2:]
        match = re.match(r"([+^][A-Za-z0-9_]+|!|[A-Za-z&]?)(.*)$", body)
        core = self.core
        assert match is not None and core.mode is not None
        name, args = match.group(1).upper(), match.group(2).strip()
        handler = core.profile.commands[core.mode].get(name)
        if handler is None:
            core.error(f"{command} is not available in {MODE_NAMES[core.mode]}")
        elif self._refuses(name.lstrip("+^")):
            core.error(f"variant: {command} refused")
        else:
            handler(self, args)
        core.faults.after_command(self.rebooter, command)

    def _refuses(self, name: str) -> bool:
        """`refuse` (the application) and `refuse_once` (RECOVERY, the updater) say so."""
        core = self.core
        if core.mode == Smod.FFF:
            return name in core.profile.refused
        if (core.mode in UPDATER_MODES and name in core.profile.refused_once
                and name not in core.refused_since_boot):
            core.refused_since_boot.add(name)
            return True
        return False

    def _cmd_at(self, args: str) -> None:
        if args:
            self.core.error()
        else:
            self.core.reply()

    def _cmd_echo(self, args: str) -> None:
        if args in ("", "0"):
            self.core.echo = False
        elif args == "1":
            self.core.echo = True
        else:
            self.core.error()
            return
        self.core.reply()

    def _cmd_ok(self, args: str) -> None:
        self.core.reply()

    def _cmd_smod(self, args: str) -> None:
        if args != "?":
            self.core.error()
            return
        assert self.core.mode is not None
        if self.core.profile.smod_reply == "blank":
            self.core.reply([str(int(self.core.mode))])
        else:
            self.core.reply_tight([str(int(self.core.mode))])

    def _cmd_bmod(self, args: str) -> None:
        if args != "?":
            self.core.error()
            return
        assert self.core.mode is not None
        self.core.reply([f"+BMOD: {MODE_NAMES[self.core.mode]}"])

    def _cmd_smswboot(self, args: str) -> None:
        if args == "?":
            name = self.core.flash.boot.name
            bare = self.core.profile.smswboot_reply == "bare"
            self.core.reply([name if bare else f"+SMSWBOOT: {name}"])
            return
        match = re.fullmatch(r"=\s*(\d+)\s*(?:,\s*(\d+))?", args)
        if not match:
            self.core.error()
            return
        mode, reboot = int(match.group(1)), int(match.group(2) or 1)
        if mode not in set(Boot) or reboot not in (0, 1):
            self.core.error("Requested mode is not supported.")
            return
        if self.core.applying:
            self.core.error("an upgrade is being applied")
            return
        if mode == Boot.FFH and self.core.flash.bootrom <= self.core.profile.old_bootrom_build:
            self.core.error("This feature is more recent than the bootloader. Update the "
                            "bootloader to be able to switch.")
            return
        if self.core.faults.smswboot_error_for(mode, reboot):
            self.core.error(f"fault: AT+SMSWBOOT={mode},{reboot} refused")
            return
        if reboot and self.core.profile.swboot_error:
            self.core.error(f"swboot_error: AT+SMSWBOOT={mode},1 refused")
            return
        self.core.flash.boot = Boot(mode)
        self.core.note(f"next boot: {Boot(mode).name}")
        self.core.reply()
        if reboot:
            self.rebooter.reboot("AT+SMSWBOOT", announce=True)

    def _cmd_reset(self, args: str) -> None:
        if args:
            self.core.error()
            return
        self.core.reply()
        self.rebooter.reboot("AT^RESET", announce=True)

    def _cmd_cfun(self, args: str) -> None:
        if args == "?":
            self.core.reply([f"+CFUN: {self.core.cfun}"])
            return
        match = re.fullmatch(r"=\s*(\d+)(?:,\s*\d+)?", args)
        if not match or int(match.group(1)) not in (0, 1, 4, 5):
            self.core.error()
            return
        self.core.cfun = int(match.group(1))
        self.core.reply()

    def _cmd_ipr(self, args: str) -> None:
        if args == "?":
            self.core.reply([f"+IPR: {self.core.wire.modem_baud}"])
            return
        if re.fullmatch(r"=\s*\?", args):
            rates = self.core.profile.ipr_rates
            if self.core.mode == Smod.FFH or rates is None:
                self.core.error("AT+IPR=? is not answered here")
                return
            self.core.reply([f"+IPR: (),({','.join(str(rate) for rate in rates)})"])
            return
        if self.core.mode == Smod.FFH and self.core.profile.ffh_only_115200 == "error":
            self.core.error("this boot loader cannot change its baud rate")
            return
        match = re.fullmatch(r"=\s*(\d+)", args)
        listed = self.core.profile.ipr_rates or self.core.profile.supported_bauds
        if not match or int(match.group(1)) not in listed:
            self.core.reply(["+IPR: invalid baudrate"] if match else [], at.FINAL_ERROR)
            return
        baud = int(match.group(1))
        self.core.reply()  # at the old rate
        if self.core.mode == Smod.FFH and self.core.profile.ffh_only_115200 == "ignore":
            self.core.note(f"AT+IPR={baud} ignored: the boot loader stays at "
                           f"{self.core.wire.modem_baud}")
            return
        self.core.wire.modem_baud = baud
        self.core.note(f"baud rate now {baud}")

    def _cmd_smstpu(self, args: str) -> None:
        if self.core.applying:
            self.core.error("an upgrade is being applied")
            return
        if args == "":
            self._stpu_ok()
            self.core.flash.stored = bytearray()
            self.stp.enter_stp(StpPurpose.STORE, self.core.profile.store_max_transfer)
        elif args.upper() in ('="ON_THE_FLY"', "=ON_THE_FLY"):
            self._stpu_ok()
            self.stp.enter_stp(StpPurpose.ON_THE_FLY, self.core.profile.otf_max_transfer)
        else:
            self.core.error()

    def _stpu_ok(self) -> None:
        if self.core.profile.stpu_reply == "bare":
            self.core.send_at(b"OK\r\n")  # the first shape Pycom's 4-byte check accepts
        elif self.core.profile.stpu_reply == "open":
            self.core.send_at(b"\r\nOK")  # the line end never comes: STP from here on
        else:
            self.core.reply()

    def _cmd_smupgrade(self, args: str) -> None:
        if args == "?":
            self._report_upgrade()
            return
        if args:
            self.core.error()
            return
        if self.core.applying:
            self.core.error("an upgrade is being applied")
            return
        if self.core.flash.stored is None:
            self.core.error("no upgrade file stored")
            return
        sink = ImageSink()
        sink.feed(bytes(self.core.flash.stored))
        verdict = sink.judge()
        self.core.flash.stored = None
        if self.core.profile.smupgrade_ok:
            self.core.reply()
        else:
            self.core.note("smupgrade_reply=none: no OK, straight into the reboot")
        self.core.flash.report = "on-going"
        self.core.pending_apply = verdict
        self.core.note(f"AT+SMUPGRADE: applying a stored {verdict.size}-byte file via the updater")
        self.rebooter.reboot("AT+SMUPGRADE", announce=True)

    def _report_upgrade(self) -> None:
        """`AT+SMUPGRADE?`: the last word, unless a variant withholds it."""
        if self.core.report_withheld == "none":
            self.core.reply()
        elif self.core.report_withheld == "error":
            self.core.error("bootrom_report=error")
        elif not self.core.profile.upgrade_reported and self.core.mode in UPDATER_MODES:
            self.core.reply(["+SMUPGRADE: No report"])
        else:
            self.core.reply([f"+SMUPGRADE: {self.core.flash.report}"])

    def _cmd_notify(self, args: str) -> None:
        self.core.reply()

    def _cmd_sqnwl(self, args: str) -> None:
        if self.core.flash.software <= self.core.profile.old_bootrom_build:
            self.core.error()
        else:
            self.core.reply()

    def _cmd_smlog(self, args: str) -> None:
        if args == "?":
            self.core.reply_tight(["+SMLOG: LOG_INHERIT"])
        else:
            self.core.reply()

    def _cmd_fsrdfile(self, args: str) -> None:
        self.core.send_at(b"\r\n\r\nERROR\r\n")  # no crash dump: as observed, an extra blank line

    def _cmd_showver(self, args: str) -> None:
        if args.replace(" ", "").lower() != '="showver"':
            self.core.error()
            return
        self.core.reply(self.showver_lines())

    def showver_lines(self) -> list[str]:
        return showver_lines(self.core.flash)

    def _cmd_info(self, args: str) -> None:
        lines = info_lines(self.core.flash, self.core.profile.model, args)
        if lines is None:
            self.core.error()
        else:
            self.core.reply(lines)

    def _cmd_cgsn(self, args: str) -> None:
        if args not in ("", "=1"):
            self.core.error()
            return
        self.core.reply([self.core.flash.imei])


    def _cmd_stp(self, args: str) -> None:
        """The boot loader's `AT+STP`: an ELF into RAM, started as the updater."""
        if args:
            self.core.error()
            return
        self.core.reply()
        self.stp.enter_stp(StpPurpose.LOAD_ELF, self.core.profile.ffh_max_transfer)


# The boot loader (FFH) of every family knows only these (its image holds no other command
# name); it never echoes.
FFH_COMMANDS: dict[str, Handler] = {
    "": AtCommands._cmd_at,
    "+SMOD": AtCommands._cmd_smod,
    "+IPR": AtCommands._cmd_ipr,
    "+STP": AtCommands._cmd_stp,
}

APP_COMMANDS: dict[str, Handler] = {
    "": AtCommands._cmd_at,
    "E": AtCommands._cmd_echo,
    "+BIND": AtCommands._cmd_ok,
    "+SMOD": AtCommands._cmd_smod,
    "+BMOD": AtCommands._cmd_bmod,
    "+SMSWBOOT": AtCommands._cmd_smswboot,
    "^RESET": AtCommands._cmd_reset,
    "+CFUN": AtCommands._cmd_cfun,
    "+IPR": AtCommands._cmd_ipr,
    "+SMSTPU": AtCommands._cmd_smstpu,
    "+SMUPGRADE": AtCommands._cmd_smupgrade,
    "+SQNSUPGRADENTF": AtCommands._cmd_notify,
    "+SQNWL": AtCommands._cmd_sqnwl,
    "+SMLOG": AtCommands._cmd_smlog,
    "+FSRDFILE": AtCommands._cmd_fsrdfile,
    "!": AtCommands._cmd_showver,
    "I": AtCommands._cmd_info,
    "+CGSN": AtCommands._cmd_cgsn,
}

# The handlers the updater ELF carries (+SMOD, +BMOD, +SMSWBOOT, +IPR, +IFC, +ICF, +SMLOG, +SMSTPU,
# +SMUPGRADE, ^RESET, +SHUTDOWN, ...); recovery runs the same image.
UPDATER_COMMANDS: dict[str, Handler] = {
    "": AtCommands._cmd_at,
    "E": AtCommands._cmd_echo,
    "+SMOD": AtCommands._cmd_smod,
    "+BMOD": AtCommands._cmd_bmod,
    "+SMSWBOOT": AtCommands._cmd_smswboot,
    "+IPR": AtCommands._cmd_ipr,
    "+IFC": AtCommands._cmd_ok,
    "+ICF": AtCommands._cmd_ok,
    "+SMLOG": AtCommands._cmd_smlog,
    "+SMSTPU": AtCommands._cmd_smstpu,
    "+SMUPGRADE": AtCommands._cmd_smupgrade,
    "^RESET": AtCommands._cmd_reset,
    "+SMCLEANBOOT": AtCommands._cmd_ok,
}

# What each SMOD number runs: the updater image also serves RECOVERY and an updater reporting 1.
MONARCH1_COMMANDS: dict[int, Mapping[str, Handler]] = {
    Smod.FFH: FFH_COMMANDS,
    Smod.FFH_TOOL: UPDATER_COMMANDS,
    Smod.FFF: APP_COMMANDS,
    Smod.UPDATER: UPDATER_COMMANDS,
    Smod.RECOVERY: UPDATER_COMMANDS,
}
