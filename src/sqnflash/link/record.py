"""Captures behind `--record`: every chunk that crossed the line, as JSON Lines, and their loader.

One recording layer serves both `--record` and `--trace`: the link hands each chunk it wrote or
read to a `Recorder`, which writes it to the capture file and passes it on to the wire trace (a
rendering of the same chunks). The format is described in docs/capture-format.md; in short:

- the first line is the header (format, version, sqnflash/Python/pyserial versions, platform,
  port, command line, and the identity of every input file: name, size, SHA-256, never its bytes);
- then one record per event: `tx`/`rx` chunks (hex), `baud` (the host's rate, at every open and
  change), `open`, `note` (a decision the client took), and a final `end` with the exit code;
- an STP request frame whose payload is longer than `PAYLOAD_KEEP` is summarised by the payload's
  length and CRC-32 unless payloads are kept: a 6 MB upgrade then records about 0.2 MB.

Every line is flushed as it is written, so a run killed at any point leaves a capture that loads up
to its last complete line (a torn last line is dropped by the loader, not an error).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import serial

from sqnflash import __version__
from sqnflash.errors import CaptureUnreadable, RecordFailed
from sqnflash.link.port import Tracer
from sqnflash.protocol import stp
from sqnflash.timing import REAL_CLOCK, Clock

FORMAT = "sqnflash-capture"
FORMAT_VERSION = 1
PAYLOAD_KEEP = 64  # STP request payloads up to this size are kept (commands, not firmware)
_REQUEST_MAGIC = stp.REQUEST_MAGIC.to_bytes(4, "big")
_REPLY_MAGIC = stp.REPLY_MAGIC.to_bytes(4, "big")

# An IMEI is 15 digits; any run of 14 to 17 digits (IMEISV, ICCID fragments) is masked too.
_LONG_NUMBER = re.compile(rb"(?<![0-9])[0-9]{14,20}(?![0-9])")
_SERIAL = re.compile(rb"(?i)(serial(?:[ _]?(?:number|no))?|\bS/?N)(\s*[:=]\s*)([0-9A-Za-z-]{4,})")
KEEP_DIGITS = 8  # an IMEI's TAC (the model) stays readable; the rest is zeroed


def redact_bytes(data: bytes) -> bytes:
    """IMEIs and serial numbers masked, keeping every byte's position (replies keep their
    length, so a redacted capture still replays)."""

    def number(match: re.Match[bytes]) -> bytes:
        digits = match.group(0)
        return digits[:KEEP_DIGITS] + b"0" * (len(digits) - KEEP_DIGITS)

    def serial(match: re.Match[bytes]) -> bytes:
        return match.group(1) + match.group(2) + b"X" * len(match.group(3))

    return _SERIAL.sub(serial, _LONG_NUMBER.sub(number, data))


def redact_text(text: str) -> str:
    return redact_bytes(text.encode("utf-8", "surrogateescape")).decode("utf-8",
                                                                          "surrogateescape")


def _is_frame(data: bytes) -> bool:
    return data[:4] in (_REQUEST_MAGIC, _REPLY_MAGIC)


def file_identity(path: Path, role: str) -> dict[str, Any]:
    """Name, size and SHA-256 of an input file (its bytes never go into a capture)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"role": role, "path": str(path), "name": path.name, "size": size,
            "sha256": digest.hexdigest()}


def environment() -> dict[str, str]:
    """The versions a bug report needs."""
    return {"sqnflash": __version__, "python": platform.python_version(),
            "pyserial": str(getattr(serial, "__version__", "?")),
            "platform": platform.platform(), "system": sys.platform}


def make_header(*, command: list[str], port: str, files: list[dict[str, Any]],
                redact: bool, payloads: bool, port_description: str = "") -> dict[str, Any]:
    header: dict[str, Any] = {"k": "header", "format": FORMAT, "version": FORMAT_VERSION,
                              **environment(), "command": command,
                              "port": {"name": port, "description": port_description},
                              "files": files, "redacted": redact, "payloads": payloads}
    return redact_header(header) if redact else header


