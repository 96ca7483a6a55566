"""The checksums: CRC-16/XMODEM for STP, Sequans' Fletcher-32 and CRC-32 for containers."""

from __future__ import annotations

import binascii
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqnflash.firmware.checksums import Fletcher32, crc32, fletcher32
from sqnflash.protocol.crc import crc16
from tests.support.reference import fletcher32_reference

CHECK_INPUT = b"123456789"


# --------------------------------------------------------------------------- CRC-16/XMODEM


def test_crc16_check_value() -> None:
    assert crc16(CHECK_INPUT) == 0x31C3


def test_crc16_of_nothing_is_zero() -> None:
    assert crc16(b"") == 0


@settings(deadline=None)
@given(st.binary(max_size=4096))
def test_crc16_matches_binascii_oracle(data: bytes) -> None:
    assert crc16(data) == binascii.crc_hqx(data, 0)


@settings(deadline=None)
@given(st.binary(max_size=512), st.binary(max_size=512))
def test_crc16_continues_from_a_previous_value(first: bytes, second: bytes) -> None:
    assert crc16(second, crc16(first)) == crc16(first + second)


# --------------------------------------------------------------------------- CRC-32 (kind 4)


def test_crc32_check_value() -> None:
    assert crc32(CHECK_INPUT) == 0xCBF43926


@settings(deadline=None)
@given(st.binary(max_size=2048))
def test_crc32_is_zlib_crc32(data: bytes) -> None:
    assert crc32(data) == zlib.crc32(data) & 0xFFFFFFFF
    assert 0 <= crc32(data) <= 0xFFFFFFFF


# --------------------------------------------------------------------------- Fletcher-32


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # Worked by hand from docs/protocol.md §7.
        # Nothing: both sums stay 0xFFFF.
        (b"", 0xFFFF_FFFF),
        # One word 0x0102 (big-endian): s1 = 0x10101 -> 0x0102, s2 = 0x20100 -> 0x0102.
        (b"\x01\x02", 0x0102_0102),
        # The same bytes read little-endian would give 0x0201_0201: this pins the byte order.
        (b"\x02\x01", 0x0201_0201),
        # A lone odd byte counts as byte << 8: s1 = 0xFFFF + 0x100 = 0x100FF -> 0x0100,
        # s2 = 0xFFFF + 0x100FF = 0x200FE -> 0x0100.
        (b"\x01", 0x0100_0100),
        # Words 0x0001, 0x0002: s1 = 0x10000, 0x10002 -> 0x0003; s2 = 0x1FFFF, 0x30001 -> 0x0004.
        (b"\x00\x01\x00\x02", 0x0004_0003),
    ],
)
def test_fletcher32_hand_computed_values(data: bytes, expected: int) -> None:
    assert fletcher32_reference(data) == expected  # the reference agrees with the hand work
    assert fletcher32(data) == expected


# Sizes around the 720-byte block boundaries, even and odd, with the bytes that make the sums
# largest (all 0xFF) and smallest (all 0x00): a word lost or counted twice where one block ends,
# or a trailing byte taken as the low half of a word, shows here. (Where the folds fall cannot
# change the value: a fold keeps the sum's residue mod 0xFFFF and Python integers never wrap.)
BOUNDARY_SIZES = [1, 2, 3, 718, 719, 720, 721, 722, 1439, 1440, 1441, 2160, 2161, 7201]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("fill", [0x00, 0xFF, 0x80, 0x7F])
def test_fletcher32_at_fold_boundaries(size: int, fill: int) -> None:
    data = bytes([fill]) * size
    assert fletcher32(data) == fletcher32_reference(data)


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=3000))
def test_fletcher32_matches_reference(data: bytes) -> None:
    assert fletcher32(data) == fletcher32_reference(data)


@st.composite
def data_and_cuts(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    size = draw(st.integers(min_value=0, max_value=5000))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = random.Random(seed)
    data = bytes(rng.choice((0x00, 0xFF, rng.randrange(256))) for _ in range(size))
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=size), max_size=12)))
    return data, cuts


@settings(deadline=None, max_examples=200)
@given(data_and_cuts())
def test_fletcher32_incremental_any_split(case: tuple[bytes, list[int]]) -> None:
    data, cuts = case
    checker = Fletcher32()
    previous = 0
    for cut in [*cuts, len(data)]:
        checker.update(data[previous:cut])  # empty pieces included
        previous = cut
    assert checker.digest() == fletcher32_reference(data)


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_fletcher32_digest_does_not_disturb_the_running_sum(first: bytes, second: bytes) -> None:
    # A progress display may ask for the value half-way through a streamed image.
    checker = Fletcher32()
    checker.update(first)
    assert checker.digest() == fletcher32_reference(first)
    assert checker.digest() == fletcher32_reference(first)
    checker.update(second)
    assert checker.digest() == fletcher32_reference(first + second)


def test_fletcher32_accepts_bytearray_and_memoryview() -> None:
    data = bytes(range(256)) * 5 + b"\x01"
    checker = Fletcher32()
    checker.update(bytearray(data[:300]))
    checker.update(memoryview(data)[300:])
    assert checker.digest() == fletcher32_reference(data)
