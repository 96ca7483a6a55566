"""How long each phase of a plan should take, so the user knows what to expect before starting.

A transfer costs its bytes on the wire (10 bits per byte, 8N1) plus the STP overhead of every block:
the block command and its reply, the block's header and its reply with the residue (16-byte headers,
docs/protocol.md §5), and one turnaround of the line per exchange. The phases the modem runs on its
own (reboots, writing the bootrom, loading the updater, applying the image) have typical durations
below; they are estimates, named so that measured values can replace them.
"""

from __future__ import annotations

import math

from sqnflash.modem.line import GROW_AFTER
from sqnflash.protocol.stp import HEADER_SIZE, PYCOM_BLOCK_CAP

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
# Per block: TBC request (header + u16 length), TBC reply (header), TB request header, TB reply
# (header + u16 residue).
STP_OVERHEAD_PER_BLOCK = 4 * HEADER_SIZE + 2 + 2
STP_SESSION_BYTES = 4 * HEADER_SIZE + 4 + 2 * HEADER_SIZE  # reset, open (+ reply), final reset
TURNAROUND_S = 0.001  # a USB-serial bridge's latency per request/reply exchange
APP_MAX_TRANSFER = 8192  # STP session maximum in the application, RECOVERY and the updater
BOOT_LOADER_MAX_TRANSFER = 2048  # ... and in the bare boot loader (updater.elf upload)

PREPARE_S = 2.0  # ATE0, AT+CFUN=4 and the courtesy commands before an upgrade
REBOOT_S = 10.0  # a mode switch and reboot (Walter waits 10 s after AT+SMSWBOOT=3,1)
NEGOTIATE_S = 2.0  # AT at 115200, AT+IPR, reopen, AT at the new rate
BOOTROM_WRITE_S = 10.0  # the modem writes the bootrom package it received
UPDATER_START_S = 10.0  # updater.elf starting (Pycom's docs: it "may take several minutes")
APPLY_S = 180.0  # checking and installing an image (Pycom's docs: the update takes about 5 min)
VERIFY_S = 3.0  # waiting for the application, then the version queries


def transfer_s(size: int, baud: int, block_size: int = PYCOM_BLOCK_CAP,
               max_transfer: int = APP_MAX_TRANSFER, *, first_block: int | None = None) -> float:
    """Seconds to send `size` bytes (as they go on the wire: compressed, if they are) over STP
    at `baud` with blocks of at most `block_size`. Blocks that start at `first_block` double
    after every `GROW_AFTER` blocks up to `block_size`, as a clean line lets them
    (modem/line.py)."""
    if size <= 0 or baud <= 0:
        return 0.0
    blocks = block_count(size, block_size, max_transfer, first_block)
    wire_bytes = size + blocks * STP_OVERHEAD_PER_BLOCK + STP_SESSION_BYTES
    return wire_bytes * BITS_PER_BYTE / baud + (2 * blocks + 3) * TURNAROUND_S


def block_count(size: int, block_size: int, max_transfer: int = APP_MAX_TRANSFER,
                first_block: int | None = None) -> int:
    """How many blocks carry `size` bytes when they grow from `first_block` to `block_size`."""
    top = max(1, min(block_size, max_transfer - HEADER_SIZE))
    block = max(1, min(first_block or top, top))
    blocks = 0
    while block < top and size > 0:
        blocks += min(GROW_AFTER, math.ceil(size / block))
        size -= GROW_AFTER * block
        block = min(2 * block, top)
    return blocks + max(0, math.ceil(size / block))


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
