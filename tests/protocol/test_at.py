"""AT: the reply reader (echo, line ends, URCs, noise, finals, what follows) and the parsers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqnflash.protocol import stp
from sqnflash.protocol.at import (
    Ati1,
    AtReader,
    AtResponse,
    CommandSplitter,
    Echo,
    Final,
    Info,
    LineSplitter,
    Noise,
    ReplyFormatError,
    Result,
    ShowVer,
    UpgradeReport,
    UpgradeState,
    Urc,
    command_name,
    encode_command,
    encode_reply,
    encode_urc,
    parse_ati1,
    parse_cgsn,
    parse_showver,
    parse_smod,
    parse_smswboot,
    parse_smupgrade,
)

AtEvent = Echo | Info | Urc | Noise | Final


def read(command: str | None, wire: bytes, pieces: list[int] | None = None) -> tuple[
    list[AtEvent], bytes
]:
    """Feed `wire` (cut at `pieces`, or in one go) to a reader waiting for `command`."""
    reader = AtReader()
    if command is not None:
        reader.begin(command)
    events: list[AtEvent] = []
    previous = 0
    for cut in [*(pieces or []), len(wire)]:
        events += reader.feed(wire[previous:cut])
        previous = cut
    return events, reader.take_rest()


def response_of(events: list[AtEvent]) -> AtResponse:
    """The response carried by the last event, which must be the final result."""
    last = events[-1]
    assert isinstance(last, Final)
    return last.response


def final(command: str, lines: tuple[str, ...] = (), result: Result = Result.OK,
          text: str = "") -> Final:
    return Final(AtResponse(command, lines, result, text))


# --------------------------------------------------------------------------- encoders


def test_encode_command_terminators() -> None:
    assert encode_command("AT+SMOD?") == b"AT+SMOD?\r\n"
    assert encode_command("AT+STP", "\n") == b"AT+STP\n"


def test_encode_reply_as_the_application_and_the_boot_loader_send_it() -> None:
    assert encode_reply(["2"]) == b"\r\n2\r\n\r\nOK\r\n"
    assert encode_reply([]) == b"\r\nOK\r\n"
    assert encode_reply([], "ERROR") == b"\r\nERROR\r\n"
    assert encode_reply([], leading_crlf=False) == b"OK\r\n"
    assert encode_urc("+SYSSTART") == b"\r\n+SYSSTART\r\n"


@pytest.mark.parametrize(
    ("command", "name"),
    [("AT+SMOD?", "+SMOD"), ("at+smswboot=3,1", "+SMSWBOOT"), ("AT^RESET", "^RESET"),
     ("ATI1", "I"), ('AT!="showver"', "!"), ("AT", "")],
)
def test_command_name(command: str, name: str) -> None:
    assert command_name(command) == name


# --------------------------------------------------------------------------- the reader


@pytest.mark.parametrize(
    "wire",
    [
        b"\r\n2\r\n\r\nOK\r\n",  # blank line before OK (other commands)
        b"\r\n2\r\nOK\r\n",  # as captured in FFF (docs/protocol.md §2)
        b"2\r\nOK\r\n",  # without the leading blank line
        b"\n2\n\nOK\n",  # bare LF
        b"\r2\r\rOK\r",  # bare CR
        b"AT+SMOD?\r\r\n2\r\n\r\nOK\r\n",  # echo on
        b"AT+SMOD?\r\n2\r\nOK\r\n",
        b"AT+SMOD?\n2\nOK\n",
        b"AT+SMOD?\r2\rOK\r",
    ],
)
def test_smod_reply_in_every_shape(wire: bytes) -> None:
    events, rest = read("AT+SMOD?", wire)
    expected: list[AtEvent] = [Info("2"), final("AT+SMOD?", ("2",))]
    if wire.startswith(b"AT"):
        expected.insert(0, Echo("AT+SMOD?"))
    assert events == expected
    assert rest == b""
    response = response_of(events)
    assert response.ok and parse_smod(response.lines) == 2


@pytest.mark.parametrize(
    ("wire", "result", "text", "final_line"),
    [
        (b"\r\nOK\r\n", Result.OK, "", "OK"),
        (b"\r\nERROR\r\n", Result.ERROR, "", "ERROR"),
        (b"\r\n+CME ERROR: 10\r\n", Result.CME_ERROR, "10", "+CME ERROR: 10"),
        (b"\r\n+CME ERROR: SIM not inserted\r\n", Result.CME_ERROR, "SIM not inserted",
         "+CME ERROR: SIM not inserted"),
        (b"\r\n+CMS ERROR: 500\r\n", Result.CMS_ERROR, "500", "+CMS ERROR: 500"),
        (b"\r\nNO CARRIER\r\n", Result.NO_CARRIER, "", "NO CARRIER"),
    ],
)
def test_final_result_codes(wire: bytes, result: Result, text: str, final_line: str) -> None:
    events, _ = read("AT+SMSWBOOT=0,1", wire)
    assert events == [final("AT+SMSWBOOT=0,1", (), result, text)]
    response = response_of(events)
    assert response.ok == (result == Result.OK)
    assert response.final_line == final_line


def test_urcs_between_and_inside_replies() -> None:
    wire = (
        b"\r\n+SHUTDOWN\r\n"  # before the reply starts
        b"\r\n+SMUPGRADE: on-going\r\n"
        b"\r\n+SYSSTART\r\n"  # in the middle of the reply
        b"\r\n+CEREG: 2,\"1A2B\"\r\n"  # an unknown URC
        b"^FOO: 1\r\n"
        b"\r\nOK\r\n"
    )
    events, _ = read("AT+SMUPGRADE?", wire)
    assert events == [
        Urc("+SHUTDOWN"),
        Info("+SMUPGRADE: on-going"),
        Urc("+SYSSTART"),
        Urc('+CEREG: 2,"1A2B"'),
        Urc("^FOO: 1"),
        final("AT+SMUPGRADE?", ("+SMUPGRADE: on-going",)),
    ]
    response = response_of(events)
    assert parse_smupgrade(response.lines).state == UpgradeState.ONGOING


def test_urcs_with_nothing_pending() -> None:
    events, rest = read(None, b"\r\n+SYSSTART\r\n\r\n+SHUTDOWN\r\nhello\r\n")
    assert events == [Urc("+SYSSTART"), Urc("+SHUTDOWN"), Noise(b"hello")]
    assert rest == b""


def test_noise_after_a_reboot() -> None:
    wire = b"\x00\x00\xff\xfe\x80\r\n\x00+SYSSTART\r\n\xf8\x00\xe0AT\r\r\nOK\r\n"
    events, _ = read("AT", wire)
    assert events == [
        Noise(b"\x00\x00\xff\xfe\x80"),
        Noise(b"\x00"),
        Urc("+SYSSTART"),
        Noise(b"\xf8\x00\xe0"),
        Echo("AT"),
        final("AT"),
    ]


@pytest.mark.parametrize(("command", "line"), [
    ("AT", "+SMLOG: LOG_AT"), ("AT+SMOD?", "mode AT+SMOD?"), ("ATI1", "UE5.0 ATI1"),
    ("AT", "OKAT")])
def test_a_reply_line_that_ends_with_the_command_is_not_echo(command: str, line: str) -> None:
    # A real reply (or URC) line must reach the caller even when it ends with the command text.
    events, _ = read(command, f"{command}\r\r\n{line}\r\n\r\nOK\r\n".encode())
    assert events[0] == Echo(command)
    assert Echo(line) not in events
    assert line in response_of(events).lines or Urc(line) in events


def test_noise_inside_a_line() -> None:
    events, _ = read("AT+CGSN", b"\r\n35434\x006099225475\r\n\xff\x00\xfeO\x00K\r\n")
    assert events == [
        Noise(b"\x00"),
        Info("354346099225475"),
        Noise(b"\xff\x00\xfe\x00"),
        final("AT+CGSN", ("354346099225475",)),
    ]


@pytest.mark.timeout(20)
def test_a_long_garbled_line_is_read_in_linear_time() -> None:
    # e.g. a binary crash dump: 300 KB of text with one control byte near its end
    line = b"x" * 300_000 + b"\x01" + b"y" * 10
    events, _ = read("AT", line + b"\r\nOK\r\n")
    assert events == [Noise(b"x" * 300_000 + b"\x01"), Info("y" * 10), final("AT", ("y" * 10,))]


def test_bytes_after_the_final_are_kept_for_stp() -> None:
    frame = stp.encode_reply(stp.Op.RESET, 0, 0, header_crc=False)
    events, rest = read("AT+SMSTPU", b"\r\nOK\r\n" + frame)
    assert events == [final("AT+SMSTPU")]
    assert rest == frame


@pytest.mark.parametrize("cut", range(1, len(b"\r\nOK\r\ntsaf")))
def test_bytes_after_the_final_do_not_depend_on_where_the_line_was_cut(cut: int) -> None:
    # a read that ends between the CR and the LF of "OK\r\n" must not leave the LF behind
    events, rest = read("AT+SMSTPU", b"\r\nOK\r\ntsaf", [cut])
    assert events == [final("AT+SMSTPU")]
    assert rest == b"tsaf"


def test_reader_stops_at_the_final_until_the_rest_is_taken() -> None:
    reader = AtReader()
    reader.begin("AT")
    assert reader.feed(b"\r\nOK\r\n\r\n+SYSSTART\r\n") == [final("AT")]
    assert reader.buffered == b"\r\n+SYSSTART\r\n"
    reader.begin("ATI1")
    events = reader.feed(b"\r\nUE5.0.0.0d\r\nLR5.1.1.0-36417\r\n\r\nOK\r\n")
    assert events == [
        Urc("+SYSSTART"),
        Info("UE5.0.0.0d"),
        Info("LR5.1.1.0-36417"),
        final("ATI1", ("UE5.0.0.0d", "LR5.1.1.0-36417")),
    ]


def test_cancelled_command_lets_late_lines_through_as_noise() -> None:
    reader = AtReader()
    reader.begin("AT+CGSN")
    reader.cancel()
    assert reader.pending is None
    assert reader.feed(b"\r\n354346099225475\r\n") == [Noise(b"354346099225475")]


# ---- any chunking gives the same events and the same rest

COMMANDS = ["AT", "AT+SMOD?", "ATI1", "AT+CGSN", 'AT!="showver"', "AT+SMUPGRADE?", "AT^RESET"]
EOLS = [b"\r\n", b"\n", b"\r"]
FINALS = [
    (b"OK", Result.OK, ""),
    (b"ERROR", Result.ERROR, ""),
    (b"+CME ERROR: 3", Result.CME_ERROR, "3"),
    (b"+CMS ERROR: 321", Result.CMS_ERROR, "321"),
]
_NOT_INFO = {"OK", "ERROR", "NO CARRIER", "ABORTED"}

info_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=30
).map(str.strip).filter(
    lambda s: bool(s) and s[0] not in "+^" and s.upper() not in _NOT_INFO
)
urc_text = st.tuples(
    st.sampled_from(["+SYSSTART", "+SHUTDOWN", "+CEREG", "+X", "^SYSFFH", "+SQNSUPGRADENTF"]),
    st.sampled_from(["", ": 1", ': "x",2']),
).map("".join)
noise_bytes = st.binary(min_size=1, max_size=8).map(
    lambda b: bytes(x | 0x80 if x else 0 for x in b)  # NULs and high-bit bytes only
)


@st.composite
def replies(draw: st.DrawFn) -> tuple[str, bytes, list[AtEvent], bytes]:
    """A reply and the events a correct reader must produce for it."""
    command = draw(st.sampled_from(COMMANDS))
    name = command_name(command)
    eol = st.sampled_from(EOLS)
    wire = b""
    events: list[AtEvent] = []
    lines: list[str] = []
    if draw(st.booleans()):
        wire += command.encode() + draw(eol)
        events.append(Echo(command))
    if draw(st.booleans()):
        wire += draw(eol)
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["info", "urc", "noise"]))
        if kind == "info":
            text = draw(info_text.filter(lambda s: s.upper() != command.upper()))
            events.append(Info(text))
            lines.append(text)
            wire += text.encode()
        elif kind == "urc":
            text = draw(urc_text.filter(lambda s: not s.upper().startswith(name) or not name))
            events.append(Urc(text))
            wire += text.encode()
        else:
            raw = draw(noise_bytes)
            events.append(Noise(raw))
            wire += raw
        wire += draw(eol)
        if draw(st.booleans()):
            wire += draw(eol)
    code, result, text = draw(st.sampled_from(FINALS))
    final_eol = draw(eol)
    wire += code + final_eol
    events.append(Final(AtResponse(command, tuple(lines), result, text)))
    rest = draw(st.one_of(
        st.just(b""),
        st.just(stp.encode_reply(stp.Op.RESET, 0, 0)),
        st.binary(max_size=20),
    ))
    if final_eol == b"\r" and rest.startswith(b"\n"):
        rest = b"x" + rest  # "OK\r" + "\n" is the line end "\r\n", not data after it
    return command, wire + rest, events, rest


@settings(deadline=None, max_examples=300)
@given(replies(), st.data())
def test_any_chunking_gives_the_same_events(
    case: tuple[str, bytes, list[AtEvent], bytes], data: st.DataObject
) -> None:
    command, wire, expected, rest = case
    pieces = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=len(wire) + 1)))
    assert read(command, wire) == (expected, rest)
    assert read(command, wire, pieces) == (expected, rest)


@pytest.mark.parametrize("eol", EOLS)
def test_byte_by_byte(eol: bytes) -> None:
    wire = eol.join([b"", b"AT+SMOD?", b"", b"2", b"", b"+SYSSTART", b"OK", b""]) + b"tsaf"
    one_go = read("AT+SMOD?", wire)
    assert read("AT+SMOD?", wire, list(range(len(wire)))) == one_go
    assert one_go[1] == b"tsaf"


@settings(deadline=None, max_examples=300)
@given(
    st.lists(
        st.tuples(st.sampled_from([*COMMANDS, "", "AT+X=\"\x00\""]), st.binary(max_size=60),
                  st.booleans()),
        max_size=6,
    )
)
def test_reader_never_raises(steps: list[tuple[str, bytes, bool]]) -> None:
    reader = AtReader()
    for command, data, take in steps:
        if command:
            reader.begin(command)
        events = reader.feed(data)
        assert all(isinstance(e, Echo | Info | Urc | Noise | Final) for e in events)
        assert sum(isinstance(e, Final) for e in events) <= 1
        if take:
            reader.take_rest()
        else:
            reader.cancel()


@settings(deadline=None, max_examples=200)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_line_splitter_and_command_splitter_never_raise(chunks: list[bytes]) -> None:
    lines = LineSplitter()
    commands = CommandSplitter(limit=64)
    for chunk in chunks:
        lines.feed(chunk)
        commands.feed(chunk)
        while (line := lines.next_line()) is not None:
            assert b"\r" not in line and b"\n" not in line
        while (command := commands.next_command()) is not None:
            assert command.upper().startswith("AT")


# --------------------------------------------------------------------------- modem side


def test_command_splitter_finds_commands_behind_noise() -> None:
    splitter = CommandSplitter()
    splitter.feed(b"\xff\xfeAT+SMOD?\r\nAT\r\xf0\xf1\n\r\nAT+STP\n")
    found = []
    while (command := splitter.next_command()) is not None:
        found.append(command)
    assert found == ["AT+SMOD?", "AT", "AT+STP"]


def test_command_splitter_does_not_keep_a_line_end_split_across_reads() -> None:
    splitter = CommandSplitter()
    splitter.feed(b"AT+SMSTPU\r")
    assert splitter.next_command() == "AT+SMSTPU"
    frame = stp.encode_request(stp.Op.RESET, 0, 0)
    splitter.feed(b"\n" + frame)
    assert splitter.take_rest() == frame


# --------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("lines", "mode"),
    [(["2"], 2), (["", "2"], 2), (["+SMOD: 2"], 2), (["+SMOD:4"], 4), (["0"], 0),
     ([" 3 "], 3), (["SMOD: 4"], 4), (["+smod: 1"], 1), (["4,1"], 4), (["4 (RECOVERY)"], 4),
     (["+SMOD: 3,0"], 3), (["+SYSSTART", "4"], 4)],
)
def test_parse_smod(lines: list[str], mode: int) -> None:
    assert parse_smod(lines) == mode


def test_parse_smod_from_the_wire() -> None:
    for wire in (b"\r\n2\r\nOK\r\n", b"2\r\nOK\r\n", b"\r\n+SMOD: 2\r\n\r\nOK\r\n"):
        events, _ = read("AT+SMOD?", wire)
        assert parse_smod(response_of(events).lines) == 2


@pytest.mark.parametrize("lines", [[], ["OK"], ["+SMOD"], ["+SMOD: x"], ["²"], ["+SMOD 2"],
                                   ["2.5"], ["mode 2"], ["+SMLOG: 2"]])
def test_parse_smod_refuses(lines: list[str]) -> None:
    with pytest.raises(ReplyFormatError):
        parse_smod(lines)


@pytest.mark.parametrize(
    ("lines", "name"),
    [(["+SMSWBOOT: FFF"], "FFF"), (["RECOVERY"], "RECOVERY"), (["+SMSWBOOT: 0 (FFH)"], "FFH"),
     (["+SMSWBOOT: updater"], "UPDATER"), (["junk", "boot=FFF;"], "FFF"),
     (["+SMSWBOOT: 3"], "RECOVERY"), (["+SMSWBOOT: 1,1"], "FFF"), (["0"], "FFH")],
)
def test_parse_smswboot(lines: list[str], name: str) -> None:
    assert parse_smswboot(lines) == name


def test_parse_smswboot_refuses_a_reply_without_a_name() -> None:
    with pytest.raises(ReplyFormatError):
        parse_smswboot(["+SMSWBOOT: FFFF"])


@pytest.mark.parametrize(
    ("lines", "state", "text"),
    [
        (["+SMUPGRADE: No report"], UpgradeState.NO_REPORT, "No report"),
        (["+SMUPGRADE: on-going"], UpgradeState.ONGOING, "on-going"),
        (["+SMUPGRADE: downloading"], UpgradeState.ONGOING, "downloading"),
        (["+SMUPGRADE: success"], UpgradeState.SUCCESS, "success"),
        (["+SMUPGRADE: fail"], UpgradeState.FAIL, "fail"),
        (["+SMUPGRADE: failure"], UpgradeState.FAIL, "failure"),
        ([], UpgradeState.NONE, ""),  # nothing: still rebooting
        ([""], UpgradeState.NONE, ""),
        (["+SMUPGRADE:"], UpgradeState.NONE, ""),
        (["\x00"], UpgradeState.NONE, ""),  # Pycom: a NUL means the modem is still rebooting
        (["+SMUPGRADE: \x00"], UpgradeState.NONE, ""),
        (["\x00\x00", "+SMUPGRADE: success"], UpgradeState.SUCCESS, "success"),
    ],
)
def test_parse_smupgrade(lines: list[str], state: UpgradeState, text: str) -> None:
    assert parse_smupgrade(lines) == UpgradeReport(state, text)


SHOWVER_33080 = b"""\r
SYSTEM VERSION\r
==============\r
  FIRMWARE VERSION\r
    Bootloader0* : 5.1.1.0 [33080]\r
    Bootloader1  : NA\r
    Bootloader2  : NA\r
    NV Info      : 1.1,0,0\r
    Software     : 5.1.1.0 [33080] by robot-soft at 2017-10-27 07:49:11\r
    UE           : Unknown\r
  COMPONENTS\r
    ZSP0         : 1.0.98-12323\r
    ZSP1         : 1.0.98-12295\r
