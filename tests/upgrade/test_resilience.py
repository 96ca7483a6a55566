"""An upgrade that meets a fault finishes when finishing is possible, and otherwise stops with
the modem where `recover` (or the same command again) can take it from."""

from __future__ import annotations

import pytest

from sqnflash.errors import LineTooNoisy, ModeSwitchFailed
from sqnflash.events import Event, TransferProgress
from sqnflash.upgrade import Method, Settings, upgrade
from tests.support.images import TO, Firmware
from tests.support.modems import SimModem


def run(sim: SimModem, firmware: Firmware, image: str = "full", **kwargs: object) -> None:
    upgrade(sim.modem, getattr(firmware, image), emit=sim.events.append, **kwargs)  # type: ignore[arg-type]


def test_a_reset_mid_transfer_starts_a_new_session_and_finishes(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&fault_reboot_at=120000")
    run(sim, firmware)
    assert sim.state["version"] == TO and sim.state["mode"] == "FFF"
    assert sim.state["stp_sessions"] == 2  # a new session is a new file: sent from the start
    assert sim.said("the modem rebooted during the transfer")
    assert sim.said("going back to 'Send CATM1-41019.dup ON_THE_FLY'")


def test_a_silent_power_loss_mid_transfer_is_noticed_and_the_transfer_restarts(
        firmware: Firmware) -> None:
    """Power loss into RECOVERY says nothing (no +SHUTDOWN, no +SYSSTART): the silence does."""
    sim = SimModem("mode=recovery&fault_power_loss_at=150000")
    run(sim, firmware)
    assert sim.state["version"] == TO and sim.state["stp_sessions"] == 2
    assert sim.said("left the transfer session and is back in recovery")


def test_power_lost_while_applying_sends_the_image_again(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&fault_power_loss_during=apply")
    run(sim, firmware)
    assert sim.state["version"] == TO
    assert sim.said("the modem restarted while applying CATM1-41019.dup")
    assert [h["result"] for h in sim.state["upgrades"]] == ["fail", "success"]


def test_the_updater_lost_in_a_power_cut_is_loaded_again(firmware: Firmware) -> None:
    sim = SimModem("mode=ffh&fault_power_loss_during=updater-load")
    run(sim, firmware, updater=firmware.updater)
    assert sim.state["version"] == TO
    assert sim.steps().count("send-updater") == 2 and sim.steps().count("negotiate-baud") == 2


def test_a_noisy_fast_line_falls_back_to_a_lower_baud_rate(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&fault_flip_rate=0.05&fault_noisy_above=460800&seed=4")
    run(sim, firmware)
    assert sim.state["version"] == TO
    assert sim.said("sending CATM1-41019.dup again from the start at 460800 baud")
    assert sim.transfers()[-1].baud == 460800


def test_a_noisy_line_at_the_lowest_rate_is_a_clear_error(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&fault_flip_rate=0.08&seed=2")
    with pytest.raises(LineTooNoisy) as caught:
        upgrade(sim.modem, firmware.full, emit=sim.events.append,
                settings=Settings(min_baud=921600))  # no lower rate to fall back to
    assert caught.value.code == "SQF-E406" and caught.value.exit_code == 65
    assert "921600 baud" in caught.value.cause and "64-byte blocks" in caught.value.cause


def test_one_percent_damage_shrinks_the_blocks_and_still_finishes(firmware: Firmware) -> None:
    sim = SimModem("fault_flip_rate=0.01&seed=9")
    result = upgrade(sim.modem, firmware.full, method=Method.ON_THE_FLY,
                     emit=sim.events.append)
    line = result.transfers["send-image"].line
    assert line is not None and line.smallest_block == 64 and line.failures > 100
    assert sim.state["version"] == TO


def test_a_lost_reply_costs_a_repeat_not_a_smaller_block(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&fault_no_reply_block=5")
    result = upgrade(sim.modem, firmware.full, emit=sim.events.append)
    line = result.transfers["send-image"].line
    assert line is not None and line.shrinks == 0
    assert sim.state["stp_repeats"] == 1 and sim.state["version"] == TO


def test_a_modem_that_comes_back_in_recovery_is_asked_again(firmware: Firmware) -> None:
    sim = SimModem("fault_boot_recovery=2")
    run(sim, firmware, method=Method.ON_THE_FLY)
    assert sim.state["version"] == TO and sim.state["mode"] == "FFF"
    assert sum("asking again" in n for n in sim.notes()) == 2


def test_a_modem_that_wakes_at_an_odd_rate_is_found(firmware: Firmware) -> None:
    sim = SimModem("fault_boot_baud=57600")
    run(sim, firmware, method=Method.ON_THE_FLY)
    assert sim.state["version"] == TO


def test_before_the_point_of_no_return_a_failure_leaves_the_modem_as_it_was(
        firmware: Firmware) -> None:
    sim = SimModem("fault_smswboot_error=both")
    sim.modem.wake()
    assert sim.sim.modem.cfun == 1
    with pytest.raises(ModeSwitchFailed) as caught:
        run(sim, firmware, method=Method.ON_THE_FLY)
    assert caught.value.details["past_point_of_no_return"] is False
    assert caught.value.modem_state is not None and "unchanged" in caught.value.modem_state
    assert sim.state["mode"] == "FFF" and sim.state["version"] != TO
    assert sim.sim.modem.cfun == 1  # the radio the upgrade switched off is on again
    assert not sim.said("point of no return")


def test_after_the_point_of_no_return_the_error_says_so_and_where_the_modem_is(
        firmware: Firmware) -> None:
    sim = SimModem("fault_apply_fail=2")
    with pytest.raises(Exception) as caught:
        run(sim, firmware, method=Method.ON_THE_FLY)
    error = caught.value
    assert getattr(error, "code", "") == "SQF-E501"
    assert error.details["past_point_of_no_return"] is True  # type: ignore[attr-defined]
    assert sum("point of no return" in n for n in sim.notes()) == 1
    assert sim.state["mode"] == "RECOVERY"  # where `recover` or the same command takes over


def test_a_modem_left_inside_a_transfer_session_is_found_and_released(
        firmware: Firmware) -> None:
    sim = SimModem("mode=recovery")
    stop_at = [False]

    def stop(event: Event) -> None:
        if isinstance(event, TransferProgress) and event.done > 100_000:
            stop_at[0] = True
            raise KeyboardInterrupt  # the process dies: nobody closes the session

    with pytest.raises(Exception, match="interrupted"):
        upgrade(sim.modem, firmware.full, emit=stop)
    assert stop_at[0] and sim.sim.modem.in_stp
    # No journal: the run cannot continue the session, but finds the modem inside it.
    run(sim, firmware)
    assert sim.said("inside a transfer session an interrupted run left open")
    assert sim.state["version"] == TO
