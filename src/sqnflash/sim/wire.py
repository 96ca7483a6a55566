"""The UART between a host and the simulated modem.

Bytes take 10 bit times each (8N1) at the sender's baud rate; replies leave the modem after a
turn-around latency (a USB-serial bridge adds about a millisecond). When the two ends run at
different rates, what arrives is garbage: bytes with the high bit set, more or fewer of them
depending on the ratio of the rates. That is what makes baud negotiation a real exercise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqnflash.sim.engine import Engine

BITS_PER_BYTE = 10


def garble(data: bytes, sent_baud: int, heard_baud: int) -> bytes:
    """What a UART at `heard_baud` makes of bytes sent at `sent_baud`.

    Deterministic, never a CR, LF or printable character, so a mis-clocked line can never be
    mistaken for a command or a reply.
    """
    if not data:
        return b""
    count = max(1, round(len(data) * heard_baud / sent_baud))
    out = bytearray(count)
    for i in range(count):
        src = data[min(len(data) - 1, i * len(data) // count)]
        out[i] = 0x80 | ((src * 37 + i * 11 + 0x7D) & 0x7F)
    return bytes(out)


@dataclass
class _Segment:
    start: float  # when the first byte began
    period: float  # seconds per byte
    data: bytes
    taken: int = 0

    def available(self, now: float) -> int:
        if self.period <= 0:
            return len(self.data) - self.taken
        # The division only guesses; the count is then settled with `time_of` itself, so the
        # two always agree on when a byte has arrived (a reader waiting for a byte that
        # `time_of` says is there but this count does not would spin forever).
        arrived = max(0, min(len(self.data), int((now - self.start) / self.period)))
        while arrived < len(self.data) and self.time_of(arrived) <= now:
            arrived += 1
        while arrived > 0 and self.time_of(arrived - 1) > now:
            arrived -= 1
        return max(0, arrived - self.taken)

    def time_of(self, index: int) -> float:
        """When byte `index` (0-based, absolute in the segment) is fully received."""
        return self.start + (index + 1) * self.period


class Wire:
    """Both directions of the line. The modem end receives through `deliver`."""

    def __init__(
        self,
        engine: Engine,
        deliver: Callable[[bytes], None],
        *,
        host_baud: int,
        modem_baud: int,
        turnaround_s: float = 0.001,
        paced: bool = True,
        on_host_write: Callable[[float, int], None] | None = None,
    ) -> None:
        """`on_host_write` is told (time, size) of every write of the host's."""
        self.engine = engine
        self.deliver = deliver
        self.host_baud = host_baud
        self.modem_baud = modem_baud
        self.turnaround_s = turnaround_s
        self.paced = paced
        self.host_rtscts = False  # the host's port uses RTS/CTS (sim/flow.py)
        self._to_modem_free = 0.0
        self._to_host_free = 0.0
        self._segments: deque[_Segment] = deque()
        self.bytes_to_modem = 0
        self.bytes_to_host = 0
        self.wire_time_s = 0.0  # time the line was busy in either direction
        self.on_host_write = on_host_write
        self.on_modem_write: Callable[[float], None] | None = None

    def connect_host(self, *, baud: int, rtscts: bool,
                     on_modem_write: Callable[[float], None]) -> None:
        """Another host end takes the line (a board's UART in place of a USB adapter):
        its rate, its RTS/CTS, and `on_modem_write`, told when the last byte of each modem
        write reaches it (a board that forwards the modem's output needs to know when to
        look)."""
        self.host_baud = baud
        self.host_rtscts = rtscts
        self.on_modem_write = on_modem_write

    def _period(self, baud: int) -> float:
        return BITS_PER_BYTE / baud if self.paced else 0.0

    # host -> modem -----------------------------------------------------------------------
    def host_write(self, data: bytes) -> float:
        """Queue bytes the host wrote; returns when their last bit reaches the modem."""
        if not data:
            return self.engine.time
        now = self.engine.time
        if self.on_host_write is not None:
            self.on_host_write(now, len(data))
        start = max(now, self._to_modem_free)
        duration = len(data) * self._period(self.host_baud)
        end = start + duration
        self._to_modem_free = end
        self.bytes_to_modem += len(data)
        self.wire_time_s += duration
        sent_baud = self.host_baud
        self.engine.at(end, lambda: self._arrive(data, sent_baud))
        return end

    def _arrive(self, data: bytes, sent_baud: int) -> None:
        if sent_baud != self.modem_baud:
            data = garble(data, sent_baud, self.modem_baud)
        self.deliver(data)

    @property
    def to_modem_idle_at(self) -> float:
        return self._to_modem_free

    # modem -> host -----------------------------------------------------------------------
    def modem_write(self, data: bytes, *, latency: float | None = None) -> float:
        """Send bytes from the modem; returns when the last one has reached the host."""
        if not data:
            return self.engine.time
        delay = self.turnaround_s if latency is None else latency
        start = max(self.engine.time + delay, self._to_host_free)
        period = self._period(self.modem_baud)
        duration = len(data) * period
        if self.host_baud != self.modem_baud:
            data = garble(data, self.modem_baud, self.host_baud)
            period = duration / len(data) if data else 0.0
        self._to_host_free = start + duration
        self.bytes_to_host += len(data)
        self.wire_time_s += duration
        self._segments.append(_Segment(start, period, data))
        if self.on_modem_write is not None:
            self.on_modem_write(self._to_host_free)
        return self._to_host_free

    @property
    def to_host_idle_at(self) -> float:
        return self._to_host_free

    def host_available(self, now: float | None = None) -> int:
        when = self.engine.time if now is None else now
        total = 0
        for seg in self._segments:
            got = seg.available(when)
            total += got
            if seg.taken + got < len(seg.data):
                break
        return total

    def host_read(self, size: int, now: float | None = None) -> bytes:
        when = self.engine.time if now is None else now
        out = bytearray()
        while self._segments and len(out) < size:
            seg = self._segments[0]
            got = min(seg.available(when), size - len(out))
            out += seg.data[seg.taken : seg.taken + got]
            seg.taken += got
            if seg.taken == len(seg.data):
                self._segments.popleft()
            else:
                break
        return bytes(out)

    def host_time_for(self, size: int) -> float | None:
        """When `size` more bytes will have reached the host, if that many are on their way."""
        remaining = size
        for seg in self._segments:
            left = len(seg.data) - seg.taken
            if remaining <= left:
                return seg.time_of(seg.taken + remaining - 1)
            remaining -= left
        return None

    def host_next_byte_time(self) -> float | None:
        for seg in self._segments:
            if seg.taken < len(seg.data):
                return seg.time_of(seg.taken)
        return None

    def host_discard(self) -> int:
        """Drop what has already arrived at the host (bytes still in flight keep coming)."""
        dropped = self.host_available()
        self.host_read(dropped)
        return dropped
