"""The simulated Monarch 2 (GM02S): its answers, its STP v2 slave and what it installs."""

from __future__ import annotations

import zlib

import pytest
import serial

from sqnflash.firmware.caba import read_container
from sqnflash.protocol import stp
from sqnflash.sim.images import Family, ImageKind, make_image
from tests.support import host
from tests.support.host import OpenPort

M2 = "family=monarch2"
SIZE = 300_000


def _zipped(data: bytes) -> bytes:
    packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 12)
    return packer.compress(data) + packer.flush()


def _to_recovery(port: serial.SerialBase) -> None:
    assert host.command(port, "AT+CFUN=5").endswith(b"OK\r\n")
    assert host.command(port, "AT+SMSWBOOT=3,1").endswith(b"OK\r\n")
    poll = port.timeout
    port.timeout = 5.0
    port.read(1)  # the reboot's +SHUTDOWN and NUL, then silence
    port.timeout = poll
    for _ in range(20):
        reply = host.command(port, "AT+SMOD?")
        if b"4" in reply:
            return
    raise AssertionError("the modem did not reach RECOVERY")


def test_a_gm02s_names_itself_and_its_lr8_build(open_port: OpenPort) -> None:
    port = open_port(M2, baudrate=115200)
    assert host.lines_of(host.command(port, "ATI")) == [
        "SEQUANS Communications", "GM02S", "UE8.0.5.13", "OK"]
    assert host.lines_of(host.command(port, "ATI1")) == ["UE8.0.5.13", "LR8.0.5.13-59577", "OK"]
    assert host.lines_of(host.command(port, "AT+SMOD?")) == ["2", "OK"]
    assert host.command(port, 'AT!="showver"').endswith(b"ERROR\r\n")  # no published M2 format
    older = open_port(f"{M2}&version=54000", baudrate=115200)
    assert host.lines_of(host.command(older, "ATI1")) == ["UE8.0.3.0", "LR8.0.3.0-54000", "OK"]


def test_a_gm02s_does_not_answer_at_the_monarch1_rate(open_port: OpenPort) -> None:
    port = open_port(M2, baudrate=921600, timeout=0.5)
    assert b"OK" not in host.command(port, "AT")


@pytest.mark.parametrize("zipped", [True, False])
def test_an_image_sent_zipped_or_raw_installs_and_the_modem_reports_it(
        open_port: OpenPort, zipped: bool) -> None:
    port = open_port(f"{M2}&version=59000", baudrate=115200)
    image = make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=SIZE)
    _to_recovery(port)
    assert host.command(port, 'AT+SMSTPU="ON_THE_FLY"').endswith(b"OK\r\n")
    sent = _zipped(image) if zipped else image
    result = host.upload(port, sent, data_type=5 if zipped else 4, block_cap=8192 - 16)
    assert result.done and result.session is not None and result.session.version == 2
    assert "success" in host.poll_upgrade(port)
    assert host.command(port, "AT+SMSWBOOT=1,1").endswith(b"OK\r\n")
    summary = host.sim_modem(port).summary()
    assert summary["version"] == 59577 and summary["lr_version"] == "8.0.5.13"


def test_a_damaged_zip_stream_is_refused_and_the_application_is_not_installed(
        open_port: OpenPort) -> None:
    port = open_port(f"{M2}&version=59000", baudrate=115200)
    image = make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=SIZE)
    damaged = bytearray(_zipped(image))
    damaged[len(damaged) // 2] ^= 0xFF
    _to_recovery(port)
    host.command(port, 'AT+SMSTPU="ON_THE_FLY"')
    host.upload(port, bytes(damaged), data_type=5, block_cap=4096)
    assert "fail" in host.poll_upgrade(port)
    assert host.sim_modem(port).summary()["version"] == 59000


def test_a_modem_below_8040_needs_a_raster_upgrade(open_port: OpenPort) -> None:
    port = open_port(f"{M2}&version=54000", baudrate=115200)
    image = make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=SIZE)
    _to_recovery(port)
    host.command(port, 'AT+SMSTPU="ON_THE_FLY"')
    assert host.upload(port, image, data_type=4).done
    assert "fail" in host.poll_upgrade(port)
    assert any("raster upgrade required" in text for _, text in host.sim_modem(port).log)


def test_a_monarch1_image_does_not_install_on_a_gm02s(open_port: OpenPort) -> None:
    port = open_port(M2, baudrate=115200)
    image = make_image(ImageKind.FULL, Family.CATM1, 38638, size=SIZE)
    _to_recovery(port)
    host.command(port, 'AT+SMSTPU="ON_THE_FLY"')
    assert host.upload(port, image, data_type=4).done
    assert "fail" in host.poll_upgrade(port)
    assert host.sim_modem(port).summary()["version"] == 59577


def test_a_damaged_block_is_nacked_and_sent_again(open_port: OpenPort) -> None:
    port = open_port(M2, baudrate=115200)
    _to_recovery(port)
    host.command(port, 'AT+SMSTPU="ON_THE_FLY"')
    port.write(stp.encode_request(stp.Op.RESET, 0, 0))
    port.write(stp.encode_request(stp.Op.OPEN, 1, 1))
    port.write(stp.encode_request(stp.Op.BLOCK_CMD, 1, 2, b"\x00\x04"))
    bad = bytearray(stp.encode_request(stp.Op.BLOCK, 1, 3, b"UPGR"))
    bad[-1] ^= 1
    port.write(bytes(bad))
    port.write(stp.encode_request(0x3F, 1, 4))
    decoder = stp.FrameDecoder(stp.REPLY_MAGIC, accept_zero_hcrc=True)
    decoder.feed(port.read(200))
    ops = [(f.op, f.tid) for f in decoder.frames() if isinstance(f, stp.Frame)]
    assert ops == [(0x80, 0), (0x81, 1), (0x82, 2), (0x43, 3), (0x7F, 4)]


def test_a_monarch2_twin_has_crc32_trailers_and_a_pxl_part() -> None:
    report = read_container(make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=SIZE))
    assert report.ok and not report.failed_checks()
    assert [e.description for e in report.all_elements()] == [
        "Packed dup files", "bootrom upgrade package", "updater upgrade package",
        "fff upgrade package", "pxl upgrade package", "fs upgrade package"]
    assert {int(e.header.check_kind) for e in report.all_elements()} == {4}
