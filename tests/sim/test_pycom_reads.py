"""What Pycom's sqnsupgrade reads, byte for byte (docs/protocol.md §2): fixed counts, no framing."""

from __future__ import annotations

import pytest
import serial

from sqnflash.sim.images import ImageKind
from tests.support import host
from tests.support.host import OpenPort

PYCOM_SMSTPU_OK = (b"OK\r\n", b"\r\nOK", b"\nOK")
SETTLE_S = 0.25  # Pycom sleeps this long before every read


def pycom_read(port: serial.SerialBase, size: int | None = None) -> bytes:
    """Sleep 0.25 s, then read `size` bytes or, without a size, whatever has arrived.

    Pycom's PC side opens the port with a 0.1 s timeout, so a fixed-count read returns short
    rather than waiting for bytes that never come.
    """
    port.sim.wait(SETTLE_S)
    if size is None:
        return bytes(port.read(port.in_waiting))
    return host.read_for(port, 0.1, size)


@pytest.mark.parametrize(("mode", "text"), [
    ("app", "AT+SMSTPU"),
    ("app", 'AT+SMSTPU="ON_THE_FLY"'),
    ("recovery", 'AT+SMSTPU="ON_THE_FLY"'),
    ("recovery", "AT+SMSTPU"),
    ("updater", 'AT+SMSTPU="ON_THE_FLY"'),
])
def test_smstpu_answer_fits_pycom_four_byte_read(open_port: OpenPort, mode: str,
                                                  text: str) -> None:
    port = open_port(f"mode={mode}")
    port.write(f"{text}\r\n".encode())
    assert pycom_read(port, 4) in PYCOM_SMSTPU_OK


def test_after_draining_nothing_more_arrives_before_the_first_frame(open_port: OpenPort) -> None:
    """Pycom drains once before STP; a late byte would shift all its frame reads."""
    port = open_port("mode=recovery&apply_s=1")
    port.write(b'AT+SMSTPU="ON_THE_FLY"\r\n')
    assert pycom_read(port, 4) in PYCOM_SMSTPU_OK
    pycom_read(port)  # the drain
    assert host.read_for(port, 2.0) == b""
    # And the frame reads line up: the whole upload works.
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
    assert host.poll_upgrade(port)[-1] == "success"


def test_at_stp_answer_fits_pycom_two_byte_read(open_port: OpenPort) -> None:
    port = open_port("mode=ffh", baudrate=115200)
    port.write(b"AT+STP\n")
    assert b"OK" in pycom_read(port, 2)


def test_pycom_auto_negotiation_in_the_boot_loader(open_port: OpenPort, unique_name: str) -> None:
    port = open_port("mode=ffh", baudrate=115200, name=unique_name)
    port.write(b"AT\r\n")
    assert b"OK" in pycom_read(port, 20)
    pycom_read(port)
    port.write(b"AT+IPR=921600\n")
    assert b"OK" in pycom_read(port, 6)
    port.close()
    port = open_port(baudrate=921600, name=unique_name)  # reopened at the new rate
    port.reset_input_buffer()
    pycom_read(port)
    port.write(b"AT+SMOD?\r\n")
    assert pycom_read(port, 1) == b"0"
    pycom_read(port)
    port.write(b"AT+STP\n")
    assert b"OK" in pycom_read(port, 2)


@pytest.mark.parametrize(("mode", "number"), [("app", 2), ("recovery", 4), ("updater", 3)])
def test_smod_answer_fits_pycom_seven_byte_read(open_port: OpenPort, mode: str,
                                                number: int) -> None:
    port = open_port(f"mode={mode}")
    port.write(b"AT+SMOD?\r\n")
    seven = pycom_read(port, 7)
    numbers = [int(line) for line in seven.split(b"\r\n") if line.strip().isdigit()]
    assert numbers[:1] == [number]


def test_smupgrade_poll_is_empty_or_nul_while_rebooting(open_port: OpenPort) -> None:
    port = open_port("reboot_s=2&apply_s=1")
    assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    assert host.upload(port, host.image(ImageKind.FULL, size=host.SMALL)).done
    port.write(b"AT+SMUPGRADE\r\n")
    first = pycom_read(port, 1024)
    assert first.startswith(b"\r\nOK\r\n\r\n+SHUTDOWN\r\n")
    port.write(b"AT+SMUPGRADE?\r\n")
    during = pycom_read(port, 1024)
    assert during.strip(b"\x00") == b""  # Pycom: "modem still rebooting"
