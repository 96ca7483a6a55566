"""Importing sqnflash must not reach into other libraries: a program that only parses frames
(or only checks a file) does not load pyserial, and pyserial's process-wide URL handler list is
extended only by the layer that opens ports."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.strip()


def test_codecs_and_package_do_not_load_pyserial() -> None:
    code = ("import sys, sqnflash, sqnflash.protocol.stp, sqnflash.protocol.at, "
            "sqnflash.errors; print('serial' in sys.modules)")
    assert _run(code) == "False"


def test_sim_urls_open_after_importing_the_link_layer() -> None:
    code = ("import serial, sqnflash\n"
            "try:\n"
            "    serial.serial_for_url('sim://?clock=virtual')\n"
            "    print('opened')\n"
            "except ValueError:\n"
            "    print('unknown')\n"
            "import sqnflash.link\n"
            "port = serial.serial_for_url('sim://?clock=virtual&mode=app', baudrate=921600)\n"
            "port.write(b'AT\\r')\n"
            "port.timeout = 2\n"
            "print(port.read(64).strip().decode())\n")
    lines = _run(code).splitlines()
    assert lines[0] == "unknown"
    assert lines[-1].endswith("OK")


def test_the_link_measures_time_on_the_simulators_clock() -> None:
    import serial

    from sqnflash.link import ClockedPort, open_link

    with open_link("sim://?clock=virtual") as link:
        assert isinstance(link.port, ClockedPort)
        assert link.clock is link.port.sim_clock
    assert not isinstance(serial.serial_for_url("loop://"), ClockedPort)
