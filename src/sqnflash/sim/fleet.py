"""Several simulated modems, each on its own pseudo-terminal, served at once (`sqnflash sim
--pty --count N`): a station's worth of modems for trying multi-port upgrades without hardware."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from sqnflash.sim.pty_server import PtyServer

JOIN_POLL_S = 0.2  # the main thread wakes this often, so that a signal is handled at once


def imei_with_check_digit(body: str) -> str:
    """A 14-digit IMEI body and its Luhn check digit, as a modem reports it."""
    total = 0
    for index, char in enumerate(body):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return body + str((10 - total % 10) % 10)


def fleet_imeis(count: int, first: str | None = None) -> list[str]:
    """`count` distinct IMEIs: from `first` on (its first 14 digits counted up), else from a
    fixed test range."""
    start = int((first or "35434609000000")[:14])
    return [imei_with_check_digit(f"{start + n:014d}") for n in range(count)]


def serve_fleet(servers: Sequence[PtyServer], on_ready: Callable[[PtyServer], None]) -> None:
    """Announce every server, serve them all (one thread each) until SIGTERM or Ctrl-C, then
    close them. Every pty accepts bytes before its READY line is printed."""
    for server in servers:
        on_ready(server)

    def handler(signum: int, frame: FrameType | None) -> None:
        for server in servers:
            server.stop()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    threads = [threading.Thread(target=server.serve, name=f"pty {server.device}", daemon=True)
               for server in servers]
    try:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(JOIN_POLL_S)
    finally:
        handler(0, None)
        for thread in threads:
            thread.join()
        for sig, previous in old.items():
            signal.signal(sig, previous)
        for server in servers:
            server.close()
