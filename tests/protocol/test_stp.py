"""STP: frame layout, the incremental decoder, and the master and slave state machines."""

from __future__ import annotations

import binascii
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sqnflash.protocol import stp
from sqnflash.protocol.stp import (
    HEADER_SIZE,
    PYCOM_BLOCK_CAP,
    Advanced,
    BlockAccepted,
    BlockReceived,
    DecodeError,
    DecodeProblem,
    Frame,
    FrameDecoder,
    Ignored,
    MasterState,
    Op,
    Refused,
    Request,
    RequestRejected,
    SendReply,
    SessionClosed,
    SessionOpened,
    StpMaster,
    StpProtocolError,
    StpSlave,
    encode_reply,
    encode_request,
)
from tests.support.stp import open_session

FAST = b"fast"  # host -> modem magic
TSAF = b"tsaf"  # modem -> host magic


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def request_decoder() -> FrameDecoder:
    """What the modem uses: every header CRC is checked."""
    return FrameDecoder(stp.REQUEST_MAGIC, accept_zero_hcrc=False)


def reply_decoder() -> FrameDecoder:
    """What the host uses: hcrc 0 means "not computed"."""
    return FrameDecoder(stp.REPLY_MAGIC, accept_zero_hcrc=True)


def decode_all(decoder: FrameDecoder, data: bytes) -> list[Frame | DecodeError]:
    decoder.feed(data)
    return decoder.frames()


def frames_only(items: list[Frame | DecodeError]) -> list[Frame]:
    return [item for item in items if isinstance(item, Frame)]


def hand_header(magic: bytes, op: int, sid: int, plen: int, tid: int, pcrc: int) -> bytes:
    """A header built field by field from docs/protocol.md §5 (hcrc over the header, hcrc 0)."""
    without = magic + bytes([op, sid]) + plen.to_bytes(2, "big") + tid.to_bytes(4, "big")
    hcrc = binascii.crc_hqx(without + b"\0\0" + pcrc.to_bytes(2, "big"), 0)
    return without + hcrc.to_bytes(2, "big") + pcrc.to_bytes(2, "big")


# --------------------------------------------------------------------------- golden vectors

GOLDEN_REQUESTS = [
    # (op, sid, tid, payload, wire bytes) written out from docs/protocol.md §5
    (Op.RESET, 0, 0, b"", "66617374 00 00 0000 00000000 8ae3 0000"),
    (Op.OPEN, 1, 1, b"", "66617374 01 01 0000 00000001 fb8e 0000"),
    (Op.BLOCK_CMD, 1, 2, h("07e0"), "66617374 02 01 0002 00000002 27b8 64b9 07e0"),
    (Op.BLOCK, 1, 3, b"UPGR", "66617374 03 01 0004 00000003 0cb0 795c 55504752"),
    (Op.DATA_TYPE, 1, 2, h("00000005"), "66617374 04 01 0004 00000002 6ce2 50a5 00000005"),
]


@pytest.mark.parametrize(("op", "sid", "tid", "payload", "wire"), GOLDEN_REQUESTS)
def test_request_golden_bytes(op: Op, sid: int, tid: int, payload: bytes, wire: str) -> None:
    expected = h(wire)
    assert encode_request(op, sid, tid, payload) == expected
    # and the vector itself follows the rules of docs/protocol.md §5, field by field
    pcrc = binascii.crc_hqx(payload, 0) if payload else 0
    assert expected == hand_header(FAST, op, sid, len(payload), tid, pcrc) + payload


def test_open_request_is_sixteen_bytes_with_its_header_crc() -> None:
    wire = encode_request(Op.OPEN, 1, 1)
    assert len(wire) == HEADER_SIZE == 16
    assert wire == b"fast\x01\x01\x00\x00\x00\x00\x00\x01\xfb\x8e\x00\x00"
    magic, op, sid, plen, tid, hcrc, pcrc = struct.unpack(">IBBHIHH", wire)
    assert (magic, op, sid, plen, tid, pcrc) == (0x66617374, 1, 1, 0, 1, 0)
    assert hcrc == binascii.crc_hqx(wire[:12] + b"\0\0" + wire[14:], 0)


