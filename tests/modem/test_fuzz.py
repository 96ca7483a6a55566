"""Whatever a modem (or a broken cable) sends, the client raises nothing but sqnflash's typed
errors: arbitrary bytes and interleavings fed to the AT driver, the modem's queries and an STP
upload, through a scripted serial port on virtual time. The AT reader decodes the same whatever the
split, and an upload stores exactly the image's bytes (or a clean prefix of them when it stops)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from sqnflash.errors import SqnflashError
from sqnflash.firmware import BytesSource
from sqnflash.link import open_link
from sqnflash.modem import Modem
from sqnflash.modem.at_driver import AtDriver
from sqnflash.modem.transfer import StpUpload
from sqnflash.protocol import stp
from tests.support.ports import Responder, ScriptedPort, script

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


def read_reply(data: bytes, split: int) -> tuple[object, ...]:
    """What the AT driver makes of `data` delivered in pieces of `split` bytes: the reply or the
    typed error, the URCs and boots it saw and the bytes it could not place."""

    def respond(_: bytes) -> list[bytes]:
        return [data[i:i + split] for i in range(0, len(data), split)]

    driver = AtDriver(open_link(ScriptedPort(respond)))
    try:
        outcome: object = driver.command("AT+SMOD?", timeout_s=0.5)
    except SqnflashError as error:
        outcome = (error.code, str(error), error.details)
    return outcome, list(driver.urcs), driver.boots_seen, driver.noise_bytes


@FUZZ
@given(st.lists(st.one_of(AT_WORDS, st.binary(max_size=64)), max_size=8), st.integers(1, 7))
def test_the_at_reader_decodes_the_same_whatever_the_split(pieces: list[bytes],
                                                          split: int) -> None:
    data = b"".join(pieces)
    assert read_reply(data, split) == read_reply(data, max(1, len(data)))


DATA = bytes(range(256)) * 20  # a 5 KiB image


@dataclass
class Flash:
    """What the modem behind the damaged line wrote, and whether the host ever saw it confirmed."""

    stored: bytearray = field(default_factory=bytearray)
    unconfirmed_tid: int | None = None  # the last stored block, while its ACK has not got through
    # The run met a limit of the protocol: no CRC on a residue, no way to ask what was written.
    known_defect: str = ""


INTACT = ("keep", "garbage", "split")  # the reply still reaches the host whole


def mangled_modem(choices: st.DataObject, flash: Flash) -> Responder:
    """A real STP slave behind a line the test data damages: replies dropped, cut, split,
    flipped, prefixed with garbage, or answered with arbitrary bytes instead. The blocks the
    slave accepted are appended to `flash.stored`, as a modem writes them."""
    slave = stp.StpSlave(8192)

    def respond(data: bytes) -> list[bytes]:
        reply = b""
        acked: int | None = None
        for happened in slave.feed(data):
            if isinstance(happened, stp.SendReply):
                reply += happened.data
                if "repeat reply to BLOCK tid=" in happened.frame_summary:
                    acked = flash.unconfirmed_tid
            elif isinstance(happened, stp.BlockReceived):
                if flash.unconfirmed_tid is not None:
                    # Four replies in a row lost: the protocol cannot tell a block written with
                    # its replies lost from one that never arrived (see SILENT_BEFORE_SMALLER_SENT).
                    flash.known_defect = "a stored block given up after its replies were lost"
                flash.stored.extend(happened.data)
                flash.unconfirmed_tid = acked = happened.tid
                reply += slave.complete_block(len(happened.data)).data
        how = choices.draw(st.sampled_from(["keep"] * 6 + ["drop", "cut", "flip", "garbage",
                                                           "random", "split"]))
        if acked is not None and (how in INTACT or not reply):
            flash.unconfirmed_tid = None
        if acked is not None and how in ("cut", "flip"):
            # A block ACK's payload CRC is 0 for a residue of 0 and then goes unchecked (modems
            # send hcrc 0 too): a damaged residue can look valid. A cut one is dropped before
            # the resend (the test below).
            flash.known_defect = flash.known_defect or "a damaged block ACK"
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
def test_an_upload_over_a_damaged_line_stores_exactly_the_image_or_raises_a_typed_error(
        choices: st.DataObject) -> None:
    flash = Flash()
    port = ScriptedPort(mangled_modem(choices, flash))
    upload = StpUpload(open_link(port), BytesSource(DATA), block_cap=1024, retries=2)
    try:
        result = upload.run()
    except SqnflashError as error:
        outcome = f"stopped: {error.code}"
    else:
        outcome = "finished"
        assert result.total == len(DATA) and upload.master.offset == len(DATA)
    # Runs that meet a limit of the protocol are counted, not judged, so that this
    # test keeps judging every other kind of damage.
    event(f"not judged: {flash.known_defect}" if flash.known_defect else outcome)
    assume(not flash.known_defect)
    if outcome == "finished":
        assert bytes(flash.stored) == DATA
    else:  # stopping is allowed; having stored a damaged, repeated or skipped byte is not
        assert bytes(flash.stored) == DATA[:len(flash.stored)]


def upload_with(damage: Callable[[int, bytes], list[bytes]]) -> bytes:
    """Upload DATA to a real STP slave whose `n`-th reply goes through `damage(n, reply)`;
    returns what the slave stored."""
    slave = stp.StpSlave(8192)
    stored = bytearray()
    exchanges = 0

    def respond(data: bytes) -> list[bytes]:
        nonlocal exchanges
        exchanges += 1
        reply = b""
        for happened in slave.feed(data):
            if isinstance(happened, stp.SendReply):
                reply += happened.data
            elif isinstance(happened, stp.BlockReceived):
                stored.extend(happened.data)
                reply += slave.complete_block(len(happened.data)).data
        return damage(exchanges, reply)

    StpUpload(open_link(ScriptedPort(respond)), BytesSource(DATA), block_cap=1024,
              retries=2).run()
    return bytes(stored)


def test_a_block_whose_acks_are_lost_is_not_written_twice() -> None:
    # Exchange 12 carries the fifth block; its ACK and the repeat of that ACK are lost.
    assert upload_with(lambda n, reply: [] if n in (12, 13) else [reply]) == DATA


def test_a_cut_block_ack_does_not_make_the_modem_store_bytes_twice() -> None:
    # Exchange 6 carries the second block; its ACK is cut one byte short.
    assert upload_with(lambda n, reply: [reply[:17]] if n == 6 else [reply]) == DATA


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
