"""One owner per port and per modem, and typed errors for every failing pyserial call: the parts
that need no subprocess (see tests/e2e/test_bad_runs.py for those)."""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from serial.serialutil import SerialException

from sqnflash.errors import (
    LockFailed,
    ModemBusy,
    PortBusy,
    PortLost,
    PortNotFound,
)
from sqnflash.events import Event, Note
from sqnflash.link import Link, open_link
from sqnflash.link.lock import lock_path, port_key, state_dir
from sqnflash.link.port import lock_port
from sqnflash.modem import Modem
from tests.support.processes import dead_pid
from tests.support.pty import needs_pty

# --------------------------------------------------------------------------- every I/O error


class FailingPort:
    """A pyserial port whose one call `failing` raises `error` (as a vanished device does)."""

    def __init__(self, failing: str, error: BaseException) -> None:
        self.failing, self.error = failing, error
        self.port = "/dev/ttyUSB0"
        self.is_open = True
        self._baud, self._timeout = 921600, 1.0

    def _call(self, name: str) -> None:
        if name == self.failing:
            raise self.error

    @property
    def baudrate(self) -> int:
        return self._baud

    @baudrate.setter
    def baudrate(self, value: int) -> None:
        self._call("baudrate")
        self._baud = value

    @property
    def timeout(self) -> float:
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._call("timeout")
        self._timeout = value

    @property
    def in_waiting(self) -> int:
        self._call("in_waiting")
        return 3

    def read(self, size: int) -> bytes:
        self._call("read")
        return b"O" * size

    def write(self, data: bytes) -> int:
        self._call("write")
        return len(data)

    def reset_input_buffer(self) -> None:
        self._call("reset_input_buffer")

    def close(self) -> None:
        self._call("close")
        self.is_open = False


CALLS: dict[str, Callable[[Link], object]] = {
    "write": lambda link: link.write(b"AT\r"),
    "read": lambda link: link.read(4, 0.1),
    "in_waiting": lambda link: link.read_some(0.1),
    "reset_input_buffer": lambda link: link.discard_input(),
    "baudrate": lambda link: link.set_baud(115200),
    "timeout": lambda link: link.read(4, 0.5),
    "close": lambda link: link.close(),
}


def _io_errors() -> list[BaseException]:
    errors: list[BaseException] = [OSError(errno.EIO, "Input/output error"),
                                   SerialException("read failed: [Errno 5] Input/output error")]
    if sys.platform != "win32":
        import termios

        errors.append(termios.error(errno.EIO, "Input/output error"))  # not an OSError
    return errors


