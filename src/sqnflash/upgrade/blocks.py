"""How large the STP blocks of a transfer are, and why: one pure choice the plan and the run share.

Blocks start at 2016 bytes (the cap every Sequans-derived script keeps, "31x0 mii limitation") and
grow towards what the session reports (`max_transfer - 16`) while the modem answers them
(modem/line.py); `--block-size` forces a size, and what the journal remembers of this modem starts
them where it left them. Monarch 2 starts at `max_transfer - 16`, as the published ESP-IDF client
does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqnflash.protocol.stp import ADAPTIVE_BLOCK_CAP, HEADER_SIZE, PYCOM_BLOCK_CAP

MONARCH2_BLOCK_CAP = 0xFFFF  # no cap of its own: the session's max_transfer - 16 decides


@dataclass(frozen=True)
class BlockChoice:
    largest: int  # blocks grow up to this (and to what the session allows)
    first: int  # the size the first block is sent at
    why: str

    def sizes(self, max_transfer: int) -> tuple[int, int]:
        """(first, largest) as a session reporting `max_transfer` lets them be."""
        top = max_transfer - HEADER_SIZE
        return min(self.first, top), min(self.largest, top)

    def to_dict(self) -> dict[str, Any]:
        return {"first": self.first, "largest": None if self.largest >= 0xFFFF else self.largest,
                "why": self.why}


def choose_blocks(*, forced: int | None, known: int | None, ceiling: bool,
                  monarch2: bool) -> BlockChoice:
    """The block sizes of the next transfer. `known` and `ceiling` are the journal's memory of
    this modem: the largest block it answered, and whether it lost larger ones."""
    if forced is not None:
        return BlockChoice(forced, forced, f"{forced} bytes, as --block-size asks")
    if monarch2:
        return BlockChoice(MONARCH2_BLOCK_CAP, MONARCH2_BLOCK_CAP,
                           "max_transfer - 16 from the first block (Monarch 2, as the published "
                           "ESP-IDF client sends them)")
    if known is not None and known >= PYCOM_BLOCK_CAP:
        if ceiling:
            return BlockChoice(known, known, f"{known} bytes: this modem lost larger blocks "
                               "before (the journal remembers)")
        return BlockChoice(ADAPTIVE_BLOCK_CAP, known,
                           f"from {known} bytes (this modem answered them before) growing to "
                           "max_transfer - 16 while it answers")
    return BlockChoice(ADAPTIVE_BLOCK_CAP, PYCOM_BLOCK_CAP,
                       f"{PYCOM_BLOCK_CAP} bytes at first, growing to max_transfer - 16 while the "
                       "modem answers")
