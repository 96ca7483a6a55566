"""The checksums of firmware containers (see `caba`): Sequans' Fletcher-32 variant (Monarch 1,
check kind 1) and `zlib.crc32` (Monarch 2, check kind 4)."""

from __future__ import annotations

import sys
import zlib
from array import array
from itertools import accumulate

FLETCHER_BLOCK_WORDS = 360  # Sequans folds both sums every 360 16-bit words (720 bytes)


def crc32(data: bytes, value: int = 0) -> int:
    """CRC-32 as used by Monarch 2 containers (check kind 4)."""
    return zlib.crc32(data, value) & 0xFFFFFFFF


def _fold(x: int) -> int:
    return (x & 0xFFFF) + (x >> 16)


class Fletcher32:
    """Sequans' Fletcher-32, fed incrementally so a large image can be checked while it streams.

    Big-endian 16-bit words; both sums start at 0xFFFF and are folded once after every block of up
    to 360 words; a trailing odd byte is added as `byte << 8` and folded; one last fold of each sum.
    The sums are Python integers: the reference algorithm never wraps at 32 bits either.
    """

    def __init__(self) -> None:
        self._s1 = 0xFFFF
        self._s2 = 0xFFFF
        self._pending = b""

    def update(self, data: bytes | bytearray | memoryview) -> None:
        buf = self._pending + bytes(data)
        block = FLETCHER_BLOCK_WORDS * 2
        # Keep the last (possibly partial) block back: only digest() knows it is the last one.
        keep = len(buf) % block or (block if buf else 0)
        whole = len(buf) - keep
        if whole:
            self._add_blocks(buf[:whole])
        self._pending = buf[whole:]

    def _add_blocks(self, data: bytes) -> None:
        words = array("H", data[: len(data) & ~1])
        if sys.byteorder == "little":
            words.byteswap()
        s1, s2 = self._s1, self._s2
        step = FLETCHER_BLOCK_WORDS
        for start in range(0, len(words), step):
            chunk = words[start : start + step]
            s2 += len(chunk) * s1 + sum(accumulate(chunk))
            s1 += sum(chunk)
            s1, s2 = _fold(s1), _fold(s2)
        self._s1, self._s2 = s1, s2

    def digest(self) -> int:
        s1, s2 = self._s1, self._s2
        tail = self._pending
        if len(tail) > 1:
            saved = (self._s1, self._s2)
            self._add_blocks(tail)
            s1, s2 = self._s1, self._s2
            self._s1, self._s2 = saved
        if len(tail) % 2:
            s1 += tail[-1] << 8
            s2 += s1
            s1, s2 = _fold(s1), _fold(s2)
        s1, s2 = _fold(s1), _fold(s2)
        return ((s2 << 16) | s1) & 0xFFFFFFFF


def fletcher32(data: bytes) -> int:
    f = Fletcher32()
    f.update(data)
    return f.digest()
