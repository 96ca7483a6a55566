"""The Monarch 2 (GM02S / GM02SP) profile of the simulated modem.

What differs from the Monarch 1 (docs/protocol.md §2, §3, §5, §6):
- `ATI` names the module `GM02S`; `ATI1` answers `UE8.0.5.13` / `LR8.0.5.13-59577`.
- Every mode boots at 115200 baud and lists 9600 to 921600 for `AT+IPR=?` (the reference gives
  no GM02S list; the variant `m2-3686400` lists up to 3686400). Above 115200 its UART needs the
  host's RTS/CTS while it writes flash (`flow_control=required`, sim/flow.py): without it the
  image's block frames lose bytes.
- The application knows `AT+CFUN=5` (pysequans sends it before `AT+SMSWBOOT=3,1`), the
  switches, `AT+SMSTPU`, `AT+SMUPGRADE`, `ATI`, `ATI1`, `AT+CGSN` and `AT+SMLOG?`; nothing
  Pycom-specific (`AT+BIND`, `AT+SQNWL`, showver: its M2 format is not published).
- RECOVERY (SMOD 4) and the boot loader are those of the Monarch 1 (`AT+SMSTPU="ON_THE_FLY"`
  in RECOVERY, `AT+STP` in SMOD 0 loads mtools.elf, which then reports SMOD 1).
- STP sessions report version 2: the host may send TRANSFER_DATA_TYPE (op 4) after the open;
  a type with the zip bit (3, 5) makes the modem inflate the stream (zlib, 4 KiB window) before
  it checks the CRC-32 trailers of the containers. A damaged request is answered with a NACK
  (op | 0x40), an unknown operation with 0x7F.
- Only Monarch 2 images install; a full image on a modem below 8.0.4.0 fails as "raster upgrade
  required" (pysequans' gate: such a modem needs a raster upgrade first).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqnflash.sim.at_commands import APP_COMMANDS as MONARCH1_APP
from sqnflash.sim.at_commands import FFH_COMMANDS
from sqnflash.sim.at_commands import UPDATER_COMMANDS as MONARCH1_UPDATER
from sqnflash.sim.config import FFH_BAUD, SimConfig
from sqnflash.sim.images import Family
from sqnflash.sim.modes import Smod
from sqnflash.sim.profile import Handler, ModemProfile

MONARCH2_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

# A GM02S knows the Monarch 1's commands but Pycom's own ones and showver (its Monarch 2 format
# is not published); RECOVERY runs without the handlers the reference found only in Monarch 1's
# updater.elf.
NOT_ON_MONARCH2 = frozenset({"+BIND", "+SQNWL", "+SQNSUPGRADENTF", "+FSRDFILE", "!"})
MONARCH1_UPDATER_ONLY = frozenset({"+IFC", "+ICF", "+SMCLEANBOOT"})

APP_COMMANDS: dict[str, Handler] = {
    name: handler for name, handler in MONARCH1_APP.items() if name not in NOT_ON_MONARCH2}
RECOVERY_COMMANDS: dict[str, Handler] = {
    name: handler for name, handler in MONARCH1_UPDATER.items()
    if name not in MONARCH1_UPDATER_ONLY}

MONARCH2_COMMANDS: dict[int, Mapping[str, Handler]] = {
    Smod.FFH: FFH_COMMANDS,
    Smod.FFH_TOOL: RECOVERY_COMMANDS,
    Smod.FFF: APP_COMMANDS,
    Smod.UPDATER: RECOVERY_COMMANDS,
    Smod.RECOVERY: RECOVERY_COMMANDS,
}


def monarch2_profile(config: SimConfig) -> ModemProfile:
    """A GM02S answering as `config`'s knobs say, at 115200 baud in every mode."""
    m1 = ModemProfile.monarch1(config, MONARCH2_COMMANDS)
    return ModemProfile(
        name="Monarch 2 (GM02S)", commands=MONARCH2_COMMANDS, supported_bauds=MONARCH2_BAUDS,
        old_bootrom_build=0, model="GM02S",
        echo_modes=m1.echo_modes, updater_smod=1, bootrom_report=m1.bootrom_report,
        line_end=m1.line_end, swboot_error=m1.swboot_error, ffh_only_115200="",
        self_reboot_after_otf=m1.self_reboot_after_otf, smswboot_reply=m1.smswboot_reply,
        smod_reply=m1.smod_reply, sysffh=m1.sysffh, stpu_reply=m1.stpu_reply,
        reply_hcrc_filled=m1.reply_hcrc_filled,
        self_reboot_report=m1.self_reboot_report, bootloader0_kept=m1.bootloader0_kept,
        smupgrade_ok=m1.smupgrade_ok, refused=m1.refused, refused_once=m1.refused_once,
        upgrade_reported=m1.upgrade_reported,
        app_baud=config.app_baud, ffh_baud=FFH_BAUD, recovery_baud=config.recovery_baud,
        store_max_transfer=m1.store_max_transfer, otf_max_transfer=m1.otf_max_transfer,
        ffh_max_transfer=m1.ffh_max_transfer, store_limit=m1.store_limit,
        partial_blocks=m1.partial_blocks, stp_version=2,
        image_families=frozenset({Family.MONARCH2}), raster_gate=True,
        # The reference has no GM02S list: 9600 to 921600 unless `ipr_list` says otherwise.
        ipr_rates=(None if config.ipr_list.lower() == "none" else MONARCH2_BAUDS
                   if not config.ipr_list else
                   tuple(int(part) for part in config.ipr_list.split(","))),
        block_limit=m1.block_limit,
        block_refusal_command=m1.block_refusal_command)

