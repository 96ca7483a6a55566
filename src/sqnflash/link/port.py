"""Open a serial line to a modem: a device name, any pyserial URL, or an already-open port.

This is the only module that talks to pyserial. It turns pyserial's exceptions into sqnflash's
typed errors and offers the two reads the layers above need: "exactly n bytes or the deadline" (STP
frames have known sizes) and "whatever arrives first, or the deadline" (AT lines do not).

Every call into an open port can fail once the device is gone (a pulled USB adapter, a pty whose
other end died): pyserial then raises SerialException, OSError or, from its termios calls
(`reset_input_buffer`, a timeout or baud change), `termios.error`, which is neither. All of them
become PortLost here, so no layer above ever sees an untyped I/O error.

A port opened by name is locked for this process first (see link/lock.py): a second run on the
same device stops with PortBusy before it has opened the device, let alone sent a byte.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import serial
from serial.serialutil import SerialBase, SerialException

from sqnflash.errors import (
    BadPortUrl,
    LockFailed,
    ModemBusy,
    PortBusy,
    PortLost,
    PortNotFound,
)
from sqnflash.link.lock import LockHeld, OwnerLock, lock_path, port_key, state_dir
from sqnflash.timing import REAL_CLOCK, Clock

if sys.platform == "win32":
    _IO_ERRORS: tuple[type[BaseException], ...] = (SerialException, OSError)
else:
    import termios

    _IO_ERRORS = (SerialException, OSError, termios.error)

DEFAULT_BAUD = 921600
MONARCH2_FAMILY = "Monarch 2"  # ModemInfo.family of a GM02S
_NOT_FOUND = {errno.ENOENT, errno.ENODEV, errno.ENXIO}
_BUSY = {errno.EBUSY, errno.EACCES, errno.EPERM, errno.EAGAIN}


SIM_HANDLER_PACKAGE = "sqnflash.sim"  # holds `protocol_sim`, pyserial's module for `sim://`


def register_sim_url() -> None:
    """Let pyserial open `sim://` URLs (a simulated modem), in this process, from now on.

    pyserial looks URL schemes up in `serial.protocol_handler_packages`, a process-wide list:
    it is extended here, when a port is about to be opened, and not as a side effect of importing
    sqnflash. Importing `sqnflash.link` calls this, so outside code that wants
    `serial.serial_for_url("sim://...")` imports `sqnflash.link` first."""
    if SIM_HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(SIM_HANDLER_PACKAGE)


@runtime_checkable
class ClockedPort(Protocol):
    """A port whose other end keeps its own time (the simulator's `sim://` port, which may run on
    a virtual clock): the link measures its deadlines on that clock, not on the real one."""

    @property
    def sim_clock(self) -> Clock | None: ...


class Tracer(Protocol):
    """Sees every byte that crosses the line (see `sqnflash.link.trace`)."""

    def sent(self, data: bytes) -> None: ...

    def received(self, data: bytes) -> None: ...

    def note(self, text: str) -> None: ...

    def use_clock(self, clock: Clock) -> None: ...

    def line_changed(self, baud: int) -> None: ...


class Link:
    """One open serial line. Times are measured on `clock` (the simulator's, for `sim://`)."""

    def __init__(self, port: SerialBase, *, name: str, tracer: Tracer | None = None,
                 owned: bool = True, lock: OwnerLock | None = None,
                 flow_control_auto: bool = False, max_baud: int | None = None) -> None:
        """`flow_control_auto`: RTS/CTS follows the modem's family once it is known (the user
        gave no flag). `max_baud`: the fastest rate the adapter behind the port carries, where
        that is known (a port that says so itself is believed first)."""
        self.port = port
        self.name = name
        self.tracer = tracer
        self._owned = owned
        self._locks = [lock] if lock is not None else []
        self.lost = False  # an I/O call failed: the device is gone
        self.notices: list[str] = []  # for the user, said by whoever reports for this link
        clock = port.sim_clock if isinstance(port, ClockedPort) else None
        self.clock: Clock = clock if clock is not None else REAL_CLOCK
        self._timeout: float | None = port.timeout
        said: int | None = getattr(port, "max_baud", None)
        self.max_baud = said if said is not None else max_baud
        self.flow_control_auto = flow_control_auto
        if tracer is not None:
            tracer.use_clock(self.clock)
            tracer.line_changed(self.baud)

    # ------------------------------------------------------------------ settings
    @property
    def baud(self) -> int:
        return int(self.port.baudrate)

    def set_baud(self, baud: int) -> None:
        if baud != self.baud:
            with self._lost_on_error():
                self.port.baudrate = baud
            if self.tracer is not None:
                self.tracer.line_changed(baud)

    @property
    def rtscts(self) -> bool:
        """Whether the port uses RTS/CTS hardware flow control now."""
        return bool(getattr(self.port, "rtscts", False))

    def set_rtscts(self, on: bool, why: str) -> None:
        """Switch RTS/CTS on an open port (pyserial applies `rtscts` at once when set while
        open); `why` goes to the trace."""
        if on == self.rtscts:
            return
        with self._lost_on_error():
            self.port.rtscts = on
        self.note(f"RTS/CTS {'on' if on else 'off'}: {why}")

    def flow_control_for(self, family: str | None) -> str | None:
        """With no --rtscts/--no-rtscts given, RTS/CTS follows the modem's family as soon as it
        is known: on for a Monarch 2 (both of its published clients and Sequans' own script
        open the port with RTS/CTS), off for a Monarch 1 (a USB adapter wired to a Pycom
        modem's UART pins often leaves RTS/CTS unconnected). Returns what was switched, for
        the user, or None."""
        if not self.flow_control_auto or family is None:
            return None
        on = family == MONARCH2_FAMILY
        if on == self.rtscts:
            return None
        self.set_rtscts(on, family)
        if on:
            return (f"RTS/CTS on: {family} (its published clients use hardware flow control; "
                    "--no-rtscts turns it off)")
        return f"RTS/CTS off: {family} (--rtscts keeps it on)"

    def keep_flow_control(self) -> None:
        """RTS/CTS stays as it is now for the rest of the run, whatever the modem's family
        (the wiring was found not to carry it)."""
        self.flow_control_auto = False

    def carries(self, baud: int) -> bool:
        """Whether the port can be set to `baud` (within the adapter's known limit, and its
        driver takes the rate); the port's rate is left as it was."""
        if self.max_baud is not None and baud > self.max_baud:
            return False
        old = self.baud
        try:
            self.port.baudrate = baud
        except (ValueError, *_IO_ERRORS):
            return False
        finally:
            with contextlib.suppress(ValueError, *_IO_ERRORS):
                self.port.baudrate = old
        return True

    def _set_timeout(self, seconds: float | None) -> None:
        # Reconfiguring a real port costs a system call: only when the value changes.
        if seconds != self._timeout:
            with self._lost_on_error():
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

    def discard_output(self) -> None:
        """Drop what was written and has not left the port (held back by flow control)."""
        with self._lost_on_error():
            self.port.reset_output_buffer()

    def discard_input(self) -> None:
        with self._lost_on_error():
            self.port.reset_input_buffer()

    def note(self, text: str) -> None:
        """A line for the trace only (a decision the driver took)."""
        if self.tracer is not None:
            self.tracer.note(text)

    def claim_modem(self, imei: str) -> None:
        """Lock the modem itself, by IMEI, for as long as this link is open: the same modem may
        be reachable through two ports (a board's USB port and a direct adapter). Only links
        that locked their port take part (not `sim://`, not a port handed in already open)."""
        if not self._locks or not imei:
            return
        folder = self._locks[0].path.parent
        path = lock_path(folder, "imei", imei)
        if any(lock.path == path for lock in self._locks):
            return
        try:
            lock = OwnerLock.acquire(path, port=self.name)
        except LockHeld as held:
            through = f" through {held.holder.port}" if held.holder.port else ""
            raise ModemBusy(f"the modem with IMEI {imei} is in use{through} by "
                            f"{held.holder.describe()}",
                            modem_state="in use by the other run; this one changed nothing"
                            ) from held
        except OSError as exc:
            raise LockFailed(f"cannot lock the modem {imei} in {folder}: {exc}") from exc
        self._note_takeover(lock, f"the modem {imei}")
        self._locks.append(lock)

    def _note_takeover(self, lock: OwnerLock, what: str) -> None:
        previous = lock.previous
        if previous is None or previous.pid is None:
            return
        why = ("which no longer holds it" if previous.alive
               else "which no longer runs: it was stopped before it could let go of it")
        text = f"took over the lock on {what} left by {previous.describe()}, {why}"
        self.notices.append(text)
        self.note(text)

    def take_notices(self) -> list[str]:
        notices, self.notices = self.notices, []
        return notices

    def close(self) -> None:
        try:
            if self._owned and self.port.is_open:
                if self.lost:
                    # The device is gone: closing may fail again, and must not replace the
                    # PortLost already on its way up.
                    with contextlib.suppress(*_IO_ERRORS):
                        self.port.close()
                else:
                    with self._lost_on_error():
                        self.port.close()
        finally:
            locks, self._locks = self._locks, []
            for lock in reversed(locks):
                lock.release()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lost_on_error(self) -> _PortGuard:
        return _PortGuard(self)


class _PortGuard:
    """Turns an I/O failure on an open port into PortLost (the device went away)."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if exc is not None and isinstance(exc, _IO_ERRORS):
            self.link.lost = True
            raise PortLost(f"{self.link.name}: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    """termios.error carries (errno, text) as its arguments and prints as a tuple."""
    if not isinstance(exc, (OSError, SerialException)) and len(exc.args) == 2:
        code, text = exc.args
        if isinstance(code, int) and isinstance(text, str):
            return f"{text} (errno {code})"
    return str(exc)


def open_link(port: str | SerialBase, *, baud: int = DEFAULT_BAUD,
              rtscts: bool | None = False, tracer: Tracer | None = None,
              lock_dir: Path | None = None) -> Link:
    """Open `port` (a device name, a pyserial URL such as `socket://` or `sim://`, or an open
    pyserial object, which is used as it is and left open on close).

    `rtscts` None: opened without flow control, which the modem's family then decides
    (`Link.flow_control_for`); True or False stays as given.

    A port opened here is locked for this process first, in `lock_dir` (default: sqnflash's
    state folder); a port in use by another run raises PortBusy, and nothing is opened."""
    if isinstance(port, SerialBase):
        if not port.is_open:
            try:
                port.open()
            except _IO_ERRORS as exc:
                raise _open_error(str(port.port), exc) from exc
        return Link(port, name=str(port.port), tracer=tracer, owned=False,
                    flow_control_auto=rtscts is None)
    name = str(port).strip()
    if not name:
        raise BadPortUrl("no port given", advice="Pass --port (or set SQNFLASH_PORT).")
    register_sim_url()
    lock = lock_port(name, lock_dir)
    # exclusive: pyserial's own flock on the device (POSIX) keeps out other programs that ask
    # for it too; on Windows a COM port is exclusive anyway.
    kwargs: dict[str, Any] = {"baudrate": baud, "rtscts": bool(rtscts), "timeout": 1.0,
                              "exclusive": True}
    try:
        opened = serial.serial_for_url(name, **kwargs)
    except ValueError as exc:
        _release(lock)
        raise BadPortUrl(f"{name}: {exc}") from exc
    except _IO_ERRORS as exc:  # termios.error too: a device that vanishes while configured
        _release(lock)
        raise _open_error(name, exc) from exc
    except BaseException:
        _release(lock)
        raise
    # A device name, not a URL: what the adapter carries is known from its USB ids.
    device_max = None if "://" in name else adapter_max_baud(name)
    link = Link(opened, name=name, tracer=tracer, lock=lock, flow_control_auto=rtscts is None,
                max_baud=device_max)
    link.note(f"opened {name} at {baud} baud{' with RTS/CTS' if rtscts else ''}")
    if device_max is not None:
        link.note(f"the adapter behind {name} carries at most {device_max} baud")
    if lock is not None:
        link._note_takeover(lock, name)
    return link


def lock_port(name: str, lock_dir: Path | None = None) -> OwnerLock | None:
    """This process's lock on the device `name` leads to (None for ports nobody shares)."""
    key = port_key(name)
    if key is None:
        return None
    folder = lock_dir if lock_dir is not None else state_dir()
    try:
        return OwnerLock.acquire(lock_path(folder, "port", key), port=name)
    except LockHeld as held:
        device = f" ({key})" if key != name else ""
        raise PortBusy(
            f"{name}{device} is in use by {held.holder.describe()}",
            advice="Wait for that run to finish, or stop it (Ctrl-C in its terminal"
                   + (f", or `kill {held.holder.pid}`" if held.holder.pid else "")
                   + "): two programs on one modem ruin each other's transfers. This run sent "
                     "nothing.",
            modem_state="in use by the other run; this one changed nothing") from held
    except OSError as exc:
        raise LockFailed(f"cannot lock {name} in {folder}: {exc}") from exc


def _release(lock: OwnerLock | None) -> None:
    if lock is not None:
        lock.release()


def _open_error(name: str, exc: BaseException) -> Exception:
    code = getattr(exc, "errno", None)
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]  # termios.error: (errno, text)
    text = _describe(exc)
    if code in _NOT_FOUND or "No such file" in text or "could not find" in text.lower():
        return PortNotFound(f"{name} does not exist ({text})", advice=_not_found_advice())
    if "exclusively lock" in text:
        return PortBusy(f"{name} is held exclusively by another program ({text})")
    if code in _BUSY or "busy" in text.lower() or "denied" in text.lower():
        advice = None
        if code in (errno.EACCES, errno.EPERM) or "denied" in text.lower():
            advice = ("You may not open this port: on Linux add your user to the 'dialout' group "
                      "(then log in again), or close the program that holds it.")
        return PortBusy(f"{name} cannot be opened ({text})", advice=advice)
    if "://" in name:
        return BadPortUrl(f"{name}: {text}")
    return PortNotFound(f"{name} cannot be opened ({text})", advice=_not_found_advice())