def test_block_cmd_payload_is_big_endian_length() -> None:
    wire = encode_request(Op.BLOCK_CMD, 1, 2, struct.pack(">H", 2016))
    assert wire[6:8] == b"\x00\x02"  # plen
    assert wire[16:] == b"\x07\xe0"  # 2016, big-endian
    assert wire[14:16] == binascii.crc_hqx(b"\x07\xe0", 0).to_bytes(2, "big")


GOLDEN_REPLIES = [
    # (op, payload, hcrc, wire): replies as modems send them, hcrc 0
    (Op.RESET, 0, 0, b"", "74736166 80 00 0000 00000000 0000 0000"),
    (Op.OPEN, 1, 1, h("01012000"), "74736166 81 01 0004 00000001 0000 4762 01012000"),
    (Op.OPEN, 1, 1, h("01010800"), "74736166 81 01 0004 00000001 0000 c82d 01010800"),
    (Op.BLOCK, 1, 3, h("0000"), "74736166 83 01 0002 00000003 0000 0000 0000"),
]


@pytest.mark.parametrize(("op", "sid", "tid", "payload", "wire"), GOLDEN_REPLIES)
def test_reply_golden_bytes_with_zero_hcrc(
    op: Op, sid: int, tid: int, payload: bytes, wire: str
) -> None:
    assert encode_reply(op, sid, tid, payload, header_crc=False) == h(wire)
    frames = frames_only(decode_all(reply_decoder(), h(wire)))
    assert [(f.op, f.sid, f.tid, f.payload) for f in frames] == [(op | 0x80, sid, tid, payload)]


def test_reply_with_computed_hcrc() -> None:
    wire = encode_reply(Op.BLOCK_CMD, 1, 2)
    assert wire == hand_header(TSAF, 0x82, 1, 0, 2, 0)


def test_open_reply_tells_version_and_max_transfer() -> None:
    for wire, max_transfer in ((GOLDEN_REPLIES[1][4], 8192), (GOLDEN_REPLIES[2][4], 2048)):
        master = StpMaster(10)
        master.feed(encode_reply(Op.RESET, 0, 0))
        events = master.feed(h(wire))
        block = min(PYCOM_BLOCK_CAP, max_transfer - 16)
        assert events == [SessionOpened(1, max_transfer, block)]


def test_reset_reply_with_stray_pcrc_and_no_payload_is_accepted() -> None:
    # Seen in the field: a reset reply with pcrc 0x18 and plen 0.
    wire = h("74736166 80 00 0000 00000000 0000 0018")
    master = StpMaster(10)
    assert master.feed(wire) == [Advanced(MasterState.RESET)]
    assert master.state == MasterState.OPEN


# --------------------------------------------------------------------------- round trips

ops = st.sampled_from([0, 1, 2, 3, 4, 0x3F])
u8 = st.integers(min_value=0, max_value=0xFF)
u32 = st.integers(min_value=0, max_value=0xFFFF_FFFF)


@st.composite
def requests(draw: st.DrawFn) -> tuple[int, int, int, bytes]:
    return draw(ops), draw(u8), draw(u32), draw(st.binary(max_size=300))


@settings(deadline=None)
@given(st.lists(requests(), min_size=1, max_size=8))
def test_requests_round_trip(frames: list[tuple[int, int, int, bytes]]) -> None:
    wire = b"".join(encode_request(*f) for f in frames)
    decoded = decode_all(request_decoder(), wire)
    assert all(isinstance(item, Frame) for item in decoded)
    assert [(f.op, f.sid, f.tid, f.payload) for f in frames_only(decoded)] == frames
    assert all(not f.is_reply for f in frames_only(decoded))
    assert sum(f.size for f in frames_only(decoded)) == len(wire)


@settings(deadline=None)
@given(st.lists(requests(), min_size=1, max_size=8), st.booleans())
def test_replies_round_trip(frames: list[tuple[int, int, int, bytes]], hcrc: bool) -> None:
    wire = b"".join(encode_reply(*f, header_crc=hcrc) for f in frames)
    decoded = decode_all(reply_decoder(), wire)
    assert [(f.op, f.sid, f.tid, f.payload) for f in frames_only(decoded)] == [
        (op | 0x80, sid, tid, payload) for op, sid, tid, payload in frames
    ]
    assert len(decoded) == len(frames)


