"""The STP master's support for faults: checkpoints to continue a session, smaller blocks on a
noisy line, and the late reply of a block it gave up on. Run against the modem-side slave."""

from __future__ import annotations

import json

import pytest

from sqnflash.protocol import stp

DATA = bytes(range(256)) * 40  # 10 240 bytes


def exchange(master: stp.StpMaster, slave: stp.StpSlave) -> list[stp.MasterEvent]:
    """Send master's request; the slave writes any block at once; its reply goes back."""
    request = master.request()
    frame = master.encode(request, DATA[request.offset:request.offset + request.length]
                          if request.needs_data else b"")
    replies = b""
    for event in slave.feed(frame):
        if isinstance(event, stp.SendReply):
            replies += event.data
        elif isinstance(event, stp.BlockReceived):
            replies += slave.complete_block(len(event.data)).data
    return master.feed(replies)


def opened(block_cap: int = 1024) -> tuple[stp.StpMaster, stp.StpSlave]:
    master, slave = stp.StpMaster(len(DATA), block_cap=block_cap), stp.StpSlave(8192)
    exchange(master, slave)
    exchange(master, slave)
    assert master.state == stp.MasterState.BLOCK_CMD
    return master, slave


def test_a_checkpoint_continues_the_session_in_a_new_master() -> None:
    master, slave = opened()
    for _ in range(3):
        exchange(master, slave)  # block command, block, block command
    point = master.checkpoint()
    assert (point.state, point.offset) == ("block", 1024)
    saved = json.loads(json.dumps(point.to_dict()))  # as the journal stores it
    again = stp.StpMaster.resume(stp.Checkpoint.from_dict(saved), block_cap=1024)
    while not again.done:
        exchange(again, slave)
    assert slave.received == len(DATA)


def test_a_checkpoint_one_exchange_old_is_answered_as_a_repeat() -> None:
    """The process died after the modem answered a block but before the journal said so."""
    master, slave = opened()
    exchange(master, slave)  # block command
    stale = master.checkpoint()  # the block is pending
    exchange(master, slave)  # the block: written and answered, but not journaled
    assert slave.received == 1024
    again = stp.StpMaster.resume(stale)
    events = exchange(again, slave)
    assert isinstance(events[0], stp.BlockAccepted) and events[0].offset == 1024
    assert slave.received == 1024  # not written twice
    while not again.done:
        exchange(again, slave)
    assert slave.received == len(DATA)


def test_smaller_blocks_take_a_fresh_tid_so_the_modem_takes_the_new_length() -> None:
    master, slave = opened()
    exchange(master, slave)  # block command for 1024 bytes
    tid = master.request().tid
    master.set_block_size(256)
    request = master.request()
    assert request.state == stp.MasterState.BLOCK_CMD and request.tid == tid + 1
    assert request.length == 256
    while not master.done:
        exchange(master, slave)
    assert slave.received == len(DATA)


def test_the_late_reply_of_a_block_given_up_still_counts() -> None:
    """The modem was slow, not deaf: its reply to the old block arrives after the master moved
    to smaller blocks, and that block's bytes must not be sent a second time."""
    master, slave = opened()
    exchange(master, slave)  # block command, 1024 bytes announced
    request = master.request()
    frame = master.encode(request, DATA[:1024])
    (received,) = slave.feed(frame)
    assert isinstance(received, stp.BlockReceived)
    master.set_block_size(256)  # no reply in time: smaller blocks from now on
    late = slave.complete_block(1024).data  # the write finishes; the reply comes late
    (event,) = master.feed(late)
    assert isinstance(event, stp.BlockAccepted) and event.offset == 1024
    assert master.request().offset == 1024 and master.request().length == 256
    while not master.done:
        exchange(master, slave)
    assert slave.received == len(DATA)  # every byte written once


def test_growing_back_after_a_clean_stretch_keeps_the_tid() -> None:
    master, _ = opened(block_cap=1024)
    master.set_block_size(128)
    tid = master.request().tid
    master.set_block_size(1024, sent=False)
    assert master.request().tid == tid and master.request().length == 1024


@pytest.mark.parametrize("state", ["reset", "open"])
def test_checkpoints_before_the_session_opened_are_not_a_session(state: str) -> None:
    point = stp.Checkpoint(state, 100, 0, 0, 0, 0, 0, 16)
    assert not point.in_session
