"""Faults from the field, injected with `fault_<name>=<value>`, and bad simulator settings."""

from __future__ import annotations

import pytest
import serial

from sqnflash.protocol import stp
from sqnflash.protocol.crc import crc16
from sqnflash.sim.images import ImageKind
from tests.support import host
from tests.support.host import OpenPort

FAST = "reboot_s=0.3&apply_s=1"


def assert_resent_image_boots(port: serial.SerialBase, full: bytes) -> None:
    """After a failed apply: the report says fail, the modem stays in RECOVERY, the half-written
    application does not boot, and sending the whole image again succeeds."""
    assert host.command(port, "AT+SMUPGRADE?") == b"\r\n+SMUPGRADE: fail\r\n\r\nOK\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    host.read_for(port, 0.6)
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, full).done
    assert host.poll_upgrade(port)[-1] == "success"


def test_smswboot_error_and_pycoms_fallback(open_port: OpenPort) -> None:
    port = open_port(f"fault_smswboot_error=reboot&{FAST}")
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nERROR\r\n"
    assert host.read_for(port, 0.6) == b""  # no reboot
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
    # Pycom 1.2.1+: =m,0 then AT^RESET.
    assert host.command(port, "AT+SMSWBOOT=3,0") == b"\r\nOK\r\n"
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    host.read_for(port, 0.6)
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"


def test_smswboot_error_both_refuses_the_fallback_too(open_port: OpenPort) -> None:
    port = open_port("fault_smswboot_error=both")
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+SMSWBOOT=3,0") == b"\r\nERROR\r\n"
    assert "FFF" in host.command(port, "AT+SMSWBOOT?").decode()


def test_boot_baud_brings_the_next_boot_up_at_another_rate(open_port: OpenPort) -> None:
    port = open_port(f"fault_boot_baud=115200&{FAST}")
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    host.read_for(port, 0.6)
    assert host.heard_only_at(port, 115200, listen_s=0.3) == b"\r\nOK\r\n"
    # Once only: the following boot is at the usual rate.
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    port.baudrate = 921600
    assert b"+SYSSTART" in host.read_until(port, b"+SYSSTART\r\n")
    assert host.command(port, "AT") == b"\r\nOK\r\n"


def test_apply_fail_reports_fail_once(open_port: OpenPort) -> None:
    port = open_port(f"fault_apply_fail=1&mode=recovery&{FAST}")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    for expected in ("fail", "success"):
        assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
        assert host.upload(port, full).done
        assert host.poll_upgrade(port)[-1] == expected
    assert port.sim.summary()["version"] == host.TO


def reply_frames(query: str, open_port: OpenPort) -> list[stp.Frame]:
    port = open_port(query)
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = host.upload(port, host.image(ImageKind.DIFF, source=host.FROM, size=20_000))
    assert sent.done
    return sent.frames


def test_reply_hcrc_zero(open_port: OpenPort) -> None:
    frames = reply_frames("fault_reply_hcrc=0", open_port)
    assert frames and {frame.hcrc for frame in frames} == {0}


def test_replies_carry_hcrc_zero_by_default_as_observed(open_port: OpenPort) -> None:
    frames = reply_frames("", open_port)
    assert frames and {frame.hcrc for frame in frames} == {0}


def test_reply_hcrc_filled_carries_a_header_crc(open_port: OpenPort) -> None:
    frames = reply_frames("reply_hcrc=filled", open_port)
    assert frames
    for frame in frames:
        header = stp.HEADER.pack(frame.magic, frame.op, frame.sid, len(frame.payload), frame.tid,
                                 0, frame.pcrc)
        assert frame.hcrc == crc16(header) != 0


def test_a_lost_block_reply_is_answered_again_without_double_writing(
        open_port: OpenPort) -> None:
    port = open_port(f"fault_no_reply_block=3&{FAST}")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = host.upload(port, full, reply_timeout_s=0.5)
    assert sent.done and sent.resends == 1
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
    assert host.poll_upgrade(port)[-1] == "success"  # the stored file is exactly the image


def test_bit_flips_cost_resends_but_not_the_image(open_port: OpenPort) -> None:
    port = open_port(f"fault_flip_rate=0.00002&seed=7&{FAST}")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = host.upload(port, full, reply_timeout_s=0.3)
    assert sent.done and sent.resends > 0
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
    assert host.poll_upgrade(port)[-1] == "success"