@settings(deadline=None)
@given(st.lists(requests(), min_size=1, max_size=5), st.data())
def test_decoding_byte_by_byte_or_in_any_pieces(
    frames: list[tuple[int, int, int, bytes]], data: st.DataObject
) -> None:
    wire = b"".join(encode_request(*f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    decoder = request_decoder()
    found: list[Frame | DecodeError] = []
    previous = 0
    for cut in [*cuts, len(wire)]:
        found += decode_all(decoder, wire[previous:cut])
        previous = cut
    assert found == decode_all(request_decoder(), wire)
    # one byte at a time
    decoder = request_decoder()
    single: list[Frame | DecodeError] = []
    for i in range(len(wire)):
        single += decode_all(decoder, wire[i : i + 1])
    assert single == found
    assert decoder.buffered == 0


# --------------------------------------------------------------------------- resynchronisation

garbage = st.binary(max_size=80).filter(lambda b: FAST not in b and TSAF not in b)


@settings(deadline=None)
@given(st.lists(st.tuples(garbage, requests()), min_size=1, max_size=5), garbage, st.booleans())
def test_decoder_skips_garbage_before_and_between_frames(
    parts: list[tuple[bytes, tuple[int, int, int, bytes]]], tail: bytes, bytewise: bool
) -> None:
    wire = b"".join(junk + encode_request(*frame) for junk, frame in parts) + tail
    decoder = request_decoder()
    found: list[Frame | DecodeError] = []
    if bytewise:
        for i in range(len(wire)):
            found += decode_all(decoder, wire[i : i + 1])
    else:
        found = decode_all(decoder, wire)
    expected = [frame for _, frame in parts]
    assert [(f.op, f.sid, f.tid, f.payload) for f in frames_only(found)] == expected
    errors = [item for item in found if isinstance(item, DecodeError)]
    assert all(e.problem == DecodeProblem.GARBAGE for e in errors)
    # every byte of garbage is reported, but for a tail that could still begin a magic
    junk_total = sum(len(junk) for junk, _ in parts) + len(tail)
    assert sum(e.count for e in errors) + decoder.buffered == junk_total
    assert decoder.buffered <= 3


def test_decoder_keeps_a_partial_magic_at_the_end() -> None:
    decoder = request_decoder()
    frame = encode_request(Op.OPEN, 1, 1)
    decoder.feed(b"\xff" * 10 + frame[:3])
    assert decoder.next() == DecodeError(DecodeProblem.GARBAGE, 10)
    assert decoder.next() is None
    decoder.feed(frame[3:])
    item = decoder.next()
    assert isinstance(item, Frame) and item.op == Op.OPEN


@settings(deadline=None)
@given(
    requests().filter(lambda f: FAST not in f[3]),
    requests().filter(lambda f: FAST not in f[3]),
    st.data(),
)
def test_corrupted_header_is_reported_and_next_frame_found(
    bad: tuple[int, int, int, bytes], good: tuple[int, int, int, bytes], data: st.DataObject
) -> None:
    wire = bytearray(encode_request(*bad))
    position = data.draw(st.integers(4, HEADER_SIZE - 1), label="byte")  # past the magic
    wire[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    decoded = decode_all(request_decoder(), bytes(wire) + encode_request(*good))
    problems = {item.problem for item in decoded if isinstance(item, DecodeError)}
    assert DecodeProblem.HEADER_CRC in problems
    frames = frames_only(decoded)
    assert [(f.op, f.sid, f.tid, f.payload) for f in frames] == [good]


@settings(deadline=None)
@given(
    requests().filter(lambda f: len(f[3]) > 0 and FAST not in f[3]),
    requests(),
    st.data(),
)
def test_corrupted_payload_is_reported_and_next_frame_found(
    bad: tuple[int, int, int, bytes], good: tuple[int, int, int, bytes], data: st.DataObject
) -> None:
    wire = bytearray(encode_request(*bad))
    position = data.draw(st.integers(HEADER_SIZE, len(wire) - 1), label="byte")
    wire[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    assume(FAST not in wire[HEADER_SIZE:])  # a flip could make a magic appear in the payload
    decoded = decode_all(request_decoder(), bytes(wire) + encode_request(*good))
    assert isinstance(decoded[0], DecodeError)
    assert decoded[0].problem == DecodeProblem.PAYLOAD_CRC
    assert [(f.op, f.sid, f.tid, f.payload) for f in frames_only(decoded)] == [good]


def test_retransmission_inside_a_truncated_frame_is_found() -> None:
    # A block lost bytes on the way; the host's resend lands inside what looks like its payload.
    block = encode_request(Op.BLOCK, 1, 3, bytes(range(100)))
    wire = block[:60] + block
    decoded = decode_all(request_decoder(), wire)
    assert isinstance(decoded[0], DecodeError)
    assert (decoded[0].problem, decoded[0].count) == (DecodeProblem.PAYLOAD_CRC, HEADER_SIZE)
    frames = frames_only(decoded)
    assert [(f.op, f.tid, f.payload) for f in frames] == [(Op.BLOCK, 3, bytes(range(100)))]


def test_oversize_plen_is_a_corrupted_header() -> None:
    decoder = FrameDecoder(stp.REQUEST_MAGIC, accept_zero_hcrc=False, max_payload=100)
    decoded = decode_all(decoder, encode_request(Op.BLOCK, 1, 3, bytes(101)) +
                         encode_request(Op.OPEN, 1, 1))
    assert DecodeError(DecodeProblem.OVERSIZE, 1, "plen 101 exceeds 100") in decoded
    assert [(f.op, f.tid) for f in frames_only(decoded)] == [(Op.OPEN, 1)]


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=600), st.booleans())
def test_random_bytes_never_raise(data: bytes, zero_hcrc: bool) -> None:
    for magic in (stp.REQUEST_MAGIC, stp.REPLY_MAGIC):
        decoder = FrameDecoder(magic, accept_zero_hcrc=zero_hcrc, max_payload=64)
        decoder.feed(data)
        items = decoder.frames()
        # everything fed is either decoded, reported or still buffered
        used = sum(i.size if isinstance(i, Frame) else i.count for i in items)
        assert used + decoder.buffered == len(data)


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=400))
def test_random_bytes_never_disturb_the_slave(data: bytes) -> None:
    slave = StpSlave(2048)
    events = slave.feed(FAST + data) + slave.feed(data)
    assert all(isinstance(e, RequestRejected) for e in events)
    assert slave.received == 0


