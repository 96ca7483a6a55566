"""STP, the Sequans block transfer protocol, without I/O.

Every frame is a 16-byte big-endian header `>IBBHIHH` (magic, op, sid, plen, tid, hcrc, pcrc)
followed by `plen` payload bytes. Requests carry the magic ``fast``, replies ``tsaf``; a reply's op
is the request's op with bit 0x80 set (0x40 is a NACK on Monarch 2). `hcrc` is the CRC-16/XMODEM of
the header with `hcrc` zeroed, `pcrc` the CRC of the payload (0 when empty). Modems have been seen
to send `hcrc` 0 in replies: a host accepts 0 as "not computed".

This module holds the frame codec, an incremental decoder that resynchronises on the magic, and the
two state machines: `StpMaster` (the host uploading an image) and `StpSlave` (the modem side, which
the simulator runs). Neither touches a port or a clock: bytes go in, events and bytes come out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum, IntEnum

from sqnflash.protocol.crc import crc16

HEADER = struct.Struct(">IBBHIHH")
HEADER_SIZE = HEADER.size  # 16
REQUEST_MAGIC = 0x66617374  # b"fast"
REPLY_MAGIC = 0x74736166  # b"tsaf"
ACK = 0x80
NACK = 0x40
UNKNOWN = 0x3F  # Monarch 2: the reply op UNKNOWN | NACK (0x7F) means "unknown operation"
OPEN_REPLY = struct.Struct(">BBH")  # ok, version, max transfer (header included)
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")

PYCOM_BLOCK_CAP = 2048 - 32  # "31x0 mii limitation" cap kept by every Sequans-derived script
# No cap of our own: blocks grow up to what the session reports (`max_transfer - 16`).
ADAPTIVE_BLOCK_CAP = 0xFFFF
SESSION_SID = 1
OPEN_TID = 1
FIRST_BLOCK_TID = 2


class Op(IntEnum):
    RESET = 0
    OPEN = 1
    BLOCK_CMD = 2
    BLOCK = 3
    DATA_TYPE = 4


class DataType(IntEnum):
    """Monarch 2 TRANSFER_DATA_TYPE values (+1 when the stream is zlib-compressed)."""

    ELF = 2
    CABA = 4


class Monarch2DataType(int):
    """A data type announced for a file only a Monarch 2 takes, with no sign of the modem's chip
    but the session: an STP session below version 2 (a Monarch 1's) is then refused when it
    opens, before a block is written. A plain int lets a version-1 session take the file raw,
    as Walter sends it to a modem known to be a Monarch 2."""


def op_name(op: int) -> str:
    base = op & ~(ACK | NACK)
    try:
        name = Op(base).name
    except ValueError:
        name = f"OP{base:#04x}"
    if op & NACK:
        return name + "-NACK"
    if op & ACK:
        return name + "-ACK"
    return name


@dataclass(frozen=True)
class Frame:
    """One decoded frame. `hcrc` and `pcrc` are the values found on the wire."""

    magic: int
    op: int
    sid: int
    tid: int
    payload: bytes = b""
    hcrc: int = 0
    pcrc: int = 0

    @property
    def is_reply(self) -> bool:
        return self.magic == REPLY_MAGIC

    @property
    def size(self) -> int:
        return HEADER_SIZE + len(self.payload)

    def summary(self) -> str:
        """One line for traces: direction, op, ids, payload meaning."""
        arrow = "<" if self.is_reply else ">"
        detail = ""
        base = self.op & ~(ACK | NACK)
        if base == Op.OPEN and self.is_reply and len(self.payload) == OPEN_REPLY.size:
            ok, version, max_transfer = OPEN_REPLY.unpack(self.payload)
            detail = f" ok={ok} version={version} max_transfer={max_transfer}"
        elif base == Op.BLOCK_CMD and not self.is_reply and len(self.payload) == U16.size:
            detail = f" length={U16.unpack(self.payload)[0]}"
        elif base == Op.BLOCK and self.is_reply and len(self.payload) == U16.size:
            detail = f" residue={U16.unpack(self.payload)[0]}"
        elif base == Op.BLOCK and not self.is_reply:
            detail = f" {len(self.payload)} bytes"
        return (
            f"STP {arrow} {op_name(self.op)} sid={self.sid} tid={self.tid} "
            f"plen={len(self.payload)} hcrc={self.hcrc:#06x}{detail}"
        )


def encode_frame(
    magic: int, op: int, sid: int, tid: int, payload: bytes = b"", *, header_crc: bool = True
) -> bytes:
    """The bytes of one frame; `header_crc=False` leaves hcrc 0 as modems do in replies."""
    pcrc = crc16(payload) if payload else 0
    header = HEADER.pack(magic, op, sid, len(payload), tid, 0, pcrc)
    if header_crc:
        header = HEADER.pack(magic, op, sid, len(payload), tid, crc16(header), pcrc)
    return header + payload


def encode_request(op: int, sid: int, tid: int, payload: bytes = b"") -> bytes:
    return encode_frame(REQUEST_MAGIC, op, sid, tid, payload)


def encode_reply(
    op: int, sid: int, tid: int, payload: bytes = b"", *, header_crc: bool = True
) -> bytes:
    return encode_frame(REPLY_MAGIC, op | ACK, sid, tid, payload, header_crc=header_crc)


def header_crc_of(header: bytes) -> int:
    """CRC of a 16-byte header with its hcrc field taken as zero."""
    return crc16(header[:12] + b"\0\0" + header[14:16])


# --------------------------------------------------------------------------- decoding


class DecodeProblem(Enum):
    GARBAGE = "garbage"  # bytes that are not part of any frame
    HEADER_CRC = "header-crc"
    PAYLOAD_CRC = "payload-crc"
    OVERSIZE = "oversize"  # plen larger than this side can ever receive


@dataclass(frozen=True)
class DecodeError:
    problem: DecodeProblem
    count: int  # bytes discarded
    detail: str = ""
    frame: Frame | None = None  # a payload CRC failure: the header (op, sid, tid) it came with


class FrameDecoder:
    """Incremental STP decoder for one direction.

    Resynchronisation: bytes before the expected magic are discarded as garbage. A header whose CRC
    does not verify is dropped one byte at a time, so a real frame hidden behind a corrupted one is
    still found. A frame whose payload CRC fails costs only its 16 header bytes: the payload is
    scanned again for a magic, because after a lost byte the sender's retransmission usually sits
    inside what looked like the payload. `hcrc` 0 is accepted unverified when `accept_zero_hcrc`
    (replies from real modems), and `plen` above `max_payload` is treated as a corrupted header.
    """

    def __init__(self, magic: int, *, accept_zero_hcrc: bool, max_payload: int = 0xFFFF) -> None:
        self.magic = magic
        self._magic_bytes = U32.pack(magic)
        self.accept_zero_hcrc = accept_zero_hcrc
        self.max_payload = max_payload
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def take_rest(self) -> bytes:
        """Hand back the unparsed bytes (the line left STP; they belong to someone else)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    def clear(self) -> int:
        """Forget a partial frame (the sender gave up on it). Returns the bytes dropped."""
        dropped = len(self._buf)
        self._buf.clear()
        return dropped

    def next(self) -> Frame | DecodeError | None:
        """The next frame or problem, or None when more bytes are needed."""
        buf = self._buf
        start = buf.find(self._magic_bytes)
        if start < 0:
            # Keep a tail that could be the beginning of a magic.
            keep = 3
            if len(buf) > keep:
                count = len(buf) - keep
                del buf[:count]
                return DecodeError(DecodeProblem.GARBAGE, count)
            return None
        if start > 0:
            del buf[:start]
            return DecodeError(DecodeProblem.GARBAGE, start)
        if len(buf) < HEADER_SIZE:
            return None
        header = bytes(buf[:HEADER_SIZE])
        magic, op, sid, plen, tid, hcrc, pcrc = HEADER.unpack(header)
        if hcrc != 0 or not self.accept_zero_hcrc:
            expected = header_crc_of(header)
            if expected != hcrc:
                del buf[:1]
                return DecodeError(
                    DecodeProblem.HEADER_CRC,
                    1,
                    f"header CRC {hcrc:#06x}, computed {expected:#06x}",
                )
        if plen > self.max_payload:
            del buf[:1]
            return DecodeError(
                DecodeProblem.OVERSIZE, 1, f"plen {plen} exceeds {self.max_payload}"
            )
        if len(buf) < HEADER_SIZE + plen:
            return None
        payload = bytes(buf[HEADER_SIZE : HEADER_SIZE + plen])
        # An empty payload's pcrc is ignored: a reset reply with pcrc 0x18 has been seen.
        if plen and (pcrc != 0 or not self.accept_zero_hcrc):
            computed = crc16(payload)
            if computed != pcrc:
                del buf[:HEADER_SIZE]
                return DecodeError(
                    DecodeProblem.PAYLOAD_CRC,
                    HEADER_SIZE,
                    f"{op_name(op)} tid={tid}: payload CRC {pcrc:#06x}, computed {computed:#06x}",
                    Frame(magic, op, sid, tid, b"", hcrc, pcrc),
                )
        del buf[: HEADER_SIZE + plen]
        return Frame(magic, op, sid, tid, payload, hcrc, pcrc)

    def frames(self) -> list[Frame | DecodeError]:
        out: list[Frame | DecodeError] = []
        while (item := self.next()) is not None:
            out.append(item)
        return out


# --------------------------------------------------------------------------- master (host)


class MasterState(Enum):
    RESET = "reset"
    OPEN = "open"
    DATA_TYPE = "data-type"
    BLOCK_CMD = "block-cmd"
    BLOCK = "block"
    CLOSE = "close"
    DONE = "done"


@dataclass(frozen=True)
class Request:
    """What the master wants sent now: for a BLOCK, the caller adds `length` bytes at `offset`."""

    state: MasterState
    op: Op
    sid: int
    tid: int
    offset: int = 0
    length: int = 0
    payload: bytes = b""

    @property
    def needs_data(self) -> bool:
        return self.op == Op.BLOCK


@dataclass(frozen=True)
class SessionOpened:
    version: int
    max_transfer: int
    block_size: int


@dataclass(frozen=True)
class BlockAccepted:
    offset: int  # confirmed bytes after this block
    consumed: int
    residue: int


@dataclass(frozen=True)
class Advanced:
    """An exchange other than a block completed (reset, block command, data type, close)."""

    state: MasterState


@dataclass(frozen=True)
class Ignored:
    """A well-formed frame that answers nothing pending (late duplicate, stray reply)."""

    frame: Frame
    reason: str


@dataclass(frozen=True)
class Refused:
    """The modem answered the pending request negatively; resending may help."""

    frame: Frame
    reason: str


MasterEvent = SessionOpened | BlockAccepted | Advanced | Ignored | Refused | DecodeError


@dataclass(frozen=True)
class Checkpoint:
    """An upload between two exchanges (see `StpMaster.checkpoint`)."""

    state: str  # a MasterState value: the request to send next
    total: int
    offset: int  # bytes the modem confirmed
    tid: int
    block_size: int
    pending_length: int  # the length announced by the last block command
    version: int
    max_transfer: int

    @property
    def in_session(self) -> bool:
        """The session was open: the modem may still hold it."""
        return self.state in (MasterState.BLOCK_CMD.value, MasterState.BLOCK.value,
                              MasterState.DATA_TYPE.value, MasterState.CLOSE.value)

    def to_dict(self) -> dict[str, int | str]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, int | str]) -> Checkpoint:
        return cls(str(data["state"]), *(int(data[k]) for k in (
            "total", "offset", "tid", "block_size", "pending_length", "version", "max_transfer")))


