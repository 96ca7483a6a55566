"""Run an STP upload over a link: the sans-I/O master plus reads with deadlines and retries.

Each exchange (one request, one reply) is retried on its own: a reply that does not arrive in
time, fails its CRC, or is refused gets the same request sent again with the same tid, up to
`retries` times. A modem that already processed a request answers the repeat without consuming
the data twice, so a lost reply costs one retransmission and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqnflash.errors import StpProtocolViolation, TransferFailed, TransferRefused
from sqnflash.firmware.source import BlockSource
from sqnflash.link import Link
from sqnflash.protocol import stp
from sqnflash.timing import Deadline

OPEN_TIMEOUT_S = 10.0  # the modem may still be settling after AT+SMSTPU / AT+STP
BLOCK_TIMEOUT_S = 20.0  # a block reply waits for a flash write (erases stall real modems)
CLOSE_TIMEOUT_S = 2.0  # Pycom reads the closing reply for 2 s and does not decode it
DEFAULT_RETRIES = 4  # Pycom's attempts per exchange
QUIET_S = 0.25  # after a damaged reply: how long to listen for a good one before resending
_REPLY_MAGIC = stp.REPLY_MAGIC.to_bytes(4, "big")


@dataclass(frozen=True)
class TransferResult:
    total: int
    sent_from: int
    elapsed_s: float
    retries: int
    version: int
    max_transfer: int
    block_size: int

    @property
    def bytes_per_s(self) -> float:
        return (self.total - self.sent_from) / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressCallback = Callable[[int, int], None]  # (confirmed bytes, total)
OpenedCallback = Callable[[stp.SessionOpened], None]


class StpUpload:
    def __init__(self, link: Link, source: BlockSource, *, block_cap: int,
                 retries: int = DEFAULT_RETRIES, offset: int = 0, leftover: bytes = b"",
                 on_progress: ProgressCallback | None = None,
                 on_opened: OpenedCallback | None = None) -> None:
        self.link = link
        self.source = source
        self.master = stp.StpMaster(source.size, block_cap=block_cap, offset=offset)
        self.retries = retries
        self.on_progress = on_progress
        self.on_opened = on_opened
        self.retried = 0
        self._leftover = leftover
        self._opened: stp.SessionOpened | None = None

    def run(self) -> TransferResult:
        clock = self.link.clock
        start = clock.now()
        sent_from = self.master.offset
        if self._leftover:
            self.master.feed(self._leftover)  # a reply cannot precede its request: stale bytes
            self.master.decoder.clear()
        while not self.master.done:
            self._exchange()
        opened = self._opened
        return TransferResult(
            total=self.master.total,
            sent_from=sent_from,
            elapsed_s=clock.now() - start,
            retries=self.retried,
            version=opened.version if opened else 0,
            max_transfer=opened.max_transfer if opened else 0,
            block_size=opened.block_size if opened else 0,
        )

    def _timeout_for(self, state: stp.MasterState) -> float:
        if state in (stp.MasterState.RESET, stp.MasterState.OPEN):
            return OPEN_TIMEOUT_S
        if state == stp.MasterState.CLOSE:
            return CLOSE_TIMEOUT_S
        return BLOCK_TIMEOUT_S

    def _exchange(self) -> None:
        master = self.master
        request = master.request()
        payload = b""
        if request.needs_data:
            payload = self.source.read_at(request.offset, request.length)
        frame = master.encode(request, payload)
        problems: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                self.link.note(f"STP: resending {request.op.name} tid={request.tid} "
                               f"(attempt {attempt + 1}: {problems[-1]})")
            self.link.write(frame)
            outcome = self._await_reply(request, self._timeout_for(request.state))
            if outcome is None:
                return
            problems.append(outcome)
        if request.state == stp.MasterState.CLOSE:
            # The image is complete; a lost closing reply does not undo it.
            self.link.note("STP: no reply to the closing reset; the modem has the whole image")
            master.state = stp.MasterState.DONE
            return
        if request.state in (stp.MasterState.RESET, stp.MasterState.OPEN) and all(
                p.startswith("no reply") for p in problems):
            raise TransferRefused(
                f"the modem did not open an STP session ({problems[-1]})",
                details={"problems": problems})
        raise TransferFailed(
            f"{request.op.name} at byte {request.offset} of {master.total} failed "
            f"{len(problems)} times; last: {problems[-1]}",
            details={"offset": master.offset, "problems": problems},
        )

    def _await_reply(self, request: stp.Request, timeout_s: float) -> str | None:
        """None once the request was answered, else what went wrong."""
        deadline = Deadline(self.link.clock, timeout_s)
        problem: str | None = None
        want = stp.HEADER_SIZE
        while True:
            data = self.link.read(want, deadline.remaining())
            if not data:
                return problem or f"no reply within {timeout_s:g} s"
            want = self._next_read_size(data)
            try:
                events = self.master.feed(data)
            except stp.StpProtocolError as exc:
                raise StpProtocolViolation(str(exc)) from exc
            for event in events:
                if isinstance(event, stp.SessionOpened):
                    self._opened = event
                    if self.on_opened is not None:
                        self.on_opened(event)
                    return None
                if isinstance(event, stp.BlockAccepted):
                    if self.on_progress is not None:
                        self.on_progress(event.offset, self.master.total)
                    return None
                if isinstance(event, stp.Advanced):
                    return None
                if isinstance(event, stp.Refused):
                    problem = event.reason
                elif isinstance(event, stp.DecodeError):
                    if event.problem != stp.DecodeProblem.GARBAGE:
                        problem = f"{event.problem.value}: {event.detail}"
                    want = 1
                elif isinstance(event, stp.Ignored):
                    want = stp.HEADER_SIZE
            if problem is not None:
                if self.master.decoder.buffered == 0:
                    return problem
                deadline = deadline.earlier(QUIET_S)

    def _next_read_size(self, data: bytes) -> int:
        """How many bytes to ask for next: the rest of a frame whose header just arrived."""
        if len(data) >= stp.HEADER_SIZE and data[:4] == _REPLY_MAGIC:
            plen = int.from_bytes(data[6:8], "big")
            rest = stp.HEADER_SIZE + plen - len(data)
            if 0 < rest <= 64:
                return rest
            return stp.HEADER_SIZE
        return 1