def test_zero_hcrc_accepted_from_the_modem_but_not_from_the_host() -> None:
    reply = encode_reply(Op.OPEN, 1, 1, h("01012000"), header_crc=False)
    assert reply[12:14] == b"\0\0"
    assert [type(i) for i in decode_all(reply_decoder(), reply)] == [Frame]
    # the modem's decoder wants a real header CRC on every request
    request = stp.encode_frame(stp.REQUEST_MAGIC, Op.OPEN, 1, 1, header_crc=False)
    assert request[12:14] == b"\0\0"
    decoded = decode_all(request_decoder(), request)
    assert not frames_only(decoded)
    assert DecodeProblem.HEADER_CRC in {i.problem for i in decoded if isinstance(i, DecodeError)}
    slave = StpSlave(8192)
    events = slave.feed(request)
    assert not any(isinstance(e, SendReply) for e in events)
    assert any(
        isinstance(e, RequestRejected) and e.reason.startswith("incorrect MREQ header CRC")
        for e in events
    )


def test_nonzero_wrong_hcrc_is_rejected_by_the_host_too() -> None:
    reply = bytearray(encode_reply(Op.RESET, 0, 0))
    reply[13] ^= 0x01
    decoded = decode_all(reply_decoder(), bytes(reply))
    assert not frames_only(decoded)
    assert isinstance(decoded[0], DecodeError)
    assert decoded[0].problem == DecodeProblem.HEADER_CRC


def test_take_rest_hands_back_unparsed_bytes() -> None:
    decoder = reply_decoder()
    decoder.feed(encode_reply(Op.RESET, 0, 0) + b"\r\nOK")
    item = decoder.next()
    assert isinstance(item, Frame)
    assert decoder.take_rest() == b"\r\nOK"
    assert decoder.buffered == 0


# --------------------------------------------------------------------------- master and slave


