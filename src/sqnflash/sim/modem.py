"""The simulated Sequans Monarch 1 (SQN3330) modem.

A state machine driven by bytes from the wire and by timers: boot modes with their own AT command
sets, reboots, baud rates, the STP slave, flash writes, the apply phase and version reports.
`SimModem` builds its parts and wires them together, one module and one object each: the core
(state, output, command input: sim/modem_core.py), the AT command handlers (sim/at_commands.py),
the STP endpoint (sim/stp_endpoint.py), the apply phase (sim/apply_phase.py), reboots
(sim/boot_cycle.py) and the version reports (sim/reports.py). What kind of modem it plays is its
`ModemProfile` (sim/profile.py): the command set of each mode, below, and the knobs of
`SimConfig`.

Behaviour chosen where the public record is silent (each is a documented choice, not a fact;
the points where more than one answer is plausible are knobs, with named bundles of them, the
protocol variants: see `sqnflash.sim.config`):
- Echo: with `echo=1` the application echoes after every boot; by default the updater, recovery
  and boot loader never echo on their own (Pycom's fixed-count reads after `AT+SMSTPU` need that);
  `echo=app,recovery,updater,ffh` picks the modes that do. `ATE1` / `ATE0` switch it in the
  application, updater and recovery (the boot loader answers ERROR).
- Reply shape: the application, updater and recovery answer
  `\\r\\n<line>\\r\\n...\\r\\n\\r\\nOK\\r\\n` (a blank line before the final result,
  as observed for ATI), except `AT+SMOD?` (`\\r\\n2\\r\\nOK\\r\\n`) and `AT+SMLOG?`, which are
  observed without the blank line. The boot loader (FFH) answers without the leading line break
  (`0\\r\\nOK\\r\\n`, `OK\\r\\n`) and never echoes. `AT+FSRDFILE` answers
  `\\r\\n\\r\\nERROR\\r\\n` (no crash dump), as observed.
- Command sets: the boot loader knows only `AT`, `AT+SMOD?`, `AT+IPR` and `AT+STP`; the updater and
  recovery know the handlers listed in `UPDATER_COMMANDS` (no `ATI`, `AT+CGSN`, `AT+CFUN` or
  showver); anything else answers ERROR.
- `AT+SMSWBOOT?` answers `+SMSWBOOT: <NAME>` (`smswboot_reply=bare`: just the name). The boot
  selection persists across reboots, so a modem switched to RECOVERY comes back there after a
  power cycle until switched back to FFF.
- A reboot emits `+SHUTDOWN` (for `AT^RESET`, `AT+SMSWBOOT=m,1`, `AT+SMUPGRADE` and the updater's
  own reboot once a stored upgrade is applied), a NUL byte as the UART re-initialises, then
  silence for `reboot_s` during which every received byte is dropped; the application then sends
  `+SYSSTART`; recovery, updater and boot loader send nothing (`sysffh=1`: the boot loader
  sends `+SYSFFH`). The boot loader starts at 115200 baud, everything else at 921600.
- `AT+IPR=<baud>` answers OK at the old rate and switches after it; the rate lasts until the next
  boot. An updater loaded with `AT+STP` keeps the rate the boot loader was talking at.
- `AT+STP` in the boot loader: an ELF is loaded and started as the updater after `updater_load_s`;
  it reports SMOD `updater_smod` (3 by default) and the boot selection stays FFH, so a reset brings
  the boot loader back (`mode=updater` starts in exactly that state, at 921600). Anything else,
  or an ELF cut short before the end of its header tables, is dropped after the session closes
  and the boot loader stays in SMOD 0.
- If the application image is damaged (an interrupted or failed ON_THE_FLY write of a full image
  outside the application), booting FFF falls back to RECOVERY.
- With the factory bootrom (Bootloader0 33080) `AT+SMSWBOOT=0,<r>` answers ERROR; flashing a bootrom
  package ON_THE_FLY updates Bootloader0 and lifts that. A full image updates Software and
  Bootloader1/2 but not Bootloader0, as observed on real modems: it writes the boot loader slot
  that is not active and activates it (the `*` in showver); on a factory modem (both slots NA)
  it writes both, the normal method starting slot 1 and the recovery method slot 2.
- Uploads are judged by their contents (sim/images.py): any package whose trailers verify and
  whose build strings say what it installs, real files included. A full image of the other
  family installs and switches the modem's family; a differential image only patches its own
  family and build. A Monarch 2 (LR 8) image is refused when applied (and a Monarch 1 image by
  the Monarch 2 profile, sim/monarch2.py).
- `AT+SMUPGRADE?` keeps its last word (`No report`, `on-going`, `success`, `fail`) until the next
  upgrade starts; during a reboot nothing answers (an empty reply). An apply cut short by a reset
  or a power loss reports `fail` (never a stale `on-going`); a full image cut short outside the
  application leaves the application damaged.
- `AT+SMUPGRADE` answers OK for any stored file (`smupgrade_reply=none`: it reboots without one)
  and the updater checks it: the FFF method reboots into the updater (SMOD 3) to apply, then
  reboots into FFF once it succeeded, selecting FFF even when it was started from RECOVERY
  (Pycom's resume with a stored file sends no `AT+SMSWBOOT=1,1` and expects the application back
  by itself); after a failure it reboots into the image that was selected before.
- `AT+SMSTPU` answers `\\r\\nOK\\r\\n` (`stpu_reply=bare`: `OK\\r\\n`; `open`: `\\r\\nOK` and no
  line end) and stores at most `store_limit` bytes (4 MiB): the block that crosses the limit is
  partly consumed (a residue), every later block comes back whole as residue, so the transfer
  stalls and the host has to give up. Closed with a RESET, the stored part is an incomplete file
  that `AT+SMUPGRADE` accepts and the updater reports as `fail`; abandoned without one, it is
  dropped with the session and `AT+SMUPGRADE` answers ERROR (nothing stored).
- In STP mode, a session that sees no byte for `stp_idle_timeout_s` is abandoned and the modem goes
  back to AT commands; a partial ON_THE_FLY write leaves the application damaged.
- ON_THE_FLY in the application accepts only a bootrom package. A differential image must be stored
  (`AT+SMSTPU`); sent ON_THE_FLY it fails without harm.
"""

