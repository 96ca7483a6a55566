"""Options shared by the commands that talk to a modem, and how they open it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from sqnflash.board import BoardInfo
from sqnflash.events import EventSink
from sqnflash.link import WireTrace
from sqnflash.modem import APP_BAUD, Modem, ModemInfo
from sqnflash.timing import REAL_CLOCK
from sqnflash.upgrade.bridge import inspect_board, modem_session

F = TypeVar("F", bound=Callable[..., Any])


def port_options(func: F) -> F:
    """--port, --baud, --rtscts, --trace, --trace-file, --json."""
    decorators = [
        click.option("--port", "-p", envvar="SQNFLASH_PORT", required=True,
                     help="Serial port or pyserial URL (/dev/ttyUSB0, COM5, socket://host:port, "
                          "rfc2217://host:port, sim://...). Default: $SQNFLASH_PORT."),
        click.option("--baud", "-b", type=int, default=APP_BAUD, show_default=True,
                     envvar="SQNFLASH_BAUD",
                     help="Baud rate to start at (the modem is also tried at 921600 and 115200)."),
        click.option("--rtscts", is_flag=True, help="Use RTS/CTS hardware flow control."),
        click.option("--trace", is_flag=True,
                     help="Print every AT line and STP frame with timestamps to stderr."),
        click.option("--trace-file", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write the wire trace to this file instead of stderr."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print one JSON object per line (events, then the result)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


BOARDS = ("pycom",)


def board_option(func: F) -> F:
    """--board: the modem sits behind a Pycom board, reached through its REPL and bridge."""
    return click.option(
        "--board", type=click.Choice(BOARDS), envvar="SQNFLASH_BOARD",
        help="The port is a Pycom GPy/FiPy/G01's USB port: sqnflash checks the board's firmware, "
             "then has the board bridge its modem (sqnsupgrade.uart) and talks to the modem "
             "through it. Default: $SQNFLASH_BOARD.")(func)


@contextlib.contextmanager
def wire_trace(trace: bool, trace_file: Path | None) -> Iterator[WireTrace | None]:
    """The tracer --trace / --trace-file ask for (None without them), closed at the end."""
    with contextlib.ExitStack() as stack:
        stream: TextIO | None = None
        if trace_file is not None:
            stream = stack.enter_context(trace_file.open("w", encoding="utf-8"))
        elif trace:
            stream = sys.stderr
        if stream is None:
            yield None
            return
        tracer = WireTrace(stream, REAL_CLOCK)
        stack.callback(tracer.close)
        yield tracer


@contextlib.contextmanager
def open_modem(port: str, baud: int, rtscts: bool, trace: bool, trace_file: Path | None,
               emit: EventSink, *, board: str | None = None,
               check: Callable[[ModemInfo], object] | None = None) -> Iterator[Modem]:
    """The modem on `port`; with `board`, the modem behind that board's bridge, after `check`
    accepted what the modem reported through the board (nothing is bridged if it raises)."""
    with wire_trace(trace, trace_file) as tracer, modem_session(
            port, baud=baud, rtscts=rtscts, tracer=tracer, emit=emit, board=board,
            check=check) as modem:
        yield modem


def inspect_board_modem(port: str, trace: bool, trace_file: Path | None, emit: EventSink
                        ) -> tuple[BoardInfo | None, ModemInfo]:
    """A Pycom board and its modem, read through the board's REPL: no bridge is started (a board
    found bridging already is read through its bridge, and is None)."""
    with wire_trace(trace, trace_file) as tracer:
        return inspect_board(port, tracer=tracer, emit=emit)