class StpProtocolError(Exception):
    """The modem's replies make no sense for the session; resending will not help."""


class SessionVersionTooLow(StpProtocolError):
    """The session opened below version 2, which takes no data type; refused at the opening,
    before a block was sent (the closing RESET is still owed)."""

    def __init__(self, message: str, version: int) -> None:
        super().__init__(message)
        self.version = version


class StpMaster:
    """The host side of one STP upload of `total` bytes, starting at `offset`.

    Usage: send `encode(request(), data)`, feed whatever the line returns to `feed()`, and repeat
    while `not done`. After a timeout or a `Refused`/`DecodeError` the same `request()` is simply
    sent again: tids are only advanced by a matching reply, so a retransmission carries the same tid
    and a modem that already processed it can answer it without consuming the data twice.
    """

    def __init__(
        self,
        total: int,
        *,
        block_cap: int = PYCOM_BLOCK_CAP,
        offset: int = 0,
        data_type: int | None = None,
        start_block: int | None = None,
    ) -> None:
        """`start_block`: the block size a session opens with, when smaller than `block_cap` (the
        size an adaptive transfer may grow to)."""
        if total < 0 or not 0 <= offset <= total:
            raise ValueError("offset must lie within the image")
        if block_cap < 1:
            raise ValueError("block cap must be positive")
        self.total = total
        self.block_cap = block_cap
        self.start_block = start_block
        self.offset = offset
        self.data_type = data_type
        self.state = MasterState.RESET
        self.version = 0
        self.max_transfer = HEADER_SIZE  # nothing with a payload fits before the session opens
        self.block_size = 0
        self._tid = 0
        self._pending_length = 0
        self._abandoned: dict[int, tuple[int, int]] = {}  # tid: (offset, length) of given-up blocks
        self.decoder = FrameDecoder(REPLY_MAGIC, accept_zero_hcrc=True, max_payload=64)

    @property
    def done(self) -> bool:
        return self.state == MasterState.DONE

    @property
    def transferring(self) -> bool:
        return self.state in (MasterState.BLOCK_CMD, MasterState.BLOCK)

    def request(self) -> Request:
        state = self.state
        if state == MasterState.RESET:
            return Request(state, Op.RESET, 0, 0)
        if state == MasterState.OPEN:
            return Request(state, Op.OPEN, SESSION_SID, OPEN_TID)
        if state == MasterState.DATA_TYPE:
            assert self.data_type is not None
            return Request(state, Op.DATA_TYPE, SESSION_SID, self._tid, 0, 0,
                           U32.pack(self.data_type))
        if state == MasterState.BLOCK_CMD:
            length = min(self.total - self.offset, self.block_size)
            return Request(state, Op.BLOCK_CMD, SESSION_SID, self._tid, self.offset, length,
                           U16.pack(length))
        if state == MasterState.BLOCK:
            return Request(state, Op.BLOCK, SESSION_SID, self._tid, self.offset,
                           self._pending_length)
        if state == MasterState.CLOSE:
            return Request(state, Op.RESET, 0, 0)
        raise StpProtocolError("the transfer is finished; nothing more to send")

    def encode(self, request: Request, data: bytes = b"") -> bytes:
        if request.needs_data:
            if len(data) != request.length:
                raise ValueError(f"block needs {request.length} bytes, got {len(data)}")
            payload = data
        else:
            payload = request.payload
        if HEADER_SIZE + len(payload) > max(self.max_transfer, HEADER_SIZE):
            raise StpProtocolError(
                f"a {len(payload)}-byte payload exceeds the session's max transfer "
                f"{self.max_transfer}"
            )
        return encode_request(request.op, request.sid, request.tid, payload)

    def restart_session(self) -> None:
        """Start over with RESET/OPEN, keeping the confirmed offset (the modem lost the session)."""
        self.state = MasterState.RESET
        self._abandoned.clear()
        self.decoder.clear()

    def close_unanswered(self) -> None:
        """The closing RESET was sent but its reply never came: the image is complete all the
        same (every block was acknowledged), so the upload is done."""
        if self.state != MasterState.CLOSE:
            raise StpProtocolError(f"no closing request is pending (state {self.state.name})")
        self.state = MasterState.DONE

    def set_block_size(self, size: int, *, sent: bool = True) -> None:
        """Send blocks of at most `size` bytes from now on (a noisy line wants smaller frames).

        With `sent`, the pending request may have reached the modem, and a length already
        announced cannot be changed: the block command is sent again with a fresh tid, so that
        the modem cannot take it for a retransmission of the old one (whose repeat would keep the
        old length). No modem is known to check the tid sequence, and Pycom's own retries skip
        tids the same way. A block given up like this that the modem was only slow to write is
        still accounted for: its late reply is accepted (see `_late_block`).
        """
        size = max(1, min(size, self.block_cap, self.max_transfer - HEADER_SIZE))
        if size == self.block_size:
            return
        self.block_size = size
        if sent and self.state in (MasterState.BLOCK_CMD, MasterState.BLOCK):
            if self.state == MasterState.BLOCK:
                self._abandoned[self._tid] = (self.offset, self._pending_length)
            self._tid += 1
            self.state = MasterState.BLOCK_CMD

    def checkpoint(self) -> Checkpoint:
        """Where the upload stands, to continue it later (another process, after a crash) while
        the modem still holds the session: the pending request is sent again as it was."""
        return Checkpoint(self.state.value, self.total, self.offset, self._tid, self.block_size,
                          self._pending_length, self.version, self.max_transfer)

    @classmethod
    def resume(cls, point: Checkpoint, *, block_cap: int = PYCOM_BLOCK_CAP) -> StpMaster:
        """A master that carries on from `point` inside the session the modem still holds."""
        master = cls(point.total, block_cap=max(block_cap, point.block_size), offset=point.offset)
        master._restore(point)
        return master

    def _restore(self, point: Checkpoint) -> None:
        self.state = MasterState(point.state)
        self._tid = point.tid
        self.block_size = point.block_size
        self._pending_length = point.pending_length
        self.version = point.version
        self.max_transfer = point.max_transfer

    def feed(self, data: bytes) -> list[MasterEvent]:
        self.decoder.feed(data)
        events: list[MasterEvent] = []
        while (item := self.decoder.next()) is not None:
            if isinstance(item, DecodeError):
                events.append(item)
            else:
                events.append(self._on_reply(item))
        return events

    def _on_reply(self, frame: Frame) -> MasterEvent:
        if self.state == MasterState.DONE:
            return Ignored(frame, "transfer already finished")
        req = self.request()
        base = frame.op & ~(ACK | NACK)
        if (frame.tid in self._abandoned and base == Op.BLOCK and frame.op & ACK
                and not frame.op & NACK and self.state == MasterState.BLOCK_CMD):
            return self._late_block(frame)
        if frame.op == UNKNOWN | NACK and frame.tid == req.tid:
            return Refused(frame, f"the modem does not know {req.op.name} tid={req.tid} "
                                  "(UNKNOWN)")
        if base != req.op or not frame.op & (ACK | NACK):
            return Ignored(frame, f"expected a reply to {req.op.name}, got {op_name(frame.op)}")
        if frame.tid != req.tid:
            return Ignored(frame, f"reply for tid {frame.tid}, waiting for tid {req.tid}")
        if frame.op & NACK:
            return Refused(frame, f"the modem refused {req.op.name} tid={req.tid} (NACK)")
        if req.op != Op.RESET and frame.sid != req.sid:
            return Refused(frame, f"reply for session {frame.sid}, expected {req.sid}")
        return self._advance(req, frame)

    def _advance(self, req: Request, frame: Frame) -> MasterEvent:
        if req.state == MasterState.RESET:
            self.state = MasterState.OPEN
            return Advanced(MasterState.RESET)
        if req.state == MasterState.OPEN:
            if len(frame.payload) != OPEN_REPLY.size:
                return Refused(frame, f"open reply has {len(frame.payload)} payload bytes, not 4")
            ok, version, max_transfer = OPEN_REPLY.unpack(frame.payload)
            if not ok:
                raise StpProtocolError("the modem refused to open an STP session")
            if max_transfer <= HEADER_SIZE:
                raise StpProtocolError(f"the modem reports a max transfer of {max_transfer} bytes")
            if self.data_type is not None and version < 2 and (
                    self.data_type & 1 or isinstance(self.data_type, Monarch2DataType)):
                # A zipped stream the modem is not told about would be written as it is; a
                # Monarch 2 image, into a Monarch 1.
                raise SessionVersionTooLow(
                    f"the modem's STP session is version {version}: it takes no data type, so "
                    f"data type {int(self.data_type)} cannot be announced", version)
            self.version = version
            self.max_transfer = max_transfer
            start = self.block_cap if self.start_block is None else max(1, self.start_block)
            self.block_size = min(self.block_cap, start, max_transfer - HEADER_SIZE)
            self._tid = FIRST_BLOCK_TID
            if self.data_type is not None and version >= 2:
                self.state = MasterState.DATA_TYPE
            else:
                self.state = self._next_transfer_state()
            return SessionOpened(version, max_transfer, self.block_size)
        if req.state == MasterState.DATA_TYPE:
            self._tid += 1
            self.state = self._next_transfer_state()
            return Advanced(MasterState.DATA_TYPE)
        if req.state == MasterState.BLOCK_CMD:
            self._pending_length = req.length
            self._tid += 1
            self.state = MasterState.BLOCK
            return Advanced(MasterState.BLOCK_CMD)
        if req.state == MasterState.BLOCK:
            if len(frame.payload) != U16.size:
                return Refused(frame, f"block reply has {len(frame.payload)} payload bytes, not 2")
            residue = U16.unpack(frame.payload)[0]
            if residue > req.length:
                # Replies carry no header CRC (hcrc 0 on hardware) and a zero payload CRC is not
                # checked, so a damaged residue gets through the decoder: send the block again.
                return Refused(frame, f"damaged reply: a residue of {residue} bytes for a "
                                      f"{req.length}-byte block")
            consumed = req.length - residue
            self.offset += consumed
            self._abandoned.clear()
            self._tid += 1
            self.state = self._next_transfer_state()
            return BlockAccepted(self.offset, consumed, residue)
        # CLOSE
        self.state = MasterState.DONE
        return Advanced(MasterState.CLOSE)

    def _late_block(self, frame: Frame) -> MasterEvent:
        """The reply to a block given up by `set_block_size`: the modem was slow, not deaf. Its
        bytes count, and the block command in flight (announced for the old offset) is replaced by
        a fresh one, since nothing was sent after it yet."""
        offset, length = self._abandoned.pop(frame.tid)
        if len(frame.payload) != U16.size or offset != self.offset:
            return Ignored(frame, "late reply to a block given up")
        residue = U16.unpack(frame.payload)[0]
        if residue > length:
            self._abandoned[frame.tid] = (offset, length)  # damaged: a good copy may follow
            return Ignored(frame, f"damaged late reply: a residue of {residue} bytes for a "
                                  f"{length}-byte block")
        consumed = length - residue
        self.offset += consumed
        self._abandoned.clear()
        self._tid += 1
        self.state = self._next_transfer_state()
        return BlockAccepted(self.offset, consumed, residue)

    def _next_transfer_state(self) -> MasterState:
        """The next state once the session is set up or a block is done: more data, or close."""
        return MasterState.BLOCK_CMD if self.offset < self.total else MasterState.CLOSE