def redact_header(header: dict[str, Any]) -> dict[str, Any]:
    """A port's description and by-id name carry the adapter's serial number: masked."""
    out: dict[str, Any] = json.loads(json.dumps(header))
    port = out.get("port", {})
    for key in ("name", "description"):
        if isinstance(port.get(key), str):
            port[key] = _mask_usb_serial(redact_text(port[key]))
    out["command"] = [_mask_usb_serial(redact_text(str(arg))) for arg in out.get("command", [])]
    out["redacted"] = True
    return out


def _mask_usb_serial(text: str) -> str:
    # /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0: the serial is the last
    # field before -ifNN; Windows' USB\VID_0403&PID_6001\A50285BI likewise.
    text = re.sub(r"(usb-[^/\s]*_)([0-9A-Za-z]{4,})(-if\d+)", lambda m: m.group(1) + "X" * len(
        m.group(2)) + m.group(3), text)
    return re.sub(r"(SER=)([0-9A-Za-z]+)", lambda m: m.group(1) + "X" * len(m.group(2)), text)


MERGE_GAP_S = 0.005  # chunks of one direction closer than this share a record
MERGE_LIMIT = 4096  # bytes a merged record grows to at most


class CaptureWriter:
    """Appends records to a capture file, one flushed line each.

    Reads come in pieces (a line byte by byte, a frame as header then CRC): a chunk that follows
    one of the same direction within `MERGE_GAP_S` is joined to it by rewriting the file's last
    line in place. The line only grows, in one write, so the file is complete after every write,
    and a capture stays a third smaller. Joining also lets redaction see a number whole.
    """

    def __init__(self, path: Path, header: dict[str, Any], *, payloads: bool = False,
                 redact: bool = False) -> None:
        self.path = path
        self.payloads = payloads
        self.redact = redact
        self.failed: str | None = None  # why writing stopped (a full disk must not stop a run)
        try:
            self._file: IO[bytes] | None = path.open("wb")
        except OSError as exc:
            raise RecordFailed(f"--record {path}: {exc.strerror or exc}") from exc
        self._pos = 0  # where the next line starts
        self._last: tuple[str, float, bytes, int] | None = None  # kind, t, data, line start
        self._line(header)

    def _line(self, record: dict[str, Any], at: int | None = None) -> None:
        self._write((json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8"), at)

    def _chunk_line(self, kind: str, t: float, hexdata: str, at: int | None = None,
                    extra: str = "") -> None:
        # The hot path (a few records per block): formatted directly, as json.dumps would.
        self._write(f'{{"k":"{kind}","t":{round(t, 6)!r},"hex":"{hexdata}"{extra}}}\n'
                    .encode("ascii"), at)

    def _write(self, line: bytes, at: int | None) -> None:
        if self._file is None:
            return
        try:
            if at is not None:
                self._file.seek(at)
                self._pos = at
            self._file.write(line)
            self._file.flush()
            self._pos += len(line)
        except (OSError, ValueError) as exc:
            self.failed = str(exc)
            self._close_file()

    def chunk(self, kind: str, t: float, data: bytes) -> None:
        if kind == "tx" and not self.payloads and data[:4] == _REQUEST_MAGIC:
            plen = stp.HEADER.unpack_from(data)[3] if len(data) >= stp.HEADER_SIZE else -1
            if plen > PAYLOAD_KEEP and len(data) == stp.HEADER_SIZE + plen:
                payload = memoryview(data)[stp.HEADER_SIZE:]
                self._last = None
                self._chunk_line(kind, t, data[: stp.HEADER_SIZE].hex(),
                                 extra=f',"len":{plen},"crc32":"{zlib.crc32(payload):08x}"')
                return
        last = self._last
        at = None
        if (last is not None and last[0] == kind and t - last[1] <= MERGE_GAP_S
                and len(last[2]) + len(data) <= MERGE_LIMIT):
            t, data, at = last[1], last[2] + data, last[3]
        self._last = (kind, t, data, self._pos if at is None else at)
        shown = redact_bytes(data) if self.redact and not _is_frame(data) else data
        self._chunk_line(kind, t, shown.hex(), at)

    def event(self, record: dict[str, Any]) -> None:
        self._last = None
        if self.redact and "text" in record:
            record = {**record, "text": redact_text(str(record["text"]))}
        self._line(record)

    def _close_file(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()

    def close(self) -> None:
        self._close_file()


class Recorder:
    """The `Tracer` a link is given: each chunk goes to the capture and to the wire trace."""

    def __init__(self, capture: CaptureWriter | None = None, trace: Tracer | None = None,
                 clock: Clock = REAL_CLOCK) -> None:
        self.capture = capture
        self.trace = trace
        self.clock = clock
        self.start = clock.now()
        self.offset = 0.0  # the time reached on the links opened before this one
        self._opened = False

    def _t(self) -> float:
        return self.offset + self.clock.now() - self.start

    def use_clock(self, clock: Clock) -> None:
        """A link was opened: from now on its clock (the simulator's, for `sim://`) is used."""
        # Each link may run on a clock of its own (a simulator's): times go on from where the
        # previous link left them, so that they only ever increase.
        self.offset = self._t()
        self.clock = clock
        self.start = clock.now()
        if self.capture is not None:
            self.capture.event({"k": "open", "t": round(self._t(), 6)})
        self._opened = True
        if self.trace is not None:
            self.trace.use_clock(clock)

    def sent(self, data: bytes) -> None:
        if self.capture is not None:
            self.capture.chunk("tx", self._t(), data)
        if self.trace is not None:
            self.trace.sent(data)

    def received(self, data: bytes) -> None:
        if self.capture is not None:
            self.capture.chunk("rx", self._t(), data)
        if self.trace is not None:
            self.trace.received(data)

    def line_changed(self, baud: int) -> None:
        """The host's rate, at every open and every change."""
        if self.capture is not None:
            self.capture.event({"k": "baud", "t": round(self._t(), 6), "baud": baud})
        if self.trace is not None:
            self.trace.line_changed(baud)

    def note(self, text: str) -> None:
        if self.capture is not None:
            self.capture.event({"k": "note", "t": round(self._t(), 6), "text": text})
        if self.trace is not None:
            self.trace.note(text)

    def finish(self, exit_code: int, error: str | None = None) -> None:
        if self.capture is not None:
            self.capture.event({"k": "end", "t": round(self._t(), 6), "exit": exit_code,
                                "error": error})

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()


# ------------------------------------------------------------------------------------ loading


@dataclass
class Record:
    index: int  # position among the records (the header is not one)
    line: int  # line number in the file (1 = the header)
    kind: str  # tx, rx, baud, open, note, end
    t: float
    data: bytes = b""  # tx/rx: the bytes (for a summarised frame: its header only)
    payload_len: int | None = None  # a summarised STP payload: its length...
    payload_crc32: int | None = None  # ...and CRC-32
    baud: int | None = None
    text: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes on the wire (a summarised payload counted in)."""
        return len(self.data) + (self.payload_len or 0)

    def describe(self) -> str:
        return describe_bytes(self.data, self.payload_len)


def describe_bytes(data: bytes, payload_len: int | None = None) -> str:
    """An AT line as text, an STP frame by its decoded header."""
    if data[:4] in (_REQUEST_MAGIC, _REPLY_MAGIC) and len(data) >= stp.HEADER_SIZE:
        _, op, sid, plen, tid, _, _ = stp.HEADER.unpack_from(data)
        kind = "request" if data[:4] == _REQUEST_MAGIC else "reply"
        return f"STP {kind} op=0x{op:02x} sid={sid} tid={tid} payload {plen} bytes"
    text = "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in data[:120])
    more = f" (+{len(data) - 120} bytes)" if len(data) > 120 else ""
    return repr(text)[1:-1] if not more else f"{text}{more}"


@dataclass
class Capture:
    path: Path
    header: dict[str, Any]
    records: list[Record]
    torn: bool = False  # the last line was cut short (the run was killed while writing it)

    @property
    def end(self) -> Record | None:
        return self.records[-1] if self.records and self.records[-1].kind == "end" else None

    @property
    def complete(self) -> bool:
        return self.end is not None

    @property
    def files(self) -> list[dict[str, Any]]:
        return list(self.header.get("files", []))

    @property
    def command(self) -> list[str]:
        return [str(arg) for arg in self.header.get("command", [])]


def load_capture(path: Path) -> Capture:
    """A capture file; CaptureUnreadable (SQF-E130) when it is not one sqnflash can read."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise CaptureUnreadable(f"{path}: {exc.strerror or exc}") from exc
    lines = text.split("\n")
    torn = bool(lines and lines[-1])  # no newline after the last line: a cut write
    if not torn:
        lines = lines[:-1]
    if not lines or not lines[0].strip():
        raise CaptureUnreadable(f"{path} is empty")
    try:
        header = json.loads(lines[0])
    except ValueError as exc:
        raise CaptureUnreadable(f"{path}: the first line is not a capture header ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CaptureUnreadable(f"{path} is not a sqnflash capture (no '{FORMAT}' header)")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CaptureUnreadable(f"{path}: capture format version {version!r}; this sqnflash "
                                f"reads up to {FORMAT_VERSION}",
                                advice="Update sqnflash to read captures of newer versions.")
    records: list[Record] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            records.append(_record(raw, len(records), number))
        except (ValueError, KeyError, TypeError) as exc:
            if number == len(lines) and torn:
                break  # the write a kill interrupted
            raise CaptureUnreadable(f"{path}, line {number}: not a capture record ({exc})"
                                    ) from exc
    else:
        torn = False
    return Capture(path, header, records, torn=torn)


def _record(raw: dict[str, Any], index: int, line: int) -> Record:
    kind = str(raw["k"])
    wire = kind in ("tx", "rx")
    summarised = wire and "len" in raw
    return Record(index, line, kind, float(raw.get("t", 0.0)), raw=raw,
                  data=bytes.fromhex(raw["hex"]) if wire else b"",
                  payload_len=int(raw["len"]) if summarised else None,
                  payload_crc32=int(raw["crc32"], 16) if summarised else None,
                  baud=int(raw["baud"]) if kind == "baud" else None,
                  text=str(raw.get("text", "")) if kind == "note" else "")


def write_capture(path: Path, header: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """A capture from records as loaded (`Record.raw`): for tools that rewrite one (redaction)."""
    with path.open("w", encoding="utf-8") as handle:
        for record in [header, *records]:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def redact_capture(capture: Capture) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The capture's header and records with IMEIs and serial numbers masked (chunks of one
    direction are joined first, so that a number split over two reads is masked too)."""
    header = redact_header(capture.header)
    out: list[dict[str, Any]] = []
    for record in capture.records:
        raw = dict(record.raw)
        if record.kind in ("tx", "rx") and record.payload_len is None and not _is_frame(
                record.data):
            previous = out[-1] if out else None
            if (previous is not None and previous["k"] == record.kind and "len" not in previous
                    and not _is_frame(bytes.fromhex(previous["hex"]))):
                previous["hex"] = redact_bytes(bytes.fromhex(previous["hex"])
                                               + record.data).hex()
                continue
            raw["hex"] = redact_bytes(record.data).hex()
        elif record.kind == "note":
            raw["text"] = redact_text(record.text)
        out.append(raw)
    return header, out


def port_description(name: str) -> str:
    """What pyserial knows about a local port (USB ids, product), for the header."""
    if "://" in name:
        return ""
    try:
        from serial.tools import list_ports

        real = os.path.realpath(name)
        for info in list_ports.comports():
            if info.device in (name, real):
                return f"{info.description} [{info.hwid}]"
    except Exception:  # a courtesy: the capture is made without it
        return ""
    return ""