def _not_found_advice() -> str:
    """E201's advice, with the ports that do exist (`sqnflash ports` shows them in full)."""
    try:
        present = [str(p.device) for p in list_ports()]
    except Exception:  # listing is a courtesy here: the error stays the port's
        return PortNotFound.advice
    if not present:
        return ("No serial port is present: check the cable and that the device is powered; "
                "on Linux add your user to the dialout group. `sqnflash ports` lists the ports.")
    return f"{PortNotFound.advice} Present now: {', '.join(present)}."


# USB-serial bridges whose top rate their data sheets state (vendor id, product id). Any other
# adapter is tried at the modem's top rate and falls back on garble or silence.
ADAPTER_MAX_BAUD = {
    (0x0403, 0x6001): 3_000_000,  # FTDI FT232R
    (0x0403, 0x6015): 3_000_000,  # FTDI FT231X / FT230X
    (0x1A86, 0x7523): 2_000_000,  # WCH CH340
    (0x10C4, 0xEA60): 921_600,  # Silicon Labs CP2102 (the CP2102N shares its ids: the safe one)
    (0x067B, 0x2303): 921_600,  # Prolific PL2303 (older chips stop well below 6 Mbaud)
}


def adapter_max_baud(device: str) -> int | None:
    """The top rate of the USB-serial bridge at `device`, if it is a known one."""
    try:
        for info in list_ports():
            if str(info.device) == device and info.vid is not None:
                return ADAPTER_MAX_BAUD.get((int(info.vid), int(info.pid or 0)))
    except (OSError, ImportError, ValueError):
        return None
    return None


def list_ports() -> list[Any]:
    """Every serial port pyserial finds (`serial.tools.list_ports.comports()`), by device name."""
    from serial.tools import list_ports as tools

    return sorted(tools.comports(), key=lambda p: str(p.device))
