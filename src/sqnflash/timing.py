"""Clocks and deadlines.

Every wait in sqnflash is "until this reply or this deadline". The clock is injected so that the
simulator can run on virtual time in tests (a whole upgrade in milliseconds) and on the real clock
in the demo, the benchmarks and behind a pseudo-terminal.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A monotonic clock in seconds."""

    def now(self) -> float: ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()


class VirtualClock:
    """A clock that only moves when told to.

    The simulator's scheduler advances it to the time of the next event, so a transfer that takes a
    minute on a real line takes as long as the CPU needs to move its bytes.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance_to(self, when: float) -> None:
        if when > self._now:
            self._now = when


REAL_CLOCK = MonotonicClock()


class Deadline:
    """A point in time on a given clock; `None` seconds means never."""

    def __init__(self, clock: Clock, seconds: float | None) -> None:
        self.clock = clock
        self.seconds = seconds
        self.at = None if seconds is None else clock.now() + seconds

    def remaining(self) -> float | None:
        if self.at is None:
            return None
        return max(0.0, self.at - self.clock.now())

    def expired(self) -> bool:
        return self.at is not None and self.clock.now() >= self.at

    def earlier(self, seconds: float | None) -> Deadline:
        """A deadline that is the sooner of this one and `seconds` from now."""
        other = Deadline(self.clock, seconds)
        if other.at is None or (self.at is not None and self.at <= other.at):
            return self
        return other