@pytest.mark.parametrize("error", _io_errors(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("call", list(CALLS))
def test_every_failing_pyserial_call_is_port_lost(call: str, error: BaseException) -> None:
    link = Link(FailingPort(call, error), name="/dev/ttyUSB0")
    with pytest.raises(PortLost) as caught:
        CALLS[call](link)
    assert caught.value.code == "SQF-E203" and caught.value.exit_code == 32
    assert caught.value.cause.startswith("/dev/ttyUSB0: ")
    assert "Input/output error" in caught.value.cause
    assert "(5, '" not in caught.value.cause  # termios.error's tuple is spelled out
    assert link.lost


def test_closing_a_lost_port_does_not_hide_the_first_error() -> None:
    port = FailingPort("read", OSError(errno.EIO, "Input/output error"))
    link = Link(port, name="/dev/ttyUSB0")
    with pytest.raises(PortLost):
        link.read(1, 0.1)
    port.failing = "close"
    link.close()  # no second PortLost on the way out of a failed run


def _open_errors() -> list[tuple[BaseException, type[Exception], str]]:
    cases: list[tuple[BaseException, type[Exception], str]] = [
        (SerialException(errno.ENOENT, "could not open port /dev/ttyUSB7: [Errno 2] No such "
                                       "file or directory"), PortNotFound, "does not exist"),
        (SerialException(errno.EACCES, "could not open port /dev/ttyUSB7: [Errno 13] "
                                       "Permission denied"), PortBusy, "dialout"),
    ]
    if sys.platform != "win32":
        import termios

        cases.append((termios.error(errno.EIO, "Input/output error"), PortNotFound,
                      "cannot be opened (Input/output error (errno 5))"))
    return cases


@pytest.mark.parametrize(("error", "typed", "says"), _open_errors(),
                         ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "")
def test_a_port_that_cannot_be_opened_is_a_typed_error_and_keeps_no_lock(
        monkeypatch: pytest.MonkeyPatch, error: BaseException, typed: type[Exception],
        says: str) -> None:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(serial, "serial_for_url", failing)
    for _ in range(2):  # the second attempt meets the same error, not its own lock
        with pytest.raises(typed) as caught:
            open_link("/dev/ttyUSB7")
        assert says in f"{caught.value} {getattr(caught.value, 'hint', '')}"


# --------------------------------------------------------------------------- one owner per port


@pytest.fixture
def pty() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


@needs_pty
def test_a_port_has_one_owner_also_through_a_symlink(pty: str, tmp_path: Path) -> None:
    alias = tmp_path / "modem"
    alias.symlink_to(pty)
    first = open_link(pty)
    try:
        for name in (pty, str(alias)):
            with pytest.raises(PortBusy) as caught:
                open_link(name)
            assert f"is in use by pid {os.getpid()} " in caught.value.cause
            assert caught.value.exit_code == 31
            assert "This run sent nothing" in caught.value.hint
    finally:
        first.close()
    open_link(str(alias)).close()  # released with the port


@needs_pty
def test_a_run_with_another_lock_folder_still_cannot_share_the_device(
        pty: str, tmp_path: Path) -> None:
    # pyserial's exclusive open (flock on POSIX) keeps the device to the first
    with open_link(pty, lock_dir=tmp_path / "one"), pytest.raises(PortBusy) as caught:
        open_link(pty, lock_dir=tmp_path / "two")
    assert caught.value.cause.startswith(f"{pty} is held exclusively by another program")
    assert not (tmp_path / "two").exists() or not any(
        p.read_text() for p in (tmp_path / "two").iterdir())  # its own lock was let go


@needs_pty
def test_the_lock_file_names_the_owner_while_the_port_is_open(pty: str) -> None:
    path = lock_path(state_dir(), "port", os.path.realpath(pty))
    with open_link(pty):
        owner = json.loads(path.read_text())
        assert owner["pid"] == os.getpid() and owner["port"] == pty
    assert path.read_text() == ""  # a clean end leaves no owner behind


@needs_pty
def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_note(pty: str) -> None:
    dead = dead_pid()
    path = lock_path(state_dir(), "port", os.path.realpath(pty))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": dead, "since": 1.0e9, "command": "sqnflash upgrade",
                                "port": pty}))
    events: list[Event] = []
    with Modem(open_link(pty), emit=events.append) as modem:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        assert modem.link.notices == []  # said once, by the modem's event sink
    (note,) = [e for e in events if isinstance(e, Note)]
    assert note.level == "warning"
    assert note.text.startswith(f"took over the lock on {pty} left by pid {dead} "
                                "(sqnflash upgrade) since ")
    assert "which no longer runs" in note.text


@needs_pty
def test_one_modem_through_two_ports_has_one_owner(tmp_path: Path) -> None:
    masters, names = [], []
    for _ in range(2):
        master, slave = os.openpty()
        masters += [master, slave]
        names.append(os.ttyname(slave))
    try:
        first, second = open_link(names[0]), open_link(names[1])
        first.claim_modem("354346090000009")
        with pytest.raises(ModemBusy) as caught:
            second.claim_modem("354346090000009")
        assert caught.value.code == "SQF-E205" and caught.value.exit_code == 34
        assert (f"IMEI 354346090000009 is in use through {names[0]} by pid {os.getpid()}"
                in caught.value.cause)
        first.close()
        second.claim_modem("354346090000009")
        second.close()
    finally:
        for fd in masters:
            os.close(fd)


def test_simulated_ports_are_not_locked() -> None:
    assert port_key("sim://?version=38638") is None and port_key("loop://") is None
    assert port_key("socket://Host:7000?logging=debug") == "socket://host:7000"
    first = open_link("sim://?clock=virtual")
    second = open_link("sim://?clock=virtual")  # two modems of their own
    first.close()
    second.close()


def test_a_lock_that_cannot_be_written_is_its_own_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LockFailed) as caught:
        lock_port("/dev/ttyUSB0", blocker / "locks")
    assert caught.value.code == "SQF-E206" and caught.value.exit_code == 35
