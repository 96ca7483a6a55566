"""How the simulated modem reboots, loses power and boots the selected image."""

from __future__ import annotations

from sqnflash.sim.modem_core import ModemCore
from sqnflash.sim.modes import BOOT_TO_SMOD, ECHO_MODES, MODE_NAMES, Smod, StpPurpose


class BootCycle(ModemCore):
    def reboot(self, reason: str, *, announce: bool) -> None:
        """Shut down (after the pending reply has left) and boot the selected image."""
        if announce:
            self._urc("+SHUTDOWN")
        self._send(b"\x00")
        self._note(f"reboot ({reason})")
        self.idle.busy()
        self._interrupt_apply(f"interrupted by a reboot ({reason})")
        self._cancel_timers()
        self._leave_stp()
        self._applying = False
        self.mode = None
        self.data_mode = False
        self._commands.take_rest()
        delay = self.config.reboot_s + self.faults.boot_silence_s()
        self._later(delay, self._boot)

    def power_cycle(self) -> None:
        """Power removed and restored: no +SHUTDOWN, whatever was in progress is lost."""
        self._note("power cycle")
        self.idle.busy()
        if self._sink is not None and self._stp_purpose == StpPurpose.ON_THE_FLY:
            self._abandon_transfer("power lost during an ON_THE_FLY transfer")
        if self._applying and self._pending_apply is None:
            self.flash.app_ok = False
        self._interrupt_apply("interrupted by a power loss")
        self._cancel_timers()
        self._leave_stp()
        self._applying = False
        self.mode = None
        self._later(self.config.reboot_s, self._boot)

    def _boot_baud(self, mode: Smod) -> int:
        if mode == Smod.FFH:
            return self.profile.ffh_baud
        return self.profile.recovery_baud if mode == Smod.RECOVERY else self.profile.app_baud

    def _boot(self) -> None:
        if self._pending_apply is not None:
            target = Smod.UPDATER
        else:
            target = BOOT_TO_SMOD[self.flash.boot]
            if target == Smod.FFF and not self.flash.app_ok:
                target = Smod.RECOVERY
                self._note("application image damaged: booting RECOVERY")
        if target == Smod.FFF and self.faults.boot_into_recovery():
            target = Smod.RECOVERY
        baud = self._boot_baud(target)
        self.wire.modem_baud = self.faults.boot_baud(baud)
        self.mode = target
        self.idle.ready(self.engine.time)
        self.echo = self.profile.echoes(ECHO_MODES[target])
        self.cfun = 1
        self.refused_since_boot.clear()
        self._commands.take_rest()
        self._note(f"booted {MODE_NAMES[target]} at {self.wire.modem_baud} baud")
        if target == Smod.FFF:
            self._urc("+SYSSTART")
        elif target == Smod.FFH and self.profile.sysffh:
            self._send(b"+SYSFFH\r\n")  # framed as the boot loader's replies
        if self._pending_apply is not None:
            verdict = self._pending_apply
            self._pending_apply = None
            self._start_apply(verdict, via="store")