from __future__ import annotations

from typing import Any

from sqnflash.sim.apply_phase import ApplyPhase
from sqnflash.sim.at_commands import (
    APP_COMMANDS,
    FFH_COMMANDS,
    MONARCH1_COMMANDS,
    UPDATER_COMMANDS,
    AtCommands,
)
from sqnflash.sim.boot_cycle import BootCycle
from sqnflash.sim.config import SimConfig
from sqnflash.sim.engine import Engine
from sqnflash.sim.images import Family, lr_version
from sqnflash.sim.modem_core import CONFIG_MODES, PLUS_GUARD_S, ModemCore
from sqnflash.sim.modes import BOOT_TO_SMOD, ECHO_MODES, MODE_NAMES, Boot, Flash, Smod, StpPurpose
from sqnflash.sim.monarch2 import monarch2_profile
from sqnflash.sim.profile import MONARCH1_BAUDS, ModemProfile
from sqnflash.sim.reports import ue_version
from sqnflash.sim.stp_endpoint import PAGE_SIZE, StpEndpoint

__all__ = [
    "APP_COMMANDS",
    "BOOT_TO_SMOD",
    "CONFIG_MODES",
    "ECHO_MODES",
    "FFH_COMMANDS",
    "MODE_NAMES",
    "MONARCH1_COMMANDS",
    "PAGE_SIZE",
    "PLUS_GUARD_S",
    "SUPPORTED_BAUDS",
    "UPDATER_COMMANDS",
    "Boot",
    "Flash",
    "SimModem",
    "Smod",
    "StpPurpose",
    "ue_version",
]

