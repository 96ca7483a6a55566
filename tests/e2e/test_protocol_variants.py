"""Every flow against the answers a real modem may give where the protocol reference is silent.

Each test plays one variant point (docs/protocol-variants.md) and checks what the user sees: the
upgrade completes and the trace says which answer it got, or it stops with a coded error that says
where the modem is, within 90 s of (simulated) time instead of the minutes a fixed wait costs.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import serial

import sqnsupgrade
from sqnflash.cli.main import main
from sqnflash.errors import (
    ApplyFailed,
    ApplyNotReported,
    NoResponse,
    SqnflashError,
    TransferSilent,
)
from sqnflash.events import Event, StepStarted, TransferProgress
from sqnflash.firmware import load_image
from sqnflash.modem import Modem
from sqnflash.protocol import stp
from sqnflash.protocol.modes import Mode
from sqnflash.sim.simulator import forget, named
from sqnflash.upgrade import Flow, Method, upgrade
from tests.support.images import FROM, TO, Images
from tests.support.modems import SimModem

from . import variants

VERDICT_S = 90.0  # the longest a user waits for a verdict on a modem that will not answer


def said(run: SimModem, text: str) -> bool:
    return any(text in note for note in run.notes())


# --------------------------------------------------------------------------- updater_smod


def upgraded_through_the_updater(images: Images, query: str, flow: Flow) -> SimModem:
    """The small full image sent through updater.elf by `flow`, which installed it."""
    run = SimModem(query)
    result = run.upgrade(images.small_full, updater=images.updater)
    assert result.plan.flow == flow
    assert run.state["version"] == TO and run.state["mode"] == "FFF"
    return run


@pytest.mark.parametrize("number", [1, 3, 4])
def test_old_bootrom_flow_takes_any_mode_a_running_updater_reports(
        images: Images, number: int) -> None:
    run = upgraded_through_the_updater(images, f"&old_bootrom=1&updater_smod={number}",
                                       Flow.OLD_BOOTROM)
    assert said(run, f"updater.elf runs: AT+SMOD? answers {number} ({Mode(number).label})")


@pytest.mark.parametrize("number", [1, 4])
def test_resume_from_the_boot_loader_takes_any_mode_a_running_updater_reports(
        images: Images, number: int) -> None:
    run = upgraded_through_the_updater(images, f"&mode=ffh&updater_smod={number}",
                                       Flow.RESUME_FFH)
    assert said(run, f"AT+SMOD? answers {number}")


def test_the_sqnsupgrade_drop_in_runs_against_an_updater_reporting_4(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sim://?clock=virtual&version={FROM}&old_bootrom=1&updater_smod=4"
    assert sqnsupgrade.run(url, str(images.small_full), str(images.updater)) is True
    out = capsys.readouterr().out
    assert "Your modem has been successfully updated." in out and "SQF-E" not in out


# --------------------------------------------------------------------------- bootrom_report


@pytest.mark.parametrize("answer", ["No report", "success", "none", "error"])
def test_no_report_is_required_after_the_bootrom_package(images: Images, answer: str) -> None:
    knob = {"No report": "no-report"}.get(answer, answer)
    run = SimModem(f"&old_bootrom=1&bootrom_report={knob}")
    result = run.upgrade(images.small_full, updater=images.updater)
    assert run.state["version"] == TO and run.state["bootrom"] != 33080
    assert result.step_times["send-bootrom"] < 60  # went on, as docs/protocol.md §6.2 step 2 does
    shown = {"No report": "'No report'", "success": "'success'"}.get(answer, "nothing")
    assert said(run, f"after the bootrom package AT+SMUPGRADE? answers {shown}")


# --------------------------------------------------------------------------- self_reboot_after_otf


@pytest.mark.parametrize("report", ["success", "no-report"])
def test_a_modem_back_in_its_application_after_on_the_fly_is_fine(
        images: Images, report: str) -> None:
    run = SimModem(f"&self_reboot_after_otf=1&self_reboot_report={report}")
    result = run.upgrade(images.small_full, method=Method.ON_THE_FLY)
    assert result.after.software_build == TO and run.state["mode"] == "FFF"
    assert said(run, "already back in its application")


# --------------------------------------------------------------------------- ffh_only_115200


@pytest.mark.parametrize("how", ["error", "ignore"])
def test_a_boot_loader_that_keeps_115200_still_loads_the_updater(
        images: Images, how: str) -> None:
    run = SimModem(f"&mode=ffh&ffh_only_115200={how}")
    run.upgrade(images.small_full, updater=images.updater)
    assert run.state["version"] == TO
    updater = next(t for t in run.transfers() if t.step == "send-updater")
    assert updater.baud == 115200
    assert said(run, "the boot loader stays at 115200 baud")


# --------------------------------------------------------------------------- verdicts


def test_no_report_that_persists_after_the_image_is_a_verdict_within_90_s(
        images: Images) -> None:
    run = SimModem("&mode=recovery&updater_report=no-report")
    clock = run.modem.link.clock
    sent_at: list[float] = []

    def watch(event: Event) -> None:
        run.events.append(event)
        if isinstance(event, TransferProgress) and event.done == event.total:
            sent_at.append(clock.now())

    with pytest.raises(ApplyNotReported) as caught:
        upgrade(run.modem, load_image(images.small_full), emit=watch)
    error = caught.value
    assert error.code == "SQF-E510" and error.exit_code == 79
    assert clock.now() - sent_at[-1] <= VERDICT_S
    assert error.modem_state is not None and "recovery" in error.modem_state
    assert "No report" in error.modem_state and "sqnflash info" in error.hint


def test_a_modem_that_goes_silent_mid_transfer_gets_a_verdict_within_90_s(
        images: Images) -> None:
    port = variants.CutPort(f"sim://?clock=virtual&version={FROM}&mode=recovery",
                            op=stp.Op.BLOCK | stp.ACK, after=20)
    modem = Modem.open(port)
    clock = modem.link.clock
    with pytest.raises(TransferSilent) as caught:
        upgrade(modem, load_image(images.small_full))
    assert port.cut_at is not None
    assert clock.now() - port.cut_at <= VERDICT_S
    error = caught.value
    assert error.code == "SQF-E407" and error.exit_code == 66 and "Power-cycle" in error.hint
    assert error.modem_state is not None and "not answering STP or AT" in error.modem_state


def test_a_modem_that_answers_only_garbage_while_applying_gets_a_verdict_within_90_s(
        images: Images) -> None:
    # The second RESET reply closes the transfer: from then on the line carries only garbage.
    port = variants.CutPort(f"sim://?clock=virtual&version={FROM}&mode=recovery",
                            op=stp.Op.RESET | stp.ACK, after=2, garbage=True)
    modem = Modem.open(port)
    clock = modem.link.clock
    with pytest.raises(NoResponse) as caught:
        upgrade(modem, load_image(images.small_full))
    assert port.cut_at is not None and clock.now() - port.cut_at <= VERDICT_S
    error = caught.value
    assert error.code == "SQF-E301" and "applying" in error.cause
    assert error.modem_state is not None and "not answering" in error.modem_state


# --------------------------------------------------------------------------- apply refused


def refused(run: SimModem, image: Path) -> ApplyFailed:
    """The error of an upgrade to `image` whose apply the modem refuses."""
    with pytest.raises(ApplyFailed) as caught:
        run.upgrade(image)
    return caught.value


def test_a_refused_image_is_not_sent_again_and_the_error_says_what_the_modem_said(
        images: Images) -> None:
    run = SimModem("&mode=recovery&fault_apply_fail=1")
    error = refused(run, images.small_full)
    assert error.code == "SQF-E501"
    assert len([t for t in run.transfers() if t.step == "send-image"]) == 1
    assert run.sim.modem.stp_sessions == 1
    assert error.modem_state is not None
    assert "reported 'fail'" in error.modem_state and "recovery" in error.modem_state
    assert "finishing the upgrade" not in error.modem_state


def test_a_modem_that_restarted_while_applying_gets_the_image_again(images: Images) -> None:
    run = SimModem("&mode=recovery&fault_power_loss_during=apply")
    run.upgrade(images.small_full)
    assert run.state["version"] == TO
    assert len([t for t in run.transfers() if t.step == "send-image"]) == 2


# --------------------------------------------------------------------------- info


def test_info_on_a_modem_stuck_inside_a_transfer_session_ends_it_and_reports(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"stuck-{uuid.uuid4().hex}"
    url = f"sim://{name}?clock=virtual&version={FROM}&mode=recovery"
    port = serial.serial_for_url(url, baudrate=921600)

    def die(event: Event) -> None:
        if isinstance(event, TransferProgress) and event.done > 100_000:
            raise KeyboardInterrupt  # the process dies: nobody closes the session

    try:
        with pytest.raises(SqnflashError, match="interrupted"):
            upgrade(Modem.open(port), load_image(images.small_full), emit=die)
        sim = named(name)
        assert sim is not None and sim.modem.in_stp
        capsys.readouterr()
        assert main(["info", "--port", url, "--json"]) == 0
        out = capsys.readouterr().out
        assert '"mode": "recovery"' in out or '"mode": 4' in out
        assert "inside a transfer session an interrupted run left open" in out
        assert not sim.modem.in_stp
    finally:
        forget(name)


# ------------------------------------------------------------ docs/protocol.md §6.2 step 5


def test_a_bootloader0_still_factory_after_the_image_gets_the_bootrom_once_more(
        images: Images) -> None:
    run = SimModem("&old_bootrom=1&bootloader0_after_otf=kept")
    result = run.upgrade(images.small_full, updater=images.updater)
    assert result.after.software_build == TO and run.state["mode"] == "FFF"
    assert said(run, "sending the bootrom package once more by the FFF method")
    bootroms = [(u["via"], u["result"]) for u in run.state["upgrades"] if u["kind"] == "bootrom"]
    assert bootroms == [("on-the-fly", "success"), ("store", "success")]
    assert [t.step for t in run.transfers()].count("refresh-bootrom") == 1
    assert not result.after.old_bootrom  # the result shows the modem as it is now


def test_a_modem_whose_bootrom_is_new_after_the_image_gets_no_refresh(images: Images) -> None:
    run = SimModem("&old_bootrom=1")
    run.upgrade(images.small_full, updater=images.updater)
    assert "refresh-bootrom" not in [t.step for t in run.transfers()]


# --------------------------------------------------------------------------- odd answers


def test_smstpu_answered_ok_without_its_line_end_starts_the_transfer(images: Images) -> None:
    run = SimModem("&mode=recovery&stpu_reply=open")
    run.upgrade(images.small_full)
    assert run.state["version"] == TO
    assert said(run, 'AT+SMSTPU="ON_THE_FLY" answered OK without a line end')


def test_an_application_that_refuses_ate0_is_upgraded_all_the_same(images: Images) -> None:
    run = SimModem("&echo=1&refuse=ATE")
    run.upgrade(images.diff)
    assert run.state["version"] == TO
    assert said(run, "ATE0 answered ERROR")


def test_smupgrade_without_its_ok_still_applies_the_stored_image(images: Images) -> None:
    run = SimModem("&smupgrade_reply=none")
    result = run.upgrade(images.diff)
    assert result.plan.method == Method.FFF and run.state["version"] == TO
    assert said(run, "no reply to AT+SMUPGRADE")


def test_smswboot_refused_with_reboot_falls_back_to_no_reboot_and_reset(images: Images) -> None:
    run = SimModem("&swboot_error=1")
    run.upgrade(images.small_full, method=Method.ON_THE_FLY)
    assert run.state["version"] == TO
    assert said(run, "AT+SMSWBOOT=3,1 answered ERROR; trying AT+SMSWBOOT=3,0 and AT^RESET")


def test_a_refused_stored_image_says_the_modem_runs_its_application_again(
        images: Images) -> None:
    run = SimModem("&fault_apply_fail=1")
    error = refused(run, images.diff)
    assert error.modem_state is not None
    assert error.modem_state.startswith("in application (FFF), which reported 'fail'")
    assert run.sim.modem.stp_sessions == 1 and run.state["version"] == FROM


def test_ctrl_c_while_storing_ends_the_session_and_puts_the_modem_back_at_once(
        images: Images) -> None:
    run = SimModem()
    clock = run.modem.link.clock
    stopped_at: list[float] = []

    def interrupt(event: Event) -> None:
        run.events.append(event)
        if isinstance(event, TransferProgress) and event.done > 50_000 and not stopped_at:
            stopped_at.append(clock.now())
            raise KeyboardInterrupt

    with pytest.raises(SqnflashError) as caught:
        upgrade(run.modem, load_image(images.diff), emit=interrupt)
    assert caught.value.code == "SQF-E901"
    assert caught.value.modem_state is not None and "unchanged" in caught.value.modem_state
    assert not run.sim.modem.in_stp and run.state["mode"] == "FFF"
    assert clock.now() - stopped_at[0] <= 30  # not the 90 s a modem inside STP would cost


def test_a_modem_that_never_comes_back_from_a_reboot_gets_a_verdict_within_90_s(
        images: Images) -> None:
    run = SimModem("&fault_silence_s=1000")  # silent for 1000 s after every reset
    clock = run.modem.link.clock
    began: list[float] = []

    def watch(event: Event) -> None:
        run.events.append(event)
        if isinstance(event, StepStarted) and event.step == "switch-recovery":
            began.append(clock.now())

    with pytest.raises(NoResponse) as caught:
        upgrade(run.modem, load_image(images.small_full), method=Method.ON_THE_FLY, emit=watch)
    assert clock.now() - began[0] <= VERDICT_S
    assert caught.value.modem_state is not None and "recover" in caught.value.modem_state


def test_smstpu_refused_once_right_after_the_boot_is_asked_again(images: Images) -> None:
    run = SimModem("&mode=recovery&refuse_once=AT%2BSMSTPU")
    run.upgrade(images.small_full)
    assert run.state["version"] == TO
    assert said(run, 'AT+SMSTPU="ON_THE_FLY" answered ERROR; asking once more in 1 s')
