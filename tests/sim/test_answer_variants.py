"""Protocol variants that change one answer: what the wire shows with each knob, and without it.

The knobs (sim/config.py) that give an empty or refused reply, an OK that never ends its line, a
lagging showver or a report that never comes; the client's side of each is tested in
tests/e2e/test_protocol_variants.py.
"""

from __future__ import annotations

import pytest
import serial

from sqnflash.sim.config import SimConfig, SimConfigError, command_names
from sqnflash.sim.images import ImageKind
from tests.support import host
from tests.support.host import OpenPort

FAST = "reboot_s=0.2&apply_s=0.5&bootrom_apply_s=0.3&updater_load_s=0.3"


def send_bootrom(port: serial.SerialBase, how: str = 'AT+SMSTPU="ON_THE_FLY"') -> None:
    assert host.command(port, how) == b"\r\nOK\r\n"
    assert host.upload(port, host.packages(host.image(ImageKind.FULL, size=host.SMALL))[0]).done
    host.read_for(port, 1.0)  # the bootrom is written


@pytest.mark.parametrize(("report", "reply"), [
    ("none", b"\r\nOK\r\n"), ("error", b"\r\nERROR\r\n"),
    ("success", b"\r\n+SMUPGRADE: success\r\n\r\nOK\r\n")])
def test_bootrom_report_empty_or_error_after_a_bootrom_package(
        open_port: OpenPort, report: str, reply: bytes) -> None:
    port = open_port(f"old_bootrom=1&bootrom_report={report}&{FAST}")
    send_bootrom(port)
    assert host.command(port, "AT+SMUPGRADE?") == reply
    assert host.command(port, "AT+SMUPGRADE?") == reply  # until the next upgrade starts
    assert host.command(port, "AT+SMSWBOOT=0,0") == b"\r\nOK\r\n"  # written all the same


def test_the_next_upgrade_reports_again_after_a_withheld_bootrom_report(
        open_port: OpenPort) -> None:
    port = open_port(f"old_bootrom=1&bootrom_report=error&{FAST}")
    send_bootrom(port)
    assert host.command(port, "AT+SMUPGRADE?") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
    assert host.poll_upgrade(port)[-1] == "success"


def test_stpu_reply_open_leaves_the_ok_without_its_line_end(open_port: OpenPort) -> None:
    port = open_port("mode=recovery&stpu_reply=open")
    port.write(b'AT+SMSTPU="ON_THE_FLY"\r\n')
    assert host.read_for(port, 0.5) == b"\r\nOK"  # and nothing more: the line is STP's
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done


@pytest.mark.parametrize(("report", "word"), [("success", "success"),
                                              ("no-report", "No report")])
def test_self_reboot_report(open_port: OpenPort, report: str, word: str) -> None:
    port = open_port(f"mode=recovery&self_reboot_after_otf=1&self_reboot_report={report}&{FAST}")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
    assert host.command(port, "AT+SMUPGRADE?") == f"\r\n+SMUPGRADE: {word}\r\n\r\nOK\r\n".encode()
    assert port.sim.modem.flash.software == host.TO


@pytest.mark.parametrize("after_otf", ["new", "kept"])
def test_bootloader0_after_a_bootrom_package_on_the_fly(open_port: OpenPort,
                                                       after_otf: str) -> None:
    port = open_port(f"old_bootrom=1&bootloader0_after_otf={after_otf}&{FAST}")
    send_bootrom(port)
    written = port.sim.modem.flash.bootrom
    assert written != 33080
    shown = written if after_otf == "new" else 33080
    assert host.showver(port)["Bootloader0*"] == f"5.1.1.0 [{shown}]"
    # The same package applied from the store rewrites what showver says.
    send_bootrom(port, "AT+SMSTPU")
    assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
    assert host.poll_upgrade(port)[-1] == "success"
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.showver(port)["Bootloader0*"] == f"5.1.1.0 [{written}]"


@pytest.mark.parametrize("reply", ["ok", "none"])
def test_smupgrade_reply(open_port: OpenPort, reply: str) -> None:
    port = open_port(f"smupgrade_reply={reply}&{FAST}")
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.DIFF, source=host.FROM, size=20_000)).done
    port.write(b"AT+SMUPGRADE\r\n")
    answer = host.read_until(port, b"+SHUTDOWN\r\n")
    assert answer == (b"\r\nOK\r\n" if reply == "ok" else b"") + b"\r\n+SHUTDOWN\r\n"
    assert host.poll_upgrade(port)[-1] == "success"
    host.read_until(port, b"+SYSSTART\r\n")
    assert port.sim.modem.flash.software == host.TO


def test_refuse_makes_the_application_answer_error(open_port: OpenPort) -> None:
    port = open_port(f"refuse=ATE,AT%2BBIND&{FAST}")
    assert host.command(port, "ATE0") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+BIND=AT") == b"\r\nERROR\r\n"
    assert host.command(port, "AT") == b"\r\nOK\r\n"
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    assert host.command(port, "ATE0") == b"\r\nOK\r\n"  # RECOVERY takes it


def test_refuse_once_refuses_the_first_command_after_each_boot(open_port: OpenPort) -> None:
    port = open_port(f"mode=recovery&refuse_once=AT+SMOD&{FAST}")  # "+" read as a space
    assert host.command(port, "AT+SMOD?") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    host.read_until(port, b"+SYSSTART\r\n")
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"  # the application is ready at once


def test_refused_command_names_are_checked() -> None:
    assert command_names(SimConfig.from_query("refuse=ATE, AT BIND,%2BSQNWL").refuse) == [
        "E", "BIND", "SQNWL"]
    assert command_names(SimConfig(refuse_once="AT^RESET").refuse_once) == ["RESET"]
    with pytest.raises(SimConfigError, match="AT command names"):
        SimConfig.from_query("refuse=AT+SMSTPU=1")


def test_updater_report_no_report_in_recovery_only(open_port: OpenPort) -> None:
    port = open_port(f"mode=recovery&updater_report=no-report&{FAST}")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
    for _ in range(4):
        assert "+SMUPGRADE: No report" in host.lines_of(host.command(port, "AT+SMUPGRADE?"))
        host.read_for(port, 0.5)
    assert port.sim.modem.flash.software == host.TO  # applied, only never reported
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    host.read_until(port, b"+SYSSTART\r\n")
    assert "+SMUPGRADE: success" in host.lines_of(host.command(port, "AT+SMUPGRADE?"))


def test_a_monarch_2_plays_the_same_answer_variants(open_port: OpenPort) -> None:
    port = open_port(f"family=monarch2&refuse=ATE&{FAST}", baudrate=115200)
    assert host.command(port, "ATE0") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    assert host.command(port, "ATE0") == b"\r\nOK\r\n"  # RECOVERY takes it
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