@dataclass
class Transfer:
    """Runs a master against a slave over a lossy, in-order line and records what happened."""

    image: bytes
    master: StpMaster
    slave: StpSlave
    rng: random.Random
    loss: float = 0.0
    partial: float = 0.0
    received: bytearray = field(default_factory=bytearray)
    master_events: list[object] = field(default_factory=list)
    slave_events: list[object] = field(default_factory=list)
    sent: list[Request] = field(default_factory=list)
    duplicates_answered: int = 0
    consumer: Callable[[bytes], int] | None = None  # how much of each block the modem takes

    def consume(self, block: bytes) -> int:
        if self.consumer is not None:
            return self.consumer(block)
        if block and self.rng.random() < self.partial:
            return self.rng.randrange(0, len(block))
        return len(block)

    def slave_handle(self, wire: bytes) -> bytes:
        replies = b""
        events = self.slave.feed(wire)
        while events:
            more: list[stp.SlaveEvent] = []
            for event in events:
                self.slave_events.append(event)
                if isinstance(event, SendReply):
                    if event.frame_summary.startswith("STP < repeat"):
                        self.duplicates_answered += 1
                    replies += event.data
                elif isinstance(event, BlockReceived):
                    consumed = self.consume(event.data)
                    self.received += event.data[:consumed]
                    reply = self.slave.complete_block(consumed)
                    self.slave_events.append(reply)
                    replies += reply.data
                    more += self.slave.feed(b"")
            events = more
        return replies

    def run(self, max_exchanges: int = 20_000) -> None:
        for _ in range(max_exchanges):
            if self.master.done:
                return
            request = self.master.request()
            self.sent.append(request)
            data = self.image[request.offset : request.offset + request.length]
            wire = self.master.encode(request, data if request.needs_data else b"")
            closing = request.state == MasterState.CLOSE  # the modem leaves STP after it
            if not closing and self.rng.random() < self.loss:
                continue  # the request is lost: the host times out and sends it again
            replies = self.slave_handle(wire)
            if not closing and self.rng.random() < self.loss:
                continue  # the reply is lost: same
            self.master_events += self.master.feed(replies)
        raise AssertionError("the transfer did not finish")


@st.composite
def transfers(draw: st.DrawFn) -> dict[str, int | float]:
    return {
        "size": draw(st.one_of(st.integers(0, 50_000), st.sampled_from([0, 1, 2015, 2016, 2017]))),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "cap": draw(st.sampled_from([1, 7, 512, 2016, 4096, 8176, 65535])),
        "max_transfer": draw(st.sampled_from([2048, 8192])),
        "loss": draw(st.sampled_from([0.0, 0.0, 0.1, 0.3])),
        "partial": draw(st.sampled_from([0.0, 0.0, 0.2, 0.7])),
    }


def make_transfer(case: dict[str, int | float], **master_kw: int) -> Transfer:
    rng = random.Random(int(case["seed"]))
    image = rng.randbytes(int(case["size"]))
    master = StpMaster(len(image), block_cap=int(case["cap"]), **master_kw)
    slave = StpSlave(int(case["max_transfer"]))
    return Transfer(image, master, slave, rng, float(case["loss"]), float(case["partial"]))


