"""A modem that plays back the modem's side of a capture (`sim://?replay=FILE`).

The host under test is answered with what the recorded modem answered, request by request:

- the host's bytes are matched, as a stream, against the recorded host's (`tx` records); an STP
  block whose payload the capture summarised matches by its header and the payload's length and
  CRC-32;
- once a recorded request is matched whole, the `rx` records that followed it are sent, each as
  long after the request as it came after the recorded one (so a reboot still takes its time),
  never before an earlier reply;
- the host's timing is its own: a request repeated at once (a retry, one more poll) is taken
  without an answer, and a run of identical unanswered requests in the capture (polls of a
  rebooting modem, maybe at several baud rates) is satisfied by any number of them: the modem
  answers the first one sent at the rate of the one it answered;
- a request sent at another rate than the recorded one is noise to the modem and goes
  unanswered, as on a real line (the host then looks for the modem at its other rates).

The first request the capture does not contain stops the replay: the modem goes silent and
`divergence` says which request, and which record the capture had there.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqnflash.link.record import Capture, Record, describe_bytes, load_capture
from sqnflash.sim.config import SimConfig
from sqnflash.sim.engine import Engine
from sqnflash.sim.simulator import Simulator
from sqnflash.sim.wire import BITS_PER_BYTE, Wire
from sqnflash.timing import REAL_CLOCK, VirtualClock

MATCH, NEED_MORE, MISMATCH = 1, 0, -1


@dataclass
class Divergence:
    """Where the host under test left the capture."""

    got: bytes  # what the host sent (as far as it was received)
    record: Record | None  # the request the capture has there; None: past its end
    why: str
    at_end: bool = False  # the host asked for more after the last recorded request

    @property
    def message(self) -> str:
        sent = describe_bytes(self.got)
        if self.record is None:
            return f"the host sent '{sent}' after the last request of the capture ({self.why})"
        return (f"the host sent '{sent}' where the capture has '{self.record.describe()}' "
                f"(record {self.record.index}, line {self.record.line}){self.why}")


class ReplayPeer:
    """The modem's end of the line: matches requests, schedules the recorded replies."""

    def __init__(self, capture: Capture, engine: Engine, wire: Wire, *,
                 on_divergence: Callable[[Divergence], None] | None = None) -> None:
        """`on_divergence` is told when the host first leaves the capture's path."""
        self.capture = capture
        self.engine = engine
        self.wire = wire
        self.records = [r for r in capture.records if r.kind in ("tx", "rx", "baud")]
        self.pos = 0
        self.pending = bytearray()
        self.baud: int | None = None  # the host's rate at this point of the capture
        self.previous: Record | None = None  # the last request matched
        self.matched = 0
        self.repeats = 0  # requests taken as repeats of the previous one
        self.divergence: Divergence | None = None
        self.on_divergence = on_divergence
        self._reply_at = 0.0
        self._advance(None)

    @property
    def requests_left(self) -> int:
        return sum(1 for r in self.records[self.pos:] if r.kind == "tx")

    @property
    def finished(self) -> bool:
        """Every recorded request was asked for."""
        return self.requests_left == 0

    def _advance(self, request: Record | None) -> None:
        """Past the replies and rate changes that follow `request` (the first ones: from the
        start), scheduling the replies."""
        base_t = request.t if request is not None else 0.0
        now = self.engine.time
        while self.pos < len(self.records) and self.records[self.pos].kind != "tx":
            record = self.records[self.pos]
            self.pos += 1
            if record.kind == "baud":
                self.baud = record.baud
                continue
            when = max(self._reply_at, now + max(0.0, record.t - base_t))
            self._reply_at = when
            self.wire.modem_write(record.data, latency=max(0.0, when - now))

    def _match(self, record: Record) -> int:
        head, total = record.data, record.size
        have = self.pending
        n = min(len(have), len(head))
        if have[:n] != head[:n]:
            return MISMATCH
        if len(have) < total:
            return NEED_MORE
        if record.payload_crc32 is not None:
            payload = memoryview(have)[len(head):total]
            if zlib.crc32(payload) != record.payload_crc32:
                return MISMATCH
        return MATCH

    def receive(self, data: bytes, baud: int) -> None:
        if self.divergence is not None:
            return
        self.pending += data
        while self.pending and self.divergence is None:
            if self.pos >= len(self.records):
                if self.previous is not None and self._match(self.previous) != MISMATCH:
                    if not self._take_repeat():
                        return
                    continue
                self._diverge(None, "the capture ends there" if self.capture.complete else
                              "the capture ends there: the recorded run stopped at record "
                              f"{self.capture.records[-1].index if self.capture.records else 0}",
                              at_end=True)
                return
            record = self.records[self.pos]
            verdict = self._match(record)
            if verdict == NEED_MORE:
                return
            if verdict == MATCH:
                window = self._poll_window()
                if window is not None:
                    last, last_baud, _rates = window
                    if baud != last_baud:
                        del self.pending[: record.size]  # one more unanswered poll
                        self.repeats += 1
                        continue
                    self.pos, self.baud, record = last, last_baud, self.records[last]
                elif self.baud is not None and baud != self.baud:
                    # Sent at a rate the recorded modem was not at: it heard noise, not this
                    # request, and answers nothing (the host looks for it at another rate).
                    del self.pending[: record.size]
                    self.repeats += 1
                    continue
                del self.pending[: record.size]
                self.pos += 1
                self.matched += 1
                self.previous = record
                self._advance(record)
                continue
            if self.previous is not None and self._match(self.previous) != MISMATCH:
                if not self._take_repeat():
                    return
                continue
            self._diverge(record, "")

    def _take_repeat(self) -> bool:
        """The host repeated its last request: taken without an answer (False: not whole yet)."""
        assert self.previous is not None
        if self._match(self.previous) != MATCH:
            return False
        del self.pending[: self.previous.size]
        self.repeats += 1
        return True

    def _poll_window(self) -> tuple[int, int | None, set[int | None]] | None:
        """Identical requests from here on with no reply between them (a rebooting modem
        polled, maybe at several rates): the host may send any number of them, at any of those
        rates; the one at the rate of the last (which the modem answered) is that last one.
        Returns (its index, its rate, every rate used), None when there is only one."""
        first = self.records[self.pos]
        rate = self.baud
        count, last, last_rate, rates = 0, self.pos, rate, set()
        for index in range(self.pos, len(self.records)):
            record = self.records[index]
            if record.kind == "baud":
                rate = record.baud
            elif (record.kind == "tx" and record.data == first.data
                  and record.payload_crc32 == first.payload_crc32):
                count, last, last_rate = count + 1, index, rate
                rates.add(rate)
            else:
                break
        return (last, last_rate, rates) if count > 1 else None

    def _diverge(self, record: Record | None, why: str, *, at_end: bool = False) -> None:
        self.divergence = Divergence(bytes(self.pending[:200]), record, why, at_end=at_end)
        if self.on_divergence is not None:
            self.on_divergence(self.divergence)


