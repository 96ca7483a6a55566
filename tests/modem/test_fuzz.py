"""Whatever a modem (or a broken cable) sends, the client raises nothing but sqnflash's typed
errors: arbitrary bytes and interleavings fed to the AT driver, the modem's queries and an STP
upload, through a scripted serial port on virtual time."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from serial.serialutil import SerialBase

from sqnflash.errors import SqnflashError
from sqnflash.firmware import BytesSource
from sqnflash.link import open_link
from sqnflash.modem import Modem
from sqnflash.modem.at_driver import AtDriver
from sqnflash.modem.transfer import StpUpload
from sqnflash.protocol import stp
from sqnflash.timing import VirtualClock

Responder = Callable[[bytes], list[bytes]]  # what the "modem" sends back for what it received


class ScriptedPort(SerialBase):  # type: ignore[misc]
    """A serial port whose other end is a function; reads wait on a virtual clock."""

    def __init__(self, respond: Responder) -> None:
        super().__init__()
        self.sim_clock = VirtualClock()
        self.respond = respond
        self.arrivals: deque[bytes] = deque()  # each read takes from at most one arrival
        self.port = "scripted"
        self.is_open = True
        self.written = 0

    def _reconfigure_port(self, force_update: bool = False) -> None:
        return None

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    @property
    def in_waiting(self) -> int:
        return len(self.arrivals[0]) if self.arrivals else 0

    def reset_input_buffer(self) -> None:
        self.arrivals.clear()

    def write(self, data: bytes) -> int:
        self.written += len(data)
        self.arrivals.extend(chunk for chunk in self.respond(bytes(data)) if chunk)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self.arrivals:
            wait = self.timeout if self.timeout is not None else 1.0
            self.sim_clock.advance_to(self.sim_clock.now() + wait)
            return b""
        chunk = self.arrivals.popleft()
        if len(chunk) > size:
            self.arrivals.appendleft(chunk[size:])
            chunk = chunk[:size]
        return chunk


def script(replies: list[bytes]) -> Responder:
    """Answer each write with the next scripted reply (then silence)."""
    queue = deque(replies)

    def respond(data: bytes) -> list[bytes]:
        return [queue.popleft()] if queue else []

    return respond


FUZZ = settings(deadline=None, max_examples=150,
                suppress_health_check=[HealthCheck.too_slow])
AT_WORDS = st.sampled_from([b"OK", b"ERROR", b"\r\n", b"\r", b"\n", b"+SYSSTART", b"AT",
                            b"+SMUPGRADE: ", b"success", b"fail", b"2", b"\x00", b"+CME ERROR: 3",
                            b"SYSTEM VERSION", b"Software     : 5.1.1.0 [38638]", b"UE5.0.0.0d",
                            b"LR5.1.1.0-38638", b"354346090000009", b"+CEREG: 2"])
AT_NOISE = st.lists(st.one_of(AT_WORDS, st.binary(max_size=12)), max_size=12).map(b"".join)


@FUZZ
@given(st.lists(AT_NOISE, max_size=6))
def test_at_commands_and_queries_raise_only_typed_errors(replies: list[bytes]) -> None:
    modem = Modem(open_link(ScriptedPort(script(replies))))
    for call in (modem.mode, modem.info, modem.upgrade_report,
                 lambda: modem.at.command("ATI1"), modem.at.probe,
                 lambda: modem.at.wait_urc("+SYSSTART", 0.5)):
        with contextlib.suppress(SqnflashError):
            call()


@FUZZ
@given(st.lists(st.binary(max_size=64), max_size=8), st.integers(1, 7))
def test_the_at_reader_takes_any_split_of_any_bytes(pieces: list[bytes], split: int) -> None:
    data = b"".join(pieces)

    def respond(_: bytes) -> list[bytes]:
        return [data[i:i + split] for i in range(0, len(data), split)]

    driver = AtDriver(open_link(ScriptedPort(respond)))
    with contextlib.suppress(SqnflashError):
        driver.command("AT+SMOD?", timeout_s=0.5)


DATA = bytes(range(256)) * 20  # a 5 KiB image


def mangled_modem(choices: st.DataObject) -> Responder:
    """A real STP slave behind a line the test data damages: replies dropped, cut, split,
    flipped, prefixed with garbage, or answered with arbitrary bytes instead."""
    slave = stp.StpSlave(8192)

    def respond(data: bytes) -> list[bytes]:
        reply = b""
        for happened in slave.feed(data):
            if isinstance(happened, stp.SendReply):
                reply += happened.data
            elif isinstance(happened, stp.BlockReceived):
                reply += slave.complete_block(len(happened.data)).data
        how = choices.draw(st.sampled_from(["keep"] * 6 + ["drop", "cut", "flip", "garbage",
                                                           "random", "split"]))
        if how == "drop":
            return []
        if how == "cut" and reply:
            return [reply[:choices.draw(st.integers(0, len(reply) - 1))]]
        if how == "flip" and reply:
            at = choices.draw(st.integers(0, len(reply) - 1))
            return [reply[:at] + bytes([reply[at] ^ 0x10]) + reply[at + 1:]]
        if how == "garbage":
            return [choices.draw(st.binary(max_size=24)), reply]
        if how == "random":
            return [choices.draw(st.binary(max_size=40))]
        if how == "split" and reply:
            at = choices.draw(st.integers(1, max(1, len(reply) - 1)))
            return [reply[:at], reply[at:]]
        return [reply]

    return respond


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_an_upload_over_a_damaged_line_finishes_or_raises_a_typed_error(
        choices: st.DataObject) -> None:
    port = ScriptedPort(mangled_modem(choices))
    upload = StpUpload(open_link(port), BytesSource(DATA), block_cap=1024, retries=2)
    try:
        result = upload.run()
    except SqnflashError as error:
        event(f"stopped: {error.code}")
        return
    event("finished")
    assert result.total == len(DATA) and upload.master.offset == len(DATA)


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=48), max_size=10))
def test_an_upload_answered_with_nonsense_raises_a_typed_error(replies: list[bytes]) -> None:
    upload = StpUpload(open_link(ScriptedPort(script(replies))), BytesSource(DATA),
                       block_cap=1024, retries=1)
    try:
        upload.run()
    except SqnflashError:
        return
    raise AssertionError("an upload nobody answered properly claims success")
