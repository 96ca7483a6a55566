"""Every upgrade flow, end to end, through sim:// on virtual time: the code a real port uses."""

from __future__ import annotations

import uuid
from itertools import pairwise

import pytest

from sqnflash.errors import (
    ApplyFailed,
    DiffSourceMismatch,
    Interrupted,
    ModeSwitchFailed,
    UpdaterRequired,
    VersionMismatch,
)
from sqnflash.events import Event, TransferProgress, Waiting
from sqnflash.firmware import load_image
from sqnflash.modem import Modem
from sqnflash.protocol.modes import Mode
from sqnflash.sim.images import ImageKind
from sqnflash.upgrade import Flow, Method, upgrade
from tests.support.images import FROM, TO, Images
from tests.support.modems import SimModem


def test_fff_method_applies_a_differential_image(images: Images) -> None:
    run = SimModem()
    result = run.upgrade(images.diff)
    assert result.plan.method == Method.FFF
    assert (result.before.software_build, result.after.software_build) == (FROM, TO)
    assert run.state["version"] == TO and run.state["mode"] == "FFF"
    assert run.state["upgrades"][-1]["via"] == "store"
    progress = [e for e in run.events if isinstance(e, TransferProgress)]
    assert progress[-1].done == progress[-1].total == images.diff.stat().st_size
    assert [p.done for p in progress] == sorted(p.done for p in progress)


def test_large_full_image_goes_on_the_fly_through_recovery(images: Images) -> None:
    run = SimModem()
    result = run.upgrade(images.full)
    assert result.plan.method == Method.ON_THE_FLY
    assert [s.id for s in result.plan.steps] == [
        "prepare", "switch-recovery", "send-image", "apply", "switch-application", "verify"]
    assert run.state["version"] == TO and run.state["mode"] == "FFF"
    assert run.state["upgrades"][-1]["via"] == "on-the-fly"
    assert result.transfers["send-image"].max_transfer == 8192


def test_method_can_be_forced(images: Images) -> None:
    run = SimModem()
    result = run.upgrade(images.small_full, method=Method.ON_THE_FLY)
    assert result.plan.method == Method.ON_THE_FLY
    assert run.state["upgrades"][-1]["via"] == "on-the-fly"


def test_old_bootrom_modem_gets_bootrom_updater_and_image(images: Images) -> None:
    run = SimModem("&old_bootrom=1")
    assert run.state["bootrom"] == 33080
    result = run.upgrade(images.full, updater=images.updater)
    assert result.plan.flow == Flow.OLD_BOOTROM
    assert result.before.old_bootrom
    assert run.state["version"] == TO and run.state["mode"] == "FFF"
    assert run.state["bootrom"] != 33080
    sent = {t.step: t for t in run.transfers()}
    assert sent["send-updater"].max_transfer == 2048  # the boot loader's session
    package = load_image(images.full).bootrom_package
    assert package is not None and sent["send-bootrom"].total == package.size
    assert any("baud rate negotiated: 115200 -> 921600" in n for n in run.notes())


def test_old_bootrom_with_a_separate_bootrom_file(images: Images) -> None:
    run = SimModem("&old_bootrom=1")
    bootrom = images.make(ImageKind.BOOTROM)
    result = run.upgrade(images.full, updater=images.updater, bootrom=bootrom)
    assert result.plan.bootrom_source == bootrom.name
    assert run.state["version"] == TO


def test_old_bootrom_without_updater_is_refused_before_anything_changes(images: Images) -> None:
    run = SimModem("&old_bootrom=1")
    with pytest.raises(UpdaterRequired):
        run.upgrade(images.full)
    assert run.state["mode"] == "FFF" and run.state["version"] == FROM
    assert run.sim.modem.stp_sessions == 0


def test_resume_from_boot_loader_at_115200_while_host_starts_at_921600(images: Images) -> None:
    run = SimModem("&mode=ffh")
    assert run.modem.link.baud == 921600
    result = run.upgrade(images.full, updater=images.updater)
    assert result.before.mode == Mode.FFH
    assert result.plan.flow == Flow.RESUME_FFH
    assert any("answers at 115200" in n for n in run.notes())
    assert any("115200 -> 921600" in n for n in run.notes())
    assert run.state["version"] == TO and run.state["mode"] == "FFF"


def test_resume_from_boot_loader_needs_updater(images: Images) -> None:
    run = SimModem("&mode=ffh")
    with pytest.raises(UpdaterRequired) as caught:
        run.upgrade(images.full)
    assert "boot loader" in caught.value.cause


