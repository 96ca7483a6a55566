"""Streamed zlib (wbits 12) sources: the same stream pysequans sends, never the whole image."""

from __future__ import annotations

import random
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from sqnflash.firmware.compress import ZlibSource
from sqnflash.firmware.source import BytesSource


def _reference(data: bytes) -> bytes:
    packer = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 12)
    return packer.compress(data) + packer.flush()


def _image(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(1, 12)) for _ in range(64)]
    return b"".join(rng.choice(words) for _ in range(size // 6))[:size]


@settings(max_examples=40, deadline=None)
@given(size=st.integers(0, 40_000), chunk=st.integers(1, 9000),
       blocks=st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 5000)), min_size=1))
def test_blocks_with_residues_give_pysequans_stream(size: int, chunk: int,
                                                    blocks: list[tuple[int, int]]) -> None:
    image = _image(size)
    source = ZlibSource(BytesSource(image), chunk=chunk)
    expected = _reference(image)
    assert source.size == len(expected)
    offset, got, turn = 0, bytearray(), 0
    while offset < source.size:
        length, residue = blocks[turn % len(blocks)]
        turn += 1
        block = source.read_at(offset, length)
        assert block == expected[offset : offset + length]
        consumed = max(1, len(block) - min(residue, len(block) - 1))
        got += block[:consumed]
        offset += consumed
    assert zlib.decompress(bytes(got), 12) == image


def test_asking_again_from_the_start_restarts_the_stream() -> None:
    image = _image(100_000)
    source = ZlibSource(BytesSource(image), chunk=4096)
    expected = _reference(image)
    assert source.read_at(30_000, 100) == expected[30_000:30_100]
    assert source.read_at(0, 100) == expected[:100]


def test_progress_is_told_in_image_bytes() -> None:
    image = _image(200_000)
    source = ZlibSource(BytesSource(image), chunk=8192)
    assert source.image_bytes_at(0) == 0 and source.image_bytes_at(source.size) == len(image)
    middle = source.image_bytes_at(source.size // 2)
    assert 0 < middle < len(image)
    assert source.image_size == len(image)
