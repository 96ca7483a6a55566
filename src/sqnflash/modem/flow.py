"""Hardware flow control and the rate of a Monarch 2 line.

A GM02S writes its flash while the image streams in; above 115200 baud its UART's receive FIFO
fills faster than the modem drains it during a flash write, and only RTS/CTS (the modem drops
RTS, the host's CTS, until it has caught up) keeps bytes from being lost. Both published
Monarch 2 clients (Walter, the AVR-IoT bridge) and Sequans' own STP script open the port with
RTS/CTS; Sequans' script is also the one that moves the line to a faster rate. So a Monarch 2
line is sped up only with RTS/CTS on, and stays at its rate otherwise, saying why.
"""

from __future__ import annotations

UNTHROTTLED_BAUD = 115200  # the fastest rate a modem drains while it writes flash


def held_at_rate(baud: int, rtscts: bool, monarch2: bool) -> str | None:
    """Why a line at `baud` must not be moved above it now (None: it may be)."""
    if not monarch2 or rtscts or baud > UNTHROTTLED_BAUD:
        return None
    return (f"the transfer stays at {baud} baud: without RTS/CTS a Monarch 2 loses bytes "
            f"above {UNTHROTTLED_BAUD} while it writes its flash (--rtscts, with RTS/CTS wired, "
            "lifts this)")
