"""What kind of modem the simulator plays: a modem family, and its answers where variants differ.

A `ModemProfile` holds everything the parts of the simulated modem (sim/modem.py and the modules
it is built from) ask about the kind of modem they are: the AT command set of each boot mode, the
baud rates, the STP session sizes, the reply shapes of the protocol variants (the knobs of
`SimConfig`, sim/config.py), and the family's fixed facts. A variant, or another modem family, is
another profile; the parts do not change. What one modem is in (its software build, boot mode,
IMEI) and how long things take stay in `SimConfig`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqnflash.sim.config import OLD_BOOTROM_BUILD, SimConfig, command_names
from sqnflash.sim.images import Family
from sqnflash.sim.modes import Smod

# An AT command handler: (the AT commands part, sim/at_commands.py; the arguments after the
# command name).
Handler = Callable[[Any, str], None]
CommandSets = Mapping[int, Mapping[str, Handler]]  # per SMOD number

MONARCH1_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 2000000,
                  3000000, 3686400)


@dataclass(frozen=True)
class ModemProfile:
    name: str
    commands: CommandSets  # the handlers each mode knows; anything else answers ERROR
    supported_bauds: tuple[int, ...]
    old_bootrom_build: int  # a bootrom at or below this build cannot switch to the boot loader
    model: str  # ATI's second line
    # The knobs of the protocol variants (sim/config.py says what each one means).
    echo_modes: frozenset[str]  # app, recovery, updater, ffh: the modes that echo after a boot
    updater_smod: int
    bootrom_report: str
    line_end: bytes
    swboot_error: bool
    ffh_only_115200: str
    self_reboot_after_otf: bool
    smswboot_reply: str
    smod_reply: str
    sysffh: bool
    stpu_reply: str
    self_reboot_report: str  # AT+SMUPGRADE? once back in the application by itself
    bootloader0_kept: bool  # showver keeps the old Bootloader0 after a bootrom ON_THE_FLY
    smupgrade_ok: bool  # AT+SMUPGRADE answers OK before its reboot
    refused: frozenset[str]  # commands the application refuses (names without + or ^)
    refused_once: frozenset[str]  # commands RECOVERY and the updater refuse once per boot
    upgrade_reported: bool  # False: AT+SMUPGRADE? in RECOVERY and the updater says No report
    reply_hcrc_filled: bool
    app_baud: int
    ffh_baud: int
    recovery_baud: int
    store_max_transfer: int
    otf_max_transfer: int
    ffh_max_transfer: int
    store_limit: int
    partial_blocks: bool
    ipr_rates: tuple[int, ...] | None  # what AT+IPR=? lists; None: it answers ERROR
    block_limit: int | None  # the largest block really taken, below max_transfer - 16
    block_refusal_command: bool  # a larger block's command goes unanswered, not the block
    # Monarch 2 (sim/monarch2.py): STP session version 2 (TRANSFER_DATA_TYPE, zlib streams,
    # NACK and UNKNOWN replies) and images of its own generation only.
    stp_version: int = 1
    # The families whose images install (a full image switches between them); any other is
    # refused as "not a <name> build".
    image_families: frozenset[Family] = frozenset({Family.CATM1, Family.NB1})
    raster_gate: bool = False  # a full image on a build below LR 8.0.4.0 fails: raster first

    @classmethod
    def monarch1(cls, config: SimConfig, commands: CommandSets) -> ModemProfile:
        """A Monarch 1 (SQN3330, CAT-M1 or NB-IoT) answering as `config`'s knobs say."""
        return cls(
            name="Monarch 1 (SQN3330)", commands=commands, supported_bauds=MONARCH1_BAUDS,
            old_bootrom_build=OLD_BOOTROM_BUILD, model="VZM20Q",
            echo_modes=frozenset(filter(None, config.echo.split(","))),
            updater_smod=config.updater_smod, bootrom_report=config.bootrom_report,
            line_end=config.line_end, swboot_error=config.swboot_error,
            ffh_only_115200=config.ffh_only_115200,
            self_reboot_after_otf=config.self_reboot_after_otf,
            smswboot_reply=config.smswboot_reply, smod_reply=config.smod_reply,
            sysffh=config.sysffh, stpu_reply=config.stpu_reply,
            self_reboot_report=config.self_reboot_report,
            bootloader0_kept=config.bootloader0_after_otf == "kept",
            smupgrade_ok=config.smupgrade_reply == "ok",
            refused=frozenset(command_names(config.refuse)),
            refused_once=frozenset(command_names(config.refuse_once)),
            upgrade_reported=config.updater_report == "reported",
            reply_hcrc_filled=config.reply_hcrc == "filled",
            app_baud=config.app_baud, ffh_baud=config.ffh_baud,
            recovery_baud=config.recovery_baud,
            store_max_transfer=config.session_max_transfer(False),
            otf_max_transfer=config.session_max_transfer(True),
            ffh_max_transfer=config.ffh_max_transfer, store_limit=config.store_limit,
            partial_blocks=config.partial_blocks,
            ipr_rates=(None if config.ipr_list.lower() == "none" else MONARCH1_BAUDS
                       if not config.ipr_list else
                       tuple(int(part) for part in config.ipr_list.split(","))),
            block_limit=config.block_limit or None,
            block_refusal_command=config.block_refusal == "command")

    def boot_baud(self, mode: Smod) -> int:
        """The rate `mode` starts at after a boot."""
        if mode == Smod.FFH:
            return self.ffh_baud
        return self.recovery_baud if mode == Smod.RECOVERY else self.app_baud

    def echoes(self, mode: str) -> bool:
        """Whether `mode` (app, recovery, updater, ffh) echoes after its boot."""
        return mode in self.echo_modes
