"""The capture writer and loader behind --record."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from sqnflash.errors import CaptureUnreadable
from sqnflash.link.record import (
    CaptureWriter,
    Recorder,
    load_capture,
    make_header,
    redact_bytes,
)
from sqnflash.link.trace import WireTrace
from sqnflash.protocol import stp
from sqnflash.timing import VirtualClock

IMEI = b"354346091234567"


def writer(path: Path, **options: bool) -> CaptureWriter:
    header = make_header(command=["info"], port="sim://", files=[],
                         redact=options.get("redact", False),
                         payloads=options.get("payloads", False))
    return CaptureWriter(path, header, **options)


def test_every_record_is_on_disk_as_soon_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    clock = VirtualClock()
    recorder = Recorder(writer(path), clock=clock)
    recorder.use_clock(clock)
    recorder.line_changed(921600)
    recorder.sent(b"AT\r")
    clock.advance_to(0.5)
    recorder.received(b"\r\nOK\r\n")
    # Not closed: what a killed run leaves behind.
    capture = load_capture(path)
    kinds = [r.kind for r in capture.records]
    assert kinds == ["open", "baud", "tx", "rx"]
    assert capture.records[2].data == b"AT\r"
    assert capture.records[3].data == b"\r\nOK\r\n"
    assert capture.records[3].t == pytest.approx(0.5)
    assert not capture.complete


def test_pieces_of_one_reply_share_a_record_and_the_file_stays_whole(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    clock = VirtualClock()
    recorder = Recorder(writer(path), clock=clock)
    for byte in b"\r\nOK\r\n":
        recorder.received(bytes([byte]))
        clock.advance_to(clock.now() + 0.0001)
        assert load_capture(path).records[-1].kind == "rx"  # loadable after every write
    recorder.sent(b"AT+SMOD?\r")
    clock.advance_to(clock.now() + 1.0)
    recorder.received(b"\r\n2\r\n")  # a second later: a record of its own
    recorder.finish(0)
    recorder.close()
    capture = load_capture(path)
    assert [r.data for r in capture.records if r.kind == "rx"] == [b"\r\nOK\r\n", b"\r\n2\r\n"]
    assert capture.complete and capture.end is not None and capture.end.raw["exit"] == 0


def test_block_payloads_are_summarised_by_length_and_crc(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    payload = bytes(range(256)) * 8
    frame = stp.encode_request(3, 1, 9, payload)
    small = stp.encode_request(2, 1, 8, b"\x00\x00\x07\xe0")
    recorder = Recorder(writer(path))
    recorder.sent(small)
    recorder.sent(frame)
    recorder.close()
    lines = path.read_text().splitlines()
    assert payload.hex() not in path.read_text()
    block = json.loads(lines[-1])
    assert block["len"] == len(payload) and int(block["crc32"], 16) == zlib.crc32(payload)
    capture = load_capture(path)
    assert capture.records[0].data == small  # a command's payload is kept
    assert capture.records[1].data == frame[: stp.HEADER_SIZE]
    assert capture.records[1].size == len(frame)


def test_payloads_are_kept_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    frame = stp.encode_request(3, 1, 9, b"\x55" * 2000)
    recorder = Recorder(writer(path, payloads=True))
    recorder.sent(frame)
    recorder.close()
    assert load_capture(path).records[0].data == frame


def test_redaction_masks_an_imei_split_over_two_reads(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    recorder = Recorder(writer(path, redact=True))
    recorder.received(b"\r\n3543460912")
    recorder.received(b"34567\r\n\r\nOK\r\n")
    recorder.note(f"claimed modem {IMEI.decode()}")
    recorder.close()
    text = path.read_text()
    assert IMEI.hex() not in text and IMEI.decode() not in text
    rx = b"".join(r.data for r in load_capture(path).records if r.kind == "rx")
    assert rx == b"\r\n354346090000000\r\n\r\nOK\r\n"  # same length: it still replays


def test_redaction_keeps_short_numbers_and_masks_serials() -> None:
    assert redact_bytes(b"+IPR: 921600\r\n") == b"+IPR: 921600\r\n"
    assert redact_bytes(b"Serial Number: A50285BI\r\n") == b"Serial Number: XXXXXXXX\r\n"


def test_header_names_files_by_hash_and_masks_adapter_serials(tmp_path: Path) -> None:
    image = tmp_path / "CATM1-41019.dup"
    image.write_bytes(b"firmware" * 100)
    from sqnflash.link.record import file_identity

    port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"
    header = make_header(command=["upgrade", "--port", port, str(image)], port=port,
                         files=[file_identity(image, "image")], redact=True, payloads=False)
    assert "A50285BI" not in json.dumps(header)
    assert header["files"][0]["size"] == 800
    assert len(header["files"][0]["sha256"]) == 64
    assert "firmware" not in json.dumps(header)


def test_a_line_torn_by_a_kill_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    recorder = Recorder(writer(path))
    recorder.sent(b"AT\r")
    recorder.close()
    with path.open("a") as handle:
        handle.write('{"k":"rx","t":0.1,"he')
    capture = load_capture(path)
    assert capture.torn and [r.kind for r in capture.records] == ["tx"]


@pytest.mark.parametrize("content, words", [
    ("", "empty"),
    ('{"hello": 1}\n', "not a sqnflash capture"),
    ('{"k":"header","format":"sqnflash-capture","version":99}\n', "version 99"),
    ('{"k":"header","format":"sqnflash-capture","version":1}\n{"k":"tx"}\n{"k":"rx"}\n',
     "line 2"),
])
def test_what_is_not_a_capture_is_refused_with_e130(tmp_path: Path, content: str,
                                                     words: str) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(content)
    with pytest.raises(CaptureUnreadable, match=words) as caught:
        load_capture(path)
    assert caught.value.code == "SQF-E130"


def test_the_trace_is_rendered_from_the_same_chunks(tmp_path: Path) -> None:
    import io

    stream = io.StringIO()
    clock = VirtualClock()
    recorder = Recorder(writer(tmp_path / "c.jsonl"), WireTrace(stream, clock), clock)
    recorder.use_clock(clock)
    recorder.line_changed(921600)
    recorder.sent(b"AT+SMOD?\r\n")
    recorder.line_changed(115200)
    recorder.close()
    text = stream.getvalue()
    assert "AT > AT+SMOD?" in text
    assert "host now at 115200 baud" in text
    assert [r.kind for r in load_capture(tmp_path / "c.jsonl").records] == [
        "open", "baud", "tx", "baud"]


def test_a_capture_renders_as_the_trace_with_blocks_summarised(tmp_path: Path) -> None:
    import io

    from sqnflash.link.trace import render_capture

    path = tmp_path / "c.jsonl"
    clock = VirtualClock()
    recorder = Recorder(writer(path), clock=clock)
    recorder.use_clock(clock)
    recorder.sent(b"AT+SMOD?\r\n")
    recorder.received(b"\r\n2\r\n\r\nOK\r\n")
    recorder.sent(stp.encode_request(3, 1, 9, b"\x11" * 1000))
    recorder.finish(0)
    recorder.close()
    stream = io.StringIO()
    render_capture(load_capture(path).records, stream)
    text = stream.getvalue()
    assert "AT > AT+SMOD?" in text and "AT < OK" in text
    assert "payload 1000 bytes, CRC-32" in text and "(not recorded)" in text
    assert "-- end: exit 0" in text