@settings(deadline=None, max_examples=60)
@given(transfers())
def test_master_and_slave_complete_any_transfer(case: dict[str, int | float]) -> None:
    t = make_transfer(case)
    if t.image:  # a small cap makes a 50 KB transfer slow for no gain
        t.master.block_cap = max(t.master.block_cap, len(t.image) // 200 + 1)
    t.run()
    assert bytes(t.received) == t.image
    assert t.master.offset == len(t.image)
    assert t.slave.closed and t.slave.received == len(t.image)
    assert SessionClosed(len(t.image)) in t.slave_events
    # no block ever exceeded the cap or the modem's max transfer
    limit = min(t.master.block_cap, int(case["max_transfer"]) - HEADER_SIZE)
    assert all(r.length <= limit for r in t.sent)
    assert not any(isinstance(e, Refused) for e in t.master_events)
    if case["loss"] == 0:
        assert t.duplicates_answered == 0
        assert not any(isinstance(e, Ignored) for e in t.master_events)
    accepted = [e for e in t.master_events if isinstance(e, BlockAccepted)]
    assert sum(e.consumed for e in accepted) == len(t.image)
    assert [e.offset for e in accepted] == sorted(e.offset for e in accepted)


def test_lost_exchanges_are_resent_and_answered_once() -> None:
    image = random.Random(7).randbytes(30_000)
    t = Transfer(image, StpMaster(len(image), block_cap=1000), StpSlave(2048),
                 random.Random(7), loss=0.3, partial=0.3)
    t.run()
    assert bytes(t.received) == image
    assert t.duplicates_answered > 0  # some replies were lost and the modem answered again
    lost = len(t.sent) - sum(1 for e in t.master_events if not isinstance(e, Ignored | Refused))
    assert lost > 0


def test_transfer_exchange_sequence_and_tids() -> None:
    image = bytes(range(256)) * 20  # 5120 bytes -> 2016 + 2016 + 1088
    t = Transfer(image, StpMaster(len(image)), StpSlave(8192), random.Random(0))
    t.run()
    assert [(r.op, r.sid, r.tid, r.offset, r.length) for r in t.sent] == [
        (Op.RESET, 0, 0, 0, 0),
        (Op.OPEN, 1, 1, 0, 0),
        (Op.BLOCK_CMD, 1, 2, 0, 2016),
        (Op.BLOCK, 1, 3, 0, 2016),
        (Op.BLOCK_CMD, 1, 4, 2016, 2016),
        (Op.BLOCK, 1, 5, 2016, 2016),
        (Op.BLOCK_CMD, 1, 6, 4032, 1088),
        (Op.BLOCK, 1, 7, 4032, 1088),
        (Op.RESET, 0, 0, 0, 0),
    ]
    assert t.master_events == [
        Advanced(MasterState.RESET),
        SessionOpened(1, 8192, 2016),
        Advanced(MasterState.BLOCK_CMD),
        BlockAccepted(2016, 2016, 0),
        Advanced(MasterState.BLOCK_CMD),
        BlockAccepted(4032, 2016, 0),
        Advanced(MasterState.BLOCK_CMD),
        BlockAccepted(5120, 1088, 0),
        Advanced(MasterState.CLOSE),
    ]
    assert t.master.done and bytes(t.received) == image


def test_block_size_follows_cap_and_max_transfer() -> None:
    for cap, max_transfer, expected in (
        (PYCOM_BLOCK_CAP, 2048, 2016),
        (PYCOM_BLOCK_CAP, 8192, 2016),
        (8192, 8192, 8176),
        (8192, 2048, 2032),
        (100, 8192, 100),
    ):
        master = StpMaster(100_000, block_cap=cap)
        open_session(master, max_transfer=max_transfer)
        request = master.request()
        assert (request.op, request.length) == (Op.BLOCK_CMD, expected)
        assert request.payload == struct.pack(">H", expected)


def test_residue_is_sent_again() -> None:
    image = bytes(range(200))
    master = StpMaster(len(image), block_cap=100)
    # consume 60 of each 100-byte block: the 40 left over start the next block
    t = Transfer(image, master, StpSlave(2048), random.Random(1),
                 consumer=lambda block: min(60, len(block)))
    t.run()
    assert bytes(t.received) == image
    blocks = [(r.offset, r.length) for r in t.sent if r.op == Op.BLOCK]
    assert blocks == [(0, 100), (60, 100), (120, 80), (180, 20)]
    residues = [e.residue for e in t.master_events if isinstance(e, BlockAccepted)]
    assert residues == [40, 40, 20, 0]


def test_a_residue_larger_than_the_block_is_a_damaged_reply_to_resend() -> None:
    master = StpMaster(1000)
    open_session(master, max_transfer=2048)
    master.feed(encode_reply(Op.BLOCK_CMD, 1, 2))
    request = master.request()
    assert (request.op, request.tid, request.length) == (Op.BLOCK, 3, 1000)
    # residue == length is allowed (nothing consumed, resend)
    assert master.feed(encode_reply(Op.BLOCK, 1, 3, struct.pack(">H", 1000))) == [
        BlockAccepted(0, 0, 1000)
    ]
    master.feed(encode_reply(Op.BLOCK_CMD, 1, 4))
    # A residue larger than the block is a damaged reply: the same block is sent again.
    (event,) = master.feed(encode_reply(Op.BLOCK, 1, 5, struct.pack(">H", 1001)))
    assert isinstance(event, Refused) and "residue of 1001" in event.reason
    request = master.request()
    assert (request.op, request.tid, request.offset, request.length) == (Op.BLOCK, 5, 0, 1000)
    assert master.feed(encode_reply(Op.BLOCK, 1, 5, struct.pack(">H", 0))) == [
        BlockAccepted(1000, 1000, 0)
    ]


def test_nack_is_refused_and_the_same_request_is_sent_again() -> None:
    master = StpMaster(1000)
    open_session(master, version=2)
    before = master.request()
    nack = stp.encode_frame(stp.REPLY_MAGIC, Op.BLOCK_CMD | stp.NACK, 1, 2)
    events = master.feed(nack)
    assert len(events) == 1 and isinstance(events[0], Refused)
    assert "NACK" in events[0].reason
    assert master.request() == before


def test_replies_that_answer_nothing_pending_are_ignored() -> None:
    master = StpMaster(1000)
    open_session(master)
    pending = master.request()
    for stray in (
        encode_reply(Op.BLOCK_CMD, 1, 7),  # wrong tid (a late reply)
        encode_reply(Op.OPEN, 1, 1, struct.pack(">BBH", 1, 1, 8192)),  # duplicate open reply
        encode_request(Op.BLOCK_CMD, 1, 2),  # the host's own echo: not even a reply magic
    ):
        events = master.feed(stray)
        assert all(isinstance(e, Ignored | DecodeError) for e in events)
        assert master.request() == pending


def test_refused_open_is_a_protocol_error() -> None:
    master = StpMaster(10)
    master.feed(encode_reply(Op.RESET, 0, 0))
    with pytest.raises(StpProtocolError):
        master.feed(encode_reply(Op.OPEN, 1, 1, struct.pack(">BBH", 0, 1, 8192)))


@pytest.mark.parametrize("data_type", [4, 5, 2])
def test_version_2_sends_the_data_type(data_type: int) -> None:
    image = bytes(300)
    rng = random.Random(0)
    t = Transfer(image, StpMaster(len(image), data_type=data_type), StpSlave(8192, version=2), rng)
    t.run()
    assert [(r.op, r.tid) for r in t.sent] == [
        (Op.RESET, 0),
        (Op.OPEN, 1),
        (Op.DATA_TYPE, 2),
        (Op.BLOCK_CMD, 3),
        (Op.BLOCK, 4),
        (Op.RESET, 0),
    ]
    assert t.sent[2].payload == struct.pack(">I", data_type)
    assert stp.DataTypeSet(data_type) in t.slave_events
    assert bytes(t.received) == image


def test_data_type_golden_request() -> None:
    master = StpMaster(10, data_type=5)
    open_session(master, version=2)
    request = master.request()
    assert master.encode(request) == h("66617374 04 01 0004 00000002 6ce2 50a5 00000005")


@pytest.mark.parametrize(("version", "data_type"), [(1, 4), (2, None), (1, None)])
def test_no_data_type_without_version_2_and_a_type(version: int, data_type: int | None) -> None:
    image = bytes(50)
    t = Transfer(image, StpMaster(len(image), data_type=data_type),
                 StpSlave(8192, version=version), random.Random(0))
    t.run()
    assert Op.DATA_TYPE not in [r.op for r in t.sent]
    assert [(r.op, r.tid) for r in t.sent if r.op in (Op.BLOCK_CMD, Op.BLOCK)] == [
        (Op.BLOCK_CMD, 2), (Op.BLOCK, 3)
    ]


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 20_000), st.integers(0, 2**32 - 1), st.data())
def test_offset_resume_sends_only_the_rest(size: int, seed: int, data: st.DataObject) -> None:
    offset = data.draw(st.integers(0, size))
    image = random.Random(seed).randbytes(size)
    t = Transfer(image, StpMaster(size, offset=offset), StpSlave(8192), random.Random(seed))
    t.run()
    assert bytes(t.received) == image[offset:]
    blocks = [r for r in t.sent if r.op == Op.BLOCK]
    assert all(r.offset >= offset for r in blocks)
    if offset < size:
        assert blocks[0].offset == offset
    else:
        assert not blocks


