"""Fixtures for the simulator tests: ports on the virtual clock, closed after each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import serial

from sqnflash.sim.simulator import forget
from tests.support.host import OpenPort


@pytest.fixture
def open_port() -> Iterator[OpenPort]:
    """`open_port("mode=ffh", baudrate=115200)`: a port on a fresh virtual-clock simulator.

    `name=` gives the simulator a unique registry name so that it can be opened again.
    """
    ports: list[serial.SerialBase] = []
    names: list[str] = []

    def opener(query: str = "", *, baudrate: int = 921600, timeout: float = 2.0,
               name: str | None = None) -> serial.SerialBase:
        settings = "&".join(part for part in ("clock=virtual", query) if part)
        port = serial.serial_for_url(f"sim://{name or ''}?{settings}", baudrate=baudrate,
                                     timeout=timeout)
        ports.append(port)
        if name:
            names.append(name)
        return port

    yield opener
    for port in ports:
        port.close()
    for name in names:
        forget(name)


@pytest.fixture
def unique_name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"

