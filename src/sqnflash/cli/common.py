"""Options shared by the commands that talk to a modem, and how they open it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from sqnflash.events import EventSink
from sqnflash.link import WireTrace
from sqnflash.modem import APP_BAUD, Modem
from sqnflash.timing import REAL_CLOCK

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


@contextlib.contextmanager
def open_modem(port: str, baud: int, rtscts: bool, trace: bool, trace_file: Path | None,
               emit: EventSink) -> Iterator[Modem]:
    stream: TextIO | None = None
    tracer: WireTrace | None = None
    with contextlib.ExitStack() as stack:
        if trace_file is not None:
            stream = stack.enter_context(trace_file.open("w", encoding="utf-8"))
        elif trace:
            stream = sys.stderr
        if stream is not None:
            tracer = WireTrace(stream, REAL_CLOCK)
        modem = Modem.open(port, baud=baud, rtscts=rtscts, tracer=tracer, emit=emit)
        stack.callback(modem.close)
        if tracer is not None:
            stack.callback(tracer.close)
        yield modem