def test_offset_outside_the_image_is_refused() -> None:
    with pytest.raises(ValueError):
        StpMaster(10, offset=11)
    with pytest.raises(ValueError):
        StpMaster(10, offset=-1)


def test_no_payload_before_the_session_is_open() -> None:
    master = StpMaster(10)
    with pytest.raises(StpProtocolError):
        master.encode(Request(MasterState.BLOCK_CMD, Op.BLOCK_CMD, 1, 2, 0, 10, b"\x00\x0a"))


def test_block_needs_exactly_its_bytes() -> None:
    master = StpMaster(10)
    open_session(master)
    master.feed(encode_reply(Op.BLOCK_CMD, 1, 2))
    request = master.request()
    with pytest.raises(ValueError):
        master.encode(request, bytes(9))
    assert master.encode(request, bytes(10)) == encode_request(Op.BLOCK, 1, 3, bytes(10))


def test_nothing_to_send_after_done() -> None:
    t = Transfer(b"x", StpMaster(1), StpSlave(2048), random.Random(0))
    t.run()
    assert t.master.done
    with pytest.raises(StpProtocolError):
        t.master.request()
    late = t.master.feed(encode_reply(Op.RESET, 0, 0))
    assert len(late) == 1 and isinstance(late[0], Ignored)


# --------------------------------------------------------------------------- slave alone


