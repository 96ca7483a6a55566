"""Run an STP upload over a link: the sans-I/O master plus reads with deadlines and retries.

Each exchange (one request, one reply) is retried on its own: a reply that does not arrive in
time, fails its CRC, or is refused gets the same request sent again with the same tid, up to
`retries` times. A modem that already processed a request answers the repeat without consuming
the data twice, so a lost reply costs one retransmission and nothing else. Timeouts, block sizes
and how many attempts a noisy line gets come from `LinePolicy` (modem/line.py).

After every completed exchange the upload reports a checkpoint (`on_checkpoint`): the request to
send next, with its tid. A process that dies mid-transfer can then continue the session the modem
still holds by sending exactly that request again; if the modem had already answered it, it
answers the repeat without writing the data twice, so at most one block is sent beyond the last
confirmed offset.

A modem that reboots mid-transfer (its `+SHUTDOWN` or `+SYSSTART` shows up among the STP bytes)
ends the upload at once with `SessionLost`: a new session is a new file, so the caller starts the
transfer again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqnflash.errors import (
    LineTooNoisy,
    SessionLost,
    StpProtocolViolation,
    TransferFailed,
    TransferRefused,
)
from sqnflash.firmware.source import BlockSource
from sqnflash.link import Link
from sqnflash.modem.line import PROBE_TIMEOUT_S, LinePolicy, LineStats
from sqnflash.protocol import stp
from sqnflash.timing import Deadline

DEFAULT_RETRIES = 4  # Pycom's attempts per exchange
REBOOT_MARKERS = (b"+SHUTDOWN", b"+SYSSTART")  # AT lines: the modem left STP by rebooting
_MARKER_TAIL = max(len(m) for m in REBOOT_MARKERS) - 1  # kept between reads (split markers)
QUIET_S = 0.25  # after a damaged reply: how long to listen for a good one before resending
SILENT_BEFORE_SMALLER = 2  # silent attempts in a row before a block command asks for less
SILENT_BEFORE_SMALLER_SENT = 4  # ...and before a block whose data went out is given up
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
    line: LineStats | None = None

    @property
    def bytes_per_s(self) -> float:
        return (self.total - self.sent_from) / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressCallback = Callable[[int, int], None]  # (confirmed bytes, total)
OpenedCallback = Callable[[stp.SessionOpened], None]
CheckpointCallback = Callable[[stp.Checkpoint], None]


class StpUpload:
    def __init__(self, link: Link, source: BlockSource, *, block_cap: int,
                 start_block: int | None = None, retries: int = DEFAULT_RETRIES,
                 offset: int = 0, leftover: bytes = b"",
                 on_progress: ProgressCallback | None = None,
                 on_opened: OpenedCallback | None = None,
                 on_checkpoint: CheckpointCallback | None = None,
                 checkpoint: stp.Checkpoint | None = None,
                 data_type: int | None = None) -> None:
        """`checkpoint` continues a session the modem still holds (see `probe`); `data_type`
        is announced when the session reports version 2 or more (Monarch 2)."""
        self.link = link
        self.source = source
        if checkpoint is not None:
            if checkpoint.total != source.size:
                raise ValueError("the checkpoint belongs to another file")
            self.master = stp.StpMaster.resume(checkpoint, block_cap=block_cap)
        else:
            self.master = stp.StpMaster(source.size, block_cap=block_cap, offset=offset,
                                        data_type=data_type,
                                        start_block=start_block)
        self.sent_from = self.master.offset  # a resumed upload's probe already counts
        self.retries = retries
        self.policy = LinePolicy(baud=link.baud, retries=retries, block_cap=block_cap,
                                 start_block=start_block)
        self.on_progress = on_progress
        self.on_opened = on_opened
        self.on_checkpoint = on_checkpoint
        self.retried = 0
        self._leftover = leftover
        self._opened: stp.SessionOpened | None = None
        self._heard = False  # any byte at all during the current attempt
        self._tail = b""  # the end of the last bytes heard, for markers split across reads
        self._rebooted: bytes | None = None

    def report_to(self, on_progress: ProgressCallback | None,
                  on_checkpoint: CheckpointCallback | None) -> None:
        """Who follows the upload from now on: one probed before its step began (a session
        the modem still held) reports to that step once it carries on."""
        self.on_progress = on_progress
        self.on_checkpoint = on_checkpoint

    def run(self) -> TransferResult:
        clock = self.link.clock
        start = clock.now()
        if self._leftover:
            self.master.feed(self._leftover)  # a reply cannot precede its request: stale bytes
            self.master.decoder.clear()
        while not self.master.done:
            self._exchange()
        opened = self._opened
        master = self.master
        return TransferResult(
            total=master.total,
            sent_from=self.sent_from,
            elapsed_s=clock.now() - start,
            retries=self.retried,
            version=opened.version if opened else master.version,
            max_transfer=opened.max_transfer if opened else master.max_transfer,
            block_size=opened.block_size if opened else master.block_size,
            line=self.policy.stats(),
        )

    def probe(self) -> bool:
        """Send the pending request of a resumed upload (twice at most): True when the modem
        answers it, i.e. still holds the session; nothing else is sent."""
        master = self.master
        request = master.request()
        frame = master.encode(request, self._payload(request))
        for _ in range(2):
            self.link.write(frame)
            if self._await_reply(request, PROBE_TIMEOUT_S + self.policy.wire_s(len(frame))) is None:
                self._report_checkpoint()
                return True
            if self._rebooted is not None:
                break
        self.master.decoder.clear()
        return False

    def _payload(self, request: stp.Request) -> bytes:
        return self.source.read_at(request.offset, request.length) if request.needs_data else b""

    def _report_checkpoint(self) -> None:
        if self.on_checkpoint is not None and self.master.state not in (
                stp.MasterState.RESET, stp.MasterState.OPEN, stp.MasterState.DONE):
            self.on_checkpoint(self.master.checkpoint())

    def _exchange(self) -> None:
        """One request until it is answered (sent again with its tid while it is not), or
        given up for smaller blocks; raises when the session cannot go on."""
        master, policy, clock = self.master, self.policy, self.link.clock
        request = master.request()
        frame = master.encode(request, self._payload(request))
        problems: list[str] = []
        silent_in_a_row = 0
        attempt = 0
        began = clock.now()
        while True:
            if attempt:
                self._before_resend(request, attempt, problems[-1])
            sent_at = clock.now()
            self.link.write(frame)
            problem = self._await_reply(request, policy.timeout(request.state, len(frame),
                                                                attempt))
            if problem is None:
                self._answered(request, clock.now() - sent_at, len(frame))
                return
            problems.append(problem)
            if self._rebooted is not None:
                raise SessionLost(
                    f"the modem rebooted during the transfer (it sent "
                    f"{self._rebooted.decode()}) at byte {master.offset} of {master.total}",
                    details={"offset": master.offset, "problems": problems})
            silent_in_a_row = silent_in_a_row + 1 if not self._heard else 0
            attempt += 1
            if self._smaller_blocks(request, silent_in_a_row):
                return
            if policy.too_noisy(master.block_size):  # the caller may try a lower baud rate
                raise LineTooNoisy(
                    f"{100 * (1 - policy.success_ratio()):.0f} % of the frames were lost at "
                    f"{self.link.baud} baud even in {master.block_size}-byte blocks",
                    details={"offset": master.offset, "baud": self.link.baud,
                             "line": policy.stats().to_dict()})
            if policy.give_up(request.state, attempt, clock.now() - began):
                break
        self._unanswered(request, problems)

    def _before_resend(self, request: stp.Request, attempt: int, problem: str) -> None:
        self.retried += 1
        self.link.note(f"STP: resending {request.op.name} tid={request.tid} "
                       f"(attempt {attempt + 1}: {problem})")
        # The head of a reply cut short must not be completed by the next reply's bytes into a
        # frame nobody sent (a reply's CRCs are zero and cannot catch it).
        self.master.decoder.clear()

    def _answered(self, request: stp.Request, took_s: float, frame_size: int) -> None:
        """A request got its reply: the line may take larger blocks again."""
        master, policy = self.master, self.policy
        larger = policy.succeeded(request.state, took_s, frame_size, master.block_size)
        if larger is not None:
            before = master.block_size
            master.set_block_size(larger, sent=False)
            if master.block_size > before:
                self.link.note(f"STP: the line is clean again; blocks of {master.block_size} "
                               "bytes")
            else:  # the session's own limit (max transfer - 16)
                policy.cap(before)
        self._report_checkpoint()

    def _smaller_blocks(self, request: stp.Request, silent_in_a_row: int) -> bool:
        """After an unanswered attempt: True when the request is given up for smaller blocks."""
        master, policy = self.master, self.policy
        # A block whose data went out may have been written with only its replies lost: it is
        # given up for smaller ones (a fresh tid, the same bytes) only after more silence than a
        # repeat of it would meet, since the modem answers a repeat without writing.
        silent_enough = SILENT_BEFORE_SMALLER_SENT if request.state == stp.MasterState.BLOCK \
            else SILENT_BEFORE_SMALLER
        smaller = policy.failed(request.state, silent=silent_in_a_row >= silent_enough,
                                block_size=master.block_size)
        if smaller is None:
            return False
        # Silent attempts in a row: the modem did not take the block (a reply it sent late is
        # still accounted for, see StpMaster.set_block_size).
        if policy.ceiling_reason and policy.block_cap == smaller:
            self.link.note(f"STP: {policy.ceiling_reason}; blocks of {smaller} bytes from now on")
        else:
            self.link.note(f"STP: {request.length}-byte block unanswered twice; blocks of "
                           f"{smaller} bytes from now on")
        master.set_block_size(smaller)
        self._report_checkpoint()
        return True

    def _unanswered(self, request: stp.Request, problems: list[str]) -> None:
        """Every attempt at `request` failed: the end of a complete image, or of the upload."""
        master = self.master
        if request.state == stp.MasterState.CLOSE:
            # The image is complete; a lost closing reply does not undo it.
            self.link.note("STP: no reply to the closing reset; the modem has the whole image")
            master.close_unanswered()
            return
        if request.state in (stp.MasterState.RESET, stp.MasterState.OPEN) and all(
                p.startswith("no reply") for p in problems):
            raise TransferRefused(
                f"the modem did not open an STP session ({problems[-1]})",
                details={"problems": problems})
        raise TransferFailed(
            f"{request.op.name} at byte {request.offset} of {master.total} failed "
            f"{len(problems)} times; last: {problems[-1]}",
            details={"offset": master.offset, "problems": problems[-8:],
                     "line": self.policy.stats().to_dict()},
        )

    def _listen(self, data: bytes) -> None:
        """Every byte heard: was the attempt silent, did the modem announce a reboot?"""
        self._heard = True
        seen = self._tail + data
        for marker in REBOOT_MARKERS:
            if marker in seen:
                self._rebooted = marker
        self._tail = seen[-_MARKER_TAIL:]

    def _await_reply(self, request: stp.Request, timeout_s: float) -> str | None:
        """None once the request was answered, else what went wrong."""
        deadline = Deadline(self.link.clock, timeout_s)
        problem: str | None = None
        want = stp.HEADER_SIZE
        self._heard = False
        while True:
            data = self.link.read(want, deadline.remaining())
            if not data:
                return problem or f"no reply within {timeout_s:g} s"
            self._listen(data)
            if self._rebooted is not None:
                return f"the modem rebooted ({self._rebooted.decode()})"
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
