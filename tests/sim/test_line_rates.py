"""The simulator's line rates and block limits: what AT+IPR=? lists per mode and variant, and the
blocks a modem that reports 8192 still refuses."""

from __future__ import annotations

from sqnflash.sim.images import ImageKind
from tests.support import host
from tests.support.host import OpenPort


def test_the_application_lists_its_rates_in_the_firmware_format(open_port: OpenPort) -> None:
    port = open_port()
    assert host.lines_of(host.command(port, "AT+IPR=?"))[0] == (
        "+IPR: (),(9600,19200,38400,57600,115200,230400,460800,921600,1000000,2000000,"
        "3000000,3686400)")


def test_the_boot_loader_and_a_variant_without_a_list_answer_error(open_port: OpenPort) -> None:
    assert host.command(open_port("mode=ffh", baudrate=115200), "AT+IPR=?", "\n").endswith(
        b"ERROR\r\n")
    assert host.command(open_port("variant=no-ipr-list"), "AT+IPR=?").endswith(b"ERROR\r\n")


def test_a_rate_outside_the_list_is_refused(open_port: OpenPort) -> None:
    port = open_port("variant=legacy-line")
    assert "921600)" in host.lines_of(host.command(port, "AT+IPR=?"))[0]
    assert host.command(port, "AT+IPR=3686400").endswith(b"ERROR\r\n")


def test_blocks_above_the_limit_are_lost_and_2016_byte_blocks_go_through(
        open_port: OpenPort) -> None:
    data = host.image(ImageKind.FULL, size=host.SMALL)
    port = open_port("mode=recovery&variant=block-2016")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"').endswith(b"OK\r\n")
    big = host.upload(port, data, block_cap=4096, retries=2)
    assert big.session is not None and big.session.max_transfer == 8192
    assert not big.done and big.offset == 0  # the 4096-byte block is never answered
    port = open_port("mode=recovery&variant=block-2016")
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"').endswith(b"OK\r\n")
    assert host.upload(port, data).done


def test_an_adapter_limit_is_reported_by_the_port_and_garbles_above_it(
        open_port: OpenPort) -> None:
    port = open_port("variant=slow-adapter")
    assert port.max_baud == 921600
    assert host.command(port, "AT+IPR=3686400").endswith(b"OK\r\n")
    port.baudrate = 3686400
    port.write(b"AT\r\n")
    assert b"OK" not in port.read(64)