SUPPORTED_BAUDS = MONARCH1_BAUDS


class SimModem:
    """One simulated modem behind one wire: a Monarch 1, or a Monarch 2 for `family=monarch2`,
    unless another profile is given.

    The parts never hold one another directly where that would make a cycle: the core hands its
    input to the AT commands and the STP endpoint through the two routes below, and the parts
    that restart the modem ask this object (a `Rebooter`) to do it."""

    def __init__(self, config: SimConfig, engine: Engine,
                 profile: ModemProfile | None = None) -> None:
        if profile is None:
            profile = (monarch2_profile(config) if config.family == Family.MONARCH2
                       else ModemProfile.monarch1(config, MONARCH1_COMMANDS))
        self.core = core = ModemCore(config, engine, profile, on_command=self._command,
                                     on_stp_input=self._stp_input)
        self.apply = ApplyPhase(core, self)
        self.stp = StpEndpoint(core, self.apply, self)
        self.at = AtCommands(core, self.stp, self)
        self.boot = BootCycle(core, self.apply, self.stp)
        # What the simulator, the board, the tools and the tests read: the core's own objects.
        self.config, self.profile, self.engine = config, profile, engine
        self.faults, self.flash, self.wire = core.faults, core.flash, core.wire
        self.idle, self.log, self.received_commands = core.idle, core.log, core.received_commands

    def _command(self, command: str) -> None:
        self.at.dispatch(command)

    def _stp_input(self, data: bytes) -> None:
        self.stp.stp_input(data)

    def reboot(self, reason: str, *, announce: bool) -> None:
        """Shut down (after the pending reply has left) and boot the selected image."""
        self.boot.reboot(reason, announce=announce)

    def power_cycle(self) -> None:
        """Power removed and restored: no +SHUTDOWN, whatever was in progress is lost."""
        self.boot.power_cycle()

    def receive(self, data: bytes) -> None:
        """Bytes that reached the modem's UART."""
        self.core.receive(data)

    def showver_lines(self) -> list[str]:
        return self.at.showver_lines()

    @property
    def booting(self) -> bool:
        return self.core.booting

    @property
    def in_stp(self) -> bool:
        return self.core.in_stp

    @property
    def mode(self) -> Smod | None:
        return self.core.mode

    @property
    def echo(self) -> bool:
        return self.core.echo

    @property
    def data_mode(self) -> bool:
        return self.core.data_mode

    @property
    def cfun(self) -> int:
        return self.core.cfun

    @property
    def stp_sessions(self) -> int:
        return self.stp.stp_sessions

    @property
    def stp_repeats(self) -> int:
        return self.stp.stp_repeats

    @property
    def overrun_bytes(self) -> int:
        return self.stp.overrun_bytes

    def summary(self) -> dict[str, Any]:
        return {
            "mode": MODE_NAMES[self.mode] if self.mode is not None else "BOOTING",
            "smod": int(self.mode) if self.mode is not None else None,
            "version": self.flash.software,
            "family": self.flash.family.value,
            "lr_version": lr_version(self.flash.family, self.flash.software),
            "bootrom": self.flash.bootrom,
            "app_ok": self.flash.app_ok,
            "boot": self.flash.boot.name,
            "baud": self.wire.modem_baud,
            "report": self.flash.report,
            "upgrades_applied": sum(1 for h in self.flash.history if h["result"] == "success"),
            "upgrades": list(self.flash.history),
            "imei": self.flash.imei,
            "stp_sessions": self.stp_sessions,
            "stp_repeats": self.stp_repeats,
            "overrun_bytes": self.overrun_bytes,
            **{k: round(v, 4) for k, v in self.idle.to_dict().items()},
            "wire_busy_s": round(self.wire.wire_time_s, 4),
        }

