"""A modem's kind is its profile: the simulator's parts answer as the profile says."""

from __future__ import annotations

import dataclasses

from sqnflash.sim.config import SimConfig
from sqnflash.sim.engine import Engine
from sqnflash.sim.modem import APP_COMMANDS, MONARCH1_COMMANDS, SimModem, Smod
from sqnflash.sim.profile import ModemProfile
from sqnflash.timing import VirtualClock


def _ask(modem: SimModem, command: str) -> bytes:
    modem.wire.host_write(command.encode("ascii") + b"\r")
    modem.engine.run_until(modem.engine.time + 1.0)
    return modem.wire.host_read(modem.wire.host_available())


def _modem(config: SimConfig, profile: ModemProfile | None = None) -> SimModem:
    return SimModem(config, Engine(VirtualClock()), profile)


def test_the_variant_settings_become_the_profile() -> None:
    config = SimConfig(echo="app,updater", max_transfer=2048, otf_max_transfer=4096,
                       line_ending="lf", reply_hcrc="filled", updater_smod=4)
    profile = ModemProfile.monarch1(config, MONARCH1_COMMANDS)
    assert profile.echoes("app") and profile.echoes("updater") and not profile.echoes("ffh")
    assert (profile.store_max_transfer, profile.otf_max_transfer) == (2048, 4096)
    assert profile.line_end == b"\n" and profile.reply_hcrc_filled and profile.updater_smod == 4


def test_a_modem_answers_with_the_command_set_and_model_of_its_profile() -> None:
    config = SimConfig(clock="virtual")
    monarch1 = ModemProfile.monarch1(config, MONARCH1_COMMANDS)
    without_imei = {k: v for k, v in APP_COMMANDS.items() if k != "+CGSN"}
    other = dataclasses.replace(monarch1, model="OTHER1",
                                commands={**MONARCH1_COMMANDS, Smod.FFF: without_imei})
    plain, changed = _modem(config), _modem(config, other)
    assert b"VZM20Q" in _ask(plain, "ATI") and b"OTHER1" in _ask(changed, "ATI")
    assert _ask(plain, "AT+CGSN").endswith(b"OK\r\n")
    assert _ask(changed, "AT+CGSN").endswith(b"ERROR\r\n")


def test_the_boot_loader_knows_only_its_own_commands() -> None:
    modem = _modem(SimConfig(clock="virtual", mode="ffh", host_baud=115200))
    assert _ask(modem, "AT+SMOD?") == b"0\r\nOK\r\n"
    assert _ask(modem, "ATI").endswith(b"ERROR\r\n")