# --------------------------------------------------------------------------- slave (modem)


@dataclass(frozen=True)
class SendReply:
    data: bytes
    frame_summary: str


@dataclass(frozen=True)
class BlockReceived:
    """A block arrived; the owner answers with `StpSlave.complete_block(consumed)`."""

    data: bytes
    tid: int


@dataclass(frozen=True)
class SessionClosed:
    received: int  # bytes accepted in this session


@dataclass(frozen=True)
class DataTypeSet:
    data_type: int


@dataclass(frozen=True)
class RequestRejected:
    reason: str  # the modem's own wording where it is known


SlaveEvent = SendReply | BlockReceived | SessionClosed | DataTypeSet | RequestRejected


class StpSlave:
    """The modem side of STP.

    Choices where the protocol's public description is silent (the simulator documents them):
    a request with a bad header or payload CRC, an unknown op, a wrong sid or a block longer than
    announced gets no reply (the host times out and resends); a request repeating the op and tid of
    the last one answered is a retransmission and gets the same reply again without its data being
    consumed twice; a block larger than `max_transfer - 16` is refused ("pending transaction is too
    big"); a RESET after a session was opened closes it.

    With `nack` (Monarch 2), a request whose payload CRC fails is answered with a NACK (its op
    with bit 0x40) and an unknown operation with UNKNOWN | NACK (0x7F), both echoing the tid.
    """

    def __init__(self, max_transfer: int, *, version: int = 1, reply_hcrc: bool = True,
                 nack: bool = False, block_limit: int | None = None,
                 refuse_command: bool = False) -> None:
        """`block_limit`: the largest block the modem really takes, below what it reports (an
        older chip's receive buffer); a larger block frame is lost unanswered or, with
        `refuse_command`, its block command is. `nack`: damaged or unknown requests get a NACK
        (Monarch 2)."""
        self.max_transfer = max_transfer
        self.block_limit = block_limit
        self.refuse_command = refuse_command
        self.version = version
        self.reply_hcrc = reply_hcrc
        self.nack = nack
        self.decoder = FrameDecoder(
            REQUEST_MAGIC, accept_zero_hcrc=False, max_payload=max_transfer - HEADER_SIZE
        )
        self.opened = False
        self.closed = False
        self.received = 0
        self._announced: int | None = None
        self._last: tuple[int, int, bytes] | None = None  # op, tid, reply bytes
        self._pending_block: Frame | None = None

    @property
    def busy(self) -> bool:
        """A block is being written and its reply has not been produced yet."""
        return self._pending_block is not None

    def feed(self, data: bytes) -> list[SlaveEvent]:
        self.decoder.feed(data)
        events: list[SlaveEvent] = []
        while not self.busy and not self.closed and (item := self.decoder.next()) is not None:
            if isinstance(item, DecodeError):
                if item.problem != DecodeProblem.GARBAGE:
                    reason = f"{_MODEM_WORDING[item.problem]} ({item.detail})"
                    events.append(RequestRejected(reason))
                    if self.nack and item.frame is not None:
                        events.append(self._refuse(item.frame, item.frame.op | NACK))
                continue
            events.extend(self._on_request(item))
        return events

    def _reply(self, request: Frame, payload: bytes = b"") -> SendReply:
        data = encode_reply(request.op, request.sid, request.tid, payload,
                            header_crc=self.reply_hcrc)
        self._last = (request.op, request.tid, data)
        return SendReply(data, Frame(REPLY_MAGIC, request.op | ACK, request.sid, request.tid,
                                     payload).summary())

    def _refuse(self, request: Frame, op: int) -> SendReply:
        """A NACK: not remembered as the last reply, so the resent request is processed."""
        data = encode_frame(REPLY_MAGIC, op, request.sid, request.tid,
                            header_crc=self.reply_hcrc)
        return SendReply(data, Frame(REPLY_MAGIC, op, request.sid, request.tid).summary())

    def _on_request(self, frame: Frame) -> list[SlaveEvent]:
        last = self._last
        if last is not None and (frame.op, frame.tid) == last[:2] and frame.op != Op.RESET:
            data = last[2]
            return [SendReply(data, f"STP < repeat reply to {op_name(frame.op)} tid={frame.tid}")]
        if frame.op == Op.RESET:
            if self.opened:
                self.closed = True
                return [self._reply(frame), SessionClosed(self.received)]
            return [self._reply(frame)]
        if frame.op == Op.OPEN:
            self.opened = True
            self._announced = None
            return [self._reply(frame, OPEN_REPLY.pack(1, self.version, self.max_transfer))]
        if not self.opened or frame.sid != SESSION_SID:
            return [RequestRejected("wrong sid")]
        if frame.op == Op.DATA_TYPE and len(frame.payload) == U32.size and self.version >= 2:
            return [self._reply(frame), DataTypeSet(U32.unpack(frame.payload)[0])]
        if frame.op == Op.BLOCK_CMD and len(frame.payload) == U16.size:
            length = U16.unpack(frame.payload)[0]
            if length + HEADER_SIZE > self.max_transfer or (
                    self.refuse_command and self._over_limit(length)):
                return [RequestRejected("pending transaction is too big")]
            self._announced = length
            return [self._reply(frame)]
        if frame.op == Op.BLOCK:
            if self._announced is None or len(frame.payload) != self._announced:
                return [RequestRejected("wrong plen")]
            if self._over_limit(len(frame.payload)):
                return [RequestRejected(f"{len(frame.payload)}-byte block overflows the receive "
                                        f"buffer of {self.block_limit}")]
            self._pending_block = frame
            return [BlockReceived(frame.payload, frame.tid)]
        if self.nack:
            return [RequestRejected("unknown MREQ operation"),
                    self._refuse(frame, UNKNOWN | NACK)]
        return [RequestRejected("unknown MREQ operation")]

    def _over_limit(self, length: int) -> bool:
        return self.block_limit is not None and length > self.block_limit

    def complete_block(self, consumed: int) -> SendReply:
        """Answer the pending block: `consumed` of its bytes were written, the rest is residue."""
        frame = self._pending_block
        if frame is None:
            raise RuntimeError("no block is pending")
        if not 0 <= consumed <= len(frame.payload):
            raise ValueError("consumed must lie within the block")
        self._pending_block = None
        self._announced = None
        self.received += consumed
        return self._reply(frame, U16.pack(len(frame.payload) - consumed))


_MODEM_WORDING = {
    DecodeProblem.HEADER_CRC: "incorrect MREQ header CRC",
    DecodeProblem.PAYLOAD_CRC: "wrong payload CRC",
    DecodeProblem.OVERSIZE: "pending transaction is too big",
    DecodeProblem.GARBAGE: "garbage",
}
