"""The checksum of the wire protocol.

STP uses CRC-16/XMODEM (poly 0x1021, init 0, no reflection, check value 0x31C3), which is exactly
`binascii.crc_hqx(data, 0)`. The checksums of firmware containers are in
`sqnflash.firmware.checksums`.
"""

from __future__ import annotations

import binascii


def crc16(data: bytes, value: int = 0) -> int:
    """CRC-16/XMODEM of `data`, continuing from `value`."""
    return binascii.crc_hqx(data, value)
