"""`sqnflash recover`: from whatever state, back to a working application, saying why."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sqnflash.cli.main import main
from sqnflash.errors import RecoverNeedsImage, UpdaterRequired
from sqnflash.events import StepFinished
from sqnflash.sim.simulator import forget, named
from sqnflash.upgrade.recover import recover
from tests.support.cli import run_cli
from tests.support.images import FROM, TO, Firmware
from tests.support.modems import SimModem


def finished(sim: SimModem) -> dict[str, str]:
    return {e.step: e.outcome for e in sim.events if isinstance(e, StepFinished)}


def test_a_working_application_needs_nothing_but_its_radio(firmware: Firmware) -> None:
    sim = SimModem()
    sim.modem.wake()
    sim.modem.at.command("AT+CFUN=4")  # as an interrupted upgrade leaves it
    result = recover(sim.modem, emit=sim.events.append)
    assert not result.reflashed and result.actions == ["radio-on"]
    assert sim.sim.modem.cfun == 1 and sim.said("nothing to recover")


def test_recovery_with_an_intact_application_reboots_without_sending_anything(
        firmware: Firmware) -> None:
    sim = SimModem("mode=recovery")
    result = recover(sim.modem, emit=sim.events.append)  # no image needed
    assert not result.reflashed and result.after.software_build == FROM
    assert finished(sim) == {"try-application": "done"}
    assert sim.state["mode"] == "FFF" and sim.state["stp_sessions"] == 0


def test_recovery_with_the_application_gone_writes_the_image_again(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&broken_app=1")
    with pytest.raises(RecoverNeedsImage) as caught:
        recover(sim.modem, emit=sim.events.append)
    assert caught.value.exit_code == 77 and "recovery" in (caught.value.modem_state or "")
    result = recover(sim.modem, firmware.full, emit=sim.events.append)
    assert result.reflashed and result.after.software_build == TO
    assert sim.said("the application is gone and has to be written again")
    assert sim.state["mode"] == "FFF" and sim.state["version"] == TO


def test_a_differential_image_cannot_rebuild_a_missing_application(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&broken_app=1")
    with pytest.raises(RecoverNeedsImage, match="differential"):
        recover(sim.modem, firmware.diff, emit=sim.events.append)


def test_the_boot_loader_needs_the_updater_and_then_maybe_nothing_else(
        firmware: Firmware) -> None:
    sim = SimModem("mode=ffh")
    with pytest.raises(UpdaterRequired):
        recover(sim.modem, emit=sim.events.append)
    result = recover(sim.modem, updater=firmware.updater, emit=sim.events.append)
    assert result.actions == ["negotiate-baud", "send-updater", "try-application"]
    assert not result.reflashed and sim.state["mode"] == "FFF"


def test_the_boot_loader_with_the_application_gone_gets_updater_and_image(
        firmware: Firmware) -> None:
    sim = SimModem("mode=ffh&broken_app=1")
    result = recover(sim.modem, firmware.full, updater=firmware.updater, emit=sim.events.append)
    assert result.reflashed and sim.state["version"] == TO and sim.state["mode"] == "FFF"


def test_a_modem_still_applying_is_left_to_finish(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&apply_s=20")
    sim.modem.wake()
    sim.modem.upload('AT+SMSTPU="ON_THE_FLY"', firmware.full.source())
    result = recover(sim.modem, emit=sim.events.append)
    assert result.actions[0] == "finish-apply"
    assert sim.state["mode"] == "FFF" and sim.state["version"] == TO


def test_cli_recover_json_and_exit_codes(firmware: Firmware, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    name = f"recover-{uuid.uuid4().hex}"
    url = f"sim://{name}?clock=virtual&version={FROM}&mode=recovery&broken_app=1"
    try:
        code, out = run_cli(["recover", "--port", url, "--json"], capsys)
        assert code == 77 and out[-1]["type"] == "error" and out[-1]["code"] == "SQF-E508"
        image = firmware.path_of_full()
        code, out = run_cli(["recover", "--port", url, str(image), "--json"], capsys)
        assert code == 0 and out[-1]["type"] == "result" and out[-1]["reflashed"] is True
        assert out[-1]["after"]["software_build"] == TO
        assert {"step-started", "transfer-started", "note"} <= {o["type"] for o in out}
        sim = named(name)
        assert sim is not None and sim.summary()["mode"] == "FFF"
    finally:
        forget(name)


def test_cli_recover_text_says_what_it_did(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sim://?clock=virtual&version={FROM}&mode=recovery"
    assert main(["recover", "--port", url]) == 0
    out = capsys.readouterr().out
    assert "Reboot into the application" in out and "nothing had to be sent" in out
