"""How the simulated modem reboots, loses power and boots the selected image."""

from __future__ import annotations

from sqnflash.sim.modem_core import Applier, ModemCore, StpControl
from sqnflash.sim.modes import BOOT_TO_SMOD, ECHO_MODES, MODE_NAMES, Smod, StpPurpose


class BootCycle:
    """Reboots and power cycles: what is in progress is cut short (through the apply phase and
    the STP endpoint it is given), and the selected image boots after the silence."""

    def __init__(self, core: ModemCore, applier: Applier, stp: StpControl) -> None:
        self.core = core
        self.applier = applier
        self.stp = stp

    @property
    def booting(self) -> bool:
        return self.core.booting

    def reboot(self, reason: str, *, announce: bool) -> None:
        """Shut down (after the pending reply has left) and boot the selected image."""
        if announce:
            self.core.urc("+SHUTDOWN")
        self.core.send(b"\x00")
        self.core.note(f"reboot ({reason})")
        self.core.idle.busy()
        self.applier.interrupt_apply(f"interrupted by a reboot ({reason})")
        self.core.cancel_timers()
        self.stp.leave_stp()
        self.core.applying = False
        self.core.mode = None
        self.core.data_mode = False
        self.core.commands.take_rest()
        delay = self.core.config.reboot_s + self.core.faults.boot_silence_s()
        self.core.later(delay, self._boot)

    def power_cycle(self) -> None:
        """Power removed and restored: no +SHUTDOWN, whatever was in progress is lost."""
        self.core.note("power cycle")
        self.core.idle.busy()
        if self.core.sink is not None and self.core.stp_purpose == StpPurpose.ON_THE_FLY:
            self.stp.abandon_transfer("power lost during an ON_THE_FLY transfer")
        if self.core.applying and self.core.pending_apply is None:
            self.core.flash.app_ok = False
        self.applier.interrupt_apply("interrupted by a power loss")
        self.core.cancel_timers()
        self.stp.leave_stp()
        self.core.applying = False
        self.core.mode = None
        self.core.later(self.core.config.reboot_s, self._boot)

    def _boot(self) -> None:
        if self.core.pending_apply is not None:
            target = Smod.UPDATER
        else:
            target = BOOT_TO_SMOD[self.core.flash.boot]
            if target == Smod.FFF and not self.core.flash.app_ok:
                target = Smod.RECOVERY
                self.core.note("application image damaged: booting RECOVERY")
        if target == Smod.FFF and self.core.faults.boot_into_recovery():
            target = Smod.RECOVERY
        baud = self.core.profile.boot_baud(target)
        self.core.wire.modem_baud = self.core.faults.boot_baud(baud)
        self.core.mode = target
        self.core.idle.ready(self.core.engine.time)
        self.core.echo = self.core.profile.echoes(ECHO_MODES[target])
        self.core.cfun = 1
        self.core.refused_since_boot.clear()
        self.core.commands.take_rest()
        self.core.note(f"booted {MODE_NAMES[target]} at {self.core.wire.modem_baud} baud")
        if target == Smod.FFF:
            self.core.urc("+SYSSTART")
        elif target == Smod.FFH and self.core.profile.sysffh:
            self.core.send(b"+SYSFFH\r\n")  # framed as the boot loader's replies
        if self.core.pending_apply is not None:
            verdict = self.core.pending_apply
            self.core.pending_apply = None
            self.applier.start_apply(verdict, via="store")
