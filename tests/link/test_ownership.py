"""One owner per modem, typed I/O errors, a journal that never shows a dead run as running, and
`sqnflash ports`: the parts that need no subprocess (see tests/e2e/test_bad_runs.py for those)."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from serial.serialutil import SerialException
from serial.tools.list_ports_common import ListPortInfo

import sqnflash.cli.ports_cmd
import sqnflash.link.port
from sqnflash.cli.main import main
from sqnflash.errors import (
    LockFailed,
    ModemBusy,
    PortBusy,
    PortLost,
    PortNotFound,
    SessionLost,
)
from sqnflash.events import Event, Note
from sqnflash.link import Link, open_link
from sqnflash.link.lock import lock_path, port_key, state_dir
from sqnflash.link.port import lock_port
from sqnflash.modem import Modem
from sqnflash.upgrade import upgrade
from sqnflash.upgrade.journal import Journal
from tests.support.cli import json_lines
from tests.support.images import FROM, Firmware
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


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@needs_pty
def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_note(pty: str) -> None:
    dead = _dead_pid()
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


# --------------------------------------------------------------------------- the journal


def test_a_run_that_crashes_with_a_bug_is_journaled_interrupted(
        firmware: Firmware, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Modem, "upload", broken)
    port = serial.serial_for_url(f"sim://?clock=virtual&version={FROM}", baudrate=921600)
    with Journal.open(tmp_path / "j.db") as journal, Modem.open(port) as modem:
        with pytest.raises(RuntimeError):
            upgrade(modem, firmware.full, journal=journal)
        (record,) = journal.history()
    assert record.outcome == "interrupted" and record.pid == os.getpid()
    assert (record.error_code, record.error) == ("SQF-E999", "RuntimeError: a bug")
    assert record.to_dict()["outcome"] == "interrupted"


def _begin(journal: Journal) -> int:
    number = len(journal.history())  # a modem each: a new upgrade supersedes the same modem's
    record = journal.begin(imei=f"35434609000000{number}", port=f"/dev/ttyUSB{number}",
                           image_name="x.dup",
                           image_sha256="0" * 64, image_size=10, updater_sha256=None,
                           flow="application", method="fff", steps=["prepare"], plan={},
                           before={})
    return record.id


def test_a_running_record_whose_process_is_gone_is_shown_interrupted(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        alive, dead, unknown = _begin(journal), _begin(journal), _begin(journal)
        journal.update(dead, pid=_dead_pid())
        journal.update(unknown, pid=None)  # written before runs recorded their process
        shown = {r.id: r.to_dict() for r in journal.history()}
    assert shown[alive]["outcome"] == "running" and shown[alive]["pid"] == os.getpid()
    assert shown[dead]["outcome"] == "interrupted"
    assert shown[dead]["stopped"].endswith("ended without recording an outcome (killed)")
    assert shown[unknown]["outcome"] == "running" and "stopped" not in shown[unknown]


def test_a_journal_from_before_the_pid_column_is_extended(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with Journal.open(path) as journal:
        first = _begin(journal)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE upgrades DROP COLUMN pid")
    db.commit()
    db.close()
    with Journal.open(path) as journal:
        old = journal.get(first)
        assert old is not None and old.pid is None and old.outcome == "running"
        again = journal.get(_begin(journal))
        assert again is not None and again.pid == os.getpid()


# --------------------------------------------------------------------------- sqnflash ports


def _port(device: str, **fields: Any) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    for name, value in fields.items():
        setattr(info, name, value)
    return info


PORTS = [
    _port("/dev/ttyUSB0", description="CP2102 USB to UART Bridge Controller", vid=0x10C4,
          pid=0xEA60, serial_number="0001", location="1-1.2", manufacturer="Silicon Labs",
          product="CP2102 USB to UART Bridge Controller",
          hwid="USB VID:PID=10C4:EA60 SER=0001 LOCATION=1-1.2"),
    _port("/dev/ttyS0", description="n/a", hwid="n/a"),
]


@pytest.fixture
def fake_ports(monkeypatch: pytest.MonkeyPatch) -> list[ListPortInfo]:
    ports = list(PORTS)
    monkeypatch.setattr(sqnflash.cli.ports_cmd, "list_ports", lambda: ports)
    monkeypatch.setattr(sqnflash.link.port, "list_ports", lambda: ports)
    return ports


def test_ports_json_lists_every_port_with_its_usb_identity(
        fake_ports: list[ListPortInfo], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ports", "--json"]) == 0
    usb, builtin, result = json_lines(capsys.readouterr().out)
    assert usb == {"type": "port", "device": "/dev/ttyUSB0",
                   "description": "CP2102 USB to UART Bridge Controller", "vid_pid": "10C4:EA60",
                   "serial_number": "0001", "location": "1-1.2", "manufacturer": "Silicon Labs",
                   "product": "CP2102 USB to UART Bridge Controller",
                   "hwid": "USB VID:PID=10C4:EA60 SER=0001 LOCATION=1-1.2", "in_use_by": None}
    assert builtin["device"] == "/dev/ttyS0"
    assert builtin["description"] is None and builtin["vid_pid"] is None  # not "n/a"
    assert result == {"type": "result", "ok": True, "ports": 2}


def test_ports_text_says_which_port_a_run_holds(
        fake_ports: list[ListPortInfo], capsys: pytest.CaptureFixture[str]) -> None:
    held = lock_port("/dev/ttyUSB0")
    assert held is not None
    try:
        assert main(["ports"]) == 0
    finally:
        held.release()
    usb, builtin = capsys.readouterr().out.splitlines()
    assert usb.startswith("/dev/ttyUSB0  CP2102 USB to UART Bridge Controller  USB 10C4:EA60  "
                          "serial 0001  location 1-1.2  in use by pid ")
    assert builtin == "/dev/ttyS0  (no description)"


def test_no_ports_at_all(monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sqnflash.cli.ports_cmd, "list_ports", lambda: [])
    assert main(["ports", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"type": "result", "ok": True, "ports": 0}
    assert main(["ports"]) == 0
    assert capsys.readouterr().out.startswith("no serial ports found")


def test_a_missing_port_names_the_ports_that_exist(fake_ports: list[ListPortInfo],
                                                   tmp_path: Path) -> None:
    with pytest.raises(PortNotFound) as caught:
        open_link(str(tmp_path / "ttyUSB9"))
    assert caught.value.hint.endswith("Present now: /dev/ttyUSB0, /dev/ttyS0.")
    assert "`sqnflash ports` lists them" in caught.value.hint
    fake_ports.clear()
    with pytest.raises(PortNotFound) as caught:
        open_link(str(tmp_path / "ttyUSB9"))
    assert caught.value.hint.startswith("No serial port is present")


# --------------------------------------------------------------------------- the runner


def _lost(*args: Any, **kwargs: Any) -> None:
    raise PortLost("/dev/ttyUSB0: read failed: [Errno 5] Input/output error")


def _session_lost(*args: Any, **kwargs: Any) -> None:
    raise SessionLost("the modem stopped answering inside the transfer")


@pytest.mark.parametrize("breaks", [
    # the port goes in a step before the point of no return: nothing can be put back
    {"prepare": _lost},
    # the modem goes silent in a transfer, and looking for it finds the port gone
    {"upload": _session_lost, "wait_ready": _lost},
], ids=["in-prepare", "looking-for-the-modem"])
def test_a_lost_port_ends_the_run_with_the_steps_state_and_an_interrupted_record(
        firmware: Firmware, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        breaks: dict[str, Callable[..., None]]) -> None:
    port = serial.serial_for_url(f"sim://?clock=virtual&version={FROM}", baudrate=921600)
    with Journal.open(tmp_path / "j.db") as journal, Modem.open(port) as modem:
        modem.wake()
        for name, broken in breaks.items():
            monkeypatch.setattr(Modem, name, broken)
        with pytest.raises(PortLost) as caught:
            upgrade(modem, firmware.diff, journal=journal)
        (record,) = journal.history()
    step = record.current_step
    assert caught.value.details["step"] == step
    assert caught.value.modem_state is not None
    assert "could not be put back" not in caught.value.modem_state  # nobody tried, no port
    assert record.outcome == "interrupted" and record.error_code == "SQF-E203"
    assert record.modem_state == caught.value.modem_state
    assert step == ("prepare" if "prepare" in breaks else "store-image")
