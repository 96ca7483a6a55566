"""A minimal host for driving the simulator in tests: AT commands and STP uploads over a port.

Deliberately small and independent of sqnflash's own modem/upgrade layers: these tests check the
simulator against docs/protocol.md, so the host side uses only pyserial and the sans-I/O STP master.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import serial

from sqnflash.protocol import stp
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.protocol_sim import Serial as SimSerial

# Re-exported for the simulator tests: FROM is the build a default simulated modem runs.
from tests.support.images import FROM as FROM
from tests.support.images import TO as TO

# `open_port("mode=ffh", baudrate=115200)`: the `open_port` fixture of tests/sim/conftest.py.
OpenPort = Callable[..., serial.SerialBase]

SMALL = 300_000  # a small full image: a real PACK container, quick to send

FINALS = (b"OK\r\n", b"ERROR\r\n")
_IMAGES: dict[tuple[ImageKind, Family, int, int | None, int | None], bytes] = {}


def image(kind: ImageKind, family: Family = Family.CATM1, version: int = TO, *,
          source: int | None = None, size: int | None = None) -> bytes:
    """make_image, memoised per worker (images are deterministic)."""
    key = (kind, family, version, source, size)
    if key not in _IMAGES:
        _IMAGES[key] = make_image(kind, family, version, source=source, size=size)
    return _IMAGES[key]


def read_for(port: serial.SerialBase, seconds: float, size: int = 65536) -> bytes:
    """Everything that arrives within `seconds` (simulator time for sim://, up to `size` bytes)."""
    saved = port.timeout
    port.timeout = seconds
    try:
        return bytes(port.read(size))
    finally:
        port.timeout = saved


def read_until(port: serial.SerialBase, marker: bytes) -> bytes:
    """Bytes up to and including `marker`, or what came before the port's timeout."""
    return bytes(port.read_until(marker, 65536))


def read_reply(port: serial.SerialBase) -> bytes:
    """Bytes up to a final result line (`OK` or `ERROR`), or what came before the timeout.

    Reads a byte at a time so that nothing after the final result (a URC, the first byte of
    something else) is taken.
    """
    out = bytearray()
    while not any(out == final or out.endswith(b"\n" + final) for final in FINALS):
        byte = port.read(1)
        if not byte:
            break
        out += byte
    return bytes(out)


def command(port: serial.SerialBase, text: str, terminator: str = "\r\n") -> bytes:
    port.write((text + terminator).encode("ascii"))
    return read_reply(port)


def heard_only_at(port: serial.SerialBase, baud: int, text: str = "AT", *,
                  listen_s: float = 0.5) -> bytes:
    """The modem no longer hears the port's rate: `AT` sent there gets no OK within `listen_s`;
    the port moves to `baud` and the reply to `text` sent there is returned."""
    port.write(b"AT\r\n")
    assert b"OK" not in read_for(port, listen_s)
    port.baudrate = baud
    return command(port, text)


def lines_of(reply: bytes) -> list[str]:
    """The non-empty lines of a reply, NULs dropped."""
    text = reply.replace(b"\x00", b"").decode("ascii", "replace")
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def poll_upgrade(port: serial.SerialBase, *, every_s: float = 0.25,
                 limit: int = 200) -> list[str]:
    """Poll `AT+SMUPGRADE?` as Pycom does until `success` or `fail`; the words seen, in order.

    An empty reply (the modem rebooting) is recorded as "".
    """
    seen: list[str] = []
    for _ in range(limit):
        reply = command(port, "AT+SMUPGRADE?")
        words = [line.split(":", 1)[1].strip() for line in lines_of(reply)
                 if line.startswith("+SMUPGRADE:")]
        word = words[0] if words else ""
        if not seen or seen[-1] != word:
            seen.append(word)
        if word in ("success", "fail"):
            return seen
        read_for(port, every_s)
    raise AssertionError(f"AT+SMUPGRADE? never settled: {seen}")


@dataclass
class Upload:
    """What an STP upload achieved."""

    master: stp.StpMaster
    session: stp.SessionOpened | None = None
    frames: list[stp.Frame] = field(default_factory=list)  # every reply, as it came off the wire
    residues: list[int] = field(default_factory=list)
    resends: int = 0
    stalled: bool = False

    @property
    def done(self) -> bool:
        return self.master.done

    @property
    def offset(self) -> int:
        return self.master.offset


def upload(port: serial.SerialBase, data: bytes, *, block_cap: int = stp.PYCOM_BLOCK_CAP,
           reply_timeout_s: float = 1.0, retries: int = 8, max_stalls: int = 3,
           noise: bytes = b"", split: Callable[[bytes], list[bytes]] | None = None,
           data_type: int | None = None) -> Upload:
    """Run an STP master over `port` until the session is closed (or it cannot go on).

    A request whose reply does not come within `reply_timeout_s` is sent again with the same tid
    (as Pycom does); after `retries` silent attempts in a row the upload gives up. `max_stalls`
    blocks in a row with nothing consumed count as a stall and end the upload without closing.
    `noise` is written before every request (stray bytes a careless host leaves on the line);
    `split` cuts each request into pieces written one by one (reaching the modem one by one).
    """
    master = stp.StpMaster(len(data), block_cap=block_cap, data_type=data_type)
    result = Upload(master)
    tap = stp.FrameDecoder(stp.REPLY_MAGIC, accept_zero_hcrc=True, max_payload=64)
    saved = port.timeout
    port.timeout = reply_timeout_s
    stalls = silent = 0
    try:
        while not master.done:
            request = master.request()
            chunk = data[request.offset : request.offset + request.length]
            if noise:
                port.write(noise)  # a write of its own: it reaches the modem on its own
            frame = master.encode(request, chunk if request.needs_data else b"")
            for piece in split(frame) if split else [frame]:
                port.write(piece)
            progressed = False
            while not progressed:
                got = port.read(max(1, port.in_waiting))
                if not got:
                    break
                tap.feed(got)
                result.frames += [f for f in tap.frames() if isinstance(f, stp.Frame)]
                for event in master.feed(got):
                    if isinstance(event, stp.SessionOpened):
                        result.session = event
                    if isinstance(event, stp.BlockAccepted):
                        result.residues.append(event.residue)
                        stalls = stalls + 1 if event.consumed == 0 else 0
                    if not isinstance(event, (stp.DecodeError, stp.Ignored)):
                        progressed = True
            if not progressed:
                silent += 1
                result.resends += 1
                if silent > retries:
                    return result
                continue
            silent = 0
            if stalls >= max_stalls:
                result.stalled = True
                return result
    finally:
        port.timeout = saved
    return result


def packages(container: bytes) -> list[bytes]:
    """The UPGR packages inside a PACK container (a lone UPGR package is returned as is)."""
    head = struct.Struct("<4sHHIHHH")
    magic, _version, _flags, size, _kind, trailer, desc_len = head.unpack_from(container)
    if magic != b"PACK":
        return [container]
    out = []
    pos = head.size + desc_len
    end = pos + size
    while pos < end:
        _m, _v, _f, size, _k, trailer, desc_len = head.unpack_from(container, pos)
        total = head.size + desc_len + size + trailer
        out.append(container[pos : pos + total])
        pos += total
    return out


def sim_modem(port: serial.SerialBase) -> Any:
    """The simulated modem behind a `sim://` port, to look at its state."""
    assert isinstance(port, SimSerial) and port.sim is not None
    return port.sim.modem


def software_build(port: serial.SerialBase) -> int:
    """The build the application runs, from the LR line of ATI1."""
    ati1 = lines_of(command(port, "ATI1"))
    lr = next(line for line in ati1 if line.startswith("LR"))
    return int(lr.rsplit("-", 1)[1])


def showver(port: serial.SerialBase) -> dict[str, str]:
    """`AT!="showver"` as rows: name (with its `*` when it marks the active slot) to value."""
    rows: dict[str, str] = {}
    for line in lines_of(command(port, 'AT!="showver"')):
        match = re.match(r"(\w[\w ]*?)(\*?)\s*:\s*(.*)$", line)
        if match:
            rows[match.group(1) + match.group(2)] = match.group(3)
    return rows


def store_and_apply(port: serial.SerialBase, data: bytes) -> list[str]:
    """The FFF method: AT+SMSTPU, STP, AT+SMUPGRADE, poll. Returns the report words seen."""
    assert command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
    sent = upload(port, data)
    assert sent.done and sent.offset == len(data)
    assert command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
    assert read_until(port, b"+SHUTDOWN\r\n") == b"\r\n+SHUTDOWN\r\n"
    return poll_upgrade(port)
