"""How hard an STP transfer tries: timeouts, block sizes and when to give up.

A clean line answers every frame in milliseconds; a marginal one (a long cable, a weak ground, a
laptop's USB port) damages some of them. `LinePolicy` watches every attempt of a transfer and
adapts, so that a noisy line makes the transfer slower, never fail:

- Timeouts follow the phase. Opening waits for a modem that is still settling after `AT+SMSTPU`;
  the first block waits for the flash erase real modems do before they write; later blocks wait
  for the frame's time on the wire plus four times the slowest reply seen so far, a little longer
  for each silent attempt in a row. A short wait costs little: a reply that comes after the
  request was sent again is still taken, and the repeat is answered without a second write.
- A block attempt met by silence halves the block size, down to `MIN_BLOCK`: with 1 % of the bytes
  damaged, a 2 KiB frame never arrives intact while a 64-byte one does half of the time. Sixteen
  clean blocks in a row double it again, up to the cap. Only silence shrinks a block: a reply
  that arrived damaged proves the modem took the block, so that block must be sent again as it was
  (the modem answers a repeat without writing it twice).
- Blocks start at `start_block` (2016, the cap every Sequans-derived script keeps) and grow the same
  way towards `block_cap` (what the session reports, `max_transfer - 16`). A size that has never
  been answered and is met by silence, at the block or at its block command, is more than the
  modem takes (an older chip's receive buffer): blocks drop back to the last size answered and
  stay there for the rest of the transfer.
- The transfer gives up on an exchange only when it has had `retries` retransmissions **and**
  the modem has answered nothing for `SILENCE_PATIENCE_S` (Pycom's documentation warns of stalls
  of the upload "around 7-10 % and again at 99 %"): a noisy line is slow, not dead, and a modem
  busy erasing its flash is not dead either. A line that loses most frames even with the smallest
  block is reported as too noisy, so that the caller can try a lower baud rate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sqnflash.protocol.stp import MasterState

OPEN_TIMEOUT_S = 10.0  # the modem may still be settling after AT+SMSTPU / AT+STP
FIRST_BLOCK_TIMEOUT_S = 30.0  # the first block waits for the flash erase
BLOCK_TIMEOUT_S = 20.0  # no reply to a later block is awaited longer than this
CLOSE_TIMEOUT_S = 2.0  # Pycom reads the closing reply for 2 s and does not decode it
MIN_REPLY_WAIT_S = 0.25  # beyond the wire time: a modem answers a written block within this
SILENCE_PATIENCE_S = 40.0  # a modem that answered nothing for this long is given up on (the
# run then ends the session and looks for the modem, and must reach a verdict within 90 s)
PROBE_TIMEOUT_S = 1.5  # an exchange sent to learn whether the modem still holds a session
SLOWEST_FACTOR = 4.0  # later blocks wait this many times the slowest reply seen
SILENT_GROWTH = 1.5  # each silent attempt in a row waits this much longer (up to 4 times)
MIN_BLOCK = 64  # smallest block payload: 80-byte frames get through 45 % of the time at 1 %
GROW_AFTER = 16  # clean blocks in a row before the block size doubles again
WINDOW = 64  # attempts the statistics look back on
TOO_NOISY_SUCCESS = 0.25  # at the smallest block, fewer successes than this: lower the baud
TOO_NOISY_SAMPLES = 32  # ...judged over at least this many attempts at that size
BITS_PER_BYTE = 10  # 8N1


@dataclass(frozen=True)
class LineStats:
    attempts: int
    failures: int
    shrinks: int
    smallest_block: int
    largest_block: int = 0  # the largest block the modem answered

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class LinePolicy:
    """The statistics and decisions of one transfer (see the module docstring)."""

    def __init__(self, *, baud: int, retries: int, block_cap: int,
                 start_block: int | None = None) -> None:
        self.baud = max(baud, 1)
        self.retries = retries
        self.block_cap = block_cap
        self.start_block = block_cap if start_block is None else min(start_block, block_cap)
        self.largest_ok = 0  # the largest block answered so far
        self._window: deque[bool] = deque(maxlen=WINDOW)
        self._at_min: deque[bool] = deque(maxlen=WINDOW)
        self._latencies: deque[float] = deque(maxlen=32)
        self._clean_blocks = 0
        self.first_block_sent = False
        self.attempts = 0
        self.failures = 0
        self.shrinks = 0
        self.smallest_block = self.start_block
        self.ceiling_reason = ""  # why blocks stopped growing below block_cap, once they did

    # ------------------------------------------------------------------ timeouts
    def wire_s(self, frame_len: int) -> float:
        return frame_len * BITS_PER_BYTE / self.baud

    def timeout(self, state: MasterState, frame_len: int, attempt: int) -> float:
        """How long to wait for the reply to attempt number `attempt` (0 for the first) of a
        request of `frame_len` bytes."""
        if state in (MasterState.RESET, MasterState.OPEN) and attempt == 0:
            return OPEN_TIMEOUT_S  # later attempts: the modem has settled, or the line is noisy
        if state == MasterState.CLOSE:
            return CLOSE_TIMEOUT_S + self.wire_s(frame_len)
        if state == MasterState.BLOCK and not self.first_block_sent:
            self.first_block_sent = True  # the erase happens once, before the first write
            return FIRST_BLOCK_TIMEOUT_S + self.wire_s(frame_len)
        slowest = max(self._latencies, default=0.0)
        wait = max(MIN_REPLY_WAIT_S, SLOWEST_FACTOR * slowest)
        wait *= min(SILENT_GROWTH ** attempt, 4.0)
        return min(wait, BLOCK_TIMEOUT_S) + self.wire_s(frame_len)

    # ------------------------------------------------------------------ outcomes
    def succeeded(self, state: MasterState, latency_s: float, frame_len: int,
                  block_size: int) -> int | None:
        """Record an answered attempt; returns a larger block size when it is time to grow."""
        self._record(True, state, block_size)
        if state not in (MasterState.BLOCK_CMD, MasterState.BLOCK):
            return None
        # The reply's own latency, without the time the request spent on the wire.
        self._latencies.append(max(0.0, latency_s - self.wire_s(frame_len)))
        if state != MasterState.BLOCK:
            return None
        self.largest_ok = max(self.largest_ok, block_size)
        self._clean_blocks += 1
        if self._clean_blocks >= GROW_AFTER and block_size < self.block_cap:
            self._clean_blocks = 0
            return min(self.block_cap, block_size * 2)
        return None

    def cap(self, size: int) -> None:
        """Blocks grow no further than `size`: the session's own limit (max transfer - 16)."""
        self.block_cap = size

    def failed(self, state: MasterState, *, silent: bool, block_size: int) -> int | None:
        """Record an unanswered attempt; returns a smaller block size when the block should
        shrink (only after silence: see the module docstring)."""
        self._record(False, state, block_size)
        self._clean_blocks = 0
        if (silent and block_size > self.start_block and block_size > self.largest_ok
                and state in (MasterState.BLOCK_CMD, MasterState.BLOCK)):
            # Grown beyond anything the modem answered: it does not take blocks this large.
            back = max(self.start_block, self.largest_ok)
            self.block_cap = back
            self.ceiling_reason = (f"{block_size}-byte blocks went unanswered; the modem takes "
                                   f"{back}")
            self.shrinks += 1
            self.smallest_block = min(self.smallest_block, back)
            return back
        if state == MasterState.BLOCK and silent and block_size > MIN_BLOCK:
            self.shrinks += 1
            smaller = max(MIN_BLOCK, block_size // 2)
            self.smallest_block = min(self.smallest_block, smaller)
            return smaller
        return None

    def _record(self, ok: bool, state: MasterState, block_size: int) -> None:
        self.attempts += 1
        self.failures += not ok
        self._window.append(ok)
        if state in (MasterState.BLOCK_CMD, MasterState.BLOCK) and 0 < block_size <= MIN_BLOCK:
            self._at_min.append(ok)

    # ------------------------------------------------------------------ giving up
    def give_up(self, state: MasterState, attempts: int, silent_s: float) -> bool:
        """After `attempts` unanswered attempts of one exchange, `silent_s` seconds since it
        began: stop trying? Closing counts attempts only (a lost closing reply loses nothing);
        the others also need the modem to have been silent for a long time."""
        if attempts < self.retries + 1:
            return False
        if state == MasterState.CLOSE:
            return True
        return silent_s >= SILENCE_PATIENCE_S

    def too_noisy(self, block_size: int) -> bool:
        """Even the smallest blocks mostly fail: only a lower baud rate can help. (A modem that
        answers nothing at all is not on a noisy line: it left the session.)"""
        if block_size > MIN_BLOCK or len(self._at_min) < TOO_NOISY_SAMPLES:
            return False
        if not any(self._at_min):
            return False
        return sum(self._at_min) / len(self._at_min) < TOO_NOISY_SUCCESS

    def success_ratio(self) -> float:
        return sum(self._window) / len(self._window) if self._window else 1.0

    def stats(self) -> LineStats:
        return LineStats(self.attempts, self.failures, self.shrinks, self.smallest_block,
                         self.largest_ok)
