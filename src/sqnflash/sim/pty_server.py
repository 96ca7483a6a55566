"""Serve a simulated modem on a pseudo-terminal, for programs in other processes.

The client side is an ordinary tty: open it with pyserial (or anything else) at 921600 or 115200.
The baud rate the client sets is read back from the pty's termios settings, so a client talking at
the wrong rate hears garbage exactly as it would on a real line. So is its RTS/CTS setting
(CRTSCTS): a pty has no RTS/CTS lines, so nothing is ever held back and the kernel never loses a
byte; the flag alone tells the simulated modem whether the client would honour its RTS, and a
modem that needs flow control above 115200 (`flow_control=required`, sim/flow.py) loses the
block frames of a client that does not set it.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import os
import select
import signal
import sys
import termios
import threading
import tty
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from sqnflash.sim.simulator import Simulator

_SPEEDS = {getattr(termios, name): int(name[1:]) for name in dir(termios)
           if name.startswith("B") and name[1:].isdigit()}
MIN_WAKE_S = 0.001
MAX_WAKE_S = 0.05
MAX_PENDING_OUT = 64 * 1024  # bytes held for a client that is not reading; older ones are lost


TCGETS2 = 0x802C542A  # Linux: termios2, where a rate without a B constant (3686400) lives
BOTHER = 0o010000


def termios_baud(fd: int) -> int | None:
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error:
        return None
    speed = _SPEEDS.get(attrs[5])
    if speed is None and attrs[2] & BOTHER and sys.platform.startswith("linux"):
        # A custom rate (pyserial sets it with TCSETS2): c_ospeed is the 11th int of termios2.
        buf = array.array("i", [0] * 64)
        try:
            fcntl.ioctl(fd, TCGETS2, buf)
        except OSError:
            return None
        return buf[10] or None
    return speed


def termios_rtscts(fd: int) -> bool | None:
    """Whether the client of the pty at `fd` set RTS/CTS flow control (None: unknown)."""
    flag = getattr(termios, "CRTSCTS", 0)
    if not flag:
        return None
    try:
        return bool(termios.tcgetattr(fd)[2] & flag)
    except termios.error:
        return None


class PtyServer:
    def __init__(self, sim: Simulator, link: Path | None = None) -> None:
        if sim.virtual:
            raise ValueError("a pty simulator runs on the real clock")
        self.sim = sim
        self.link = link
        self.master, self.slave = os.openpty()
        # Raw on both sides: no echo, no CR/LF translation before a client configures the port.
        tty.setraw(self.slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.device = os.ttyname(self.slave)
        self._stop = threading.Event()
        self._out = bytearray()  # bytes the pty did not take yet
        if link is not None:
            if link.is_symlink() or link.exists():
                if not link.is_symlink():
                    raise FileExistsError(f"{link} exists and is not a symbolic link")
                link.unlink()
            link.symlink_to(self.device)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self.link is not None and self.link.is_symlink():
            with contextlib.suppress(OSError):
                self.link.unlink()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def serve(self, on_ready: Callable[[str], None] | None = None) -> None:
        if on_ready is not None:
            on_ready(self.device)
        sim, wire, engine = self.sim, self.sim.wire, self.sim.engine
        while not self._stop.is_set():
            now = sim.clock.now()
            wake = [t for t in (engine.next_time(),
                                wire.host_time_for(wire.host_available(now) + 1)) if t is not None]
            timeout = MAX_WAKE_S
            if wake:
                timeout = min(MAX_WAKE_S, max(MIN_WAKE_S, min(wake) - now))
            writers = [self.master] if self._out else []
            readable, _, _ = select.select([self.master], writers, [], timeout)
            # The client may change its rate without writing (to listen for a URC at another
            # rate): follow the termios setting on every turn, not only when bytes come in.
            baud = termios_baud(self.master)
            if baud and baud != wire.host_baud:
                sim.set_host_baud(baud)
            rtscts = termios_rtscts(self.master)
            if rtscts is not None and rtscts != wire.host_rtscts:
                sim.set_host_flow_control(rtscts)
            if readable:
                try:
                    data = os.read(self.master, 65536)
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EIO):
                        raise
                    data = b""
                if data:
                    sim.write(data)
            engine.run_due()
            out = wire.host_read(wire.host_available())
            self._emit(out)

    def _emit(self, data: bytes) -> None:
        """Hand bytes to the pty; what it does not take now is kept and offered again."""
        self._out += data
        if len(self._out) > MAX_PENDING_OUT:
            # Nobody is reading: the oldest bytes are lost, as on a wire.
            del self._out[: len(self._out) - MAX_PENDING_OUT]
        if not self._out:
            return
        try:
            written = os.write(self.master, self._out)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EIO):
                raise
            return
        del self._out[:written]


def run_until_signalled(server: PtyServer, on_ready: Callable[[str], None]) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        server.stop()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.serve(on_ready)
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
        server.close()
