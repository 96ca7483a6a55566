"""The wire model's arithmetic: "when does byte i arrive" and "how many have arrived" agree."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sqnflash.sim.wire import BITS_PER_BYTE, _Segment


@given(start=st.floats(min_value=0.0, max_value=1e6),
       baud=st.sampled_from([9600, 115200, 921600, 3_000_000, 3_686_400]),
       index=st.integers(min_value=0, max_value=5_000_000))
def test_a_byte_has_arrived_at_the_time_it_is_said_to_arrive(start: float, baud: int,
                                                             index: int) -> None:
    # Disagreement here made a reader spin forever after long simulated transfers at 115200.
    segment = _Segment(start, BITS_PER_BYTE / baud, b"\0" * (index + 1))
    assert segment.available(segment.time_of(index)) == index + 1
    assert segment.available(segment.time_of(index) - segment.period / 2) == index