class ReplaySimulator(Simulator):
    """A `Simulator` whose modem is a capture: the same port interface (pyserial's `sim://`,
    `sqnflash sim --pty`), the same paced wire and clocks, no simulated firmware behind it."""

    def __init__(self, config: SimConfig, capture: Capture | None = None, *,
                 on_divergence: Callable[[Divergence], None] | None = None) -> None:
        # Simulator.__init__ would build a simulated modem: only its wire and clock are shared.
        self.config = config
        self._sleep = time.sleep
        clock = REAL_CLOCK if config.clock == "real" else VirtualClock()
        self.engine = Engine(clock)
        # Both ends always at the host's rate: what a mis-clocked line did is in the capture.
        self.wire = Wire(self.engine, lambda data: None, host_baud=config.host_baud,
                         modem_baud=config.host_baud, turnaround_s=config.turnaround_s,
                         paced=config.paced)
        self.charged = False
        self.host_wall_s = 0.0
        self.host_cpu_s = 0.0
        self._left: tuple[float, float] | None = None
        self._to_modem_free = 0.0
        self.capture = capture if capture is not None else load_capture(Path(config.replay))
        self.peer = ReplayPeer(self.capture, self.engine, self.wire,
                               on_divergence=on_divergence)

    def set_host_baud(self, baud: int) -> None:
        self._host_returns()
        self.wire.host_baud = baud
        self.wire.modem_baud = baud
        self._host_leaves()

    def write(self, data: bytes) -> int:
        self._host_returns()
        data = bytes(data)
        baud = self.wire.host_baud
        if data:
            period = BITS_PER_BYTE / baud if self.config.paced else 0.0
            start = max(self.engine.time, self._to_modem_free)
            self._to_modem_free = start + len(data) * period
            self.engine.at(self._to_modem_free, lambda: self.peer.receive(data, baud))
        self._host_leaves()
        return len(data)

    @property
    def divergence(self) -> Divergence | None:
        return self.peer.divergence

    def summary(self) -> dict[str, Any]:
        peer = self.peer
        return {"replay": str(self.capture.path), "records": len(self.capture.records),
                "requests_matched": peer.matched, "requests_left": peer.requests_left,
                "repeats": peer.repeats, "capture_complete": self.capture.complete,
                "divergence": peer.divergence.message if peer.divergence else None}
