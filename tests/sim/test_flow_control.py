"""The simulated GM02S's UART above 115200: block frames lost without the host's RTS/CTS (read
from the pyserial port, even when switched while open), none lost with it or at 115200; the
`flow_control` knob and its variants; the rates AT+IPR=? lists."""

from __future__ import annotations

import os

import pytest
import serial

from sqnflash.sim.config import SimConfig, SimConfigError
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.pty_server import termios_rtscts
from tests.support import host
from tests.support.host import OpenPort

SIZE = 120_000


def _recovery_at(port: serial.SerialBase, baud: int) -> None:
    """RECOVERY at `baud`, its ON_THE_FLY session open."""
    assert host.command(port, "AT+SMSWBOOT=3,1").endswith(b"OK\r\n")
    saved, port.timeout = port.timeout, 5.0
    port.read(1)  # the reboot's +SHUTDOWN, then silence
    port.timeout = saved
    while not host.command(port, "AT").endswith(b"OK\r\n"):
        pass
    if baud != port.baudrate:
        assert host.command(port, f"AT+IPR={baud}").endswith(b"OK\r\n")
        port.baudrate = baud
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"').endswith(b"OK\r\n")


IMAGE = make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=SIZE)


def test_without_rtscts_above_115200_every_block_frame_is_lost(open_port: OpenPort) -> None:
    port = open_port("family=monarch2&version=59000", baudrate=115200)
    _recovery_at(port, 921600)
    result = host.upload(port, IMAGE, data_type=4, block_cap=2016, retries=3)
    assert not result.done and result.offset == 0
    assert host.sim_modem(port).overrun_bytes > 0
    assert any("UART overrun at 921600" in text for _, text in host.sim_modem(port).log)


def test_rtscts_switched_on_while_open_keeps_every_byte(open_port: OpenPort) -> None:
    port = open_port("family=monarch2&version=59000", baudrate=115200)
    port.rtscts = True  # as the client does once it knows the modem is a Monarch 2
    _recovery_at(port, 921600)
    assert host.upload(port, IMAGE, data_type=4, block_cap=8176).done
    assert "success" in host.poll_upgrade(port)
    assert host.sim_modem(port).overrun_bytes == 0


def test_at_115200_the_modem_keeps_up_without_flow_control(open_port: OpenPort) -> None:
    port = open_port("family=monarch2&version=59000", baudrate=115200)
    _recovery_at(port, 115200)
    assert host.upload(port, IMAGE, data_type=4, block_cap=8176).done
    assert host.sim_modem(port).overrun_bytes == 0


def test_unwired_rtscts_loses_frames_whatever_the_host_sets(open_port: OpenPort) -> None:
    port = open_port("family=monarch2&version=59000&variant=flow-unwired", baudrate=115200)
    port.rtscts = True
    _recovery_at(port, 460800)
    assert not host.upload(port, IMAGE, data_type=4, block_cap=2016, retries=3).done
    assert host.sim_modem(port).overrun_bytes > 0


def test_a_monarch1_keeps_up_at_every_rate_unless_told_otherwise() -> None:
    assert SimConfig().flow_control == "off"
    assert SimConfig.from_query("family=monarch2").flow_control == "required"
    assert SimConfig.from_query("family=monarch2&variant=flow-not-needed").flow_control == "off"
    assert SimConfig.from_query("flow_control=required").flow_control == "required"
    with pytest.raises(SimConfigError, match="flow_control"):
        SimConfig.from_query("flow_control=sometimes")


def test_a_gm02s_lists_rates_up_to_921600_or_3686400_as_a_variant(
        open_port: OpenPort) -> None:
    port = open_port("family=monarch2", baudrate=115200)
    assert host.lines_of(host.command(port, "AT+IPR=?")) == [
        "+IPR: (),(9600,19200,38400,57600,115200,230400,460800,921600)", "OK"]
    fast = open_port("family=monarch2&variant=m2-3686400", baudrate=115200)
    assert "3686400" in host.lines_of(host.command(fast, "AT+IPR=?"))[0]
    assert host.command(fast, "AT+IPR=3686400").endswith(b"OK\r\n")
    fast.baudrate = 3686400
    assert host.command(fast, "AT").endswith(b"OK\r\n")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs pseudo-terminals")
def test_the_pty_simulator_reads_the_clients_rtscts_flag() -> None:
    master, slave = os.openpty()
    try:
        client = serial.Serial(os.ttyname(slave), 115200, rtscts=False)
        try:
            assert termios_rtscts(master) is False
            client.rtscts = True
            assert termios_rtscts(master) is True
        finally:
            client.close()
    finally:
        os.close(master)
        os.close(slave)