def test_resume_from_upgrade_mode_sends_the_image_directly(images: Images) -> None:
    run = SimModem("&mode=recovery")
    result = run.upgrade(images.small_full)
    assert result.plan.flow == Flow.RESUME_RECOVERY
    assert result.plan.steps[0].id == "send-image"
    assert run.state["version"] == TO and run.state["mode"] == "FFF"


def test_smswboot_error_falls_back_to_no_reboot_and_reset(images: Images) -> None:
    run = SimModem("&fault_smswboot_error=reboot")
    run.upgrade(images.full)
    assert any("AT+SMSWBOOT=3,1 answered ERROR" in n for n in run.notes())
    assert run.state["version"] == TO
    assert "AT^RESET" in run.sim.modem.received_commands


def test_smswboot_refused_both_ways_stops_with_modem_unchanged(images: Images) -> None:
    run = SimModem("&fault_smswboot_error=both")
    with pytest.raises(ModeSwitchFailed) as caught:
        run.upgrade(images.full)
    assert caught.value.modem_state is not None and "unchanged" in caught.value.modem_state
    assert run.state["mode"] == "FFF" and run.state["version"] == FROM


def test_apply_fail_is_a_clean_error(images: Images) -> None:
    run = SimModem("&fault_apply_fail=2")  # a first fail gets the image sent once more
    with pytest.raises(ApplyFailed) as caught:
        run.upgrade(images.full)
    error = caught.value
    assert error.code == "SQF-E501" and error.exit_code == 70
    assert "fail" in error.cause and error.hint
    assert error.details["step"] == "apply"


def test_diff_for_another_build_is_refused_before_touching_the_modem(images: Images) -> None:
    run = SimModem()
    wrong = images.make(ImageKind.DIFF, source=37781)
    with pytest.raises(DiffSourceMismatch):
        run.upgrade(wrong)
    assert run.sim.modem.stp_sessions == 0 and run.state["version"] == FROM


def test_a_wrong_version_after_the_upgrade_fails_loudly(images: Images) -> None:
    run = SimModem()
    # The name promises 41020; the content installs 41019.
    liar = images.folder / "CATM1-41020.dup"
    liar.write_bytes(images.small_full.read_bytes())
    with pytest.raises(VersionMismatch) as caught:
        run.upgrade(liar)
    assert "41019" in caught.value.cause and "41020" in caught.value.cause


def test_ctrl_c_during_the_transfer_says_where_the_modem_is(images: Images) -> None:
    run = SimModem()

    def interrupt(event: Event) -> None:
        run.events.append(event)
        if isinstance(event, TransferProgress) and event.done > event.total // 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        upgrade(run.modem, load_image(images.full), emit=interrupt)
    assert caught.value.exit_code == 130
    assert caught.value.modem_state is not None and "RECOVERY" in caught.value.modem_state
    assert run.state["mode"] == "RECOVERY"


@pytest.mark.parametrize("settings", ["&echo=1", "&reply_hcrc=0", "&fault_reply_hcrc=0",
                                      "&fault_urc_rate=0.3&seed=3"])
def test_modem_variants(images: Images, settings: str) -> None:
    """Echo on, STP replies with hcrc 0, unsolicited lines inside replies."""
    run = SimModem(settings)
    run.upgrade(images.small_full, method=Method.ON_THE_FLY)
    assert run.state["version"] == TO


def test_named_simulator_survives_reopening(images: Images) -> None:
    """Opening the same sim:// name twice reaches the same modem, like a device node."""
    name = f"reopen-{uuid.uuid4().hex}"
    url = f"sim://{name}?clock=virtual&version={FROM}"
    first = Modem.open(url)
    first.wake()
    first.reboot_into(Mode.RECOVERY)
    first.close()
    second = Modem.open(url)
    second.wake()
    assert second.mode() == Mode.RECOVERY
    second.close()


def test_apply_heartbeats_come_at_least_every_ten_seconds(images: Images) -> None:
    run = SimModem("&apply_s=60")
    run.upgrade(images.diff)
    beats = [e.elapsed_s for e in run.events if isinstance(e, Waiting)]
    assert beats and beats[-1] >= 60
    gaps = [b - a for a, b in pairwise([0.0, *beats])]
    assert max(gaps) <= 10.0


def test_modem_in_data_mode_is_woken_with_the_escape_sequence() -> None:
    run = SimModem("&data_mode=1")
    assert run.modem.wake() == 921600
    assert run.modem.mode() == Mode.APPLICATION
    assert run.sim.modem.data_mode is False
