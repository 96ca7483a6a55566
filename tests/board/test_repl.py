"""The raw REPL client and the board's self-description, against the simulated Pycom boards on
sim:// (virtual time)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import serial

from sqnflash.board import PycomBoard, RawRepl
from sqnflash.board.releases import Release, ReleaseError
from sqnflash.errors import BoardNoRepl, BoardRemoteError
from sqnflash.events import Event, Note
from sqnflash.link import Link, open_link


@pytest.fixture
def links() -> Iterator[list[Link]]:
    opened: list[Link] = []
    yield opened
    for link in opened:
        link.close()


def board_link(links: list[Link], settings: str) -> Link:
    port = serial.serial_for_url(f"sim://?clock=virtual&{settings}", baudrate=115200)
    links.append(open_link(port, baud=115200))
    return links[-1]


def test_statements_keep_their_state_and_return_their_output(links: list[Link]) -> None:
    raw = RawRepl(board_link(links, "board=fipy"))
    raw.enter()
    quiet = raw.run("x = 'forty-two'\n")
    assert quiet.ok and quiet.stdout == "" and quiet.exception is None
    assert raw.run_checked("print(x)\nprint(x, 1)\n") == "forty-two\nforty-two 1\n"


def test_an_exception_on_the_board_is_a_typed_error_with_its_traceback(
        links: list[Link]) -> None:
    raw = RawRepl(board_link(links, "board=fipy"))
    raw.enter()
    with pytest.raises(BoardRemoteError) as caught:
        raw.run_checked("import os\nimport nosuch\n")
    assert "ImportError" in caught.value.cause and "import nosuch" in caught.value.cause
    assert "no module named 'nosuch'" in caught.value.details["traceback"]
    assert raw.run_checked("print('still here')\n") == "still here\n"  # the REPL carries on


def test_a_port_without_a_board_is_board_no_repl_saying_what_it_heard(
        links: list[Link]) -> None:
    raw = RawRepl(board_link(links, "mode=ffh"))  # a bare modem's boot loader, no MicroPython
    with pytest.raises(BoardNoRepl) as caught:
        raw.enter()
    assert caught.value.code == "SQF-E601"
    assert "no MicroPython raw REPL" in caught.value.cause and "115200 baud" in caught.value.cause
    assert not raw.active


def test_leaving_returns_to_the_prompt_and_the_repl_can_be_entered_again(
        links: list[Link]) -> None:
    raw = RawRepl(board_link(links, "board=gpy"))
    raw.enter()
    raw.run("y = 'one'\n")
    raw.leave()
    assert not raw.active
    raw.enter()
    assert raw.active and raw.run_checked("print(y)\n") == "one\n"


@pytest.mark.parametrize(("settings", "kind", "release", "module"), [
    ("board=fipy&release=1.18.1.r4", "fipy", "1.18.1.r4", "1.2.0"),
    ("board=gpy&release=1.20.2.r4", "gpy", "1.20.2.r4", "1.2.6"),
])
def test_a_board_describes_its_firmware_and_its_sqnsupgrade(
        links: list[Link], settings: str, kind: str, release: str, module: str) -> None:
    events: list[Event] = []
    board = PycomBoard(board_link(links, settings), emit=events.append)
    info = board.identify()
    assert (info.kind, info.release, info.has_uart) == (kind, release, True)
    assert info.module is not None and info.module.version == module
    assert info.to_dict()["sqnsupgrade"] == module
    notes = [e.text for e in events if isinstance(e, Note)]
    assert notes == [f"board: {info.machine}, firmware {release}, sqnsupgrade {module}"]


def test_releases_order_as_pycom_numbered_them() -> None:
    ordered = ["1.18.1.r4", "1.20.0.b1", "1.20.0.rc13", "1.20.0", "1.20.0.r1", "1.20.2.r4"]
    parsed = [Release.parse(text) for text in ordered]
    assert sorted(reversed(parsed)) == parsed
    assert [str(r) for r in parsed] == ordered
    with pytest.raises(ReleaseError):
        Release.parse("one.twenty")
