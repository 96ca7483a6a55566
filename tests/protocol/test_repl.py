"""MicroPython raw REPL framing: hand-written board transcripts; both ends against each other."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sqnflash.protocol import repl

# What a board sends when the host interrupts a running main.py and enters raw REPL, then runs
# `print(1)` and `foo` (written from MicroPython's pyexec.c behaviour, not from our simulator).
INTERRUPTED = (b"Traceback (most recent call last):\r\n  File \"main.py\", line 4, in <module>\r\n"
               b"KeyboardInterrupt: \r\n>>> \r\n>>> ")
RUN_PRINT = b"OK1\r\n\x04\x04>"
RUN_NAME_ERROR = (b"OK\x04Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in "
                  b"<module>\r\nNameError: name 'foo' isn't defined\r\n\x04>")
SEED = ("Traceback (most recent call last):\r\n  File \"<stdin>\", line 1, in <module>\r\n"
        "AttributeError: 'module' object has no attribute 'uart'\r\n")


def test_client_skips_what_precedes_the_banner_then_reads_a_run() -> None:
    client = repl.RawReplClient()
    events = client.feed(INTERRUPTED + repl.RAW_READY)
    assert events == [repl.RawReady()]
    client.submitted()
    events = client.feed(RUN_PRINT)
    assert events[0] == repl.ExecAccepted()
    assert events[-1] == repl.ExecDone("1\n", "")


def test_a_traceback_is_the_error_part_and_parses_to_the_exception() -> None:
    client = repl.RawReplClient()
    client.feed(repl.RAW_READY)
    client.submitted()
    done = client.feed(RUN_NAME_ERROR)[-1]
    assert isinstance(done, repl.ExecDone) and not done.ok
    assert done.exception is not None
    assert (done.exception.name, done.exception.message) == ("NameError",
                                                             "name 'foo' isn't defined")


def test_the_seed_threads_traceback_names_the_missing_attribute() -> None:
    exc = repl.parse_exception(SEED)
    assert exc.name == "AttributeError"
    assert exc.message == "'module' object has no attribute 'uart'"


def test_the_run_is_over_only_at_the_next_prompt() -> None:
    client = repl.RawReplClient()
    client.feed(repl.RAW_READY)
    client.submitted()
    assert not any(isinstance(e, repl.ExecDone) for e in client.feed(b"OK1\r\n\x04\x04"))
    with pytest.raises(RuntimeError):
        client.submitted()  # the board has not prompted yet
    assert isinstance(client.feed(b">")[-1], repl.ExecDone)
    client.submitted()


@pytest.mark.parametrize("code", ["", "  \n", "print(1)\x04", "a\x01b"])
def test_code_that_would_break_the_framing_is_refused(code: str) -> None:
    with pytest.raises(ValueError):
        repl.encode_exec(code)


def test_friendly_repl_lines_echo_and_control_keys() -> None:
    server = repl.RawReplServer()
    events = server.feed(b"impx\x7fort os\r\nx\x03\x04\x01")
    assert events == [repl.Typed("impx"), repl.Erase(), repl.Typed("ort os"),
                      repl.Line("import os"), repl.Typed("x"), repl.Interrupt(),
                      repl.SoftReset(), repl.EnterRaw()]
    assert server.raw


code_text = st.text(st.characters(min_codepoint=0x0A, max_codepoint=0x7E,
                                  blacklist_characters="\r"), min_size=1).filter(str.strip)
output_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E).filter(
    lambda c: c != ">"), max_size=200)


@given(code=code_text, out=output_text, err=output_text,
       cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=8))
def test_server_and_client_agree_over_any_chunking(code: str, out: str, err: str,
                                                   cuts: list[int]) -> None:
    server = repl.RawReplServer()
    assert server.feed(repl.ENTER_RAW)[-1] == repl.EnterRaw()
    assert server.feed(repl.encode_exec(code)) == [repl.Execute(code)]
    client = repl.RawReplClient()
    assert client.feed(repl.RAW_READY) == [repl.RawReady()]
    client.submitted()
    board = repl.EXEC_ACCEPTED + out.encode() + repl.CTRL_D + err.encode() + repl.CTRL_D \
        + repl.RAW_PROMPT
    events: list[repl.ClientEvent] = []
    start = 0
    for cut in [*sorted(cuts), len(board)]:
        events += client.feed(board[start:cut])
        start = max(start, cut)
    assert events[0] == repl.ExecAccepted()
    assert events[-1] == repl.ExecDone(out, err)
    assert "".join(e.text for e in events if isinstance(e, repl.Output)) == out
    assert client.state == repl.ClientState.READY


def test_raw_repl_runs_code_soft_resets_on_an_empty_line_and_leaves_with_ctrl_b() -> None:
    server = repl.RawReplServer()
    events = server.feed(b"\x01x = 1\r\nprint(x)\x04\x04\x03abc\x02ok\r")
    assert events == [repl.EnterRaw(), repl.Execute("x = 1\r\nprint(x)"), repl.SoftReset(),
                      repl.Interrupt(), repl.ExitRaw(), repl.Typed("ok"), repl.Line("ok")]
    assert not server.raw


def _merged(events: list[repl.ServerEvent]) -> list[repl.ServerEvent]:
    """Echoed text as one run between two other events, however it was cut."""
    out: list[repl.ServerEvent] = []
    for event in events:
        if isinstance(event, repl.Typed) and out and isinstance(out[-1], repl.Typed):
            out[-1] = repl.Typed(out[-1].text + event.text)
        else:
            out.append(event)
    return out


keys = st.lists(st.sampled_from([b"a", b"b", b" ", b"\t", b"\r", b"\n", b"\x08", b"\x7f",
                                 b"\x01", b"\x02", b"\x03", b"\x04", b"\x1b"]), max_size=60)


@given(typed=keys, cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_the_board_side_reads_the_same_keys_however_they_are_cut(typed: list[bytes],
                                                                 cuts: list[int]) -> None:
    data = b"".join(typed)
    whole = repl.RawReplServer()
    expected = _merged(whole.feed(data))
    cut = repl.RawReplServer()
    events: list[repl.ServerEvent] = []
    start = 0
    for end in [*sorted(cuts), len(data)]:
        events += cut.feed(data[start:end])
        start = max(start, end)
    assert _merged(events) == expected
    assert cut.raw == whole.raw
