"""Following a `sqnsupgrade.uart()` that a run cut short left going: its lines are said once and
whole however the port splits them, and it ends bridged or given up, never interrupted."""

from __future__ import annotations

from sqnflash.board import BRIDGE_BAUD, REPL_BAUD, PycomBoard
from sqnflash.events import Event, Note
from sqnflash.link import open_link
from sqnflash.protocol import repl
from tests.support.ports import ScriptedPort


def board_saying(*chunks: bytes) -> tuple[ScriptedPort, PycomBoard, list[Event]]:
    """A board whose uart() prints `chunks` (one read each) once anything is written to it."""
    port = ScriptedPort(lambda data: list(chunks), baudrate=REPL_BAUD, timeout=0.1)
    events: list[Event] = []
    return port, PycomBoard(open_link(port, baud=REPL_BAUD), emit=events.append), events


def board_lines(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Note) and e.text.startswith("board: ")]


def test_a_running_uart_is_followed_to_its_bridge_line_by_line() -> None:
    port, board, events = board_saying(
        b"SQN3330 firmware updater\r\n", b"Attempting AT auto-negotiation...\r\nSucc",
        b"ess!\r\nGoing into MIRROR mode... please close this terminal\r\n")
    assert board.is_idle() is None  # uart() recognised: not to be interrupted
    assert board.await_running_bridge()
    assert board_lines(events) == [
        "board: SQN3330 firmware updater", "board: Attempting AT auto-negotiation...",
        "board: Success!", "board: Going into MIRROR mode... please close this terminal"]
    assert board.bridged and not board.bridge_running and board.link.baud == BRIDGE_BAUD
    assert port.sent == repl.LEAVE_RAW  # Ctrl-B alone: no Ctrl-C ever went out
    board.close()
    assert port.sent == repl.LEAVE_RAW  # nor anything at the end, once it bridges


def test_a_running_uart_that_gives_up_leaves_the_board_to_its_repl() -> None:
    _port, board, events = board_saying(
        b"SQN3330 firmware updater\r\n", b"Could not detect your modem!\r\n")
    assert board.is_idle() is None
    assert not board.await_running_bridge()
    assert not board.bridged and not board.bridge_running and board.link.baud == REPL_BAUD
    assert board_lines(events)[-1] == "board: Could not detect your modem!"
