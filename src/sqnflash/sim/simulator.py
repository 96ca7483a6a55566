"""A simulated modem with its wire and clock, seen from the host's end of the line.

`Simulator.read()` is where time passes: on a virtual clock it jumps to the next thing that can
happen (a byte arriving, a reboot finishing) or to the read's deadline; on the real clock it sleeps
until then. Either way nothing waits longer than the modem needs.

The host's own time is measured between its calls (`host_wall_s`, `host_cpu_s`). With
`clock=charged` the clock is virtual but the host's time between calls is added to it, so a
benchmark sees what a slow host costs on a real line without waiting out the modem's delays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqnflash.sim.config import SimConfig
from sqnflash.sim.engine import Engine
from sqnflash.sim.flow import host_held
from sqnflash.sim.modem import SimModem
from sqnflash.timing import REAL_CLOCK, Clock, VirtualClock

_REGISTRY: dict[str, Simulator] = {}
_REGISTRY_LOCK = threading.Lock()


class Simulator:
    held_output = b""  # written while the host's CTS holds it back (sim/flow.py)

    def __init__(self, config: SimConfig | None = None, *, clock: Clock | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config or SimConfig()
        self._sleep = sleep  # how a real clock waits (a test passes one that moves its clock)
        if clock is None:
            clock = REAL_CLOCK if self.config.clock == "real" else VirtualClock()
        self.engine = Engine(clock)
        self.modem = SimModem(self.config, self.engine)
        self.wire = self.modem.wire
        self.charged = self.config.clock == "charged" and isinstance(clock, VirtualClock)
        self.host_wall_s = 0.0  # time the host spent outside the simulator's calls
        self.host_cpu_s = 0.0  # CPU the host process used meanwhile
        self._left: tuple[float, float] | None = None

    def _host_returns(self) -> None:
        """The host calls in again: account for (and, charged, pass) the time it spent away."""
        if self._left is not None:
            wall = time.perf_counter() - self._left[0]
            self.host_wall_s += wall
            self.host_cpu_s += time.process_time() - self._left[1]
            if self.charged and isinstance(self.clock, VirtualClock):
                self.clock.advance_to(self.clock.now() + wall)
        self.engine.run_due()

    def _host_leaves(self) -> None:
        self._left = (time.perf_counter(), time.process_time())

    @property
    def clock(self) -> Clock:
        return self.engine.clock

    @property
    def virtual(self) -> bool:
        return self.engine.virtual

    # ------------------------------------------------------------------ host end
    def set_host_baud(self, baud: int) -> None:
        self._host_returns()
        limit = self.config.adapter_max_baud
        # An adapter asked for more than it carries runs at its own top rate.
        self.wire.host_baud = min(baud, limit) if limit else baud
        self._host_leaves()

    def set_host_flow_control(self, rtscts: bool) -> None:
        """The host's port uses RTS/CTS (sim/flow.py says what the modem makes of it)."""
        self.wire.host_rtscts = rtscts
        if not host_held(self.config.flow_control, rtscts) and self.held_output:
            held, self.held_output = self.held_output, b""
            self.write(held)  # a driver sends what it held once flow control is off

    def discard_output(self) -> None:
        self.held_output = b""

    def write(self, data: bytes) -> int:
        if host_held(self.config.flow_control, self.wire.host_rtscts):
            self.held_output += bytes(data)  # the host's CTS never says "ready"
            return len(data)
        self._host_returns()
        self.wire.host_write(bytes(data))
        self._host_leaves()
        return len(data)

    def in_waiting(self) -> int:
        self._host_returns()
        available = self.wire.host_available()
        self._host_leaves()
        return available

    def discard_input(self) -> int:
        self._host_returns()
        dropped = self.wire.host_discard()
        self._host_leaves()
        return dropped

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to `size` bytes, waiting at most `timeout` seconds (None: until `size` arrived).

        On a virtual clock, a read with no timeout returns early once nothing more can ever
        arrive, instead of hanging.
        """
        self._host_returns()
        try:
            return self._read(size, timeout)
        finally:
            self._host_leaves()

    def _read(self, size: int, timeout: float | None) -> bytes:
        deadline = None if timeout is None else self.clock.now() + timeout
        while True:
            self.engine.run_due()
            # One look at the clock per step: on the real clock, a byte arriving between two looks
            # made "one more than has arrived" more than was on its way, and the read slept until
            # its deadline although everything it wanted was there.
            now = self.clock.now()
            available = self.wire.host_available(now)
            if available >= size:
                break
            # The next moment that matters: the read's last byte arrives (or, when fewer are on
            # their way, the last of those), or the modem acts. Waking for every byte in between
            # changes nothing and, on the real clock, costs a sleep per byte.
            satisfied = self.wire.host_time_for(size)
            if satisfied is None and self.wire.to_host_idle_at > now:
                satisfied = self.wire.to_host_idle_at
            candidates = [t for t in (satisfied, self.engine.next_time()) if t is not None]
            target = min(candidates) if candidates else None
            if deadline is not None and (target is None or target > deadline):
                target = deadline
            if target is None:
                if self.virtual:
                    break  # nothing will ever arrive
                target = now + 0.05
            if target <= now:
                if deadline is not None and now >= deadline:
                    break
                continue
            self._pass_time(target)
            if deadline is not None and self.clock.now() >= deadline:
                self.engine.run_due()
                break
        return self.wire.host_read(size)

    def _pass_time(self, until: float) -> None:
        if isinstance(self.clock, VirtualClock):
            self.engine.run_until(until)
        else:
            self._sleep(max(0.0, until - self.clock.now()))

    def wait(self, seconds: float) -> None:
        """Let time pass with nobody reading (bytes that arrive stay queued)."""
        until = self.clock.now() + seconds
        if isinstance(self.clock, VirtualClock):
            self.engine.run_until(until)
        else:
            while (now := self.clock.now()) < until:
                nxt = self.engine.next_time()
                self._sleep(max(0.0, min(until, nxt if nxt is not None else until) - now))
                self.engine.run_due()

    def summary(self) -> dict[str, Any]:
        return self.modem.summary()


def find_or_create(name: str, create: Callable[[], Simulator]) -> Simulator:
    """The simulator registered as `name`, created (by `create`) and registered on first use."""
    with _REGISTRY_LOCK:
        sim = _REGISTRY.get(name)
        if sim is None:
            sim = create()
            _REGISTRY[name] = sim
        return sim


def named(name: str) -> Simulator | None:
    return _REGISTRY.get(name)


def forget(name: str) -> None:
    _REGISTRY.pop(name, None)
