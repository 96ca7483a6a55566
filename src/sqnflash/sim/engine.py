"""A discrete-event scheduler for the simulator, on a virtual or a real clock.

Callbacks run in time order and see `engine.time` equal to their scheduled time, even when the real
clock is late (the host slept): a modem that reboots in 2 s replies 2 s after the command, not 2 s
after someone next looked at the line.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from sqnflash.timing import Clock, VirtualClock


@dataclass(order=True)
class Timer:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Engine:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self._current: float | None = None

    @property
    def virtual(self) -> bool:
        return isinstance(self.clock, VirtualClock)

    @property
    def time(self) -> float:
        """Simulation time: the running event's time, else the clock."""
        return self._current if self._current is not None else self.clock.now()

    def at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, next(self._seq), callback)
        heapq.heappush(self._heap, timer)
        return timer

    def after(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.at(self.time + max(0.0, delay), callback)

    def next_time(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].when if self._heap else None

    def run_until(self, when: float) -> None:
        """Run every event due at or before `when`; a virtual clock is moved along with them."""
        while (nxt := self.next_time()) is not None and nxt <= when:
            timer = heapq.heappop(self._heap)
            if isinstance(self.clock, VirtualClock):
                self.clock.advance_to(timer.when)
            self._current = timer.when
            try:
                timer.callback()
            finally:
                self._current = None
        if isinstance(self.clock, VirtualClock):
            self.clock.advance_to(when)

    def run_due(self) -> None:
        self.run_until(self.clock.now())
