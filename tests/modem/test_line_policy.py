"""How an STP transfer adapts to the line: timeouts per phase, block sizes, giving up."""

from __future__ import annotations

from sqnflash.modem import line
from sqnflash.modem.line import LinePolicy
from sqnflash.protocol.stp import MasterState

BLOCK, CMD = MasterState.BLOCK, MasterState.BLOCK_CMD


def policy(retries: int = 4) -> LinePolicy:
    return LinePolicy(baud=921600, retries=retries, block_cap=2016)


def test_opening_waits_for_a_settling_modem_then_retries_quickly() -> None:
    p = policy()
    assert p.timeout(MasterState.OPEN, 16, 0) == line.OPEN_TIMEOUT_S
    assert p.timeout(MasterState.OPEN, 16, 1) < 2.0


def test_the_first_block_waits_for_the_erase_and_later_ones_for_the_line() -> None:
    p = policy()
    assert p.timeout(CMD, 18, 0) < 1.0  # a block command writes nothing
    assert p.timeout(BLOCK, 2032, 0) > line.FIRST_BLOCK_TIMEOUT_S
    later = p.timeout(BLOCK, 2032, 0)
    assert later < 1.0
    assert later >= line.MIN_REPLY_WAIT_S + p.wire_s(2032)


def test_later_blocks_wait_four_times_the_slowest_reply() -> None:
    p = policy()
    p.timeout(BLOCK, 2032, 0)
    p.succeeded(BLOCK, 0.5 + p.wire_s(2032), 2032, 2016)  # a 0.5 s flash write
    assert abs(p.timeout(BLOCK, 2032, 0) - (2.0 + p.wire_s(2032))) < 1e-9
    assert p.timeout(BLOCK, 2032, 3) > p.timeout(BLOCK, 2032, 1)  # longer when silent again
    assert p.timeout(BLOCK, 2032, 50) <= line.BLOCK_TIMEOUT_S + p.wire_s(2032)


def test_only_silence_shrinks_a_block_and_never_below_the_minimum() -> None:
    p = policy()
    assert p.failed(BLOCK, silent=False, block_size=2016) is None  # a damaged reply: resend
    assert p.failed(CMD, silent=True, block_size=2016) is None
    size = 2016
    while (smaller := p.failed(BLOCK, silent=True, block_size=size)) is not None:
        size = smaller
    assert size == line.MIN_BLOCK and p.shrinks == 5 and p.smallest_block == line.MIN_BLOCK


def test_blocks_grow_again_after_a_clean_stretch() -> None:
    p = policy()
    grown = [p.succeeded(BLOCK, 0.01, 80, 64) for _ in range(line.GROW_AFTER)]
    assert grown[:-1] == [None] * (line.GROW_AFTER - 1) and grown[-1] == 128
    at_cap = policy()
    assert all(at_cap.succeeded(BLOCK, 0.01, 2032, 2016) is None for _ in range(40))


def test_an_exchange_is_given_up_only_after_retries_and_a_long_silence() -> None:
    p = policy(retries=4)
    assert not p.give_up(BLOCK, 4, 1000.0)
    assert not p.give_up(BLOCK, 40, line.SILENCE_PATIENCE_S - 1)  # noisy, or a stalled modem
    assert p.give_up(BLOCK, 5, line.SILENCE_PATIENCE_S)
    assert p.give_up(MasterState.CLOSE, 5, 0.0)  # a lost closing reply loses nothing


def test_a_line_that_loses_most_small_frames_is_too_noisy() -> None:
    p = policy()
    for _ in range(line.TOO_NOISY_SAMPLES):
        p.failed(BLOCK, silent=False, block_size=line.MIN_BLOCK)
    assert not p.too_noisy(line.MIN_BLOCK)  # nothing got through: a modem gone, not noise
    p.succeeded(CMD, 0.01, 18, line.MIN_BLOCK)
    assert p.too_noisy(line.MIN_BLOCK)
    assert not p.too_noisy(128)  # smaller blocks first


def test_opening_attempts_do_not_count_as_a_noisy_line() -> None:
    p = policy()
    p.succeeded(CMD, 0.01, 18, line.MIN_BLOCK)
    for _ in range(line.TOO_NOISY_SAMPLES * 2):
        p.failed(MasterState.OPEN, silent=True, block_size=0)
    assert not p.too_noisy(line.MIN_BLOCK)


def test_one_percent_damage_is_not_too_noisy() -> None:
    """At 1 %, 18-byte commands arrive 83 % and 80-byte blocks 45 % of the time."""
    p = policy()
    for _ in range(20):
        p.succeeded(CMD, 0.01, 18, 64)
        p.failed(BLOCK, silent=True, block_size=64)
        p.succeeded(BLOCK, 0.01, 80, 64)
    assert not p.too_noisy(64)
    assert p.stats().to_dict() == {"attempts": 60, "failures": 20, "shrinks": 0,
                                   "smallest_block": 2016, "largest_block": 64}
