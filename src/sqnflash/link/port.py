"""Open a serial line to a modem: a device name, any pyserial URL, or an already-open port.

This is the only module that talks to pyserial. It turns pyserial's exceptions into sqnflash's
typed errors and offers the two reads the layers above need: "exactly n bytes or the deadline" (STP
frames have known sizes) and "whatever arrives first, or the deadline" (AT lines do not).
"""

from __future__ import annotations

import errno
from typing import Any, Protocol

import serial
from serial.serialutil import SerialBase, SerialException

from sqnflash.errors import BadPortUrl, PortBusy, PortLost, PortNotFound
from sqnflash.timing import REAL_CLOCK, Clock

DEFAULT_BAUD = 921600
_NOT_FOUND = {errno.ENOENT, errno.ENODEV, errno.ENXIO}
_BUSY = {errno.EBUSY, errno.EACCES, errno.EPERM, errno.EAGAIN}


class Tracer(Protocol):
    """Sees every byte that crosses the line (see `sqnflash.link.trace`)."""

    def sent(self, data: bytes) -> None: ...

    def received(self, data: bytes) -> None: ...

    def note(self, text: str) -> None: ...

    def use_clock(self, clock: Clock) -> None: ...


class Link:
    """One open serial line. Times are measured on `clock` (the simulator's, for `sim://`)."""

    def __init__(self, port: SerialBase, *, name: str, tracer: Tracer | None = None,
                 owned: bool = True) -> None:
        self.port = port
        self.name = name
        self.tracer = tracer
        self._owned = owned
        clock = getattr(port, "sim_clock", None)
        self.clock: Clock = clock if clock is not None else REAL_CLOCK
        self._timeout: float | None = port.timeout
        if tracer is not None:
            tracer.use_clock(self.clock)

    # ------------------------------------------------------------------ settings
    @property
    def baud(self) -> int:
        return int(self.port.baudrate)

    def set_baud(self, baud: int) -> None:
        if baud != self.baud:
            with self._lost_on_error():
                self.port.baudrate = baud
            if self.tracer is not None:
                self.tracer.note(f"host now at {baud} baud")

    def _set_timeout(self, seconds: float | None) -> None:
        # Reconfiguring a real port costs a system call: only when the value changes.
        if seconds != self._timeout:
            self.port.timeout = seconds
            self._timeout = seconds

    # ------------------------------------------------------------------ bytes
    def write(self, data: bytes) -> None:
        if self.tracer is not None:
            self.tracer.sent(data)
        with self._lost_on_error():
            self.port.write(data)

    def read(self, size: int, timeout_s: float | None) -> bytes:
        """Up to `size` bytes: returns once `size` arrived or `timeout_s` passed."""
        if size <= 0:
            return b""
        self._set_timeout(timeout_s)
        with self._lost_on_error():
            data = bytes(self.port.read(size))
        if data and self.tracer is not None:
            self.tracer.received(data)
        return data

    def read_some(self, timeout_s: float | None, limit: int = 65536) -> bytes:
        """Whatever has arrived, waiting at most `timeout_s` for the first byte."""
        first = self.read(1, timeout_s)
        if not first:
            return b""
        with self._lost_on_error():
            waiting = min(int(self.port.in_waiting), limit - 1)
        return first + self.read(waiting, 0) if waiting > 0 else first

    def discard_input(self) -> None:
        with self._lost_on_error():
            self.port.reset_input_buffer()

    def note(self, text: str) -> None:
        """A line for the trace only (a decision the driver took)."""
        if self.tracer is not None:
            self.tracer.note(text)

    def close(self) -> None:
        if self._owned and self.port.is_open:
            self.port.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lost_on_error(self) -> _PortGuard:
        return _PortGuard(self.name)


class _PortGuard:
    """Turns an I/O failure on an open port into PortLost (the device went away)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc is not None and isinstance(exc, (SerialException, OSError)):
            raise PortLost(f"{self.name}: {exc}") from exc


def open_link(port: str | SerialBase, *, baud: int = DEFAULT_BAUD, rtscts: bool = False,
              tracer: Tracer | None = None) -> Link:
    """Open `port` (a device name, a pyserial URL such as `socket://` or `sim://`, or an open
    pyserial object, which is used as it is and left open on close)."""
    if isinstance(port, SerialBase):
        if not port.is_open:
            port.open()
        return Link(port, name=str(port.port), tracer=tracer, owned=False)
    name = str(port).strip()
    if not name:
        raise BadPortUrl("no port given", advice="Pass --port (or set SQNFLASH_PORT).")
    kwargs: dict[str, Any] = {"baudrate": baud, "rtscts": rtscts, "timeout": 1.0}
    try:
        opened = serial.serial_for_url(name, **kwargs)
    except ValueError as exc:
        raise BadPortUrl(f"{name}: {exc}") from exc
    except SerialException as exc:
        raise _open_error(name, exc) from exc
    except OSError as exc:
        raise _open_error(name, exc) from exc
    link = Link(opened, name=name, tracer=tracer)
    link.note(f"opened {name} at {baud} baud{' with RTS/CTS' if rtscts else ''}")
    return link


def _open_error(name: str, exc: BaseException) -> Exception:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in _NOT_FOUND or "No such file" in text or "could not find" in text.lower():
        return PortNotFound(f"{name} does not exist ({text})")
    if code in _BUSY or "busy" in text.lower() or "denied" in text.lower():
        advice = None
        if code in (errno.EACCES, errno.EPERM) or "denied" in text.lower():
            advice = ("You may not open this port: on Linux add your user to the 'dialout' group "
                      "(then log in again), or close the program that holds it.")
        return PortBusy(f"{name} cannot be opened ({text})", advice=advice)
    if "://" in name:
        return BadPortUrl(f"{name}: {text}")
    return PortNotFound(f"{name} cannot be opened ({text})")
