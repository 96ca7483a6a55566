"""Independent reference checksums, written from the text of docs/protocol.md §7.

Deliberately naive (one word at a time, no incremental state) so that it cannot share a bug with
`sqnflash.protocol.crc` and `sqnflash.firmware.checksums`. Only the tests use it.
"""

from __future__ import annotations

FOLD_EVERY_BYTES = 720  # "folded every 360 words (720 bytes)"


def _fold(value: int) -> int:
    return (value & 0xFFFF) + (value >> 16)


def fletcher32_reference(data: bytes) -> int:
    """Sequans' Fletcher-32 as docs/protocol.md §7 describes it.

    16-bit big-endian words; both sums start at 0xFFFF; both are folded after every block of 360
    words (the last block may be shorter); a trailing odd byte is added as `byte << 8` to s1, then
    s1 to s2, and both are folded; one final fold of both sums; the result is `(s2 << 16) | s1`.
    """
    s1 = s2 = 0xFFFF
    even = len(data) - len(data) % 2
    for block_start in range(0, even, FOLD_EVERY_BYTES):
        block_end = min(block_start + FOLD_EVERY_BYTES, even)
        for i in range(block_start, block_end, 2):
            word = data[i] * 256 + data[i + 1]
            s1 += word
            s2 += s1
        s1 = _fold(s1)
        s2 = _fold(s2)
    if len(data) % 2:
        s1 += data[-1] * 256
        s2 += s1
        s1 = _fold(s1)
        s2 = _fold(s2)
    s1 = _fold(s1)
    s2 = _fold(s2)
    return (s2 << 16) | s1
