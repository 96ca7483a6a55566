"""The simulator on a clock that keeps moving while it looks at the line (the real clock).

A read must end as soon as its bytes are there. It once looked at the line twice per step; when
the last byte it was waiting for arrived between the two looks it found "nothing more on its way"
and slept until its deadline, which made a real-clock store run at a few KiB/s on a 921600-baud
line. A clock that moves on every call makes that moment happen on every read, deterministically.
"""

from __future__ import annotations

import pytest

from sqnflash.sim.config import SimConfig
from sqnflash.sim.simulator import Simulator
from sqnflash.sim.wire import BITS_PER_BYTE


class MovingClock:
    """Moves `step` seconds on every look; sleeping moves it by the time slept."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.t = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        self.t += self.step
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(0.0, seconds)


BAUD = 921600
BYTE_S = BITS_PER_BYTE / BAUD


@pytest.mark.parametrize("step_bytes", [0.25, 0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("size", [1, 16, 2034])
def test_a_read_returns_once_its_bytes_have_arrived(step_bytes: float, size: int) -> None:
    clock = MovingClock(step_bytes * BYTE_S)
    sim = Simulator(SimConfig(app_baud=BAUD, host_baud=BAUD), clock=clock, sleep=clock.sleep)
    last_arrives = sim.wire.modem_write(bytes(size))  # a reply on its way to the host

    timeout = 4.0
    data = sim.read(size, timeout)

    assert data == bytes(size)
    # Simulated time, not wall time: the read ended within a few clock steps of the last byte,
    # not at its 4 s deadline.
    assert clock.t - last_arrives < 20 * clock.step + 10 * BYTE_S
    assert not any(s > 0.5 for s in clock.slept), clock.slept


def test_a_read_still_waits_out_its_deadline_when_fewer_bytes_come() -> None:
    clock = MovingClock(BYTE_S)
    sim = Simulator(SimConfig(app_baud=BAUD, host_baud=BAUD), clock=clock, sleep=clock.sleep)
    sim.wire.modem_write(b"OK\r\n")
    start = clock.t

    data = sim.read(10, 0.5)

    assert data == b"OK\r\n"
    assert clock.t - start >= 0.5