\r
OK\r
"""

SHOWVER_41019 = b"""\r
SYSTEM VERSION\r
==============\r
  FIRMWARE VERSION\r
    Bootloader0  : 5.1.1.0 [41065]\r
    Bootloader1* : 6.0.0.0 [41019]\r
    Bootloader2  : 5.1.1.0 [41065]\r
    NV Info      : 1.1,0,0\r
    Software     : 6.0.0.0 [41019] by robot-soft at 2018-12-13 21:41:15\r
    UE           : 6.0.0.0\r
  COMPONENTS\r
    ZSP0         : 1.0.99-3171\r
    ZSP1         : 1.0.98-3170\r
\r
OK\r
"""


def showver(wire: bytes) -> ShowVer:
    events, _ = read('AT!="showver"', wire)
    response = response_of(events)
    assert response.ok
    return parse_showver(response.lines)


def test_parse_showver_factory_table() -> None:
    table = showver(SHOWVER_33080)
    assert table.bootrom_build == 33080
    assert table.software_build == 33080
    assert table.software_version == "5.1.1.0"
    assert table.ue == "Unknown"
    boot0 = table.get("Bootloader0")
    assert boot0 is not None and boot0.active and boot0.value == "5.1.1.0 [33080]"
    boot1 = table.get("bootloader1")
    assert boot1 is not None and not boot1.active and boot1.build is None
    assert boot1.version is None
    nv = table.get("NV Info")
    assert nv is not None and nv.value == "1.1,0,0"
    software = table.get("Software")
    assert software is not None
    assert software.value == "5.1.1.0 [33080] by robot-soft at 2017-10-27 07:49:11"
    zsp0 = table.get("ZSP0")
    assert zsp0 is not None and zsp0.value == "1.0.98-12323"
    assert [e.name for e in table.entries] == [
        "Bootloader0", "Bootloader1", "Bootloader2", "NV Info", "Software", "UE", "ZSP0", "ZSP1"
    ]
    assert [e.name for e in table.entries if e.active] == ["Bootloader0"]


def test_parse_showver_newer_table() -> None:
    table = showver(SHOWVER_41019)
    assert table.bootrom_build == 41065
    assert table.software_build == 41019
    assert table.software_version == "6.0.0.0"
    assert table.ue == "6.0.0.0"
    assert [e.name for e in table.entries if e.active] == ["Bootloader1"]
    boot1 = table.get("Bootloader1")
    assert boot1 is not None and (boot1.version, boot1.build) == ("6.0.0.0", 41019)


def test_parse_showver_refuses_a_reply_without_entries() -> None:
    with pytest.raises(ReplyFormatError):
        parse_showver(["SYSTEM VERSION", "=============="])


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["UE5.0.0.0d", "LR5.1.1.0-36417"], Ati1("5.0.0.0d", "5.1.1.0", 36417)),
        (["UE6.0.0.0-ER7", "LR6.0.0.0-35351"], Ati1("6.0.0.0-ER7", "6.0.0.0", 35351)),
        (["LR5.1.1.0-33080"], Ati1(None, "5.1.1.0", 33080)),
        (["UE8.0.5.13"], Ati1("8.0.5.13", None, None)),
        (["LR5.1.1.0"], Ati1(None, "5.1.1.0", None)),
    ],
)
def test_parse_ati1(lines: list[str], expected: Ati1) -> None:
    assert parse_ati1(lines) == expected


def test_parse_ati1_from_the_wire() -> None:
    events, _ = read("ATI1", b"ATI1\r\r\nUE5.0.0.0d\r\nLR5.1.1.0-36417\r\n\r\nOK\r\n")
    assert parse_ati1(response_of(events).lines) == Ati1("5.0.0.0d", "5.1.1.0", 36417)


def test_parse_ati1_refuses_other_text() -> None:
    with pytest.raises(ReplyFormatError):
        parse_ati1(["SEQUANS Communications"])


@pytest.mark.parametrize(
    "lines",
    [["354346099225475"], ['+CGSN: "354346099225475"'], ["+CGSN: 354346099225475"],
     ["", "354346099225475"]],
)
def test_parse_cgsn(lines: list[str]) -> None:
    assert parse_cgsn(lines) == "354346099225475"


@pytest.mark.parametrize("lines", [[], ["ERROR"], ["12345"], ["35434609922547X"],
                                   ["３５４３４６０９９２２５４７５"]])
def test_parse_cgsn_refuses(lines: list[str]) -> None:
    with pytest.raises(ReplyFormatError):
        parse_cgsn(lines)


PARSERS = [parse_smod, parse_smswboot, parse_smupgrade, parse_showver, parse_ati1, parse_cgsn]


@settings(deadline=None, max_examples=300)
@given(st.lists(st.text(max_size=40), max_size=6))
def test_parsers_raise_only_reply_format_error(lines: list[str]) -> None:
    for parser in PARSERS:
        with contextlib.suppress(ReplyFormatError):
            parser(lines)


@settings(deadline=None, max_examples=300)
@given(st.lists(st.one_of(
    st.text(max_size=40),
    st.sampled_from(["+SMOD", "+SMOD: ", "+CGSN:", "LR", "LR-", "UE", "Software :", "*:", ":",
                     "+SMUPGRADE", "²", "LR5.1-٣"]),
), max_size=6))
def test_parsers_raise_only_reply_format_error_on_near_misses(lines: list[str]) -> None:
    for parser in PARSERS:
        with contextlib.suppress(ReplyFormatError):
            parser(lines)
