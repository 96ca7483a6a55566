"""STP as Monarch 2 speaks it: session version 2, TRANSFER_DATA_TYPE, NACK and UNKNOWN replies."""

from __future__ import annotations

import random
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from sqnflash.protocol import stp
from sqnflash.protocol.stp import NACK, UNKNOWN, Op, Refused, StpMaster, StpSlave
from tests.support.stp import open_session


def _run(image: bytes, master: StpMaster, slave: StpSlave, rng: random.Random,
         damage: float) -> tuple[bytes, int, list[int]]:
    """Master against slave; each request's payload is damaged with probability `damage`.
    Returns what the slave took, the NACKs seen and the data types it was told."""
    received = bytearray()
    nacks = 0
    types: list[int] = []
    for _ in range(20_000):
        if master.done:
            return bytes(received), nacks, types
        request = master.request()
        data = image[request.offset : request.offset + request.length]
        wire = bytearray(master.encode(request, data if request.needs_data else b""))
        if len(wire) > stp.HEADER_SIZE and rng.random() < damage:
            wire[rng.randrange(stp.HEADER_SIZE, len(wire))] ^= 1 << rng.randrange(8)
        replies = b""
        events = slave.feed(bytes(wire))
        while events:
            more: list[stp.SlaveEvent] = []
            for event in events:
                if isinstance(event, stp.SendReply):
                    replies += event.data
                elif isinstance(event, stp.DataTypeSet):
                    types.append(event.data_type)
                elif isinstance(event, stp.BlockReceived):
                    received += event.data
                    replies += slave.complete_block(len(event.data)).data
                    more += slave.feed(b"")
            events = more
        for item in master.feed(replies):
            if isinstance(item, Refused):
                nacks += 1
    raise AssertionError("the transfer did not finish")


@settings(max_examples=60, deadline=None)
@given(image=st.binary(min_size=0, max_size=30_000), zipped=st.booleans(),
       cap=st.integers(16, 9000), damage=st.sampled_from([0.0, 0.2, 0.5]),
       seed=st.integers(0, 2**16))
def test_v2_sessions_deliver_the_stream_through_nacks(image: bytes, zipped: bool, cap: int,
                                                      damage: float, seed: int) -> None:
    packer = zlib.compressobj(wbits=12)  # zlib.compress() takes wbits only from Python 3.11
    sent = packer.compress(image) + packer.flush() if zipped else image
    data_type = int(stp.DataType.CABA) + int(zipped)
    master = StpMaster(len(sent), block_cap=cap, data_type=data_type)
    slave = StpSlave(8192, version=2, reply_hcrc=False, nack=True)
    received, nacks, types = _run(sent, master, slave, random.Random(seed), damage)
    assert types == [data_type]
    assert (zlib.decompress(received, 12) if zipped else received) == image
    if damage == 0.0:
        assert nacks == 0


def test_a_damaged_block_is_nacked_with_its_tid() -> None:
    slave = StpSlave(8192, version=2, reply_hcrc=False, nack=True)
    slave.feed(stp.encode_request(Op.OPEN, 1, 1))
    slave.feed(stp.encode_request(Op.BLOCK_CMD, 1, 2, b"\x00\x04"))
    bad = bytearray(stp.encode_request(Op.BLOCK, 1, 3, b"UPGR"))
    bad[-1] ^= 0x10
    replies = [e for e in slave.feed(bytes(bad)) if isinstance(e, stp.SendReply)]
    decoded = stp.FrameDecoder(stp.REPLY_MAGIC, accept_zero_hcrc=True)
    decoded.feed(replies[0].data)
    frame = decoded.next()
    assert isinstance(frame, stp.Frame) and (frame.op, frame.tid) == (Op.BLOCK | NACK, 3)


def test_an_unknown_operation_is_answered_0x7f_and_the_master_sends_again() -> None:
    slave = StpSlave(8192, version=2, reply_hcrc=False, nack=True)
    slave.feed(stp.encode_request(Op.OPEN, 1, 1))
    replies = [e for e in slave.feed(stp.encode_request(0x21, 1, 2)) if
               isinstance(e, stp.SendReply)]
    assert replies and replies[0].data[4] == UNKNOWN | NACK
    master = StpMaster(10, data_type=5)
    open_session(master, version=2)
    before = master.request()
    unknown = stp.encode_frame(stp.REPLY_MAGIC, UNKNOWN | NACK, 1, before.tid)
    events = master.feed(unknown)
    assert isinstance(events[0], Refused) and "UNKNOWN" in events[0].reason
    assert master.request() == before  # the same request, the same tid


def test_a_version_1_slave_ignores_the_data_type_op() -> None:
    slave = StpSlave(8192, version=1)
    slave.feed(stp.encode_request(Op.OPEN, 1, 1))
    events = slave.feed(stp.encode_request(Op.DATA_TYPE, 1, 2, b"\x00\x00\x00\x05"))
    assert not any(isinstance(e, stp.DataTypeSet) for e in events)
