"""Serial ports whose other end is a Python function: the modem's replies are scripted, reads wait
on a virtual clock, so a test controls every byte and every split without a simulator."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from serial.serialutil import SerialBase

from sqnflash.timing import VirtualClock

Responder = Callable[[bytes], list[bytes]]  # what the "modem" sends back for what it received


class ScriptedPort(SerialBase):  # type: ignore[misc]  # pyserial ships no type hints
    """A serial port whose other end is `respond`; each read takes from at most one arrival, so a
    responder that returns several chunks decides how the client's reads are split."""

    def __init__(self, respond: Responder, *, baudrate: int = 921600,
                 timeout: float | None = None) -> None:
        self.sim_clock = VirtualClock()
        self.respond = respond
        self.arrivals: deque[bytes] = deque()
        self.sent = bytearray()  # everything the client wrote, in order
        super().__init__(baudrate=baudrate, timeout=timeout)
        self.port = "scripted"
        self.is_open = True

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
        self.sent += data
        self.arrivals.extend(chunk for chunk in self.respond(bytes(data)) if chunk)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if not self.arrivals:
            # Nothing will ever arrive unasked: the read times out, on the virtual clock.
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


def per_line(answer: Callable[[str], bytes]) -> Responder:
    """Answer each complete command line (ended by CR or LF) with `answer(line)`; the host may
    write a line in any number of pieces."""
    inbox = bytearray()

    def respond(data: bytes) -> list[bytes]:
        inbox.extend(data)
        out: list[bytes] = []
        while (end := inbox.find(b"\n")) >= 0 or (end := inbox.find(b"\r")) >= 0:
            line = inbox[:end].decode(errors="replace").strip()
            del inbox[: end + 1]
            if line:
                out.append(answer(line))
        return out

    return respond