def test_power_loss_during_on_the_fly_leaves_recovery_then_resume_works(
        open_port: OpenPort) -> None:
    port = open_port(f"mode=recovery&fault_power_loss_at=150000&{FAST}")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    sent = host.upload(port, full, reply_timeout_s=0.5, retries=2)
    assert not sent.done and sent.offset < len(full)
    host.read_for(port, 0.5)
    assert_resent_image_boots(port, full)  # resume: the whole image again
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.software_build(port) == host.TO


def test_boot_recovery_fault_brings_recovery_instead_of_the_application(
        open_port: OpenPort) -> None:
    port = open_port(f"fault_boot_recovery=1&{FAST}")
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    assert host.read_for(port, 0.6).replace(b"\x00", b"") == b"\r\n+SHUTDOWN\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"


def test_spurious_urcs_slip_into_replies(open_port: OpenPort) -> None:
    port = open_port("fault_urc_rate=1")
    port.write(b"ATI1\r\n")
    lines = host.lines_of(host.read_for(port, 0.5))
    assert "+CEREG: 2" in lines  # somewhere among (or right after) the reply's lines
    lines.remove("+CEREG: 2")
    assert lines == ["UE5.0.0.0d", "LR5.1.1.0-38638", "OK"]


def test_silence_adds_to_every_reboot(open_port: OpenPort) -> None:
    port = open_port("fault_silence_s=3&reboot_s=0.5")
    start = port.sim_clock.now()
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    host.read_until(port, b"+SHUTDOWN\r\n")
    assert host.read_for(port, 2.5).replace(b"\x00", b"") == b""
    assert b"+SYSSTART" in host.read_until(port, b"+SYSSTART\r\n")
    assert port.sim_clock.now() - start >= 3.5


@pytest.mark.parametrize(("query", "name"), [
    ("fault_no_such_fault=1", "no_such_fault"),
    ("no_such_setting=1", "no_such_setting"),
    ("fault_apply_fail=often", "apply_fail"),
    ("fault_smswboot_error=sometimes", "smswboot_error"),
    ("reboot_s=soon", "reboot_s"),
    ("mode=sleepy", "mode"),
    ("imei=123", "imei"),
])
def test_bad_names_and_values_are_refused_when_opening(query: str, name: str) -> None:
    with pytest.raises(serial.SerialException, match=name):
        serial.serial_for_url(f"sim://?clock=virtual&{query}")


def test_the_error_lists_the_known_names() -> None:
    with pytest.raises(serial.SerialException) as caught:
        serial.serial_for_url("sim://?fault_typo=1")
    assert "smswboot_error" in str(caught.value) and "boot_baud" in str(caught.value)
    with pytest.raises(serial.SerialException) as caught:
        serial.serial_for_url("sim://?reboot=1")
    assert "reboot_s" in str(caught.value)


@pytest.mark.parametrize("cut", ["fault_power_loss_during=apply", "AT^RESET"])
def test_an_interrupted_apply_reports_fail_not_on_going(open_port: OpenPort, cut: str) -> None:
    query = f"mode=recovery&reboot_s=0.3&apply_s=2&{cut if cut.startswith('fault') else ''}"
    port = open_port(query)
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, full).done
    assert host.command(port, "AT+SMUPGRADE?") == b"\r\n+SMUPGRADE: on-going\r\n\r\nOK\r\n"
    if cut == "AT^RESET":
        assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    host.read_for(port, 2.0)
    assert_resent_image_boots(port, full)


def test_power_loss_while_the_updater_loads_brings_back_the_boot_loader(
        open_port: OpenPort) -> None:
    port = open_port("mode=ffh&fault_power_loss_during=updater-load&reboot_s=0.3"
                     "&updater_load_s=1", baudrate=115200)
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    assert host.upload(port, host.image(ImageKind.UPDATER, size=60_000)).done
    host.read_for(port, 2.0)
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"  # FFH again, at 115200


def test_a_spontaneous_reset_mid_transfer_ends_the_session(open_port: OpenPort) -> None:
    port = open_port("fault_reboot_at=100000&reboot_s=0.3")
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = host.upload(port, full, reply_timeout_s=0.5, retries=1)
    assert not sent.done and 100_000 <= sent.offset < len(full)
    host.read_for(port, 0.5)
    # Back in AT mode, in the application.
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
