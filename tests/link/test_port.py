"""The serial line itself: opening by name or URL, the two reads, baud changes and the wire
trace, on scripted ports and on sim:// (virtual time)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sqnflash.errors import BadPortUrl, PortNotFound
from sqnflash.link import Link, WireTrace, open_link
from sqnflash.protocol import stp
from sqnflash.timing import REAL_CLOCK
from tests.support.ports import ScriptedPort, script


def test_no_port_name_is_a_bad_port_url_that_says_how_to_give_one() -> None:
    with pytest.raises(BadPortUrl) as caught:
        open_link("   ")
    assert "--port" in caught.value.hint and "SQNFLASH_PORT" in caught.value.hint


def test_an_unknown_url_scheme_is_a_bad_port_url_naming_it() -> None:
    with pytest.raises(BadPortUrl) as caught:
        open_link("nosuchscheme://modem")
    assert caught.value.code == "SQF-E204" and "nosuchscheme://modem" in caught.value.cause


def test_a_device_that_does_not_exist_is_port_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "ttyUSB9"
    with pytest.raises(PortNotFound) as caught:
        open_link(str(missing), lock_dir=tmp_path / "locks")
    assert str(missing) in str(caught.value) and "does not exist" in str(caught.value)


def test_read_stops_at_the_size_and_read_some_takes_what_has_arrived() -> None:
    port = ScriptedPort(script([b"\r\nOK\r\n", b"", b"tail"]))
    link = open_link(port)
    link.write(b"AT\r\n")
    assert link.read(2, 1.0) == b"\r\n"
    assert link.read_some(1.0) == b"OK\r\n"
    assert link.read_some(0.5) == b""  # nothing more comes: the deadline, on virtual time
    assert port.sim_clock.now() >= 0.5
    assert bytes(port.sent) == b"AT\r\n"


def test_a_port_handed_in_open_stays_open_after_the_link_closes() -> None:
    port = ScriptedPort(script([]))
    with open_link(port) as link:
        assert isinstance(link, Link) and link.name == "scripted"
    assert port.is_open


def test_a_boot_loader_answers_only_once_the_host_moves_to_its_baud() -> None:
    trace = io.StringIO()
    link = open_link("sim://?clock=virtual&mode=ffh", tracer=WireTrace(trace, REAL_CLOCK))
    try:
        link.write(b"AT\r\n")
        assert b"OK" not in link.read_some(0.5) + link.read_some(0.5)
        link.set_baud(115200)
        assert link.baud == 115200 and link.port.baudrate == 115200
        link.discard_input()
        link.write(b"AT\r\n")
        heard = b""
        while not heard.endswith(b"OK\r\n") and (data := link.read_some(1.0)):
            heard += data
        assert heard.endswith(b"OK\r\n")
    finally:
        link.close()
    lines = trace.getvalue().splitlines()
    assert any(line.endswith("-- opened sim://?clock=virtual&mode=ffh at 921600 baud")
               for line in lines)
    assert any(line.endswith("-- host now at 115200 baud") for line in lines)
    assert any(line.endswith("AT < OK") for line in lines)


def test_the_trace_shows_at_lines_and_decoded_stp_frames_with_a_short_hexdump() -> None:
    trace = io.StringIO()
    tracer = WireTrace(trace, REAL_CLOCK)
    tracer.sent(b"AT+SMSTPU\r\n")
    tracer.received(b"\r\nOK\r\n")
    block = stp.encode_request(stp.Op.BLOCK, 1, 7, bytes(200))
    tracer.sent(block[:10])  # a frame split across writes is shown once, whole
    tracer.sent(block[10:])
    tracer.note("done")
    text = [line.split("] ", 1)[1] for line in trace.getvalue().splitlines()]
    assert text[:2] == ["AT > AT+SMSTPU", "AT < OK"]
    assert text[2].startswith("STP > BLOCK sid=1 tid=7 plen=200")
    dump = text[3:-1]
    assert dump[0].startswith("    0000  66 61 73 74")  # the "fast" magic
    assert dump[-1] == f"    ... {len(block) - 64} more bytes"
    assert len(dump) == 64 // 16 + 1
    assert text[-1] == "-- done"
    assert list(tracer.recent)[-1].endswith("-- done")
