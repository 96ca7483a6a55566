"""The host side of STP driven by hand: a modem's replies fed to a `StpMaster`."""

from __future__ import annotations

import struct

from sqnflash.protocol.stp import Op, StpMaster, encode_reply


def open_session(master: StpMaster, *, version: int = 1, max_transfer: int = 8192) -> StpMaster:
    """`master` once the modem has answered its RESET and OPEN (session `version`, at most
    `max_transfer` bytes a frame, header included): its next request is the first BLOCK_CMD.
    The OPEN reply is packed here, not with the module's own struct, so that a wrong layout
    there cannot go unnoticed."""
    master.feed(encode_reply(Op.RESET, 0, 0))
    master.feed(encode_reply(Op.OPEN, 1, 1, struct.pack(">BBH", 1, version, max_transfer)))
    return master
