"""The simulated Pycom board: its REPL as a user types into it, its sqnsupgrade, its bridge."""

from __future__ import annotations

import pytest
import serial

from sqnflash.protocol import repl
from sqnflash.sim.board import module_version
from sqnflash.sim.config import SimConfig, SimConfigError

SEED_ERROR = "AttributeError: 'module' object has no attribute 'uart'"


def board(query: str) -> serial.SerialBase:
    return serial.serial_for_url(f"sim://?clock=virtual&{query}", baudrate=115200, timeout=0.5)


def typed(port: serial.SerialBase, line: str) -> str:
    port.write(line.encode() + b"\r")
    return bytes(port.read(4096)).decode()


def test_the_seed_thread_failure_on_a_factory_fipy_with_an_uploaded_script() -> None:
    port = board("board=fipy&release=1.10.0.b1&uploaded=script")
    assert typed(port, "import sqnsupgrade").endswith(">>> ")
    out = typed(port, "sqnsupgrade.uart(True)")
    assert 'File "<stdin>", line 1, in <module>' in out
    assert SEED_ERROR in out
    assert port.sim.modem.received_commands == []


def test_a_release_without_the_module_and_nothing_uploaded_cannot_import_it() -> None:
    port = board("board=gpy&release=1.18.0")
    assert "ImportError: no module named 'sqnsupgrade'" in typed(port, "import sqnsupgrade")


def test_unknown_names_and_unsupported_statements_answer_like_micropython() -> None:
    port = board("board=fipy")
    assert "NameError: name 'os' isn't defined" in typed(port, "os.uname()")
    typed(port, "import os")
    out = typed(port, "os.uname()")
    assert "sysname='FiPy'" in out and "release='1.20.2.r4'" in out
    assert "NotImplementedError" in typed(port, "for i in range(3): pass")


def test_ctrl_b_shows_the_pycom_banner_and_the_raw_repl_frames_a_run() -> None:
    port = board("board=g01&release=1.20.2.r4")
    port.write(repl.ENTER_RAW)
    assert bytes(port.read(4096)).endswith(repl.RAW_READY)
    port.write(repl.encode_exec("import os\nprint(os.uname().sysname)"))
    assert bytes(port.read(4096)) == b"OK" + b"GPy\r\n" + b"\x04\x04>"
    port.write(repl.LEAVE_RAW)
    out = bytes(port.read(4096)).decode()
    assert "Pycom MicroPython 1.20.2.r4 [v1.11-" in out and "GPy with ESP32" in out
    assert out.endswith(">>> ")


@pytest.mark.parametrize(("release", "module"), [
    ("1.18.0.r1", None), ("1.18.1", ""), ("1.18.1.r4", "1.2.0"), ("1.18.2.r3", "1.2.3"),
    ("1.19.0.b4", None), ("1.20.0.rc2", "1.2.1"), ("1.20.2.r4", "1.2.6"),
])
def test_each_release_carries_the_module_pycom_shipped_in_it(release: str,
                                                             module: str | None) -> None:
    assert module_version(release) == module


def test_bad_board_settings_are_refused() -> None:
    with pytest.raises(serial.SerialException, match="board must be one of fipy, gpy, g01"):
        board("board=lopy4")
    with pytest.raises(SimConfigError, match="not a Pycom firmware release"):
        SimConfig(board="fipy", release="latest")


def test_uart_bridges_the_usb_port_to_the_modem_at_921600() -> None:
    port = board("board=fipy&release=1.18.1.r4")
    port.write(repl.ENTER_RAW)
    port.read(4096)
    port.write(repl.encode_exec("import sqnsupgrade\nsqnsupgrade.uart()"))
    port.timeout = 30.0
    out = bytes(port.read_until(b"via UART\r\n")).decode()
    assert "Going into MIRROR mode" in out
    port.timeout = 1.0
    assert b"\x04" not in bytes(port.read(4096))  # uart() never returns to the REPL
    port.baudrate = 921600
    port.reset_input_buffer()
    port.write(b"AT+CGSN\r\n")
    assert b"354346090000009" in bytes(port.read(64))
    assert port.sim.board.mirror
    port.baudrate = 115200  # the board's UART stays at 921600: what comes back is garbage
    port.write(b"AT\r\n")
    assert b"OK" not in bytes(port.read(64))


def test_ctrl_b_waits_while_code_runs_as_micropython_buffers_it() -> None:
    """What sqnflash relies on to tell an idle board from one still running uart(): only Ctrl-C
    interrupts running code; Ctrl-B waits in the input buffer, and at a prompt gets the banner."""
    port = board("board=fipy&release=1.20.2.r4")
    port.write(repl.LEAVE_RAW)
    assert bytes(port.read(4096)).endswith(b">>> ")  # idle: answered at once
    port.write(repl.ENTER_RAW)
    port.read(4096)
    port.write(repl.encode_exec("import sqnsupgrade\nsqnsupgrade.uart()"))
    port.timeout = 30.0
    port.read_until(b"Welcome to the SQN3330 firmware updater")
    port.write(repl.LEAVE_RAW)
    out = bytes(port.read_until(b"via UART\r\n")).decode()
    assert "Going into MIRROR mode" in out and "KeyboardInterrupt" not in out
    port.timeout = 1.0
    port.read(4096)  # the board bridges half a second after saying so
    assert port.sim.board.mirror
