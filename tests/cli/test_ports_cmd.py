"""`sqnflash ports`: every serial port with its USB identity and whoever holds it, and the
ports a missing one is compared with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from serial.tools.list_ports_common import ListPortInfo

import sqnflash.cli.ports_cmd
import sqnflash.link.port
from sqnflash.cli.main import main
from sqnflash.errors import PortNotFound
from sqnflash.link import open_link
from sqnflash.link.port import lock_port
from tests.support.cli import json_lines


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
