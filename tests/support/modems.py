"""Synthetic firmware and simulated modems on virtual time, with what sqnflash said to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import serial

from sqnflash.events import Event, Note, StepStarted, TransferStarted
from sqnflash.firmware import FirmwareFile, load_bootrom, load_image, load_updater
from sqnflash.modem import Modem
from sqnflash.sim.images import Family, ImageKind, default_name, make_image
from sqnflash.sim.simulator import Simulator
from sqnflash.upgrade import Method, UpgradeResult, upgrade

FROM = 38638
TO = 41019


@dataclass
class Firmware:
    folder: Path

    def path(self, kind: ImageKind, size: int, source: int | None = None) -> Path:
        path = self.folder / default_name(kind, Family.CATM1, TO, source)
        if not path.exists():
            path.write_bytes(make_image(kind, Family.CATM1, TO, source=source, size=size))
        return path

    def path_of_full(self) -> Path:
        return self.path(ImageKind.FULL, 300_000)

    @property
    def full(self) -> FirmwareFile:
        return load_image(self.path_of_full())

    @property
    def diff(self) -> FirmwareFile:
        return load_image(self.path(ImageKind.DIFF, 100_000, FROM))

    @property
    def updater(self) -> FirmwareFile:
        return load_updater(self.path(ImageKind.UPDATER, 60_000))


@pytest.fixture(scope="session")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Firmware:
    return Firmware(tmp_path_factory.mktemp("firmware"))


@dataclass
class SimModem:
    """A modem on virtual time (on build FROM, `settings` as in a sim:// URL's query) and what
    sqnflash said while working on it."""

    settings: str = ""
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        query = "&".join(p for p in (f"clock=virtual&version={FROM}", self.settings.lstrip("&"))
                         if p)
        self.port = serial.serial_for_url(f"sim://?{query}", baudrate=921600)
        self.sim: Simulator = self.port.sim
        self.modem = Modem.open(self.port)

    def upgrade(self, image: Path, *, updater: Path | None = None, bootrom: Path | None = None,
                method: Method | None = None) -> UpgradeResult:
        return upgrade(self.modem, load_image(image),
                       updater=load_updater(updater) if updater else None,
                       bootrom=load_bootrom(bootrom) if bootrom else None,
                       method=method, emit=self.events.append)

    @property
    def state(self) -> dict[str, Any]:
        return self.sim.summary()

    def notes(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Note)]

    def steps(self) -> list[str]:
        return [e.step for e in self.events if isinstance(e, StepStarted)]

    def transfers(self) -> list[TransferStarted]:
        return [e for e in self.events if isinstance(e, TransferStarted)]

    def said(self, text: str) -> bool:
        return any(text in note for note in self.notes())