def open_slave(max_transfer: int = 2048) -> StpSlave:
    slave = StpSlave(max_transfer)
    slave.feed(encode_request(Op.RESET, 0, 0))
    slave.feed(encode_request(Op.OPEN, 1, 1))
    return slave


def replies_of(events: list[stp.SlaveEvent]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, SendReply)]


def test_slave_open_reply_carries_its_max_transfer() -> None:
    slave = StpSlave(2048, reply_hcrc=False)
    assert replies_of(slave.feed(encode_request(Op.RESET, 0, 0))) == [
        h("74736166 80 00 0000 00000000 0000 0000")
    ]
    assert replies_of(slave.feed(encode_request(Op.OPEN, 1, 1))) == [
        h("74736166 81 01 0004 00000001 0000 c82d 01010800")
    ]


def test_slave_answers_a_duplicate_block_without_consuming_it_twice() -> None:
    slave = open_slave()
    block_cmd = encode_request(Op.BLOCK_CMD, 1, 2, struct.pack(">H", 10))
    first_cmd = replies_of(slave.feed(block_cmd))
    assert replies_of(slave.feed(block_cmd)) == first_cmd  # resent command, same answer
    block = encode_request(Op.BLOCK, 1, 3, b"0123456789")
    events = slave.feed(block)
    assert events == [BlockReceived(b"0123456789", 3)]
    reply = slave.complete_block(7)
    assert reply.data == encode_reply(Op.BLOCK, 1, 3, struct.pack(">H", 3))
    # the host never saw that reply and sends the block again
    again = slave.feed(block)
    assert replies_of(again) == [reply.data]
    assert not any(isinstance(e, BlockReceived) for e in again)
    assert slave.received == 7


def test_slave_rejects_a_block_longer_than_announced_or_than_it_can_take() -> None:
    slave = open_slave(2048)
    events = slave.feed(encode_request(Op.BLOCK_CMD, 1, 2, struct.pack(">H", 2033)))
    assert events == [RequestRejected("pending transaction is too big")]
    slave.feed(encode_request(Op.BLOCK_CMD, 1, 2, struct.pack(">H", 4)))
    assert slave.feed(encode_request(Op.BLOCK, 1, 3, b"12345")) == [RequestRejected("wrong plen")]
    assert slave.received == 0


def test_slave_wants_an_open_session() -> None:
    slave = StpSlave(2048)
    events = slave.feed(encode_request(Op.BLOCK_CMD, 1, 2, struct.pack(">H", 4)))
    assert events == [RequestRejected("wrong sid")]


def test_slave_waits_while_a_block_is_being_written() -> None:
    slave = open_slave()
    slave.feed(encode_request(Op.BLOCK_CMD, 1, 2, struct.pack(">H", 3)))
    events = slave.feed(encode_request(Op.BLOCK, 1, 3, b"abc") + encode_request(Op.RESET, 0, 0))
    assert events == [BlockReceived(b"abc", 3)]
    assert slave.busy
    slave.complete_block(3)
    events = slave.feed(b"")
    assert SessionClosed(3) in events
    with pytest.raises(RuntimeError):
        slave.complete_block(0)


def test_frame_summary_names_the_exchange() -> None:
    item = decode_all(reply_decoder(), encode_reply(Op.BLOCK, 1, 5, struct.pack(">H", 12)))[0]
    assert isinstance(item, Frame)
    assert item.summary().startswith("STP < BLOCK-ACK sid=1 tid=5 plen=2")
    assert "residue=12" in item.summary()
