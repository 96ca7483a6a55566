"""The wire trace behind `--trace`: every AT line and every STP frame, with timestamps.

Each direction is cut into AT lines and STP frames as the bytes pass (a frame starts with its
magic, everything else is text up to a line end). A frame prints as its decoded one-line summary
followed by a hexdump; the payload of a data block is shortened, since the summary already says
how long it is. The last lines are kept in a ring buffer so an error report can show them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, TextIO

from sqnflash.protocol import stp
from sqnflash.timing import Clock, VirtualClock

HEXDUMP_LIMIT = 64  # bytes of a frame that are dumped
TEXT_LIMIT = 512  # a "line" longer than this without a line end is printed as it is
RING_SIZE = 40


def hexdump(data: bytes, limit: int = HEXDUMP_LIMIT) -> list[str]:
    shown = data[:limit]
    lines = []
    for offset in range(0, len(shown), 16):
        chunk = shown[offset : offset + 16]
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"    {offset:04x}  {chunk.hex(' '):<47}  {text}")
    if len(data) > limit:
        lines.append(f"    ... {len(data) - limit} more bytes")
    return lines


def _printable(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in data)


class _Direction:
    def __init__(self, magic: int, arrow: str) -> None:
        self.magic = magic.to_bytes(4, "big")
        self.arrow = arrow
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self.buf += data
        out: list[str] = []
        while self.buf:
            at = self.buf.find(self.magic)
            if at == 0:
                if len(self.buf) < stp.HEADER_SIZE:
                    break
                _, op, sid, plen, tid, hcrc, pcrc = stp.HEADER.unpack_from(self.buf)
                if plen > 0xFFFF or len(self.buf) < stp.HEADER_SIZE + plen:
                    break
                raw = bytes(self.buf[: stp.HEADER_SIZE + plen])
                del self.buf[: stp.HEADER_SIZE + plen]
                frame = stp.Frame(int.from_bytes(self.magic, "big"), op, sid, tid,
                                  raw[stp.HEADER_SIZE :], hcrc, pcrc)
                out.append(frame.summary())
                out.extend(hexdump(raw))
                continue
            text = self.buf if at < 0 else self.buf[:at]
            ends = [i for i in (text.find(b"\r"), text.find(b"\n")) if i >= 0]
            if ends:
                end = min(ends)
                line = bytes(text[:end])
                cut = end + 1
                while cut < len(self.buf) and self.buf[cut] in b"\r\n" and cut - end < 2:
                    cut += 1
                del self.buf[:cut]
                if line.strip(b"\x00 "):
                    out.append(f"AT {self.arrow} {_printable(line)}")
                elif line:
                    out.append(f"   {self.arrow} noise {_printable(line)}")
                continue
            if at > 0 or len(text) > TEXT_LIMIT:
                out.append(f"   {self.arrow} {_printable(bytes(text))}")
                del self.buf[: len(text)]
                continue
            break
        return out

    def flush(self) -> list[str]:
        if not self.buf:
            return []
        line = f"   {self.arrow} {_printable(bytes(self.buf))} (incomplete)"
        self.buf.clear()
        return [line]


class WireTrace:
    """A `Tracer` that writes to a text stream (stderr or a file)."""

    def __init__(self, stream: TextIO | None, clock: Clock) -> None:
        self.stream = stream
        self.clock = clock
        self.start = clock.now()
        self._out = _Direction(stp.REQUEST_MAGIC, ">")
        self._in = _Direction(stp.REPLY_MAGIC, "<")
        self.recent: deque[str] = deque(maxlen=RING_SIZE)
        self._baud: int | None = None

    def use_clock(self, clock: Clock, *, since: float | None = None) -> None:
        """Measure from now on `clock` (the simulator's virtual clock, once the port is open),
        stamps counted from `since` on that clock (default: now)."""
        self.clock = clock
        self.start = clock.now() if since is None else since
        self._baud = None

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        stamp = f"[{self.clock.now() - self.start:10.4f}]"
        for line in lines:
            text = f"{stamp} {line}"
            self.recent.append(text)
            if self.stream is not None:
                self.stream.write(text + "\n")
        if self.stream is not None:
            self.stream.flush()

    def line_changed(self, baud: int) -> None:
        """The host's rate: said when it changes (the rate a port opens at is in its note)."""
        if self._baud is not None and baud != self._baud:
            self.note(f"host now at {baud} baud")
        self._baud = baud

    def sent(self, data: bytes) -> None:
        self._write(self._out.feed(data))

    def received(self, data: bytes) -> None:
        self._write(self._in.feed(data))

    def note(self, text: str) -> None:
        self._write(self._in.flush() + self._out.flush() + [f"-- {text}"])

    def close(self) -> None:
        self._write(self._in.flush() + self._out.flush())


def render_capture(records: Iterable[Any], stream: TextIO) -> None:
    """A capture's records (`sqnflash.link.record.Record`) as the wire trace `--trace` prints:
    the trace is a rendering of the capture. A block whose payload the capture summarised
    shows its header and the payload's length and CRC-32."""
    clock = VirtualClock()
    trace = WireTrace(stream, clock)
    for record in records:
        clock.advance_to(record.t)
        if record.kind == "open":
            trace.use_clock(clock, since=0.0)  # a capture's times count from its start
        elif record.kind == "baud" and record.baud is not None:
            trace.line_changed(record.baud)
        elif record.kind == "note":
            trace.note(record.text)
        elif record.kind in ("tx", "rx") and record.payload_len is not None:
            _, op, sid, plen, tid, hcrc, pcrc = stp.HEADER.unpack_from(record.data)
            frame = stp.Frame(stp.REQUEST_MAGIC, op, sid, tid, b"", hcrc, pcrc)
            summary = frame.summary().split(" plen=")[0]
            trace._write([*trace._out.flush(),
                          f"{summary} payload {plen} bytes, CRC-32 "
                          f"{record.payload_crc32:08x} (not recorded)"])
        elif record.kind == "tx":
            trace.sent(record.data)
        elif record.kind == "rx":
            trace.received(record.data)
        elif record.kind == "end":
            trace.note(f"end: exit {record.raw.get('exit')}"
                       + (f" ({record.raw['error']})" if record.raw.get("error") else ""))
    trace.close()
