"""A factory modem with bootloader 33080: no FFH until the bootrom is upgraded."""

from __future__ import annotations

import pytest

from sqnflash.sim.images import ImageKind
from tests.support import host
from tests.support.host import OpenPort

NEW_BOOTROM = 41065


def test_factory_showver_reports_bootloader_33080(open_port: OpenPort) -> None:
    port = open_port("old_bootrom=1")
    reply = host.command(port, 'AT!="showver"')
    assert reply.startswith(b"\r\nSYSTEM VERSION\r\n==============\r\n  FIRMWARE VERSION\r\n")
    assert reply.endswith(b"\r\n\r\nOK\r\n")
    rows = host.showver(port)
    assert rows["Bootloader0*"] == "5.1.1.0 [33080]"
    assert rows["Bootloader1"] == "NA"
    assert rows["Software"].startswith("5.1.1.0 [33080] by robot-soft at 2017-10-27 07:49:11")
    assert rows["UE"] == "Unknown"
    assert host.lines_of(host.command(port, "ATI1")) == ["UEUnknown", "LR5.1.1.0-33080", "OK"]


@pytest.mark.parametrize("reboot", [1, 0])
def test_factory_bootloader_refuses_ffh(open_port: OpenPort, reboot: int) -> None:
    port = open_port("old_bootrom=1&reboot_s=0.2")
    assert host.command(port, f"AT+SMSWBOOT=0,{reboot}") == b"\r\nERROR\r\n"
    assert host.read_for(port, 0.5) == b""  # no reboot
    assert "FFF" in host.command(port, "AT+SMSWBOOT?").decode()
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"


def test_factory_modem_can_still_go_to_recovery(open_port: OpenPort) -> None:
    port = open_port("old_bootrom=1&reboot_s=0.2")
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"
    host.read_for(port, 0.5)
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"


@pytest.mark.parametrize("where", ["recovery", "app"])
@pytest.mark.parametrize("source", ["bootrom package", "embedded in a full image"])
def test_flashing_a_bootrom_on_the_fly_unlocks_ffh(
        open_port: OpenPort, where: str, source: str) -> None:
    if source == "bootrom package":
        bootrom = host.image(ImageKind.BOOTROM, version=NEW_BOOTROM)
    else:
        bootrom = host.packages(host.image(ImageKind.FULL, version=NEW_BOOTROM, size=host.SMALL))[0]
        assert b"bootrom upgrade package" in bootrom[:64]
    port = open_port(f"old_bootrom=1&mode={where}&reboot_s=0.2&bootrom_apply_s=0.5")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    sent = host.upload(port, bootrom)
    assert sent.done and sent.offset == len(bootrom)
    assert host.poll_upgrade(port)[-1] == "success"
    if where == "recovery":
        assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
        host.read_until(port, b"+SYSSTART\r\n")
    rows = host.showver(port)
    assert rows["Bootloader0*"] == f"5.1.1.0 [{NEW_BOOTROM}]"
    assert rows["Software"].startswith("5.1.1.0 [33080]")  # only the bootrom changed
    assert host.command(port, "AT+SMSWBOOT=0,1") == b"\r\nOK\r\n"
    host.read_for(port, 0.5)
    port.baudrate = 115200
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"


def test_a_full_image_on_the_fly_from_the_application_is_refused(open_port: OpenPort) -> None:
    port = open_port("old_bootrom=1&apply_s=0.5")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"') == b"\r\nOK\r\n"
    full = host.image(ImageKind.FULL, size=host.SMALL)
    assert host.upload(port, full).done
    assert host.poll_upgrade(port)[-1] == "fail"
    assert host.command(port, "AT+SMSWBOOT=0,1") == b"\r\nERROR\r\n"
    assert host.lines_of(host.command(port, "ATI1"))[1] == "LR5.1.1.0-33080"
